// Command init is rko's guest PID 1: a static Go program (standard library
// only, so rko can build it anywhere with CGO_ENABLED=0) that mounts the
// pseudo file systems, runs the plan in /rko/plan.json step by step in
// child processes, reports each step with "@@rko" frames on /dev/kmsg and
// reboots, or, in command mode, reads commands from the console. The
// protocol types are package proto, shared with the host. See
// docs/guest-protocol.md.
package main

import (
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/rkodev/rko/internal/guest/proto"
)

// Step and Plan are the protocol's.
type (
	Step = proto.Step
	Plan = proto.Plan
)

var (
	kmsg   io.Writer // /dev/kmsg once open
	kmsgMu sync.Mutex
	// token is the plan's Token, the boot's secret: frames are signed
	// with it. It lives in this variable only: never in a file, an
	// environment or an argv a step could read.
	token string
	// seq numbers the signed frames, in the order they are written.
	seq uint64
)

// maxRecord is the longest line written to the kernel log: printk keeps
// at most about 1000 bytes of a record.
const maxRecord = 900

// frame writes one "@@rko" line to the kernel log, signed with the
// plan's token and numbered when the plan has one. Numbering and writing
// are one step under kmsgMu, so the numbers rise in the log's order.
func frame(f proto.Frame) {
	kmsgMu.Lock()
	defer kmsgMu.Unlock()
	if token != "" {
		seq++
		f.Seq = seq
	}
	writeLocked(encodeFrame(f, token))
}

// encodeFrame is f.Sign(key) cut to maxRecord by shortening its Line,
// then its Error: a frame cut anywhere else would not be a frame.
func encodeFrame(f proto.Frame, key string) string {
	line := f.Sign(key)
	for _, field := range []*string{&f.Line, &f.Error} {
		if len(line) <= maxRecord {
			break
		}
		if *field == "" {
			continue
		}
		// Each byte cut shortens the JSON by at least a byte.
		n := len(*field) - (len(line) - maxRecord) - len("…")
		if n < 0 {
			n = 0
		}
		for n > 0 && !utf8.RuneStart((*field)[n]) {
			n--
		}
		*field = (*field)[:n] + "…"
		line = f.Sign(key)
	}
	return line
}

// writeKmsg writes a line to /dev/kmsg (or stderr before it is open).
// Long lines are cut.
func writeKmsg(line string) {
	kmsgMu.Lock()
	defer kmsgMu.Unlock()
	writeLocked(line)
}

func writeLocked(line string) {
	if len(line) > maxRecord {
		line = line[:maxRecord] + "…"
	}
	if kmsg != nil {
		io.WriteString(kmsg, "<5>"+line+"\n")
		return
	}
	fmt.Fprintln(os.Stderr, line)
}

func main() {
	if s := os.Getenv("RKO_STEP"); s != "" {
		os.Exit(child(s))
	}
	setup()
	// The plan first: every frame, the boot frame too, is signed with
	// its token, and the file is gone before any step can read it.
	plan, err := takePlan(planPath)
	if plan != nil {
		token, plan.Token = plan.Token, ""
	}
	boot := proto.Frame{Ev: proto.EvBoot, Version: proto.Version}
	if token != "" {
		boot.Nonce = bootID()
	}
	frame(boot)
	if err != nil {
		frame(proto.Frame{Ev: proto.EvError, Error: err.Error()})
	}
	if plan == nil {
		plan = &Plan{}
	}
	if plan.KUnitFilter != "" {
		// The kernel booted with a filter that skipped its own suites;
		// the modules' suites, run at insmod, get this one.
		if err := os.WriteFile("/sys/module/kunit/parameters/filter_glob", []byte(plan.KUnitFilter), 0); err != nil {
			frame(proto.Frame{Ev: proto.EvError, Error: "setting the KUnit filter: " + err.Error()})
		}
	}
	for _, st := range plan.Steps {
		if ok := runStep(st); !ok && st.StopOnFail {
			break
		}
	}
	if plan.Serve {
		serve()
	}
	frame(proto.Frame{Ev: proto.EvDone})
	syscall.Sync()
	endGuest()
	select {}
}

