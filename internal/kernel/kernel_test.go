package kernel

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sync/atomic"

	"github.com/rkodev/rko/internal/kconfig"
	"github.com/rkodev/rko/internal/target"
	"github.com/rkodev/rko/internal/testutil"
	"github.com/rkodev/rko/internal/toolchain"
)

func TestProfileFragments(t *testing.T) {
	for name, want := range Profiles {
		fs, err := ProfileFragments(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(fs) != len(want) {
			t.Fatalf("%s: %d fragments, want %d", name, len(fs), len(want))
		}
		for i, f := range fs {
			if f.Name != want[i] || len(f.Data) == 0 {
				t.Errorf("%s: fragment %d = %q (%d bytes), want %q", name, i, f.Name, len(f.Data), want[i])
			}
			if _, err := kconfig.Parse(strings.NewReader(string(f.Data))); err != nil {
				t.Errorf("%s/%s does not parse: %v", name, f.Name, err)
			}
		}
	}
	if _, err := ProfileFragments("fast"); err == nil || !strings.Contains(err.Error(), "bench, debug, default") {
		t.Errorf("unknown profile error = %v, want one naming the profiles", err)
	}
}

// The shipped fragments must ask for what the guest and triage rely on.
func TestFragmentsAskForEssentials(t *testing.T) {
	want := map[string][]string{
		"base":  {"BUG", "KALLSYMS", "PRINTK_TIME", "MODULES", "MODULE_UNLOAD", "DEVTMPFS", "BLK_DEV_INITRD", "FUTEX", "EPOLL"},
		"rust":  {"RUST"},
		"kunit": {"KUNIT", "RUST_KERNEL_DOCTESTS"},
		"debug": {"KASAN", "DEBUG_ATOMIC_SLEEP", "PROVE_LOCKING", "DEBUG_KMEMLEAK", "DEBUG_INFO_DWARF5"},
	}
	for name, syms := range want {
		fs, err := ProfileFragments(map[string]string{"base": "default", "rust": "default", "kunit": "default", "debug": "debug"}[name])
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			if f.Name != name {
				continue
			}
			c, _ := kconfig.Parse(strings.NewReader(string(f.Data)))
			for _, s := range syms {
				if c.Get(s) != "y" {
					t.Errorf("%s.config: CONFIG_%s=%s, want y", name, s, c.Get(s))
				}
			}
		}
	}
}

func TestKey(t *testing.T) {
	src := &Source{ID: "s1", Version: "7.3.4"}
	tc := &toolchain.Toolchain{ID: "t1"}
	p := Params{Source: src, Toolchain: tc}
	arm64, _ := target.Lookup("arm64")
	a := []Fragment{{"base", []byte("CONFIG_A=y\n")}}
	k1 := Key(p, a)
	if k1 != Key(p, a) {
		t.Fatal("key is not stable")
	}
	changed := []struct {
		name string
		key  string
	}{
		{"fragment content", Key(p, []Fragment{{"base", []byte("CONFIG_A=n\n")}})},
		{"fragment name", Key(p, []Fragment{{"other", []byte("CONFIG_A=y\n")}})},
		{"extra fragment", Key(p, append(a, Fragment{"user", []byte("CONFIG_B=y\n")}))},
		{"toolchain", Key(Params{Source: src, Toolchain: &toolchain.Toolchain{ID: "t2"}}, a)},
		{"source", Key(Params{Source: &Source{ID: "s2", Version: "7.3.4"}, Toolchain: tc}, a)},
		{"architecture", Key(Params{Target: arm64, Source: src, Toolchain: tc}, a)},
	}
	for _, c := range changed {
		if c.key == k1 {
			t.Errorf("changing the %s does not change the key", c.name)
		}
	}
}

