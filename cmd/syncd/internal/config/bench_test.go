package config

import "testing"

// BenchmarkLoadExample measures loading and validating the shipped example
// (done once per command, so only a gross regression would matter).
func BenchmarkLoadExample(b *testing.B) {
	p := "../../../../config.example.yaml"
	opt := Options{Getenv: envMap(map[string]string{"SYNCD_KEY1": k1, "SYNCD_KEY2": k2})}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := LoadWith(p, opt); err != nil {
			b.Fatal(err)
		}
	}
}
