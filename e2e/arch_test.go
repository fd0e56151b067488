package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rkodev/rko/internal/testutil"
)

// foreignArches are the guest architectures besides the host's x86_64
// that the e2e suite can run the hello, oops-on-load and Rust-panic cases
// on, each with the QEMU it needs ("" for UML, a host process). Each builds
// one kernel (the default profile) on a cold cache: 3-4 minutes on an idle
// two-core machine, 6-9 in a cold CI run (docs/ci.md).
var foreignArches = []struct{ name, qemu, pkg string }{
	{"arm64", "qemu-system-aarch64", "qemu-system-arm"},
	{"riscv64", "qemu-system-riscv64", "qemu-system-misc"},
	{"um", "", ""},
}

// defaultArches are the foreign architectures a run tests when
// RKO_E2E_ARCHES is unset: UML, the cheapest kernel and the one boot
// path besides QEMU. arm64 and riscv64 take the QEMU path x86_64 takes,
// cross-built; RKO_E2E_ARCHES=all (or a comma-separated list, or "none")
// picks them (docs/ci.md).
const defaultArches = "um"

func selectedArch(name string) bool {
	sel := os.Getenv("RKO_E2E_ARCHES")
	if sel == "" {
		sel = defaultArches
	}
	for _, s := range strings.Split(sel, ",") {
		if s = strings.TrimSpace(s); s == name || s == "all" {
			return true
		}
	}
	return false
}

// skipArch skips a subtest of an architecture that is not selected.
func skipArch(t *testing.T, name string) {
	t.Helper()
	if !selectedArch(name) {
		sel := os.Getenv("RKO_E2E_ARCHES")
		if sel == "" {
			sel = defaultArches + " (the default)"
		}
		t.Skipf("not in RKO_E2E_ARCHES=%s: set RKO_E2E_ARCHES=all, or a list, to test %s too (docs/ci.md)", sel, name)
	}
}

// TestArches runs, per architecture, the three cases every architecture
// must pass: examples/hello (Rust and C twins, their KUnit suites and
// smoke tests) passes; a C module that writes through NULL in its init
// fails the insmod step with the architecture's NULL-dereference report,
// symbolized to its source line; a Rust module that indexes out of
// bounds fails with the Rust panic. The kernel is cross-built by the
// pinned toolchain (LLVM=1 ARCH=...), booted under TCG (UML: as a
// process inside the toolchain sandbox).
func TestArches(t *testing.T) {
	requireRealPath(t)
	for _, a := range foreignArches {
		a := a
		t.Run(a.name, func(t *testing.T) {
			skipArch(t, a.name)
			if a.qemu != "" {
				if _, err := exec.LookPath(a.qemu); err != nil {
					msg := a.qemu + " is not installed (run scripts/setup, or apt-get install " + a.pkg + ")"
					if testutil.InCI() {
						t.Fatal(msg)
					}
					t.Skip(msg)
				}
			}
			args := []string{"--arch", a.name, "--toolchain", "rootfs"}
			if a.qemu != "" {
				args = append(args, "--accel", "tcg")
			}
			t.Run("hello", func(t *testing.T) { archHello(t, a.name, args) })
			t.Run("oops-on-load", func(t *testing.T) { archOops(t, a.name, args) })
			t.Run("rust-panic", func(t *testing.T) { archRustPanic(t, args) })
			t.Run("run-and-shell", func(t *testing.T) { guestCommands(t, a.name, args) })
			t.Run("watch", func(t *testing.T) { archWatch(t, a.name, args) })
		})
	}
}

func archHello(t *testing.T, arch string, args []string) {
	rust, _, rep, r := testHello(t, args...)
	t.Logf("%s: cold or warm rko test of examples/hello took %s", arch, r.took)
	if want := map[string]string{"um": "uml"}[arch]; want != "" && rep.Accel != want {
		t.Errorf("accel = %q, want %q", rep.Accel, want)
	} else if want == "" && rep.Accel != "tcg" {
		t.Errorf("accel = %q, want tcg", rep.Accel)
	}
	// Warm edit-to-verdict.
	now := time.Now()
	os.Chtimes(rust+"/hello.rs", now, now)
	r2 := rko(t, 5*time.Minute, append(append([]string{"test", "--json"}, args...), rust)...)
	if !decode(t, r2).Verdict.Passed {
		t.Fatalf("second run failed: %s", r2.stderr)
	}
	t.Logf("%s: warm edit-to-verdict (touch hello.rs; rko test): %s", arch, r2.took)
}

func archOops(t *testing.T, arch string, args []string) {
	rep := testMustFail(t, "a module that oopses on load", append(args, copyDir(t, "../examples/buggy/null_c"))...)
	if !strings.HasPrefix(rep.Verdict.Step, "insmod") {
		t.Errorf("verdict step = %q, want the insmod step", rep.Verdict.Step)
	}
	if len(rep.Crashes) == 0 {
		t.Fatalf("no crash reported; verdict %+v", rep.Verdict)
	}
	c := rep.Crashes[0]
	// Each architecture words a NULL write its own way (arm64 "NULL
	// pointer dereference", riscv64 "access to user memory without uaccess
	// routines", UML a "Kernel mode fault" panic after its registers); the
	// title names the function on all of them.
	if !strings.Contains(c.Title, "item_set") {
		t.Errorf("crash %+v, want one in item_set", c)
	}
	if !strings.HasPrefix(c.Source, "buggy_null.c:") {
		t.Errorf("crash source = %q, want buggy_null.c:LINE", c.Source)
	}
	t.Logf("%s: %s (%s)", arch, c.Title, c.Source)
}