// serve is the command mode: one JSON command a line on the console's
// input (raw mode, no echo), each answered by an "ack" frame, until a
// reboot command or the end of the input.
func serve() {
	rawConsole(0)
	frame(proto.Frame{Ev: proto.EvReady, Taint: tainted()})
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var c proto.Command
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			frame(proto.Frame{Ev: proto.EvAck, Error: "bad command: " + err.Error()})
			continue
		}
		ack := proto.Frame{Ev: proto.EvAck, ID: c.ID}
		switch c.Cmd {
		case proto.CmdPing:
		case proto.CmdPut:
			if err := put(c); err != nil {
				ack.Error = err.Error()
			}
		case proto.CmdStep:
			if c.Step == nil {
				ack.Error = "step command without a step"
			} else if !runStep(*c.Step) {
				ack.RC = 1
			}
		case proto.CmdReboot:
			frame(ack)
			return
		default:
			ack.Error = fmt.Sprintf("unknown command %q", c.Cmd)
		}
		frame(ack)
	}
}

// put writes a file the host sent: whole, or one part of it (Offset,
// More) into a temporary that the last part puts in place. Data encoded
// with proto.EncDeflate is inflated once the file is whole.
func put(c proto.Command) error {
	if !strings.HasPrefix(c.Path, "/") {
		return fmt.Errorf("put %q: want an absolute path", c.Path)
	}
	if c.Enc != "" && c.Enc != proto.EncDeflate {
		return fmt.Errorf("put %q: unknown encoding %q", c.Path, c.Enc)
	}
	if err := os.MkdirAll(filepath.Dir(c.Path), 0o755); err != nil {
		return err
	}
	mode := os.FileMode(c.Mode)
	if mode == 0 {
		mode = 0o644
	}
	tmp := c.Path + ".rko-tmp"
	data := c.Data
	if c.Offset != 0 || c.More {
		flags := os.O_WRONLY | os.O_CREATE
		if c.Offset == 0 {
			flags |= os.O_TRUNC
		}
		f, err := os.OpenFile(tmp, flags, mode)
		if err != nil {
			return err
		}
		if _, err := f.WriteAt(c.Data, c.Offset); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		if c.More {
			return nil
		}
		if c.Enc == "" {
			if err := os.Chmod(tmp, mode); err != nil {
				return err
			}
			return os.Rename(tmp, c.Path)
		}
		if data, err = os.ReadFile(tmp); err != nil {
			return err
		}
	}
	if c.Enc == proto.EncDeflate {
		var zr io.Reader
		if c.Dict {
			dict, ok := lastPut[c.Path]
			if !ok {
				return fmt.Errorf("put %q: no earlier content to take as the dictionary", c.Path)
			}
			zr = flate.NewReaderDict(bytes.NewReader(data), dict)
		} else {
			zr = flate.NewReader(bytes.NewReader(data))
		}
		raw, err := io.ReadAll(zr)
		if err != nil {
			return fmt.Errorf("put %q: inflating: %w", c.Path, err)
		}
		data = raw
	}
	if c.Sum != "" {
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != c.Sum {
			return fmt.Errorf("put %q: the content's sha256 is not %s", c.Path, c.Sum)
		}
	}
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return err
	}
	if err := os.Rename(tmp, c.Path); err != nil {
		return err
	}
	if len(data) <= proto.MaxDictContent {
		lastPut[c.Path] = data
	} else {
		delete(lastPut, c.Path)
	}
	return nil
}

// lastPut holds the content of the last put of each path (up to
// proto.MaxDictContent bytes), the dictionary of the next put of that path (proto.Command.Dict):
// in PID 1's memory, where a step cannot change it as it could the file.
var lastPut = map[string][]byte{}

// noEcho turns off the terminal's echo on fd.
func noEcho(fd int) {
	var t syscall.Termios
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TCGETS, uintptr(unsafePointerT(&t))); e != 0 {
		return
	}
	t.Lflag &^= syscall.ECHO | syscall.ECHONL
	syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TCSETS, uintptr(unsafePointerT(&t)))
}

