package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rkodev/rko/internal/cache"
)

func TestInCI(t *testing.T) {
	for _, tt := range []struct {
		ci   string
		want bool
	}{
		{"", false}, {"0", false}, {"false", false}, {"False", false}, {" false ", false},
		{"true", true}, {"1", true}, {"yes", true}, {"TRUE", true},
	} {
		t.Setenv("CI", tt.ci)
		if got := InCI(); got != tt.want {
			t.Errorf("CI=%q: InCI() = %v, want %v", tt.ci, got, tt.want)
		}
	}
}

// fakeTB records what SkipOrFail does.
type fakeTB struct{ skipped, failed string }

func (f *fakeTB) Helper()                           {}
func (f *fakeTB) Fatalf(format string, args ...any) { f.failed = fmt.Sprintf(format, args...) }
func (f *fakeTB) Skipf(format string, args ...any)  { f.skipped = fmt.Sprintf(format, args...) }

// tree writes a kernel tree's two marker files under dir (or only the
// Makefile: an extraction in progress looks like that).
func tree(t *testing.T, dir string, whole bool) string {
	t.Helper()
	files := map[string]string{"Makefile": "VERSION = 7\n"}
	if whole {
		files["rust/kernel/lib.rs"] = "//! kernel\n"
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestFindKernelSource(t *testing.T) {
	base := t.TempDir()
	envTree := tree(t, filepath.Join(base, "mine"), true)
	cacheWith := filepath.Join(base, "cache")
	old := tree(t, filepath.Join(cacheWith, "src", "linux-source-7.3-old"), true)
	newer := tree(t, filepath.Join(cacheWith, "src", "linux-source-7.3-new"), true)
	tree(t, filepath.Join(cacheWith, "src", "linux-source-7.3-partial"), false)
	tree(t, filepath.Join(cacheWith, "src", "linux-source-6.12-x"), true)
	past := time.Now().Add(-time.Hour)
	os.Chtimes(old, past, past)
	// The newest entry is incomplete: it is passed over.
	os.Chtimes(filepath.Join(cacheWith, "src", "linux-source-7.3-partial"), time.Now().Add(time.Hour), time.Now().Add(time.Hour))
	cacheOld := filepath.Join(base, "cache-old")
	tree(t, filepath.Join(cacheOld, "src", "linux-source-7.3-only"), true)
	empty := filepath.Join(base, "empty")
	os.MkdirAll(empty, 0o755)

	tests := []struct {
		name, env, cache, want string
	}{
		{"RKO_LINUX_SRC first", envTree, cacheWith, envTree},
		{"the cache's newest whole 7.3 tree", "", cacheWith, newer},
		{"RKO_LINUX_SRC not a tree: the cache's", filepath.Join(base, "nothing"), cacheWith, newer},
		{"RKO_LINUX_SRC a tarball: the cache's", filepath.Join(old, "Makefile"), cacheOld, filepath.Join(cacheOld, "src", "linux-source-7.3-only")},
		{"nothing", "", empty, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("RKO_LINUX_SRC", tt.env)
			t.Setenv("RKO_CACHE", tt.cache)
			got, tried := FindKernelSource()
			if tt.want == "" && got != "" {
				// The host may have /usr/src/linux-source-7.3: then it is
				// found, and that is right too.
				if filepath.Dir(got) != "/usr/src" {
					t.Errorf("found %s, want nothing (tried %v)", got, tried)
				}
				return
			}
			if got != tt.want {
				t.Errorf("FindKernelSource() = %s, want %s (tried %v)", got, tt.want, tried)
			}
			if _, err := os.Stat(filepath.Join(tt.cache, "src")); tt.cache == empty && err == nil {
				t.Error("the lookup created the cache's src directory")
			}
		})
	}
}

// With no tree, KernelSource skips outside CI and fails in it, naming
// how to get one.
func TestKernelSourceSkipsOrFails(t *testing.T) {
	if dir, _ := FindKernelSource(); dir != "" {
		t.Setenv("RKO_LINUX_SRC", "")
	}
	t.Setenv("RKO_CACHE", t.TempDir())
	if dir, _ := FindKernelSource(); dir != "" {
		t.Skipf("the host has %s: no missing tree to report", dir)
	}
	for _, tt := range []struct {
		ci         string
		skip, fail bool
	}{
		{"", true, false},
		{"true", false, true},
	} {
		t.Setenv("CI", tt.ci)
		var f fakeTB
		KernelSource(&f)
		if (f.skipped != "") != tt.skip || (f.failed != "") != tt.fail {
			t.Errorf("CI=%q: skipped %q, failed %q", tt.ci, f.skipped, f.failed)
		}
		if msg := f.skipped + f.failed; !strings.Contains(msg, ProvisionCommand) || !strings.Contains(msg, "RKO_LINUX_SRC") {
			t.Errorf("CI=%q: message %q does not say how to get a tree", tt.ci, msg)
		}
	}
}

// CacheRoot follows package cache's rule.
func TestCacheRootIsCacheDir(t *testing.T) {
	base := t.TempDir()
	for _, tt := range []struct{ rko, xdg string }{
		{filepath.Join(base, "mine"), filepath.Join(base, "xdg")},
		{"", filepath.Join(base, "xdg")},
	} {
		t.Setenv("RKO_CACHE", tt.rko)
		t.Setenv("XDG_CACHE_HOME", tt.xdg)
		got, err := CacheRoot()
		if err != nil {
			t.Fatal(err)
		}
		want, err := cache.Dir()
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("RKO_CACHE=%q XDG_CACHE_HOME=%q: CacheRoot %s, cache.Dir %s", tt.rko, tt.xdg, got, want)
		}
	}
}