// Each target's fragments put its own right after base and give it the
// console the target table names; a profile the target does not offer is
// refused with the reason.
func TestTargetFragments(t *testing.T) {
	console := map[string][]string{
		"x86_64":  {"SERIAL_8250_CONSOLE", "PVH"},
		"arm64":   {"SERIAL_AMBA_PL011_CONSOLE"},
		"riscv64": {"SERIAL_8250_CONSOLE", "SERIAL_OF_PLATFORM", "RISCV_ISA_FALLBACK", "FPU"},
		"um":      {"NULL_CHAN"},
	}
	for _, name := range target.Names() {
		tg, _ := target.Lookup(name)
		fs, err := TargetFragments("default", tg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		names, merged := mergeFragments(t, fs)
		want := "base arch-" + name + " rust kunit"
		switch name {
		case "x86_64":
			// The default kernel is the bench kernel where bench is offered.
			want += " bench"
		case "arm64", "riscv64":
			// With the architecture's amendments to bench (no x86 clocks).
			want += " bench arch-" + name + "-bench"
		}
		if strings.Join(names, " ") != want {
			t.Errorf("%s: fragments %v, want %s", name, names, want)
		}
		for _, sym := range console[name] {
			if merged.Get(sym) != "y" {
				t.Errorf("%s: CONFIG_%s=%q, want y", name, sym, merged.Get(sym))
			}
		}
		// No fragment of another architecture leaks into this one.
		// An architecture's amendments to bench take away x86's clocks
		// only, not what its own fragment asks for.
		if name == "arm64" || name == "riscv64" {
			_, arch := mergeFragments(t, fs[:2])
			for sym, v := range arch {
				if v == "y" && merged.Get(sym) != "y" {
					t.Errorf("%s: CONFIG_%s=y in arch-%s.config is undone later (%q)", name, sym, name, merged.Get(sym))
				}
			}
		}
		for _, x86 := range []string{"PVH", "HPET_TIMER", "X86_PM_TIMER"} {
			if merged.Get(x86) == "y" && name != "x86_64" {
				t.Errorf("%s: asks for x86's %s", name, x86)
			}
		}
	}
	um, _ := target.Lookup("um")
	if _, err := TargetFragments("bench", um); err == nil || !strings.Contains(err.Error(), "--profile bench is not available on --arch um") {
		t.Errorf("bench on um: %v, want a refusal naming profile and arch", err)
	}
}

// --profile bench names the default kernel where bench is offered (the
// same fragments, so the same cache key) and is refused elsewhere; the
// default carries no bench option where bench is not offered.
func TestCanonicalProfile(t *testing.T) {
	src := &Source{ID: "s1", Version: "7.3.4"}
	tc := &toolchain.Toolchain{ID: "t1"}
	tests := []struct {
		arch, profile, want string
		same                bool // bench is offered: it is the default kernel
	}{
		{"x86_64", "", "default", true},
		{"x86_64", "bench", "default", true},
		{"x86_64", "debug", "debug", true},
		{"arm64", "bench", "default", true},
		{"riscv64", "default", "default", true},
		{"um", "bench", "bench", false},
	}
	for _, tt := range tests {
		tg, _ := target.Lookup(tt.arch)
		if got := Canonical(tt.profile, tg); got != tt.want {
			t.Errorf("Canonical(%q, %s) = %q, want %q", tt.profile, tt.arch, got, tt.want)
		}
		def, err := TargetFragments("default", tg)
		if err != nil {
			t.Fatal(err)
		}
		bench, err := TargetFragments("bench", tg)
		if tt.same != (err == nil) {
			t.Errorf("%s: --profile bench: %v", tt.arch, err)
		}
		if err == nil {
			p := Params{Target: tg, Source: src, Toolchain: tc}
			if Key(p, def) != Key(p, bench) {
				t.Errorf("%s: bench and default have different kernels", tt.arch)
			}
		}
		_, merged := mergeFragments(t, def)
		if got := merged.Get("BLK_DEV_RUST_NULL"); (got == "m") != tt.same {
			t.Errorf("%s: default kernel CONFIG_BLK_DEV_RUST_NULL=%q", tt.arch, got)
		}
	}
}

func TestMakefileVersion(t *testing.T) {
	dir := t.TempDir()
	mk := filepath.Join(dir, "Makefile")
	os.WriteFile(mk, []byte("# SPDX\nVERSION = 7\nPATCHLEVEL = 3\nSUBLEVEL = 4\nEXTRAVERSION =\nNAME = Baby Opossum Posse\n"), 0o644)
	if v, err := MakefileVersion(mk); err != nil || v != "7.3.4" {
		t.Errorf("MakefileVersion = %q, %v; want 7.3.4", v, err)
	}
	os.WriteFile(mk, []byte("all:\n"), 0o644)
	if _, err := MakefileVersion(mk); err == nil {
		t.Error("a Makefile without VERSION was accepted")
	}
}

// The real 7.3 tree's version, and its acceptance as a Rust kernel source.
func TestRealSourceTree(t *testing.T) {
	tree := testutil.KernelSource(t)
	if v, err := MakefileVersion(filepath.Join(tree, "Makefile")); err != nil || !strings.HasPrefix(v, testutil.KernelSeries+".") {
		t.Errorf("real %s tree %s: %q, %v", testutil.KernelSeries, tree, v, err)
	}
	if src, err := sourceFromDir(tree, "x"); err != nil || src.Dir != tree {
		t.Errorf("sourceFromDir(%s) = %+v, %v", tree, src, err)
	}
}

func TestSourceFromDirRefusesNonRustTree(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Makefile"), []byte("VERSION = 5\nPATCHLEVEL = 15\nSUBLEVEL = 0\n"), 0o644)
	_, err := sourceFromDir(dir, "x")
	if err == nil || !strings.Contains(err.Error(), "no rust/kernel") {
		t.Errorf("err = %v, want a refusal naming rust/kernel", err)
	}
	if _, err := sourceFromDir(t.TempDir(), "x"); err == nil || !strings.Contains(err.Error(), "does not look like a kernel source tree") {
		t.Errorf("empty dir: err = %v", err)
	}
}

func TestIsObjectLine(t *testing.T) {
	tests := []struct {
		line string
		want bool
	}{
		{"  CC      kernel/fork.o", true},
		{"  RUSTC L rust/core.o", true},
		{"  HOSTCC  scripts/basic/fixdep", true},
		{"  BINDGEN rust/bindings/bindings_generated.rs", true},
		{"  LD      vmlinux.o", true},
		{"  GEN     Makefile", false},
		{"CC kernel/fork.o", false},
		{"make[1]: Entering directory", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := isObjectLine([]byte(tt.line)); got != tt.want {
			t.Errorf("isObjectLine(%q) = %v, want %v", tt.line, got, tt.want)
		}
	}
}

func TestProgressWriterCountsAcrossWrites(t *testing.T) {
	var w progressWriter
	var n = new(int64Counter)
	w.count = &n.v
	for _, chunk := range []string{"  CC      a.o\n  C", "C      b.o\n  GEN x\n", "  RUSTC L c.o", "\n"} {
		w.Write([]byte(chunk))
	}
	if got := n.v.Load(); got != 3 {
		t.Errorf("counted %d objects, want 3", got)
	}
}

func TestDroppedErrorNamesEveryOption(t *testing.T) {
	e := &DroppedError{Dropped: []kconfig.Dropped{
		{Symbol: "KASAN", Want: "y", Got: "n", DependsOn: "SYSFS && !SLUB_TINY", Unmet: []string{"not SLUB_TINY (SLUB_TINY=y)"}},
		{Symbol: "PROC_SYSCTL", Want: "y", Got: "n", Unknown: true},
	}}
	msg := e.Error()
	for _, want := range []string{"2 requested config option(s)", "CONFIG_KASAN=y was dropped", "SLUB_TINY=y", "no Kconfig in this tree defines PROC_SYSCTL", "fix the fragment"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	e.RustAvailable = "*** Rust bindings generator 'bindgen' could not be found."
	if msg := e.Error(); !strings.Contains(msg, "rustavailable") || !strings.Contains(msg, "could not be found") {
		t.Errorf("RUST dropped message lacks the rustavailable output:\n%s", msg)
	}
}

type int64Counter struct{ v atomic.Int64 }

// TestTargetFragmentAmendments: an architecture's amendments to a
// profile fragment (arch-um-debug) come right after it and win.
func TestTargetFragmentAmendments(t *testing.T) {
	um, _ := target.Lookup("um")
	fs, err := TargetFragments("debug", um)
	if err != nil {
		t.Fatal(err)
	}
	names, merged := mergeFragments(t, fs)
	if want := "base arch-um rust kunit debug arch-um-debug"; strings.Join(names, " ") != want {
		t.Errorf("fragments %v, want %s", names, want)
	}
	if merged.Get("DEBUG_KMEMLEAK") == "y" || merged.Get("KASAN") != "y" {
		t.Errorf("UML debug: DEBUG_KMEMLEAK=%q KASAN=%q, want kmemleak off and KASAN on", merged.Get("DEBUG_KMEMLEAK"), merged.Get("KASAN"))
	}
	arm64, _ := target.Lookup("arm64")
	fs, _ = TargetFragments("debug", arm64)
	if last := fs[len(fs)-1].Name; last != "debug" {
		t.Errorf("arm64 debug ends with %s, want debug (it has no amendments)", last)
	}
}

// mergeFragments returns the fragments' names and their merged options.
func mergeFragments(t *testing.T, fs []Fragment) ([]string, kconfig.Config) {
	t.Helper()
	var names []string
	merged := kconfig.Config{}
	for _, f := range fs {
		names = append(names, f.Name)
		c, err := kconfig.Parse(strings.NewReader(string(f.Data)))
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		merged.Merge(c)
	}
	return names, merged
}

func TestVersionCfgs(t *testing.T) {
	for _, tc := range []struct {
		release    string
		first, has []string
		not        []string
		n          int
	}{
		{"6.12.117", []string{"rko_kernel_6_12", "rko_kernel_ge_6_1"}, []string{"rko_kernel_ge_6_12"}, []string{"rko_kernel_ge_6_13", "rko_kernel_ge_7_0"}, 1 + 12},
		{"7.3.4+deb13-amd64", []string{"rko_kernel_7_3", "rko_kernel_ge_6_1"}, []string{"rko_kernel_ge_6_19", "rko_kernel_ge_7_0", "rko_kernel_ge_7_3"}, []string{"rko_kernel_ge_6_20", "rko_kernel_ge_7_4"}, 1 + 19 + 4},
		{"6.1.0", []string{"rko_kernel_6_1", "rko_kernel_ge_6_1"}, nil, []string{"rko_kernel_ge_6_2"}, 2},
	} {
		got, err := VersionCfgs(tc.release)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != tc.n || got[0] != tc.first[0] || got[1] != tc.first[1] {
			t.Errorf("VersionCfgs(%s) = %q (%d), want %d starting %q", tc.release, got, len(got), tc.n, tc.first)
		}
		set := map[string]bool{}
		for _, c := range got {
			set[c] = true
		}
		for _, c := range tc.has {
			if !set[c] {
				t.Errorf("VersionCfgs(%s) lacks %s", tc.release, c)
			}
		}
		for _, c := range tc.not {
			if set[c] {
				t.Errorf("VersionCfgs(%s) has %s", tc.release, c)
			}
		}
	}
	if _, err := VersionCfgs("next"); err == nil {
		t.Error("VersionCfgs(next): no error")
	}
}

// TestFeatureCfgs reads the kernel crate of a real linux-source (7.3,
// the one rko extracts; testutil.KernelSource).
func TestFeatureCfgs(t *testing.T) {
	got, err := FeatureCfgs(testutil.KernelSource(t))
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	for _, c := range got {
		set[c] = true
	}
	for _, c := range []string{"rko_has_kernel_sync", "rko_has_kernel_miscdevice", "rko_has_kunit_tests", "rko_has_module_authors"} {
		if !set[c] {
			t.Errorf("FeatureCfgs lacks %s: %q", c, got)
		}
	}
	if set["rko_has_kernel_no_such"] {
		t.Error("FeatureCfgs has a module that does not exist")
	}
}

func TestRustcVersion(t *testing.T) {
	if got := RustcVersionText(108501); got != "1.85.1" {
		t.Errorf("RustcVersionText(108501) = %s", got)
	}
	if got := RustcVersionNumber(1, 98, 1); got != 109801 {
		t.Errorf("RustcVersionNumber(1, 98, 1) = %d", got)
	}
}
