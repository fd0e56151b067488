package testutil

import (
	"os"
	"path/filepath"
	"sort"
)

// KernelSeries is the Linux release the kernel-source tests are written
// against: the linux-source package the toolchain rootfs ships.
const KernelSeries = "7.3"

// ProvisionCommand extracts the kernel source into rko's cache the way rko
// does, so that KernelSource finds it; scripts/test runs it before the
// unit tests.
const ProvisionCommand = "go run ./internal/testutil/kernelsrc"

// KernelSource returns an extracted Linux source tree with Rust (it has
// rust/kernel/lib.rs) for the tests that read a real tree. It looks, in
// order, at $RKO_LINUX_SRC when that is a directory, at the trees rko
// extracted into its cache (<cache>/src/linux-source-7.3-*, the newest
// first) and at /usr/src/linux-source-7.3*. When there is none
// it skips the test, or fails it in CI (InCI), saying how to get one.
func KernelSource(tb TB) string {
	tb.Helper()
	dir, tried := FindKernelSource()
	if dir == "" {
		SkipOrFail(tb, "no Linux %s source tree with Rust (looked at %v): set RKO_LINUX_SRC to one, or run %s (it installs rko's toolchain rootfs if needed and extracts its linux-source)", KernelSeries, tried, ProvisionCommand)
	}
	return dir
}

// FindKernelSource is KernelSource's search without a test: the first
// tree found ("" if none) and the places it looked at.
func FindKernelSource() (dir string, tried []string) {
	var candidates []string
	if env := os.Getenv("RKO_LINUX_SRC"); env != "" {
		tried = append(tried, "$RKO_LINUX_SRC="+env)
		candidates = append(candidates, env)
	}
	if root, err := CacheRoot(); err == nil {
		pattern := filepath.Join(root, "src", "linux-source-"+KernelSeries+"-*")
		tried = append(tried, pattern)
		candidates = append(candidates, newestFirst(pattern)...)
	}
	pattern := "/usr/src/linux-source-" + KernelSeries + "*"
	tried = append(tried, pattern)
	candidates = append(candidates, newestFirst(pattern)...)
	for _, c := range candidates {
		if IsKernelSource(c) {
			return c, tried
		}
	}
	return "", tried
}

// IsKernelSource reports whether dir is a complete kernel source tree with
// Rust: rko publishes an extraction by renaming it into place, so a tree
// with both its top Makefile and rust/kernel/lib.rs is whole.
func IsKernelSource(dir string) bool {
	for _, f := range []string{"Makefile", "rust/kernel/lib.rs"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || !st.Mode().IsRegular() {
			return false
		}
	}
	return true
}

// CacheRoot is rko's cache root by package cache's rule ($RKO_CACHE, else
// $XDG_CACHE_HOME/rko, else ~/.cache/rko); unlike cache.Dir it creates
// nothing, for a lookup has nothing to create.
func CacheRoot() (string, error) {
	dir := os.Getenv("RKO_CACHE")
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(base, "rko")
	}
	return filepath.Abs(dir)
}

// newestFirst returns the directories matching pattern, the most recently
// modified first.
func newestFirst(pattern string) []string {
	m, _ := filepath.Glob(pattern)
	type dir struct {
		path string
		mod  int64
	}
	var ds []dir
	for _, p := range m {
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			ds = append(ds, dir{p, st.ModTime().UnixNano()})
		}
	}
	sort.SliceStable(ds, func(i, j int) bool { return ds[i].mod > ds[j].mod })
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.path
	}
	return out
}
