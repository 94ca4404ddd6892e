package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds random YAML to Load: it must never panic or hang, every
// refusal must be an *Error with a located problem, and every accepted file
// must satisfy the invariants the daemon relies on.
func FuzzLoad(f *testing.F) {
	seeds, err := filepath.Glob("testdata/seeds/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	seeds = append(seeds, "../../../../config.example.yaml")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, _, err := LoadWith(p, Options{Getenv: envMap(map[string]string{"SYNCD_KEY1": k1}), Euid: 1000})
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("error %v is not a *Error with problems", err)
			}
			return
		}
		if len(cfg.Pairs) == 0 || len(cfg.API.Key1) != KeyLen || len(cfg.API.Key2) != KeyLen || !filepath.IsAbs(cfg.StateDir) {
			t.Fatalf("accepted an invalid config: %+v", cfg)
		}
		for _, pr := range cfg.Pairs {
			if !filepath.IsAbs(pr.Local) || pr.Remote == "" || pr.Remote[0] != '/' {
				t.Fatalf("accepted pair %+v", pr)
			}
		}
	})
}
