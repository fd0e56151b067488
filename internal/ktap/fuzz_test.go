package ktap

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzKTAP checks that no input makes Parse panic or hang, in both modes,
// and that the root's counts add up. Run: go test -fuzz=FuzzKTAP ./internal/ktap
func FuzzKTAP(f *testing.F) {
	logs, _ := filepath.Glob("testdata/kunit/*.log")
	for _, l := range logs {
		if b, err := os.ReadFile(l); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("KTAP version 1\n1..99999999999999999999\n"))
	f.Add([]byte("TAP version 13\nok 1 # SKIP\nnot ok 2 - x # TODO y\n  # Subtest: s\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, compat := range []bool{false, true} {
			root := Parse(data, Options{Compat: compat})
			c := root.Counts
			if c.Passed < 0 || c.Failed < 0 || c.Crashed < 0 || c.Skipped < 0 || c.Errors < 0 {
				t.Fatalf("negative counts %+v", c)
			}
		}
		Extract(data)
	})
}