func archRustPanic(t *testing.T, args []string) {
	rep := testMustFail(t, "a Rust panic", append(args, copyDir(t, "../examples/buggy/oob_rust"))...)
	for _, c := range rep.Crashes {
		if c.Type == "rust-panic" && strings.Contains(c.Title, "index out of bounds") {
			return
		}
	}
	t.Errorf("crashes = %+v, want a Rust panic for the index out of bounds", rep.Crashes)
}

// TestArchBadInput: an --arch rko does not know, or one the kernel
// supports for Rust but rko cannot boot yet, is refused before anything
// is built, with the supported names.
func TestArchBadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: not run with -short")
	}
	for _, tt := range []struct{ arch, want string }{
		{"sparc", `unknown --arch "sparc"`},
		{"loongarch", "supports Rust on loongarch"},
	} {
		for _, cmd := range [][]string{{"kernel", "build"}, {"test"}, {"build"}, {"doctor"}, {"bench"}, {"quickstart"}} {
			r := rko(t, time.Minute, append(cmd, "--arch", tt.arch)...)
			if r.code != 2 || !strings.Contains(r.stderr, tt.want) || !strings.Contains(r.stderr, "arm64, riscv64, um, x86_64") {
				t.Errorf("rko %s --arch %s: exit %d, stderr %q; want exit 2 naming the bad value and the supported ones", strings.Join(cmd, " "), tt.arch, r.code, r.stderr)
			}
		}
	}
	// bench runs on every QEMU architecture (docs/bench.md), not on UML.
	r := rko(t, time.Minute, "bench", "--arch", "um")
	if r.code != 2 || !strings.Contains(r.stderr, "not available on --arch um") {
		t.Errorf("rko bench --arch um: exit %d, stderr %q; want a refusal that says why", r.code, r.stderr)
	}
}

// debugKernel skips a test on the x86_64 debug kernel (KASAN, lockdep,
// kmemleak, DWARF: the bug finders and the debugger) only when
// RKO_E2E_DEBUG=0: one kernel, 5 minutes cold here, that the leak, KASAN
// and gdb tests share, so it is built on every run (docs/ci.md).
func debugKernel(t *testing.T) {
	t.Helper()
	if os.Getenv("RKO_E2E_DEBUG") == "0" {
		t.Skip("RKO_E2E_DEBUG=0: no debug kernel (docs/ci.md)")
	}
}

// debugKernels reports whether the tests on the debug kernels of the
// foreign architectures run: each builds one (3-6 minutes on an idle
// two-core machine). Opt-in: RKO_E2E_DEBUG=1, or its older name
// RKO_E2E_ARCH_DEBUG=1 (docs/ci.md).
func debugKernels(t *testing.T) {
	t.Helper()
	if os.Getenv("RKO_E2E_DEBUG") != "1" && os.Getenv("RKO_E2E_ARCH_DEBUG") == "" {
		t.Skip("builds a debug kernel per architecture: set RKO_E2E_DEBUG=1 (docs/ci.md)")
	}
}

// TestArchDebugProfile: the debug profile's bug finders (KASAN,
// DEBUG_ATOMIC_SLEEP, lockdep, kmemleak) on each selected foreign
// architecture, each giving the report it gives on x86_64. Opt-in
// (debugKernels): it builds a debug kernel per architecture.
func TestArchDebugProfile(t *testing.T) {
	requireRealPath(t)
	debugKernels(t)
	for _, a := range foreignArches {
		a := a
		t.Run(a.name, func(t *testing.T) {
			skipArch(t, a.name)
			args := []string{"--arch", a.name, "--toolchain", "rootfs", "--profile", "debug"}
			if a.qemu != "" {
				args = append(args, "--accel", "tcg")
			}
			for _, tt := range []struct{ dir, typ, title, not string }{
				{"uaf_c", "kasan", "KASAN: slab-use-after-free Read in ring_pop", ""},
				{"atomic_sleep_c", "sleep-in-atomic", "BUG: sleeping function called from invalid context in slow_update", ""},
				// UML's debug kernel has neither lockdep nor kmemleak
				// (configs/arch-um-debug.config says why).
				{"lock_order_c", "lockdep", "possible deadlock in take_ba", "um"},
				{"leak_rust", "kmemleak", "memory leak in buggy_leak_rust::make_buffer", "um"},
			} {
				t.Run(tt.dir, func(t *testing.T) {
					if tt.not == a.name {
						t.Skipf("%s: no %s on %s's debug profile", tt.dir, tt.typ, a.name)
					}
					rep := testMustFail(t, tt.title, append(args, copyDir(t, "../examples/buggy/"+tt.dir))...)
					for _, c := range rep.Crashes {
						if c.Type == tt.typ && c.Title == tt.title {
							t.Logf("%s: %s (%s)", a.name, c.Title, c.Source)
							return
						}
					}
					t.Errorf("crashes = %+v, want a %s report %q", rep.Crashes, tt.typ, tt.title)
				})
			}
		})
	}
}

// TestSelectedArch: RKO_E2E_ARCHES picks the foreign architectures; unset,
// the default set.
func TestSelectedArch(t *testing.T) {
	for _, tt := range []struct {
		env  string
		want string // the selected ones, in foreignArches order
	}{
		{"", defaultArches},
		{"all", "arm64,riscv64,um"},
		{"none", ""},
		{"arm64, um", "arm64,um"},
		{"riscv64", "riscv64"},
	} {
		t.Setenv("RKO_E2E_ARCHES", tt.env)
		var got []string
		for _, a := range foreignArches {
			if selectedArch(a.name) {
				got = append(got, a.name)
			}
		}
		if strings.Join(got, ",") != tt.want {
			t.Errorf("RKO_E2E_ARCHES=%q: %v, want %s", tt.env, got, tt.want)
		}
	}
}
