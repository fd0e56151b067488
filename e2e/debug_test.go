package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// debugScript stops in examples/debug's scaled(), reads its arguments
// (locals of the frame) and a field of the struct behind one, stamps the
// time of the stop, and detaches so that the guest runs to its verdict.
const debugScript = `continue
python import time; print("rko-debug-stopped-at", time.time())
info args
p k
p p.x
p *p
bt 3
delete
detach
`

// TestDebug runs rko debug --batch on examples/debug on each selected
// architecture with a debug kernel (x86_64 always, arm64 and riscv64 per
// RKO_E2E_ARCHES): gdb stops in the Rust function points::scaled, reads
// a local and a struct field through the Rust pretty printers, detaches,
// and the guest runs to a passing verdict. The time from the command to
// the first stop is logged. Opt-in with the debug kernels
// (RKO_E2E_DEBUG=1, docs/ci.md); it needs gdb-multiarch (scripts/setup).
func TestDebug(t *testing.T) {
	requireRealPath(t)
	debugKernels(t)
	if _, err := exec.LookPath("gdb-multiarch"); err != nil {
		t.Fatal("gdb-multiarch is not installed: run scripts/setup (apt-get install gdb-multiarch)")
	}
	script := filepath.Join(t.TempDir(), "stop.gdb")
	if err := os.WriteFile(script, []byte(debugScript), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, arch := range []string{"x86_64", "arm64", "riscv64"} {
		t.Run(arch, func(t *testing.T) {
			if arch != "x86_64" {
				skipArch(t, arch)
			}
			dir := copyDir(t, "../examples/debug")
			start := time.Now()
			r := rko(t, coldTimeout, "debug", "--arch", arch, "--toolchain", "rootfs", "--break", "points::scaled", "--batch", script, dir)
			if r.code != 0 {
				t.Fatalf("rko debug exited %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			for _, want := range []string{
				"hit Breakpoint", "points::scaled (p=", "k = 2", "$1 = 2", "$2 = 3", "$3 = points::Point {x: 3, y: 4}",
				"PASS",
			} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("output lacks %q:\n%s", want, r.stdout)
				}
			}
			if m := regexp.MustCompile(`rko-debug-stopped-at ([0-9.]+)`).FindStringSubmatch(r.stdout); m != nil {
				at, _ := strconv.ParseFloat(m[1], 64)
				t.Logf("%s: command to first breakpoint %.1fs, whole run %s", arch, at-float64(start.UnixNano())/1e9, r.took.Round(time.Second))
			}
		})
	}
}

// TestDebugRefusesKernelWithoutDebugInfo: rko debug on the default
// kernel (no DWARF) says what to use instead, and boots nothing.
func TestDebugRefusesKernelWithoutDebugInfo(t *testing.T) {
	requireRealPath(t)
	r := rko(t, coldTimeout, "debug", "--profile", "default", "--batch", "/dev/null", copyDir(t, "../examples/debug"))
	if r.code != 2 || !strings.Contains(r.stderr, "CONFIG_DEBUG_INFO off") || !strings.Contains(r.stderr, "--profile debug") {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 2 naming the missing debug info and --profile debug", r.code, r.stderr)
	}
}
