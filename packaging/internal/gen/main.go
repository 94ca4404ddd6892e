// Command gen writes the service files the packages ship from the templates
// of package packaging, so that they never drift (see packaging_test.go).
// Run from the packaging directory by `go generate`.
package main

import (
	"fmt"
	"os"

	"github.com/syncd/syncd/packaging"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run() error {
	unit, err := packaging.GeneratedSystemd()
	if err != nil {
		return err
	}
	plist, err := packaging.PackagedLaunchd()
	if err != nil {
		return err
	}
	for name, body := range map[string]string{
		"systemd/syncd.service":                        unit,
		"launchd/" + packaging.LaunchdLabel + ".plist": plist,
	} {
		if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}
