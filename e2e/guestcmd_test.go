package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// machines is what uname -m says in each architecture's guest.
var machines = map[string]string{"x86_64": "x86_64", "arm64": "aarch64", "riscv64": "riscv64", "um": "x86_64"}

// TestRunAndShell: rko run streams the command's output and exits with
// its status (127 for a command the guest does not have); rko shell
// without a terminal reads its commands from stdin and exits with the
// shell's status.
func TestRunAndShell(t *testing.T) {
	requireRealPath(t)
	guestCommands(t, "x86_64", nil)
}

// guestCommands runs the rko run and rko shell cases on arch with args
// (--arch and its accelerator).
func guestCommands(t *testing.T, arch string, args []string) {
	t.Helper()
	hello := copyDir(t, "../examples/hello/rust")
	// The module is loaded while the command runs, the command runs where
	// the module's files are, and stdout, stderr and the status are the
	// command's.
	r := rko(t, coldTimeout, append(append([]string{"run"}, args...), hello, "--",
		"sh", "-c", "grep -c '^hello ' /proc/modules; ls hello.rs; uname -m; echo to-stderr >&2; exit 3")...)
	if r.code != 3 {
		t.Fatalf("rko run: exit %d, want the command's 3\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if want := "1\nhello.rs\n" + machines[arch] + "\n"; r.stdout != want {
		t.Errorf("rko run: stdout %q, want %q", r.stdout, want)
	}
	if !strings.Contains(r.stderr, "to-stderr") {
		t.Errorf("rko run: stderr %q lacks the command's stderr", r.stderr)
	}
	t.Logf("%s: rko run (build, boot, command): %s", arch, r.took)
	r = rko(t, 5*time.Minute, append(append([]string{"run"}, args...), hello, "--", "no-such-command")...)
	if r.code != 127 || !strings.Contains(r.stderr, "no-such-command") {
		t.Errorf("rko run of a missing command: exit %d, stderr %q; want 127 naming it", r.code, r.stderr)
	}
	r = rkoStdin(t, 5*time.Minute, "echo shell-says-$((6 * 7))\ncat /proc/modules\nexit 5\n",
		append(append([]string{"shell"}, args...), hello)...)
	if r.code != 5 || !strings.Contains(r.stdout, "shell-says-42") || !strings.Contains(r.stdout, "hello ") {
		t.Errorf("rko shell without a terminal: exit %d, stdout %q; want 5, the echo and hello in /proc/modules\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "stdin is not a terminal") {
		t.Errorf("rko shell without a terminal does not say so: %q", r.stderr)
	}
}

// archWatch: rko watch on arch passes a first cycle, and after an edit a
// second one on the same guest.
func archWatch(t *testing.T, arch string, args []string) {
	dir := copyDir(t, "../examples/hello/rust")
	w := startWatch(t, dir, args...)
	first := w.next(t, coldTimeout)
	if !first.Verdict.Passed {
		t.Fatalf("first cycle: %+v\n%s", first.Verdict, w.errs.String())
	}
	src := filepath.Join(dir, "hello.rs")
	orig, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src, append(orig, []byte("\n// an edit\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	second := w.next(t, 5*time.Minute)
	if !second.Verdict.Passed || second.Rebooted {
		t.Errorf("second cycle: passed %v, rebooted %v (%s); want a pass on the same guest\n%s", second.Verdict.Passed, second.Rebooted, second.RebootReason, w.errs.String())
	}
	t.Logf("%s: rko watch edit-to-verdict %.2f s", arch, second.EditToVerdictS)
	w.stop(t)
}
