package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The e2e tests must see what an rko run leaves behind (leftovers): a
// QEMU or make that rko failed to stop is reparented to the nearest child
// subreaper, which must then reap it, or it stays a zombie until the run
// ends (61 defunct bwraps after 27 minutes of a cold run, when the test
// process itself was the subreaper and never reaped them). The test
// process cannot reap orphans itself: wait4(-1) would also take the exit
// statuses os/exec waits for, and a pid could be an orphan's one moment
// and a new exec child's the next. So TestMain runs the tests in a child
// process and the parent is the subreaper: it has no other children, reaps
// every process reparented to it as soon as it exits, forwards signals to
// the tests, kills what is still left when they end, and exits with their
// status. leftovers lists the live processes whose parent is the reaper.

// envReaper names, in the tests' process, the pid of the reaper above it.
const envReaper = "RKO_E2E_REAPER"

// reaperPID is the process orphans are reparented to: the reaper's pid,
// or this process's own when it could not start one (then it is the
// subreaper itself and reaps only in leftovers, as before).
var reaperPID = os.Getpid()

// runUnderReaper makes this process the reaper of a copy of itself that
// runs the tests, and returns the copy's exit code and true; in the copy
// it returns false. The copy is the test process go test knows nothing
// of: it shares stdin, stdout and stderr, and dies with the reaper.
func runUnderReaper() (int, bool) {
	if v := os.Getenv(envReaper); v != "" {
		if pid, err := strconv.Atoi(v); err == nil && pid == os.Getppid() {
			reaperPID = pid
			return 0, false
		}
	}
	fallback := func(err error) (int, bool) {
		fmt.Fprintf(os.Stderr, "e2e: no reaper process (%v): the test process is the subreaper\n", err)
		unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
		return 0, false
	}
	exe, err := os.Executable()
	if err != nil {
		return fallback(err)
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fallback(err)
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGHUP)
	// ForkExec rather than os/exec: the reaper waits with wait4(-1), so
	// nothing else may wait for the tests' process. Pdeathsig follows the
	// forking thread, so this goroutine keeps it.
	runtime.LockOSThread()
	env := append(os.Environ(), envReaper+"="+strconv.Itoa(os.Getpid()))
	tests, err := syscall.ForkExec(exe, os.Args, &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{0, 1, 2},
		Sys:   &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	})
	if err != nil {
		signal.Stop(sigs)
		return fallback(err)
	}
	go func() {
		for s := range sigs {
			syscall.Kill(tests, s.(syscall.Signal))
		}
	}()
	code := -1
	for code < 0 {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		switch {
		case err == unix.EINTR:
		case err != nil:
			fmt.Fprintf(os.Stderr, "e2e reaper: wait4: %v\n", err)
			code = 2
		case pid == tests:
			code = exitCode(ws)
		}
	}
	// What the tests left running is killed, and reaped with what it
	// leaves in turn.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		left := children(os.Getpid())
		if len(left) == 0 {
			break
		}
		for _, c := range left {
			if !c.zombie {
				fmt.Fprintf(os.Stderr, "e2e reaper: killing %d %s, left running after the tests\n", c.pid, c.cmdline)
				syscall.Kill(c.pid, syscall.SIGKILL)
			}
		}
		reapAll()
		time.Sleep(50 * time.Millisecond)
	}
	return code, true
}

// exitCode is a process's exit status as a shell reports it.
func exitCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// reapAll reaps every child that has exited, without blocking.
func reapAll() {
	for {
		var ws unix.WaitStatus
		if pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil); pid <= 0 || err != nil {
			return
		}
	}
}

// child is a process whose parent is a given process.
type child struct {
	pid     int
	zombie  bool
	cmdline string
}

