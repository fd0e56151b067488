package lint

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rkodev/rko/internal/testutil"
)

// linuxSrc returns the Linux 7.3 source tree to test on
// (testutil.KernelSource: $RKO_LINUX_SRC, rko's cache, /usr/src); it
// skips the test when there is none, or fails it in CI.
func linuxSrc(tb testing.TB) string {
	tb.Helper()
	return testutil.KernelSource(tb)
}

// TestParseEveryKernelFile parses every .rs file of the tree on its own
// and runs every rule on it: no panic, no error from the parser wrapper.
func TestParseEveryKernelFile(t *testing.T) {
	src := linuxSrc(t)
	var files []string
	filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".rs") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) < 400 {
		t.Fatalf("found %d .rs files under %s, want the whole tree (> 400)", len(files), src)
	}
	partial := 0
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f, err := Parse(p, b)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if f.HasError {
			partial++
		}
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s: rules panicked: %v", p, r)
				}
			}()
			cfg := &resolved{severity: map[string]Severity{}, maySleep: map[string]bool{}}
			for _, r := range Rules {
				cfg.severity[r.ID] = r.Severity
			}
			tg := target{path: p, abs: p, cfg: cfg, group: findModuleGroup(filepath.Dir(p))}
			lintFile(f, tg, gatherLockFacts([]target{tg}, []*File{f}), nil)
		}()
	}
	t.Logf("%d files parsed, %d with a recovered syntax error", len(files), partial)
}

// TestKernelTreeFindings runs rko lint over rust/, drivers/ and samples/
// and checks the known true cases: Rust Binder uses the raw bindings.
func TestKernelTreeFindings(t *testing.T) {
	src := linuxSrc(t)
	var paths []string
	for _, d := range []string{"rust", "drivers", "samples"} {
		paths = append(paths, filepath.Join(src, d))
	}
	res, err := Run(context.Background(), Options{Paths: paths})
	if err != nil {
		t.Fatal(err)
	}
	binder := 0
	for _, f := range res.Findings {
		if f.Rule == "bindings-outside-abstractions" && strings.Contains(f.Path, "drivers/android/binder/") {
			binder++
		}
		if f.Rule == "bindings-outside-abstractions" && strings.Contains(f.Path, "/rust/kernel/") {
			t.Errorf("rust/kernel is the abstraction layer, yet: %+v", f)
		}
	}
	if binder == 0 {
		t.Error("no bindings-outside-abstractions finding in Rust Binder, which uses bindings:: directly")
	}
	t.Logf("%d files, %d lines: %v", res.Files, res.Lines, res.Counts())
}

// BenchmarkLintKernelTree lints rust/kernel, drivers and samples/rust of
// the 7.3 tree (about 95k lines) end to end: walk, parse, rules.
func BenchmarkLintKernelTree(b *testing.B) {
	src := linuxSrc(b)
	var paths []string
	for _, d := range []string{"rust/kernel", "drivers", "samples/rust"} {
		paths = append(paths, filepath.Join(src, d))
	}
	var lines int
	// CPU time is reported beside wall time: on a machine shared with
	// kernel builds the wall time says more about the neighbours.
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := Run(context.Background(), Options{Paths: paths})
		if err != nil {
			b.Fatal(err)
		}
		lines = res.Lines
	}
	b.StopTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) / time.Duration(b.N)
	b.ReportMetric(cpu.Seconds(), "cpu-s/op")
	b.ReportMetric(float64(lines), "lines")
}