// rawConsole puts the terminal on fd into raw mode: no echo of the
// commands, no line editing and no 4 KiB limit on a line.
func rawConsole(fd int) {
	var t syscall.Termios
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TCGETS, uintptr(unsafePointerT(&t))); e != 0 {
		return
	}
	t.Iflag &^= syscall.IGNBRK | syscall.BRKINT | syscall.PARMRK | syscall.ISTRIP | syscall.INLCR | syscall.IGNCR | syscall.ICRNL | syscall.IXON
	t.Lflag &^= syscall.ECHO | syscall.ECHONL | syscall.ICANON | syscall.ISIG | syscall.IEXTEN
	t.Cflag &^= syscall.CSIZE | syscall.PARENB
	t.Cflag |= syscall.CS8
	t.Cc[syscall.VMIN], t.Cc[syscall.VTIME] = 1, 0
	syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TCSETS, uintptr(unsafePointerT(&t)))
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

// bootID is the kernel's random id of this boot (the host tells a new
// boot from a replay of this one's boot frame by it), or the time when
// it cannot be read. Not getrandom: that can block this early.
func bootID() string {
	if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil && len(bytes.TrimSpace(b)) > 0 {
		return string(bytes.TrimSpace(b))
	}
	return fmt.Sprint(time.Now().UnixNano())
}

// planPath is where the initramfs holds the plan.
const planPath = "/rko/plan.json"

// takePlan reads the plan at path and deletes the file, which holds the
// boot's token: no step may read it. A plan that was read is returned
// even when the file could not be deleted (with the error).
func takePlan(path string) (*Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	rmErr := os.Remove(path)
	var p Plan
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if rmErr != nil {
		return &p, fmt.Errorf("deleting the plan, which holds the boot's token: %w", rmErr)
	}
	return &p, nil
}

// runStep runs one step in a child process and frames its outcome.
func runStep(st Step) bool {
	if st.Kind == proto.KindShell {
		for _, e := range st.Env {
			if e == "RKO_NOECHO=1" {
				// The host feeds a script, not a person, and starts
				// once it sees the start frame: no echo from then on.
				noEcho(0)
			}
		}
	}
	frame(proto.Frame{Ev: proto.EvStart, Step: st.Name, Kind: st.Kind})
	if st.Kind == proto.KindShell {
		return runShell(st)
	}
	start := time.Now()
	cmd, err := stepCmd(st)
	if err != nil {
		frame(proto.Frame{Ev: proto.EvEnd, Step: st.Name, RC: -1, Error: err.Error(), Taint: tainted()})
		return false
	}
	// Plain pipes rather than StdoutPipe: Wait then returns when the step
	// exits, even if a daemon it forked still holds the pipes open.
	outR, outW, err1 := os.Pipe()
	errR, errW, err2 := os.Pipe()
	if err1 != nil || err2 != nil {
		frame(proto.Frame{Ev: proto.EvEnd, Step: st.Name, RC: -1, Error: fmt.Sprint("pipe: ", err1, err2), Taint: tainted()})
		return false
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	if err := cmd.Start(); err != nil {
		outW.Close()
		errW.Close()
		outR.Close()
		errR.Close()
		frame(proto.Frame{Ev: proto.EvEnd, Step: st.Name, RC: -1, Error: startError(st, err), Taint: tainted()})
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
				frame(proto.Frame{Ev: proto.EvOut, Step: st.Name, Stream: stream, Line: sc.Text()})
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
	err = cmd.Wait()
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
		frame(proto.Frame{Ev: proto.EvOut, Step: st.Name, Stream: "stderr", Line: "rko-init: a process the step started still holds its output open; output after this is not shown"})
	}
	outR.Close()
	errR.Close()
	if err == nil && st.Kind == proto.KindInsmod && st.Module != "" {
		// Framed here, not in the child: a child has no token.
		moduleSections(st.Name, st.Module, cmd.Process.Pid)
	}
	mu.Lock()
	defer mu.Unlock()
	end := proto.Frame{Ev: proto.EvEnd, Step: st.Name, Ms: time.Since(start).Milliseconds()}
	ok := err == nil
	if err != nil {
		var xe *exec.ExitError
		if errors.As(err, &xe) {
			end.RC = xe.ExitCode()
			if ws, isWS := xe.Sys().(syscall.WaitStatus); isWS && ws.Signaled() {
				end.Signal = signalName(ws.Signal())
			}
		} else {
			end.RC, end.Error = -1, err.Error()
		}
	}
	if oopsed {
		end.Error = "the kernel oopsed during the step (taint D); the step was killed"
		ok = false
	} else if timedOut {
		end.Error = fmt.Sprintf("timed out after %s", timeout)
		ok = false
	}
	end.Taint = tainted()
	frame(end)
	return ok
}

// stepCmd is the child process of a step that is not a shell: the
// step's argv for exec, this program again (RKO_STEP) for a kernel step.
// Its environment and argv are PID 1's and the step's own: the token is
// in neither.
func stepCmd(st Step) (*exec.Cmd, error) {
	var cmd *exec.Cmd
	if st.Kind == proto.KindExec {
		if len(st.Argv) == 0 {
			return nil, errors.New("exec step without argv")
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
	return cmd, nil
}

// startError says why a step's program did not start; a command not in
// the guest gets the shell's exit status words.
func startError(st Step, err error) string {
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
		return fmt.Sprintf("%s: command not found in the guest (PATH=%s)", st.Argv[0], os.Getenv("PATH"))
	}
	return err.Error()
}

// runShell runs the step's argv (default: busybox sh) on the console as a
// session leader with the console as its controlling terminal, so that
// job control and Ctrl-C work in it (rko shell). Kernel messages still
// reach the console while it runs, as on any machine's console; the host
// hides the protocol's own frames.
func runShell(st Step) bool {
	argv := st.Argv
	if len(argv) == 0 {
		argv = []string{"/bin/sh"}
	}
	start := time.Now()
	err := shellCmd(argv, st).Run()
	end := proto.Frame{Ev: proto.EvEnd, Step: st.Name, Ms: time.Since(start).Milliseconds()}
	var xe *exec.ExitError
	switch {
	case errors.As(err, &xe):
		end.RC = xe.ExitCode()
	case err != nil:
		end.RC, end.Error = -1, startError(Step{Argv: argv}, err)
	}
	end.Taint = tainted()
	frame(end)
	return err == nil
}

// shellCmd is the process of a shell step: argv on the console, with
// PID 1's environment and the step's (no token).
func shellCmd(argv []string, st Step) *exec.Cmd {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), append([]string{"PS1=rko-guest# ", "TERM=" + termOr("linux")}, st.Env...)...)
	cmd.Dir = st.Dir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	return cmd
}