// children lists the processes whose parent is ppid, from /proc.
func children(ppid int) []child {
	ents, _ := os.ReadDir("/proc")
	var out []child
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		state, parent, ok := procStat(pid)
		if !ok || parent != ppid {
			continue
		}
		cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		out = append(out, child{pid: pid, zombie: state == "Z", cmdline: strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " "))})
	}
	return out
}

// procStat reads a process's state and parent from /proc/PID/stat.
func procStat(pid int) (state string, ppid int, ok bool) {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return "", 0, false
	}
	// pid (comm) state ppid ...; comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 > len(stat) {
		return "", 0, false
	}
	f := strings.Fields(string(stat[i+2:]))
	if len(f) < 2 {
		return "", 0, false
	}
	ppid, err = strconv.Atoi(f[1])
	return f[0], ppid, err == nil
}

// TestReaperReapsOrphans: processes orphaned by the tests' children are
// reparented to the reaper, which leftovers sees while they live and
// which reaps them when they exit; meanwhile os/exec still gets the exit
// status of every child the tests start and wait for.
func TestReaperReapsOrphans(t *testing.T) {
	if reaperPID == os.Getpid() {
		t.Fatal("the tests do not run under the reaper (see the e2e reaper message above)")
	}
	for _, tt := range []struct {
		name   string
		n      int    // orphans
		script string // runs in the background of a shell that exits at once
	}{
		{"one that lives a moment", 1, "sleep 0.5"},
		{"many that exit together", 40, "sleep 0.2"},
		{"one that exits at once", 1, "true"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var orphans []int
			for i := 0; i < tt.n; i++ {
				out, err := exec.Command("sh", "-c", tt.script+" </dev/null >/dev/null 2>&1 & echo $!").Output()
				if err != nil {
					t.Fatal(err)
				}
				pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
				if err != nil {
					t.Fatalf("sh printed %q", out)
				}
				orphans = append(orphans, pid)
			}
			// Children of the tests, started and waited for while the
			// orphans exit, all get their own exit status.
			var wg sync.WaitGroup
			errs := make(chan error, 20)
			for i := 0; i < 20; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					err := exec.Command("sh", "-c", fmt.Sprintf("exit %d", i%3)).Run()
					got := 0
					var xe *exec.ExitError
					if errors.As(err, &xe) {
						got = xe.ExitCode()
					} else if err != nil {
						errs <- fmt.Errorf("child %d: %v", i, err)
						return
					}
					if got != i%3 {
						errs <- fmt.Errorf("child %d: exit %d, want %d", i, got, i%3)
					}
				}(i)
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			// Each orphan is gone within seconds of its exit: reaped, not a
			// zombie of the reaper.
			deadline := time.Now().Add(10 * time.Second)
			for _, pid := range orphans {
				for {
					state, ppid, ok := procStat(pid)
					if !ok || ppid != reaperPID {
						break // reaped (the pid may be someone else's now)
					}
					if time.Now().After(deadline) {
						t.Fatalf("orphan %d is still there (state %s) under the reaper %d", pid, state, reaperPID)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			for _, l := range leftovers(t) {
				for _, pid := range orphans {
					if strings.HasPrefix(l, strconv.Itoa(pid)+" ") {
						t.Errorf("a leftover after the orphans exited: %s", l)
					}
				}
			}
		})
	}
	// A live orphan is a leftover, with its parent the reaper.
	out, err := exec.Command("sh", "-c", "sleep 30 </dev/null >/dev/null 2>&1 & echo $!").Output()
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	defer syscall.Kill(pid, syscall.SIGKILL)
	if _, ppid, ok := procStat(pid); !ok || ppid != reaperPID {
		t.Fatalf("orphan %d: parent %d, want the reaper %d", pid, ppid, reaperPID)
	}
	left := leftovers(t)
	found := false
	for _, l := range left {
		found = found || strings.HasPrefix(l, strconv.Itoa(pid)+" sleep 30")
	}
	if !found {
		t.Errorf("leftovers = %q, want the sleeping orphan %d among them", left, pid)
	}
}
