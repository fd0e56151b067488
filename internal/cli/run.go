package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/rkodev/rko/internal/guest"
	"github.com/rkodev/rko/internal/guest/proto"
	"github.com/rkodev/rko/internal/job"
	"github.com/rkodev/rko/internal/workflow"
)

// RunOptions are rko run's and rko shell's options: the job (its plan
// holds the command, or the shell).
type RunOptions struct {
	jobOptions
}

// NewCmdRun makes rko run; runF, when not nil, runs instead of runInGuest.
func NewCmdRun(f *Factory, runF func(context.Context, *RunOptions) error) *cobra.Command {
	o := &RunOptions{jobOptions: jobOptions{IO: f.IO}}
	var fl jobFlags
	c := &cobra.Command{
		Use:   "run [DIR...] -- CMD [ARGS...]",
		Short: "Run one command in a guest with the modules loaded, and exit with its status",
		Long: `run builds the module directories (default: the current one), boots the
kernel with them loaded, runs CMD with ARGS in the guest (in
/rko/src/DIRNAME, where the module's files are; busybox provides the usual
commands), streams its output, unloads the modules and exits with CMD's
exit status (127 when CMD is not in the guest). A crash, a hang (stopped
after --timeout) or a module that does not unload is reported as rko test
reports it, with exit status 1.`,
		RunE: func(c *cobra.Command, args []string) error {
			var dirs, argv []string
			if dash := c.ArgsLenAtDash(); dash >= 0 {
				dirs, argv = args[:dash], args[dash:]
			} else if fl.jobFile == "" {
				return &job.Error{Field: "command", Msg: "rko run needs the command after --: rko run [DIR...] -- CMD [ARGS...]"}
			}
			if fl.jobFile == "" && len(argv) == 0 {
				return &job.Error{Field: "command", Msg: "nothing to run after --: rko run [DIR...] -- CMD [ARGS...]"}
			}
			if len(dirs) == 0 && fl.jobFile == "" {
				dirs = []string{"."}
			}
			j, err := fl.toJob(c, dirs, o.IO.In)
			if err != nil {
				return err
			}
			if fl.jobFile == "" {
				j.Plan.Run = argv
			} else if len(argv) > 0 || len(j.Plan.Run) == 0 {
				return &job.Error{Field: "--job", Msg: "rko run --job FILE runs the file's plan.run: put the command there, not after --"}
			}
			o.set(j, &fl)
			if runF != nil {
				return runF(c.Context(), o)
			}
			return runInGuest(c.Context(), o)
		},
	}
	fl.add(c, bootDefaults{timeout: 10 * time.Minute, timeoutHelp: "stop the command (and the guest) after this long", kmemleak: "off", gdb: true})
	return c
}

// NewCmdShell makes rko shell; runF, when not nil, runs instead of
// runInGuest.
func NewCmdShell(f *Factory, runF func(context.Context, *RunOptions) error) *cobra.Command {
	o := &RunOptions{jobOptions: jobOptions{IO: f.IO}}
	var fl jobFlags
	c := &cobra.Command{
		Use:   "shell [DIR...]",
		Short: "A shell in a guest with the modules loaded",
		Long: `shell builds the module directories (default: the current one), boots the
kernel with them loaded and gives a busybox shell on the guest console, in
/rko/src/DIRNAME, where the module's files are. Kernel messages are kept
off the console while the shell runs (dmesg shows them). Leave with exit
or Ctrl-D: the modules are unloaded, the guest stops, and rko exits with
the shell's exit status. Without a terminal on stdin the shell reads its
commands from stdin, line by line.`,
		RunE: func(c *cobra.Command, args []string) error {
			j, err := fl.dirsJob(c, args, o.IO.In)
			if err != nil {
				return err
			}
			j.Plan.Shell, j.Plan.Run = true, nil
			o.set(j, &fl)
			if runF != nil {
				return runF(c.Context(), o)
			}
			return runInGuest(c.Context(), o)
		},
	}
	fl.add(c, bootDefaults{timeoutHelp: "stop the shell (and the guest) after this long (default: no limit)", kmemleak: "off", gdb: true})
	return c
}

