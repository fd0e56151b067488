// Command init is rko's guest PID 1: a static Go program (standard library
// only, so rko can build it anywhere with CGO_ENABLED=0) that mounts the
// pseudo file systems, runs the plan in /rko/plan.json step by step in
// child processes, reports each step with "@@rko" frames on /dev/kmsg and
// reboots. See docs/guest-protocol.md.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

const version = "1"

// Step is one plan entry; see docs/guest-protocol.md.
type Step struct {
	Name       string   `json:"name"`
	Kind       string   `json:"kind"`
	Path       string   `json:"path,omitempty"`
	Params     string   `json:"params,omitempty"`
	Module     string   `json:"module,omitempty"`
	Argv       []string `json:"argv,omitempty"`
	Env        []string `json:"env,omitempty"`
	Dir        string   `json:"dir,omitempty"`
	TimeoutSec int      `json:"timeout_sec,omitempty"`
	StopOnFail bool     `json:"stop_on_fail,omitempty"`
}

// Plan is the list of steps.
type Plan struct {
	Steps []Step `json:"steps"`
}

var (
	kmsg   *os.File
	kmsgMu sync.Mutex
)

// frame writes one "@@rko" line to the kernel log.
func frame(v map[string]any) {
	b, _ := json.Marshal(v)
	writeKmsg("@@rko " + string(b))
}

// writeKmsg writes a line to /dev/kmsg (or stderr before it is open).
// printk keeps at most about 1000 bytes of a record, so long lines are cut.
func writeKmsg(line string) {
	if len(line) > 900 {
		line = line[:900] + "…"
	}
	kmsgMu.Lock()
	defer kmsgMu.Unlock()
	if kmsg != nil {
		kmsg.WriteString("<5>" + line + "\n")
		return
	}
	fmt.Fprintln(os.Stderr, line)
}

func main() {
	if s := os.Getenv("RKO_STEP"); s != "" {
		os.Exit(child(s))
	}
	setup()
	frame(map[string]any{"ev": "boot", "version": version})
	plan, err := readPlan("/rko/plan.json")
	if err != nil {
		frame(map[string]any{"ev": "error", "error": err.Error()})
	} else {
		for _, st := range plan.Steps {
			if ok := runStep(st); !ok && st.StopOnFail {
				break
			}
		}
	}
	frame(map[string]any{"ev": "done"})
	syscall.Sync()
	// QEMU runs with -no-reboot, so a reboot ends it.
	syscall.Reboot(syscall.LINUX_REBOOT_CMD_RESTART)
	select {}
}

func setup() {
	mounts := []struct{ src, dst, fs string }{
		{"proc", "/proc", "proc"},
		{"sysfs", "/sys", "sysfs"},
		{"devtmpfs", "/dev", "devtmpfs"},
		{"tmpfs", "/tmp", "tmpfs"},
		{"debugfs", "/sys/kernel/debug", "debugfs"},
	}
	for _, m := range mounts {
		os.MkdirAll(m.dst, 0o755)
		if err := syscall.Mount(m.src, m.dst, m.fs, 0, ""); err != nil && !errors.Is(err, syscall.EBUSY) {
			fmt.Fprintf(os.Stderr, "rko-init: mount %s: %v\n", m.dst, err)
		}
	}
	if f, err := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0); err == nil {
		kmsg = f
	}
	os.Setenv("PATH", "/rko/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	os.Setenv("HOME", "/tmp")
}

func readPlan(path string) (*Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var p Plan
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &p, nil
}

