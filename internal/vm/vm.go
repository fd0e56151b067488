// Package vm runs guests: an Instance is one QEMU process (under KVM or
// TCG) or one User-Mode Linux process, started, fed input, streamed and
// stopped; Boot runs one guest to its end with the accelerator policy of
// rko (auto: KVM when it is believed to work, proved by the boot itself,
// with a fallback to TCG in the same run). The console is captured line by
// line into a log file, hung guests are stopped after a timeout and no
// guest process is ever left behind (each runs in its own process group
// and is killed with its context). Why a boot failed is a *BootError.
package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rkodev/rko/internal/run"
	"github.com/rkodev/rko/internal/target"
)

// Accelerators.
const (
	KVM = "kvm"
	TCG = "tcg"
	// UML is the accelerator name of a User-Mode Linux guest: a host
	// process, no QEMU.
	UML = "uml"
)

// Config describes one guest.
type Config struct {
	// Target is the guest architecture; nil means the host's.
	Target *target.Target
	// QEMU overrides the target's emulator binary (a path or a name on
	// PATH).
	QEMU    string
	Kernel  string // the image to boot (for UML: the linux binary)
	Initrd  string
	Cmdline []string // appended to DefaultCmdline
	// MemoryMB of the guest; 0 means 512.
	MemoryMB int
	// CPUs of the guest; 0 means 1.
	CPUs int
	// Accel is kvm or tcg for Start (Boot chooses it itself).
	Accel string
	// Timeout stops the guest; its console log is kept.
	Timeout time.Duration
	// ConsoleLog is where the console is written as it comes.
	ConsoleLog string
	// OnLine is called for each console line (without the newline).
	OnLine func(line string)
	// Ready reports whether a console line shows that the guest is up
	// (rko's guest init printed its first frame). Until then a KVM guest
	// that prints nothing for KVMStall is taken for broken KVM. nil
	// means any console line.
	Ready func(line string) bool
	// BIOS is the firmware; empty means the target's (qboot for x86_64
	// when QEMU ships it, else QEMU's own default).
	BIOS string
	// Stdin, if set, is what the guest's console reads (rko shell).
	Stdin io.Reader
	// Tap, if set, gets the console's bytes as they come, before they are
	// split into lines (rko shell shows a prompt that ends no line).
	Tap io.Writer
	// ICount drives the guest's clock by the instructions it executes
	// (QEMU -icount shift=0,sleep=off, TCG only): one nanosecond per
	// instruction, and idle time skipped, so a guest-side timing reads
	// instructions and the same guest run twice reads the same numbers
	// whatever the host's load (rko bench --count instructions).
	ICount bool
	// Plugins are TCG plugins to load (QEMU -plugin, TCG only): the
	// shared object's path followed by its arguments, comma-separated.
	Plugins []string
	// Extra are more QEMU arguments (devices, chardevs).
	Extra []string
	// MaxConsole bounds the console kept (in memory and in the log); a
	// guest that prints more is stopped and its Result says Flooded. 0
	// means DefaultMaxConsole.
	MaxConsole int
	// Wrap, if set, turns the guest's argv into the one to run: a UML
	// kernel links against the toolchain's C library and runs inside it.
	Wrap func(argv []string) []string
	// ProbeKVM says whether KVM runs a guest on this host, as the
	// package's ProbeKVM does (the default when nil): Boot and FirstAccel
	// ask it before they try KVM. Tests give a fake to run the KVM paths
	// with a fake QEMU on hosts without /dev/kvm.
	ProbeKVM func() error
}

func (c *Config) target() *target.Target {
	if c.Target == nil {
		return target.Host()
	}
	return c.Target
}

// kvmWorks is c.ProbeKVM's answer, else ProbeKVM's.
func (c *Config) kvmWorks() error {
	if c.ProbeKVM != nil {
		return c.ProbeKVM()
	}
	return ProbeKVM()
}

// DefaultMaxConsole is the console a guest may print before it is
// stopped: a module that printks in a loop must not fill the disk or the
// memory of the host.
const DefaultMaxConsole = 256 << 20

// errFlooded is the cancel cause of a guest that printed too much.
var errFlooded = errors.New("console flood")

// DefaultCmdline is the kernel command line every rko guest gets, after
// the console: frames through /dev/kmsg unthrottled, reboot (and so QEMU
// exit, with -no-reboot) at once on panic, stable addresses for
// symbolization.
var DefaultCmdline = []string{"printk.devkmsg=on", "panic=-1", "rdinit=/init", "nokaslr", "no_hash_pointers", "loglevel=7"}