func termOr(def string) string {
	if t := os.Getenv("TERM"); t != "" {
		return t
	}
	return def
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
const taintDie = proto.TaintDie

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
	case proto.KindInsmod:
		// PID 1 frames where the module was loaded once this process
		// has exited: a child cannot sign frames.
		err = insmod(st.Path, st.Params)
	case proto.KindRmmod:
		err = rmmod(st.Module)
	case proto.KindKmemleak:
		err = kmemleak()
	case proto.KindBound:
		err = bound(st.Module)
	case proto.KindFailNth:
		err = failNth(st)
	case kindFailNthTry:
		err = failNthTry(st)
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
// each text section, from /sys/module/NAME/sections, and pid, the step's
// process, in which the module's init code ran. The host needs them to name
// raw addresses in reports printed after the module is gone (a kmemleak
// backtrace recorded while the module was loaded, say); the pid tells
// apart modules whose .init.text was loaded at the same, reused, address.
// A frame holds at most a few sections, to stay well under printk's
// record size.
func moduleSections(step, name string, pid int) {
	dir := "/sys/module/" + name + "/sections"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	secs := map[string]string{}
	flush := func() {
		if len(secs) > 0 {
			frame(proto.Frame{Ev: proto.EvModule, Step: step, Module: name, PID: pid, Sections: secs})
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
	var data []byte
	// kmemleak reports an object once two scans in a row found no
	// pointer to it. A stale copy of the pointer (in the cached kernel
	// stack of the exited insmod, most often) hides a leak until it is
	// overwritten: when the first pair of scans finds nothing, a few short
	// processes reuse those stacks and a second pair runs (on arm64 under
	// TCG the first pair missed a leak_rust leak in 1 run of 6).
	for round := 0; round < 2; round++ {
		if round > 0 {
			for i := 0; i < 4; i++ {
				exec.Command("/bin/true").Run()
			}
			time.Sleep(time.Second)
		}
		for i := 0; i < 2; i++ {
			if err := os.WriteFile(ctl, []byte("scan"), 0); err != nil {
				return fmt.Errorf("kmemleak scan: %w", err)
			}
		}
		var err error
		if data, err = os.ReadFile(ctl); err != nil {
			return err
		}
		if strings.Contains(string(data), "unreferenced object") {
			break
		}
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