// runStep runs one step in a child process and frames its outcome.
func runStep(st Step) bool {
	frame(map[string]any{"ev": "start", "step": st.Name, "kind": st.Kind})
	start := time.Now()
	var cmd *exec.Cmd
	if st.Kind == "exec" {
		if len(st.Argv) == 0 {
			frame(map[string]any{"ev": "end", "step": st.Name, "rc": -1, "error": "exec step without argv", "ms": 0})
			return false
		}
		cmd = exec.Command(st.Argv[0], st.Argv[1:]...)
		cmd.Env = append(os.Environ(), st.Env...)
		cmd.Dir = st.Dir
	} else {
		b, _ := json.Marshal(st)
		cmd = exec.Command("/init")
		cmd.Env = append(os.Environ(), "RKO_STEP="+string(b))
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Plain pipes rather than StdoutPipe: Wait then returns when the step
	// exits, even if a daemon it forked still holds the pipes open.
	outR, outW, err1 := os.Pipe()
	errR, errW, err2 := os.Pipe()
	if err1 != nil || err2 != nil {
		frame(map[string]any{"ev": "end", "step": st.Name, "rc": -1, "error": fmt.Sprint("pipe: ", err1, err2), "ms": 0})
		return false
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	if err := cmd.Start(); err != nil {
		outW.Close()
		errW.Close()
		outR.Close()
		errR.Close()
		frame(map[string]any{"ev": "end", "step": st.Name, "rc": -1, "error": err.Error(), "ms": 0})
		return false
	}
	outW.Close()
	errW.Close()
	var wg sync.WaitGroup
	for stream, r := range map[string]*os.File{"stdout": outR, "stderr": errR} {
		wg.Add(1)
		go func(stream string, r io.Reader) {
			defer wg.Done()
			sc := bufio.NewScanner(r)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				frame(map[string]any{"ev": "out", "step": st.Name, "stream": stream, "line": sc.Text()})
			}
		}(stream, r)
	}
	timeout := time.Duration(st.TimeoutSec) * time.Second
	if timeout == 0 {
		timeout = 120 * time.Second
	}
	var mu sync.Mutex
	timedOut, oopsed := false, false
	timer := time.AfterFunc(timeout, func() {
		mu.Lock()
		timedOut = true
		mu.Unlock()
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	})
	// An oops kills only the thread that hit it: the step's other threads
	// (a Go child has several) would keep it alive until the timeout. So
	// watch the kernel's taint flags, and when the step makes the kernel
	// die (TAINT_DIE), give it a moment to print, then kill the step.
	stopWatch := make(chan struct{})
	go func() {
		before := tainted()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopWatch:
				return
			case <-tick.C:
				if now := tainted(); now&taintDie != 0 && before&taintDie == 0 {
					time.Sleep(300 * time.Millisecond)
					mu.Lock()
					oopsed = true
					mu.Unlock()
					syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
					return
				}
			}
		}
	}()
	err := cmd.Wait()
	timer.Stop()
	close(stopWatch)
	// What the step left running in its process group (a daemon a test
	// script forked) ends with it; a process that left the group and
	// keeps the pipes open is given a moment, then its output is cut.
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	drained := make(chan struct{})
	go func() { wg.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(2 * time.Second):
		frame(map[string]any{"ev": "out", "step": st.Name, "stream": "stderr", "line": "rko-init: a process the step started still holds its output open; output after this is not shown"})
	}
	outR.Close()
	errR.Close()
	mu.Lock()
	defer mu.Unlock()
	end := map[string]any{"ev": "end", "step": st.Name, "rc": 0, "ms": time.Since(start).Milliseconds()}
	ok := err == nil
	if err != nil {
		var xe *exec.ExitError
		if errors.As(err, &xe) {
			end["rc"] = xe.ExitCode()
			if ws, isWS := xe.Sys().(syscall.WaitStatus); isWS && ws.Signaled() {
				end["signal"] = signalName(ws.Signal())
			}
		} else {
			end["rc"] = -1
			end["error"] = err.Error()
		}
	}
	if oopsed {
		end["error"] = "the kernel oopsed during the step (taint D); the step was killed"
		ok = false
	} else if timedOut {
		end["error"] = fmt.Sprintf("timed out after %s", timeout)
		ok = false
	}
	frame(end)
	return ok
}

// signalName gives the usual SIGXXX name of a signal.
func signalName(s syscall.Signal) string {
	names := map[syscall.Signal]string{syscall.SIGKILL: "SIGKILL", syscall.SIGSEGV: "SIGSEGV", syscall.SIGABRT: "SIGABRT",
		syscall.SIGBUS: "SIGBUS", syscall.SIGILL: "SIGILL", syscall.SIGTERM: "SIGTERM", syscall.SIGTRAP: "SIGTRAP"}
	if n, ok := names[s]; ok {
		return n
	}
	return fmt.Sprintf("signal %d", int(s))
}

// taintDie is TAINT_DIE (bit 7, 'D'): set by die(), i.e. on any oops.
const taintDie = 1 << 7

// tainted reads /proc/sys/kernel/tainted (0 when unreadable).
func tainted() uint64 {
	data, err := os.ReadFile("/proc/sys/kernel/tainted")
	if err != nil {
		return 0
	}
	var v uint64
	fmt.Sscan(strings.TrimSpace(string(data)), &v)
	return v
}

