package main

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"
)

// The hand-written man page the packages ship names every command and flag
// `syncd -h` lists.
func TestManPageNamesEveryCommand(t *testing.T) {
	b, err := os.ReadFile("../../packaging/syncd.1")
	if err != nil {
		t.Fatal(err)
	}
	man := strings.ReplaceAll(string(b), `\-`, "-")
	var help bytes.Buffer
	usage(&help)
	for _, m := range regexp.MustCompile(`(?m)^  syncd (-?[a-z]+)( (unit|check))?`).FindAllStringSubmatch(help.String(), -1) {
		cmd := strings.TrimSpace(m[1] + " " + m[3])
		if !regexp.MustCompile(`(?m)^\.B syncd ` + regexp.QuoteMeta(cmd) + `\b`).MatchString(man) {
			t.Errorf("the man page's synopsis lacks syncd %s", cmd)
		}
	}
	for _, flag := range regexp.MustCompile(`[\[ |(](-[a-z][a-z0-9-]*)`).FindAllStringSubmatch(help.String(), -1) {
		if !strings.Contains(man, flag[1]) {
			t.Errorf("the man page lacks %s", flag[1])
		}
	}
}
