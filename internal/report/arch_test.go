package report

import (
	"os"
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
			t.Run(path, func(t *testing.T) {
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				want, console := splitGolden(data)
				got := goldenHeader(Parse(console))
				if *update {
					if got != want {
						if err := os.WriteFile(path, append([]byte(got+"\n"), console...), 0o644); err != nil {
							t.Fatal(err)
						}
					}
					return
				}
				if got != want {
					t.Errorf("reports differ (run with -update if on purpose):\n--- got\n%s--- want\n%s", got, want)
				}
			})
		}
	}
}
