package workflow

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rkodev/rko/internal/cache"
	"github.com/rkodev/rko/internal/kernel"
)

// ModuleRun is one module directory of a test run.
type ModuleRun struct {
	Dir     string   `json:"dir"`
	Modules []string `json:"modules"` // module names
	KoPaths []string `json:"ko"`
	// BuildPath is where the compilers saw Dir, if not at Dir.
	BuildPath string   `json:"build_path,omitempty"`
	Tests     []string `json:"tests,omitempty"`
	// KUnit says the module's source declares KUnit suites.
	KUnit bool `json:"kunit,omitempty"`
}

// ModuleName is the kernel's name for a .ko file (dashes become
// underscores).
func ModuleName(ko string) string {
	return strings.ReplaceAll(strings.TrimSuffix(filepath.Base(ko), ".ko"), "-", "_")
}

// BuildModules builds every directory against k.
func (e *Env) BuildModules(ctx context.Context, k *kernel.Kernel, dirs []string) ([]ModuleRun, error) {
	b, err := e.buildCycle(ctx, k, dirs)
	if err != nil {
		return nil, err
	}
	return b.mods, nil
}

// kunitMarkers declare KUnit suites: the kernel crate's attribute in
// Rust, the C macro.
var kunitMarkers = [][]byte{[]byte("#[kunit_tests("), []byte("kunit_test_suite(")}

// hasKUnitSuites reports whether a module's sources declare KUnit suites.
func hasKUnitSuites(dir string) bool {
	for _, pat := range []string{"*.rs", "*.c"} {
		files, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			for _, m := range kunitMarkers {
				if bytes.Contains(data, m) {
					return true
				}
			}
		}
	}
	return false
}

// KernelNotes says what the kernel lacks that the modules' tests would
// use, and so was not run: the KUnit suites of a module on a kernel
// without CONFIG_KUNIT (Debian's has none), explained like a dropped
// option. Everything else still runs; the notes go into the verdict.
func KernelNotes(k *kernel.Kernel, mods []ModuleRun) []string {
	var with []string
	for _, m := range mods {
		if m.KUnit {
			with = append(with, strings.Join(m.Modules, ", "))
		}
	}
	if len(with) == 0 {
		return nil
	}
	unmet, err := k.CheckNeeds([]kernel.Need{kernel.KUnitNeed})
	if err != nil || len(unmet) == 0 {
		return nil
	}
	return []string{fmt.Sprintf("the KUnit suites of %s were not run: %s", strings.Join(with, ", "), unmet[0])}
}

// findTests lists the executable files in dir/tests, sorted.
func findTests(dir string) []string {
	ents, err := os.ReadDir(filepath.Join(dir, "tests"))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 {
			continue
		}
		out = append(out, filepath.Join(dir, "tests", e.Name()))
	}
	sort.Strings(out)
	return out
}

// lockModuleDir takes the lock of one module directory: two rko processes
// must not run make (or write rust-project.json) in it at once. The lock
// lives in the cache, not in the user's directory; doing says what the
// holder is doing, for the waiting message.
func (e *Env) lockModuleDir(ctx context.Context, abs, doing string) (func(), error) {
	locks, err := cache.Sub("locks")
	if err != nil {
		return nil, err
	}
	return cache.Lock(ctx, filepath.Join(locks, "module-"+cache.Key([]byte(abs))),
		func() { e.UI.Logf("waiting for another rko %s %s", doing, abs) })
}
