package report

import (
	"path/filepath"
	"testing"
)

// TestGoldenArches runs Parse over the real consoles of the other guest
// architectures (testdata/<arch>/NAME, recorded by rko test --arch; see
// testdata/arm64/README.md), in the golden format of TestGolden. -update
// rewrites their headers.
func TestGoldenArches(t *testing.T) {
	for _, arch := range []string{"arm64", "riscv64", "um"} {
		dir := filepath.Join("testdata", arch)
		files := goldenFiles(t, dir)
		if len(files) == 0 {
			t.Errorf("no golden consoles in %s", dir)
		}
		for _, path := range files {
			t.Run(path, func(t *testing.T) { checkGolden(t, path) })
		}
	}
}