// child performs a kernel step (insmod, rmmod, kmemleak) in its own
// process, so that an oops kills it and not PID 1.
func child(spec string) int {
	var st Step
	if err := json.Unmarshal([]byte(spec), &st); err != nil {
		fmt.Fprintln(os.Stderr, "bad step:", err)
		return 2
	}
	if f, err := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0); err == nil {
		kmsg = f
	}
	var err error
	switch st.Kind {
	case "insmod":
		err = insmod(st.Path, st.Params)
		if err == nil && st.Module != "" {
			moduleSections(st.Name, st.Module)
		}
	case "rmmod":
		err = rmmod(st.Module)
	case "kmemleak":
		err = kmemleak()
	default:
		err = fmt.Errorf("unknown step kind %q", st.Kind)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func insmod(path, params string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	p, err := syscall.BytePtrFromString(params)
	if err != nil {
		return err
	}
	_, _, errno := syscall.Syscall(sysFinitModule, f.Fd(), uintptr(unsafePointer(p)), 0)
	if errno != 0 {
		return fmt.Errorf("insmod %s: %v", path, errno)
	}
	return nil
}

// moduleSections frames where the module's code was loaded: the start of
// each text section, from /sys/module/NAME/sections, and this process's
// pid, in which the module's init code ran. The host needs them to name
// raw addresses in reports printed after the module is gone (a kmemleak
// backtrace recorded while the module was loaded, say); the pid tells
// apart modules whose .init.text was loaded at the same, reused, address.
// A frame holds at most a few sections, to stay well under printk's
// record size.
func moduleSections(step, name string) {
	dir := "/sys/module/" + name + "/sections"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	secs := map[string]string{}
	flush := func() {
		if len(secs) > 0 {
			frame(map[string]any{"ev": "module", "step": step, "module": name, "pid": os.Getpid(), "sections": secs})
			secs = map[string]string{}
		}
	}
	for _, e := range ents {
		if !strings.Contains(e.Name(), "text") {
			continue
		}
		data, err := os.ReadFile(dir + "/" + e.Name())
		if err != nil {
			continue
		}
		secs[e.Name()] = strings.TrimSpace(string(data))
		if len(secs) == 8 {
			flush()
		}
	}
	flush()
}

func rmmod(name string) error {
	p, err := syscall.BytePtrFromString(name)
	if err != nil {
		return err
	}
	// O_NONBLOCK: fail at once if the module is in use, as rmmod does.
	_, _, errno := syscall.Syscall(syscall.SYS_DELETE_MODULE, uintptr(unsafePointer(p)), uintptr(syscall.O_NONBLOCK), 0)
	if errno != 0 {
		return fmt.Errorf("rmmod %s: %v", name, errno)
	}
	return nil
}

// kmemleak waits until objects freed by the unload are old enough to be
// reported (kmemleak ignores objects younger than 5 s), scans twice, and
// copies the report into the kernel log, where triage finds it.
func kmemleak() error {
	const ctl = "/sys/kernel/debug/kmemleak"
	if _, err := os.Stat(ctl); err != nil {
		return fmt.Errorf("kmemleak is not available (needs CONFIG_DEBUG_KMEMLEAK and debugfs): %w", err)
	}
	time.Sleep(5 * time.Second)
	for i := 0; i < 2; i++ {
		if err := os.WriteFile(ctl, []byte("scan"), 0); err != nil {
			return fmt.Errorf("kmemleak scan: %w", err)
		}
	}
	data, err := os.ReadFile(ctl)
	if err != nil {
		return err
	}
	// Each leak is printed as syzkaller does: a "BUG: memory leak"
	// header, then the object's report as kmemleak wrote it. A leak in a
	// loop can leave thousands: the first maxLeaks are printed, and the
	// total is counted.
	const maxLeaks = 20
	n := 0
	for _, line := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "unreferenced object") {
			n++
			if n <= maxLeaks {
				writeKmsg("BUG: memory leak")
			}
		}
		if n <= maxLeaks {
			writeKmsg(line)
		}
	}
	if n > maxLeaks {
		writeKmsg(fmt.Sprintf("kmemleak: %d more unreferenced objects not shown (all %d are in /sys/kernel/debug/kmemleak)", n-maxLeaks, n))
	}
	if n > 0 {
		return fmt.Errorf("kmemleak: %d unreferenced object(s)", n)
	}
	return nil
}