// Cmdline is the whole kernel command line of c.
func (c *Config) cmdline() string {
	args := []string{"console=" + c.target().Console}
	args = append(args, DefaultCmdline...)
	args = append(args, c.target().Cmdline...)
	return strings.Join(append(args, c.Cmdline...), " ")
}

// DefaultBIOS returns the first of the target's firmware files that
// exists, else "" (QEMU's default).
func DefaultBIOS(t *target.Target) string {
	for _, p := range t.Firmware {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// Args returns the guest's argv for c (QEMU's, or the UML binary's).
func (c *Config) Args() []string {
	t := c.target()
	mem, cpus := c.MemoryMB, c.CPUs
	if mem == 0 {
		mem = 512
	}
	if cpus == 0 {
		cpus = 1
	}
	if t.UML() {
		args := []string{c.Kernel, "mem=" + strconv.Itoa(mem) + "M", "con0=fd:0,fd:1", "con=null"}
		if c.Initrd != "" {
			args = append(args, "initrd="+c.Initrd)
		}
		return append(args, strings.Fields(c.cmdline())...)
	}
	qemu := c.QEMU
	if qemu == "" {
		qemu = t.QEMU
	}
	cpu := t.CPU
	if c.Accel == KVM {
		cpu = t.KVMCPU
	}
	args := []string{qemu, "-accel", c.Accel}
	if t.Machine != "" {
		args = append(args, "-machine", t.Machine)
	}
	args = append(args, "-cpu", cpu, "-m", strconv.Itoa(mem), "-smp", strconv.Itoa(cpus),
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-serial", "stdio", "-monitor", "none",
		"-kernel", c.Kernel, "-append", c.cmdline())
	if c.Initrd != "" {
		args = append(args, "-initrd", c.Initrd)
	}
	bios := c.BIOS
	if bios == "" {
		bios = DefaultBIOS(t)
	}
	if bios != "" {
		args = append(args, "-bios", bios)
	}
	args = append(args, t.ExitDevice...)
	if c.Accel == TCG {
		if c.ICount {
			args = append(args, "-icount", ICountArg)
		}
		for _, p := range c.Plugins {
			args = append(args, "-plugin", p)
		}
	}
	return append(args, c.Extra...)
}

// ICountArg is QEMU's -icount value of Config.ICount: the virtual clock
// advances 2^0 ns per instruction, and jumps over idle time rather than
// following the host's (verified deterministic on QEMU 7.2 for x86_64
// and arm64: the same kernel booted twice prints the same timestamps).
const ICountArg = "shift=0,sleep=off"

// Result is a finished guest.
type Result struct {
	Console  []byte        `json:"-"`
	LogPath  string        `json:"console_log"`
	Accel    string        `json:"accel"`
	Duration time.Duration `json:"duration"`
	TimedOut bool          `json:"timed_out"`
	// ExitCode is the guest process's exit status (0 after a guest
	// reboot).
	ExitCode int `json:"exit_code"`
	// QEMUError holds what QEMU printed on stderr when it failed.
	QEMUError string `json:"qemu_error,omitempty"`
	// Ready is whether the guest came up (Config.Ready matched a line).
	Ready bool `json:"ready"`
	// Flooded is set when the guest printed more than Config.MaxConsole
	// and was stopped; the console holds what came before.
	Flooded bool `json:"flooded,omitempty"`
	// AccelNote says why KVM was not used, when it was not (Boot).
	AccelNote string `json:"accel_note,omitempty"`
	// Attempts are the boots that ran before this one and failed for
	// reasons of the host, each with its own console log (Boot).
	Attempts []Attempt `json:"attempts,omitempty"`
}

// Attempt is a boot that Boot gave up on and retried.
type Attempt struct {
	Accel      string  `json:"accel"`
	ConsoleLog string  `json:"console_log"`
	Error      string  `json:"error"`
	Seconds    float64 `json:"seconds"`
}

// Instance is one running guest.
type Instance struct {
	cfg    Config
	cancel context.CancelCauseFunc
	done   chan struct{}
	lw     *lineWriter
	stderr *stderrWatch
	res    *Result
	err    error
	start  time.Time
	ready  chan struct{}
	once   sync.Once
	logf   *os.File
}

// errStopped is the cancel cause of Stop.
var errStopped = errors.New("stopped")

// Start starts the guest of c and returns at once; Wait collects its end.
// The guest lives until it powers off, c.Timeout passes, Stop is called or
// ctx ends.
func Start(ctx context.Context, c Config) (*Instance, error) {
	t := c.target()
	if t.UML() {
		c.Accel = UML
	} else if c.Accel == "" {
		c.Accel = TCG
	}
	in := &Instance{cfg: c, done: make(chan struct{}), ready: make(chan struct{}), start: time.Now()}
	var sink io.Writer = io.Discard
	if c.ConsoleLog != "" {
		f, err := os.Create(c.ConsoleLog)
		if err != nil {
			return nil, fmt.Errorf("console log: %w", err)
		}
		in.logf, sink = f, f
	}
	argv := c.Args()
	if !t.UML() {
		if _, err := run.LookPath(argv[0]); err != nil {
			in.closeLog()
			return nil, &BootError{Kind: QEMUMissing, Accel: c.Accel, Msg: fmt.Sprintf("%s not found (fix: apt-get install %s)", argv[0], t.QEMUPackage)}
		}
	}
	if c.Wrap != nil {
		argv = c.Wrap(argv)
	}
	ctx, in.cancel = context.WithCancelCause(ctx)
	in.stderr = &stderrWatch{}
	if c.Accel == KVM {
		in.stderr.onKVMError = func(msg string) { in.cancel(&BootError{Kind: KVMFailed, Accel: KVM, Msg: "QEMU reported " + msg}) }
	}
	ready := c.Ready
	if ready == nil {
		ready = func(string) bool { return true }
	}
	progress := make(chan struct{}, 1)
	max := c.MaxConsole
	if max == 0 {
		max = DefaultMaxConsole
	}
	in.lw = &lineWriter{sink: sink, max: max, tap: c.Tap, onFlood: func() { in.cancel(errFlooded) }, onLine: func(line string) {
		select {
		case progress <- struct{}{}:
		default:
		}
		if ready(line) {
			in.once.Do(func() { close(in.ready) })
		}
		if c.OnLine != nil {
			c.OnLine(line)
		}
	}}
	if c.Accel == KVM {
		go in.watchStall(ctx, progress)
	}
	// The guest's input goes through an OS pipe that rko copies into: a
	// reader that blocks (a terminal) must not keep the guest's Wait from
	// returning after it exits.
	var stdin *os.File
	if c.Stdin != nil {
		r, w, err := os.Pipe()
		if err != nil {
			in.closeLog()
			return nil, err
		}
		stdin = r
		go func() {
			// The pipe stays open at the end of the input, until the
			// guest is gone: UML hangs its console up when its input
			// ends (chan_interrupt on -EIO), and a serial port has no
			// end of input anyway.
			copyPaced(w, c.Stdin, c.target().ConsoleLine)
		}()
		defer func() {
			go func() { <-in.done; w.Close(); r.Close() }()
		}()
	}
	go func() {
		defer close(in.done)
		var input io.Reader
		if stdin != nil {
			input = stdin
		}
		_, err := run.Cmd(ctx, run.Opts{Stdin: input, Stdout: in.lw, Stderr: in.stderr, Timeout: c.Timeout, KeepOutput: 64 << 10, Stream: true}, argv...)
		in.lw.flush()
		in.closeLog()
		in.res, in.err = in.finish(ctx, err)
	}()
	return in, nil
}

// KVMStall is how long a guest under KVM may print nothing before it is
// up (Config.Ready) before rko takes KVM for broken: a kernel under KVM
// prints its first lines within a second; on hosts whose KVM stops the
// vCPU without a word on stderr the console just stays silent.
var KVMStall = 10 * time.Second

func (in *Instance) watchStall(ctx context.Context, progress <-chan struct{}) {
	t := time.NewTimer(KVMStall)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-in.ready:
			return
		case <-progress:
			if !t.Stop() {
				<-t.C
			}
			t.Reset(KVMStall)
		case <-t.C:
			in.cancel(&BootError{Kind: KVMStalled, Accel: KVM,
				Msg: fmt.Sprintf("the guest printed nothing for %s under KVM before it came up", KVMStall)})
			return
		}
	}
}

