// Package vm boots a kernel and an initramfs in QEMU, captures the serial
// console line by line into a log file, stops hung guests after a timeout
// and never leaves a QEMU process behind (it runs in its own process group
// and is killed with the context).
package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rkodev/rko/internal/run"
)

// Accelerators.
const (
	KVM = "kvm"
	TCG = "tcg"
)

// probeBootSector is a 512-byte boot sector that writes 0x2a to the
// isa-debug-exit port, so QEMU exits with status (0x2a<<1)|1 = 85.
func probeBootSector() []byte {
	b := make([]byte, 512)
	copy(b, []byte{0xB0, 0x2A, 0xE6, 0xF4, 0xF4, 0xEB, 0xFE}) // mov al,0x2a; out 0xf4,al; hlt; jmp $
	b[510], b[511] = 0x55, 0xAA
	return b
}

const probeExitCode = 85

// ProbeQEMUKVM boots a one-sector guest with the exact accelerator and CPU
// arguments rko uses for KVM (-accel kvm -cpu host) and checks that it
// runs to the end. On some hosts KVM_RUN works while QEMU cannot set the
// host CPU's MSRs (nested virtualisation), which only this catches.
//
// The answer is kept for the life of the process, per QEMU binary: rko
// quickstart asks twice (doctor, then the test), and the probe boots QEMU.
func ProbeQEMUKVM(ctx context.Context, qemu string) error {
	qemuProbes.Lock()
	defer qemuProbes.Unlock()
	if err, ok := qemuProbes.result[qemu]; ok {
		return err
	}
	err := probeQEMUKVM(ctx, qemu)
	if ctx.Err() == nil { // a cancelled probe says nothing about KVM
		qemuProbes.result[qemu] = err
	}
	return err
}

var qemuProbes = struct {
	sync.Mutex
	result map[string]error
}{result: map[string]error{}}

