package kernel

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
)

// Module cfgs: what rko tells a module's Rust code about the kernel it is
// built against, as rustc --cfg names (docs/kernels.md#one-module-source-
// for-several-kernels), so that one source builds on several kernels:
//
//	rko                      always, in a build rko runs (a plain make
//	                         has none of these: code can then assume the
//	                         newest kernel with not(rko))
//	rko_kernel_6_12          the kernel's series
//	rko_kernel_ge_6_1 ...    every series from 6.1 up to the kernel's own
//	rko_has_kernel_NAME      rust/kernel has the module NAME (pub mod
//	                         NAME in lib.rs: miscdevice, pci, ...)
//	rko_has_kunit_tests      rust/macros has #[kunit_tests]
//	rko_has_module_authors   module! takes authors: [...] (older
//	                         kernels take author: "...")
//
// C code has LINUX_VERSION_CODE and KERNEL_VERSION() for the version,
// and IS_ENABLED(CONFIG_...) for the config; a Rust module has the config
// as --cfg CONFIG_... from the kernel itself.

// firstRustSeries is the first kernel with Rust support: the version
// cfgs start there.
var firstRustSeries = [2]int{6, 1}

// lastMinor is the last series of each major the version cfgs cross
// (6.19 was followed by 7.0).
var lastMinor = map[int]int{6: 19}

var seriesRE = regexp.MustCompile(`^(\d+)\.(\d+)`)

// Series is the major and minor of a kernel release or version ("6.12"
// of "6.12.117" or of "7.3.4+deb13-amd64").
func Series(release string) (major, minor int, err error) {
	m := seriesRE.FindStringSubmatch(release)
	if m == nil {
		return 0, 0, fmt.Errorf("%q is not a kernel version", release)
	}
	major, _ = strconv.Atoi(m[1])
	minor, _ = strconv.Atoi(m[2])
	return major, minor, nil
}

// VersionCfgs are the version cfgs of a kernel of release: its series
// and every series from 6.1 up to it.
func VersionCfgs(release string) ([]string, error) {
	major, minor, err := Series(release)
	if err != nil {
		return nil, err
	}
	out := []string{fmt.Sprintf("rko_kernel_%d_%d", major, minor)}
	for ma, mi := firstRustSeries[0], firstRustSeries[1]; ma < major || ma == major && mi <= minor; {
		out = append(out, fmt.Sprintf("rko_kernel_ge_%d_%d", ma, mi))
		if last, ok := lastMinor[ma]; ok && mi >= last {
			ma, mi = ma+1, 0
		} else {
			mi++
		}
		if mi > 99 { // a major the table does not know ends somewhere
			ma, mi = ma+1, 0
		}
	}
	return out, nil
}

var (
	pubModRE       = regexp.MustCompile(`(?m)^pub mod ([a-z0-9_]+);`)
	kunitTestsRE   = regexp.MustCompile(`(?m)^pub fn kunit_tests\(`)
	moduleAuthorsR = regexp.MustCompile(`\bauthors\b`)
)

// FeatureCfgs are the feature cfgs of the kernel source tree src: the
// modules its kernel crate has and what its macros take.
func FeatureCfgs(src string) ([]string, error) {
	lib, err := os.ReadFile(filepath.Join(src, "rust/kernel/lib.rs"))
	if err != nil {
		return nil, fmt.Errorf("kernel source %s: %w", src, err)
	}
	var out []string
	for _, m := range pubModRE.FindAllSubmatch(lib, -1) {
		out = append(out, "rko_has_kernel_"+string(m[1]))
	}
	if macros, err := os.ReadFile(filepath.Join(src, "rust/macros/lib.rs")); err == nil && kunitTestsRE.Match(macros) {
		out = append(out, "rko_has_kunit_tests")
	}
	if module, err := os.ReadFile(filepath.Join(src, "rust/macros/module.rs")); err == nil && moduleAuthorsR.Match(module) {
		out = append(out, "rko_has_module_authors")
	}
	sort.Strings(out)
	return out, nil
}

// ModuleCfgs are the cfgs rko gives a module's Rust code built against
// k: rko, the version cfgs and the feature cfgs of its source tree.
// A kernel whose version cannot be told (no source, a release that is
// not a version) gets no version cfgs.
func (k *Kernel) ModuleCfgs() ([]string, error) {
	src := k.SourceDir()
	out := []string{"rko"}
	if v, err := VersionCfgs(k.Version()); err == nil {
		out = append(out, v...)
	}
	if src == "" {
		return out, nil
	}
	f, err := FeatureCfgs(src)
	if err != nil {
		return nil, err
	}
	return append(out, f...), nil
}

// CfgFlags are cfgs as rustc arguments: --cfg NAME each.
func CfgFlags(cfgs []string) []string {
	out := make([]string, 0, 2*len(cfgs))
	for _, c := range cfgs {
		out = append(out, "--cfg", c)
	}
	return out
}