func (in *Instance) closeLog() {
	if in.logf != nil {
		in.logf.Close()
		in.logf = nil
	}
}

func (in *Instance) finish(ctx context.Context, err error) (*Result, error) {
	res := &Result{LogPath: in.cfg.ConsoleLog, Accel: in.cfg.Accel, Duration: time.Since(in.start), Console: in.lw.bytes()}
	select {
	case <-in.ready:
		res.Ready = true
	default:
	}
	res.QEMUError = strings.TrimSpace(in.stderr.String())
	if err == nil {
		return res, nil
	}
	var re *run.Error
	if errors.As(err, &re) {
		res.ExitCode = re.ExitCode
		res.TimedOut = re.TimedOut
	}
	if cause := context.Cause(ctx); cause != nil && !res.TimedOut {
		var be *BootError
		if errors.As(cause, &be) {
			be.Stderr, be.ConsoleLog = res.QEMUError, res.LogPath
			return res, be
		}
		if errors.Is(cause, errStopped) {
			return res, nil
		}
		if errors.Is(cause, errFlooded) {
			res.Flooded = true
			return res, nil
		}
		return res, &BootError{Kind: Interrupted, Accel: res.Accel, Msg: "the guest was stopped: " + cause.Error(), ConsoleLog: res.LogPath}
	}
	if res.TimedOut {
		return res, nil
	}
	if msg := kvmError(res.QEMUError); msg != "" && res.Accel == KVM {
		return res, &BootError{Kind: KVMFailed, Accel: KVM, Msg: "QEMU reported " + msg, Stderr: res.QEMUError, ConsoleLog: res.LogPath}
	}
	if len(res.Console) == 0 {
		what := "QEMU"
		if res.Accel == UML {
			what = "the UML kernel"
		}
		msg := fmt.Sprintf("%s failed before the guest printed anything (%v)", what, err)
		if res.QEMUError != "" {
			msg = fmt.Sprintf("%s failed before the guest printed anything: %s", what, lastLine(res.QEMUError))
		}
		return res, &BootError{Kind: QEMUFailed, Accel: res.Accel, Msg: msg, Stderr: res.QEMUError, ConsoleLog: res.LogPath}
	}
	return res, nil
}