func probeQEMUKVM(ctx context.Context, qemu string) error {
	if err := ProbeKVM(); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "rko-kvm-probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	img := filepath.Join(dir, "boot.img")
	if err := os.WriteFile(img, probeBootSector(), 0o644); err != nil {
		return err
	}
	_, err = run.Cmd(ctx, run.Opts{Timeout: 15 * time.Second}, qemu, "-accel", "kvm", "-cpu", "host",
		"-nodefaults", "-display", "none", "-no-reboot", "-m", "16",
		"-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
		"-drive", "file="+img+",format=raw,if=ide")
	var re *run.Error
	if errors.As(err, &re) && re.ExitCode == probeExitCode {
		return nil
	}
	if err == nil {
		return notSupported("the KVM probe guest did not reach its exit port")
	}
	msg := err.Error()
	if re != nil && len(re.Output) > 0 {
		msg = strings.TrimSpace(lastLine(string(re.Output)))
	}
	return notSupported("QEMU could not run a guest with -accel kvm -cpu host: %s", msg)
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// ChooseAccel returns "kvm" when KVM really works, "tcg" otherwise, and
// the reason KVM was not used. want may force "kvm" or "tcg"; "" or
// "auto" probes.
func ChooseAccel(ctx context.Context, qemu, want string) (string, string, error) {
	switch want {
	case TCG:
		return TCG, "TCG requested", nil
	case KVM:
		if err := ProbeQEMUKVM(ctx, qemu); err != nil {
			return "", "", fmt.Errorf("--accel kvm: %w", err)
		}
		return KVM, "", nil
	case "", "auto":
		if err := ProbeQEMUKVM(ctx, qemu); err != nil {
			return TCG, err.Error(), nil
		}
		return KVM, "", nil
	}
	return "", "", fmt.Errorf("unknown accelerator %q, want auto, kvm or tcg", want)
}

// Config describes one boot.
type Config struct {
	QEMU     string // default qemu-system-x86_64
	Kernel   string // bzImage
	Initrd   string
	Cmdline  []string // appended to the defaults
	MemoryMB int      // default 512
	CPUs     int      // default 1
	Accel    string   // kvm or tcg (use ChooseAccel)
	// Timeout stops the guest; its console log is kept.
	Timeout time.Duration
	// ConsoleLog is where the console is written as it comes.
	ConsoleLog string
	// OnLine is called for each console line (without the newline).
	OnLine func(line string)
	// BIOS is the firmware; empty means DefaultBIOS (qboot when QEMU
	// ships it, else QEMU's own default).
	BIOS string
}

// qbootPaths are where Debian's qemu-system-data puts qboot, a minimal
// firmware that starts a -kernel guest in a few milliseconds; SeaBIOS
// takes a few hundred under TCG.
var qbootPaths = []string{"/usr/share/qemu/qboot.rom", "/usr/share/qemu-kvm/qboot.rom"}

// DefaultBIOS returns qboot's path if installed, else "" (QEMU's default).
func DefaultBIOS() string {
	for _, p := range qbootPaths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// DefaultCmdline is the kernel command line every rko guest gets:
// serial console, frames through /dev/kmsg unthrottled, reboot (and so
// QEMU exit, with -no-reboot) at once on panic, stable addresses for
// symbolization.
var DefaultCmdline = []string{"console=ttyS0", "printk.devkmsg=on", "panic=-1", "rdinit=/init", "nokaslr", "no_hash_pointers", "loglevel=7"}

// Result is a finished boot.
type Result struct {
	Console  []byte        `json:"-"`
	LogPath  string        `json:"console_log"`
	Accel    string        `json:"accel"`
	Duration time.Duration `json:"duration"`
	TimedOut bool          `json:"timed_out"`
	// ExitCode is QEMU's exit status (0 after a guest reboot).
	ExitCode int `json:"exit_code"`
	// QEMUError holds QEMU's own complaint when it failed to start.
	QEMUError string `json:"qemu_error,omitempty"`
}

// Args returns QEMU's argv for c.
func (c *Config) Args() []string {
	qemu := c.QEMU
	if qemu == "" {
		qemu = "qemu-system-x86_64"
	}
	mem, cpus := c.MemoryMB, c.CPUs
	if mem == 0 {
		mem = 512
	}
	if cpus == 0 {
		cpus = 1
	}
	cpu := "max"
	if c.Accel == KVM {
		cpu = "host"
	}
	args := []string{qemu, "-accel", c.Accel, "-cpu", cpu, "-m", strconv.Itoa(mem), "-smp", strconv.Itoa(cpus),
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-serial", "stdio", "-monitor", "none",
		"-kernel", c.Kernel, "-append", strings.Join(append(append([]string(nil), DefaultCmdline...), c.Cmdline...), " ")}
	if c.Initrd != "" {
		args = append(args, "-initrd", c.Initrd)
	}
	bios := c.BIOS
	if bios == "" {
		bios = DefaultBIOS()
	}
	if bios != "" {
		args = append(args, "-bios", bios)
	}
	return args
}

// Boot runs the guest until it powers off, the timeout passes or ctx ends.
// The console is always returned and saved, also on error.
func Boot(ctx context.Context, c Config) (*Result, error) {
	if c.Accel == "" {
		c.Accel = TCG
	}
	var logf io.Writer = io.Discard
	if c.ConsoleLog != "" {
		f, err := os.Create(c.ConsoleLog)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		logf = f
	}
	lw := &lineWriter{onLine: c.OnLine, sink: logf}
	var stderr bytes.Buffer
	start := time.Now()
	res := &Result{LogPath: c.ConsoleLog, Accel: c.Accel}
	_, err := run.Cmd(ctx, run.Opts{Stdout: lw, Stderr: &stderr, Timeout: c.Timeout, KeepOutput: 64 << 10}, c.Args()...)
	lw.flush()
	res.Duration = time.Since(start)
	res.Console = lw.all.Bytes()
	if err != nil {
		var re *run.Error
		if errors.As(err, &re) {
			res.ExitCode = re.ExitCode
			res.TimedOut = re.TimedOut
		}
		if ctx.Err() != nil {
			return res, fmt.Errorf("guest stopped: %w", ctx.Err())
		}
		if res.TimedOut {
			return res, nil
		}
		res.QEMUError = strings.TrimSpace(stderr.String())
		if len(res.Console) == 0 {
			return res, fmt.Errorf("qemu failed before the guest printed anything: %s", res.QEMUError)
		}
	}
	return res, nil
}

// lineWriter splits QEMU's output into lines for OnLine and the log,
// dropping the carriage returns of the serial console.
type lineWriter struct {
	mu     sync.Mutex
	onLine func(string)
	sink   io.Writer
	rest   []byte
	all    bytes.Buffer
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.rest = append(w.rest, p...)
	for {
		i := bytes.IndexByte(w.rest, '\n')
		if i < 0 {
			break
		}
		w.emit(w.rest[:i])
		w.rest = w.rest[i+1:]
	}
	return len(p), nil
}

func (w *lineWriter) emit(line []byte) {
	line = bytes.TrimRight(line, "\r")
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
	if len(w.rest) > 0 {
		w.emit(w.rest)
		w.rest = nil
	}
}
