// Package run is the one place where rko starts external programs. Every
// make, qemu, rustc or mmdebstrap call goes through Cmd with an argv (never a
// shell string), a context and an optional timeout, so that Ctrl-C and hung
// tools are handled the same way everywhere and tests can stub the seam.
package run

import (
	"bytes"
	"context"
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

// Opts describes how to run one command.
type Opts struct {
	// Dir is the working directory; empty means the current one.
	Dir string
	// Env is added to the environment of rko itself ("KEY=value").
	Env []string
	// Timeout stops the command after this long; zero means no limit.
	Timeout time.Duration
	// Stdin feeds the command; nil means no input.
	Stdin io.Reader
	// Stdout and Stderr, if set, receive the output as it comes, in
	// addition to the copy kept for Result and Error.
	Stdout, Stderr io.Writer
	// Stream keeps no copy of the output in Result (it only reaches
	// Stdout, Stderr and the tail kept for Error): for a guest console
	// that can run to hundreds of MB.
	Stream bool
	// KeepOutput bounds how much combined output is kept for errors
	// (the tail is kept); zero means 4 MiB.
	KeepOutput int
}

// Result is what a finished command produced.
type Result struct {
	Stdout   []byte
	Stderr   []byte
	Duration time.Duration
}

// Error is returned when a command could not start, failed or timed out.
// Error() is a one-line summary; Output holds what the command printed, and
// "%+v" prints it in full.
type Error struct {
	Argv     []string
	ExitCode int // -1 when the command did not exit normally
	TimedOut bool
	Output   []byte // combined stdout and stderr tail
	Err      error
}

func (e *Error) Error() string {
	name := "command"
	if len(e.Argv) > 0 {
		name = e.Argv[0]
	}
	switch {
	case e.TimedOut:
		return fmt.Sprintf("%s timed out", name)
	case e.ExitCode > 0:
		return fmt.Sprintf("%s exited with status %d", name, e.ExitCode)
	default:
		return fmt.Sprintf("%s: %v", name, e.Err)
	}
}

// Format prints the whole output with %+v.
func (e *Error) Format(s fmt.State, verb rune) {
	if verb == 'v' && s.Flag('+') {
		fmt.Fprintf(s, "%s\n$ %s\n%s", e.Error(), strings.Join(e.Argv, " "), e.Output)
		return
	}
	io.WriteString(s, e.Error())
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Runner runs commands. Code that runs programs takes one where it can (a
// field of its options or of the value that runs them, such as
// toolchain.Toolchain.Runner; nil means OS), so that a test gives its
// own stub, matching argv, to the code under test alone.
type Runner interface {
	Run(ctx context.Context, opts Opts, argv ...string) (*Result, error)
}

// OS runs commands as processes of this host: the real Runner.
type OS struct{}

// Or returns r, or OS when r is nil: the Runner of a value whose Runner
// field was left unset. There is no package-level Runner a test could
// swap for every test of the process: a test gives its stub to the code
// under test (toolchain.Toolchain.Runner, toolchain.InstallOpts.Runner).
func Or(r Runner) Runner {
	if r == nil {
		return OS{}
	}
	return r
}

// Cmd runs argv with opts as a process of this host: for callers that
// take no Runner of their own.
func Cmd(ctx context.Context, opts Opts, argv ...string) (*Result, error) {
	return OS{}.Run(ctx, opts, argv...)
}

// tailBuffer keeps the last max bytes written to it. Stdout and stderr
// are copied by two goroutines, so writes are serialised.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	// Trim only once twice the limit is held, so that a long stream does
	// not copy the whole tail on every write.
	if len(t.buf) > 2*t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

// tail is the last max bytes written.
func (t *tailBuffer) tail() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.buf) > t.max {
		return t.buf[len(t.buf)-t.max:]
	}
	return t.buf
}

// Run runs argv as a process of its own group, stopped with its context
// (SIGTERM, then SIGKILL after five seconds) or its timeout.
func (OS) Run(ctx context.Context, opts Opts, argv ...string) (*Result, error) {
	if len(argv) == 0 {
		return nil, errors.New("run: empty argv")
	}
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = opts.Dir
	if len(opts.Env) > 0 {
		cmd.Env = append(os.Environ(), opts.Env...)
	}
	cmd.Stdin = opts.Stdin
	// Own process group, so that the whole tree (make's children, QEMU)
	// is stopped together on cancel.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// On cancel the group gets SIGTERM, so tools can clean up (make
	// removes half-written targets), then SIGKILL five seconds later.
	cmd.Cancel = func() error {
		pid := cmd.Process.Pid
		time.AfterFunc(5*time.Second, func() { syscall.Kill(-pid, syscall.SIGKILL) })
		return syscall.Kill(-pid, syscall.SIGTERM)
	}
	cmd.WaitDelay = 10 * time.Second
	keep := opts.KeepOutput
	if keep == 0 {
		keep = 4 << 20
	}
	combined := &tailBuffer{max: keep}
	var stdout, stderr bytes.Buffer
	outs := []io.Writer{combined}
	errs := []io.Writer{combined}
	if !opts.Stream {
		outs, errs = append(outs, &stdout), append(errs, &stderr)
	}
	if opts.Stdout != nil {
		outs = append(outs, opts.Stdout)
	}
	if opts.Stderr != nil {
		errs = append(errs, opts.Stderr)
	}
	cmd.Stdout = io.MultiWriter(outs...)
	cmd.Stderr = io.MultiWriter(errs...)
	start := time.Now()
	err := cmd.Run()
	res := &Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), Duration: time.Since(start)}
	if err == nil {
		return res, nil
	}
	e := &Error{Argv: argv, ExitCode: -1, Output: combined.tail(), Err: err}
	var xe *exec.ExitError
	if errors.As(err, &xe) {
		e.ExitCode = xe.ExitCode()
	}
	if ctx.Err() == context.DeadlineExceeded {
		e.TimedOut = true
	} else if ctx.Err() != nil {
		e.Err = ctx.Err()
	}
	return res, e
}

// LookPath reports the full path of an executable on PATH.
func LookPath(name string) (string, error) { return exec.LookPath(name) }

// Exec replaces rko with argv, found on PATH, with the environment env:
// for a program whose stdin, stdout and signals must be its own, such as a
// language server an editor talks to. It returns only on failure.
func Exec(argv []string, env []string) error {
	if len(argv) == 0 {
		return errors.New("run: empty argv")
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return err
	}
	return syscall.Exec(path, argv, env)
}