// Wait waits for the guest to end and returns how it ended: a *BootError
// when the boot failed for a reason of the host (KVM, QEMU) or was
// interrupted; a guest that timed out is a Result with TimedOut set.
func (in *Instance) Wait() (*Result, error) {
	<-in.done
	return in.res, in.err
}

// Done is closed when the guest has ended.
func (in *Instance) Done() <-chan struct{} { return in.done }

// Ready is closed when the guest is up (Config.Ready matched a line).
func (in *Instance) Ready() <-chan struct{} { return in.ready }

// Stop ends the guest (its process group gets SIGTERM, then SIGKILL) and
// waits for it; the console so far is kept.
func (in *Instance) Stop() (*Result, error) {
	in.cancel(errStopped)
	return in.Wait()
}

// Console returns the console printed so far.
func (in *Instance) Console() []byte { return in.lw.bytes() }

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// lineWriter splits the guest's output into lines for onLine and the log,
// dropping the carriage returns of the serial console.
type lineWriter struct {
	mu      sync.Mutex
	onLine  func(string)
	sink    io.Writer
	rest    []byte
	all     bytes.Buffer
	max     int    // past this many bytes, lines are dropped; 0: no bound
	onFlood func() // called once when max is passed
	flooded bool
	tap     io.Writer
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.flooded {
		return len(p), nil
	}
	if w.tap != nil {
		w.tap.Write(p)
	}
	w.rest = append(w.rest, p...)
	for !w.flooded {
		i := bytes.IndexByte(w.rest, '\n')
		if i < 0 {
			break
		}
		line := w.rest[:i]
		w.rest = w.rest[i+1:]
		w.emit(line)
	}
	return len(p), nil
}

func (w *lineWriter) emit(line []byte) {
	line = bytes.TrimRight(line, "\r")
	if w.max > 0 && w.all.Len()+len(line) > w.max {
		w.flooded = true
		line = []byte(fmt.Sprintf("rko: the guest printed more than %d MiB on its console; it was stopped and the rest is not kept", w.max>>20))
		if w.onFlood != nil {
			go w.onFlood()
		}
	}
	w.all.Write(line)
	w.all.WriteByte('\n')
	w.sink.Write(line)
	w.sink.Write([]byte{'\n'})
	if w.onLine != nil {
		w.onLine(string(line))
	}
}

func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.rest) > 0 && !w.flooded {
		w.emit(w.rest)
		w.rest = nil
	}
}

func (w *lineWriter) bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]byte(nil), w.all.Bytes()...)
}

// copyPaced copies src to dst; with a line limit (target.ConsoleLine) it
// writes at most half of it at a time, a few milliseconds apart, so that
// a console whose driver stops reading once throttled (UML's) is never
// sent more than it can take in one go.
func copyPaced(dst io.Writer, src io.Reader, limit int) {
	if limit <= 0 {
		io.Copy(dst, src)
		return
	}
	buf := make([]byte, limit/2)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err != nil {
			return
		}
	}
}
