package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// debugScript stops in examples/debug's scaled(), stamps the time of the
// stop, reads the struct behind its argument and a field of it, steps
// over its first line (a next or more: arm64's line table comes back to
// it) and reads a local, and detaches so that the guest runs to
// its verdict. (The argument k is not read: riscv64's rustc keeps no
// location for it past the prologue.)
const debugScript = `continue
python import time; print("rko-debug-stopped-at", time.time())
p *p
p p.x
bt 3
python
line = gdb.selected_frame().find_sal().line
for _ in range(20):
    gdb.execute("next", to_string=True)
    if gdb.selected_frame().find_sal().line != line:
        break
end
p folded
delete
detach
`

// TestDebug runs rko debug --batch on examples/debug on each selected
// architecture with a debug kernel (x86_64 always, arm64 and riscv64 per
// RKO_E2E_ARCHES and RKO_E2E_DEBUG=1): gdb stops in the Rust function points::scaled, reads
// a local and a struct field through the Rust pretty printers, detaches,
// and the guest runs to a passing verdict. The time from the command to
// the first stop is logged. It needs gdb-multiarch (scripts/setup).
func TestDebug(t *testing.T) {
	requireRealPath(t)
	debugKernel(t)
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
				debugKernels(t)
			}
			dir := copyDir(t, "../examples/debug")
			start := time.Now()
			r := rko(t, coldTimeout, "debug", "--arch", arch, "--toolchain", "rootfs", "--break", "points::scaled", "--batch", script, dir)
			if r.code != 0 {
				t.Fatalf("rko debug exited %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			for _, want := range []string{
				"hit Breakpoint", "points::scaled (p=", "$1 = points::Point {x: 3, y: 4}", "$2 = 3", "$3 = 10", "PASS",
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

// TestKeepOnCrash: rko test --keep-on-crash on a module whose init writes
// through NULL keeps the panicked guest stopped with its gdb stub open and
// says how to attach; gdb attached with rko's command file shows the
// panic in the backtrace, and the faulting
// instruction in item_set through the exception frame's saved registers
// (x86_64: frame exc_general_protection, regs->ip); Ctrl-C then ends rko (130) and the
// guest. On the x86_64 debug kernel.
func TestKeepOnCrash(t *testing.T) {
	requireRealPath(t)
	debugKernel(t)
	cmd := exec.Command(rkoBin, "test", "--profile", "debug", "--keep-on-crash", "--toolchain", "rootfs", copyDir(t, "../examples/buggy/null_c"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	attach := regexp.MustCompile(`gdb-multiarch -x (\S+gdbinit)`)
	lines := make(chan string, 100)
	go func() {
		buf := make([]byte, 64<<10)
		var all string
		for {
			n, err := stderr.Read(buf)
			all += string(buf[:n])
			for {
				i := strings.IndexByte(all, '\n')
				if i < 0 {
					break
				}
				lines <- all[:i]
				all = all[i+1:]
			}
			if err != nil {
				close(lines)
				return
			}
		}
	}()
	var script string
	var seen []string
	deadline := time.After(10 * time.Minute)
	for script == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("rko ended before the crash was kept:\n%s", strings.Join(seen, "\n"))
			}
			seen = append(seen, l)
			if strings.Contains(l, "kept stopped there") {
				for script == "" {
					l = <-lines
					seen = append(seen, l)
					if m := attach.FindStringSubmatch(l); m != nil {
						script = m[1]
					}
				}
			}
		case <-deadline:
			t.Fatalf("no kept crash in 10 minutes:\n%s", strings.Join(seen, "\n"))
		}
	}
	out, err := exec.Command("gdb-multiarch", "-q", "-batch", "-nx", "-x", script, "-ex", "bt 20",
		"-ex", "frame function exc_general_protection", "-ex", "p/a regs->ip", "-ex", "detach").CombinedOutput()
	// The backtrace runs through the panic to the exception entry, where
	// gdb stops unwinding (what it prints past that is stack garbage), so
	// the test reads the faulting instruction from the saved registers.
	if err != nil || !strings.Contains(string(out), "rko: the panic is on thread") || !strings.Contains(string(out), "in panic") || !strings.Contains(string(out), "<item_set+") {
		t.Errorf("gdb on the kept crash: %v; want the panic in the backtrace and regs->ip in item_set:\n%s", err, out)
	}
	cmd.Process.Signal(os.Interrupt)
	err = cmd.Wait()
	if xe, ok := err.(*exec.ExitError); !ok || xe.ExitCode() != 130 {
		t.Errorf("rko after Ctrl-C: %v, want exit 130", err)
	}
}

// TestRunWithGDB: rko run --gdb opens the stub of a guest that runs on
// without waiting; gdb attached with the run's command file while the
// command runs sees the module loaded, with its symbols at their
// addresses, and the run still ends with the command's status. On the
// x86_64 debug kernel.
func TestRunWithGDB(t *testing.T) {
	requireRealPath(t)
	debugKernel(t)
	dir := copyDir(t, "../examples/debug")
	cmd := exec.Command(rkoBin, "run", "--profile", "debug", "--toolchain", "rootfs", "--gdb", "127.0.0.1:0", dir, "--", "sleep", "25")
	if out, err := exec.Command(rkoBin, "run", "--gdb", "1234", dir, "--", "true").CombinedOutput(); err == nil || !strings.Contains(string(out), "HOST:PORT") {
		t.Errorf("--gdb 1234: %v %s, want a refusal naming HOST:PORT", err, out)
	}
	port := freePort(t)
	cmd.Args[len(cmd.Args)-5] = "127.0.0.1:" + port
	var errb strings.Builder
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	attach := regexp.MustCompile(`attach with: gdb-multiarch -x (\S+gdbinit)`)
	var script string
	for deadline := time.Now().Add(5 * time.Minute); script == "" && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if m := attach.FindStringSubmatch(errb.String()); m != nil {
			script = m[1]
		}
	}
	if script == "" {
		t.Fatalf("no attach command printed:\n%s", errb.String())
	}
	var out []byte
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(2 * time.Second) {
		if !strings.Contains(errb.String(), "step 1/") {
			continue // the module is not loaded yet
		}
		out, _ = exec.Command("gdb-multiarch", "-q", "-batch", "-nx", "-x", script,
			"-ex", "python print('modules:', [m['name'].string() for m in linux.modules.module_list()])",
			"-ex", "info address points::scaled", "-ex", "detach").CombinedOutput()
		break
	}
	if !strings.Contains(string(out), "'points'") || !strings.Contains(string(out), "0xffff") {
		t.Errorf("gdb attached to the running guest:\n%s\nwant the points module listed and points::scaled at a kernel address", out)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("rko run --gdb: %v\n%s", err, errb.String())
	}
}

// freePort is a free TCP port on the loopback interface.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// TestDebugRefusesUnknownFunction: a --break on a function that neither
// the module nor the kernel has is refused (exit 2, naming it) before
// the guest boots. On the x86_64 debug kernel.
func TestDebugRefusesUnknownFunction(t *testing.T) {
	requireRealPath(t)
	debugKernel(t)
	r := rko(t, coldTimeout, "debug", "--break", "points::nosuch", "--batch", "/dev/null", copyDir(t, "../examples/debug"))
	if r.code != 2 || !strings.Contains(r.stderr, "--break: no function points::nosuch") {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 2 naming points::nosuch", r.code, r.stderr)
	}
}