// runInGuest is rko run (the job's plan.run) and rko shell (plan.shell).
func runInGuest(ctx context.Context, o *RunOptions) error {
	p := o.IO.Printer(o.Quiet)
	r, done, err := resolve(ctx, o.IO, o.Job, o.PrintJob, p)
	if done || err != nil {
		return err
	}
	stdout, stderr := o.IO.Out, o.IO.ErrOut
	shell := o.Job.Plan.Shell
	stepName := workflow.RunStepName(o.Job.Plan.Run, shell)
	var ro workflow.RunOptions
	var restore func()
	if shell {
		tap := &shellTap{out: stdout}
		gate := &gatedReader{r: o.IO.In, open: make(chan struct{})}
		ro.Tap = tap
		ro.OnFrame = func(f guest.Frame) {
			if f.Step == stepName {
				tap.show(f.Ev == proto.EvStart)
				if f.Ev == proto.EvStart {
					gate.openOnce.Do(func() { close(gate.open) })
				}
			}
		}
		// What the user types before the shell runs waits for it: the
		// serial port drops input that comes before it is opened.
		ro.Stdin = gate
		if f, ok := o.IO.In.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			st, err := term.MakeRaw(int(f.Fd()))
			if err == nil {
				restore = func() { term.Restore(int(f.Fd()), st) }
				defer restore()
			}
			p.Logf("booting %s with the modules loaded: leave the shell with exit or Ctrl-D", r.Kernel.Release)
		} else {
			p.Warnf("stdin is not a terminal: a line-mode shell reads its commands from stdin")
			ro.NoEcho = true
			// The end of stdin is the shell's: a console has no end of
			// input, so it gets the terminal's ^D.
			gate.r = io.MultiReader(o.IO.In, bytes.NewReader([]byte{4}))
		}
	} else {
		ro.OnFrame = func(f guest.Frame) {
			if f.Step != stepName || f.Ev != proto.EvOut {
				return
			}
			w := stdout
			if f.Stream == "stderr" {
				w = stderr
			}
			fmt.Fprintln(w, f.Line)
		}
	}
	rep, ran, err := workflow.Run(ctx, r, ro)
	if restore != nil {
		restore()
	}
	if err != nil {
		return err
	}
	return runExit(rep, ran, stepName, stderr)
}

// runExit is the exit status of rko run and rko shell: the command's own
// failure is its exit status (127 when it was not found); anything else
// that failed the run (a crash, a hang, a module that stayed) is rko
// test's verdict, exit status 1.
func runExit(rep *workflow.Report, ran *guest.StepResult, stepName string, stderr io.Writer) error {
	if ran != nil && ran.Status == proto.StatusFailed && len(rep.Crashes) == 0 && rep.Verdict.Step == stepName {
		if ran.Error != "" {
			fmt.Fprintf(stderr, "rko: %s\n", ran.Error)
		}
		if strings.Contains(ran.Error, "command not found") {
			return exitCode(127)
		}
		if ran.RC > 0 {
			return exitCode(ran.RC)
		}
		return exitCode(ExitFail)
	}
	if !rep.Verdict.Passed {
		fmt.Fprintf(stderr, "rko: FAIL: %s\nconsole: %s\n", rep.Verdict.Reason, rep.ConsoleLog)
		return exitCode(ExitFail)
	}
	return nil
}

// gatedReader reads r once open is closed.
type gatedReader struct {
	r        io.Reader
	open     chan struct{}
	openOnce sync.Once
}

func (g *gatedReader) Read(p []byte) (int, error) {
	<-g.open
	return g.r.Read(p)
}

// shellTap shows the console while the shell runs, without the protocol's
// frame lines. A line is held until its end, or for a moment when it has
// none (a prompt), so a frame is never half shown.
type shellTap struct {
	mu      sync.Mutex
	out     io.Writer
	on      bool
	partial []byte
	timer   *time.Timer
}

func (t *shellTap) show(on bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.on = on
	t.partial = nil
}

func (t *shellTap) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.on {
		return len(p), nil
	}
	t.partial = append(t.partial, p...)
	for {
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			break
		}
		line := t.partial[:i+1]
		if !bytes.Contains(line, []byte(guest.FramePrefix)) {
			t.out.Write(line)
		}
		t.partial = t.partial[i+1:]
	}
	if len(t.partial) > 0 {
		if t.timer != nil {
			t.timer.Stop()
		}
		t.timer = time.AfterFunc(30*time.Millisecond, t.flushPartial)
	}
	return len(p), nil
}

// flushPartial writes a line that has no end yet, unless it may be the
// start of a frame.
func (t *shellTap) flushPartial() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.on || len(t.partial) == 0 || bytes.Contains(t.partial, []byte("@@")) {
		return
	}
	t.out.Write(t.partial)
	t.partial = nil
}
