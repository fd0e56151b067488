package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/rkodev/rko/internal/guest"
	"github.com/rkodev/rko/internal/guest/proto"
	"github.com/rkodev/rko/internal/workflow"
)

func init() {
	register(newRunCmd)
	register(newShellCmd)
}

// guestCmdOpts are the options of rko run and rko shell.
type guestCmdOpts struct {
	testOpts
}

func (o *guestCmdOpts) flags(c *cobra.Command) {
	o.env.add(c, true)
	addKernelFlag(c, &o.env.kernel)
	c.Flags().StringVar(&o.accel, "accel", "auto", "QEMU accelerator: auto (KVM if it really works), kvm or tcg")
	c.Flags().IntVar(&o.memory, "memory", 0, "guest memory in MiB (default 512, 1024 for debug)")
	c.Flags().IntVar(&o.cpus, "cpus", 0, "guest CPUs (default 1, 2 for debug)")
	c.Flags().StringArrayVar(&o.params, "param", nil, "module parameter for insmod, MODULE.NAME=VALUE (repeatable)")
	c.Flags().StringArrayVar(&o.cmdline, "append", nil, "extra kernel command-line argument (repeatable)")
	o.kmemleak, o.consoleMB = "off", 256
}

func newRunCmd() *cobra.Command {
	o := &guestCmdOpts{}
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
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			dash := c.ArgsLenAtDash()
			if dash < 0 {
				return fmt.Errorf("rko run needs the command after --: rko run [DIR...] -- CMD [ARGS...]")
			}
			dirs, argv := args[:dash], args[dash:]
			if len(argv) == 0 {
				return fmt.Errorf("nothing to run after --: rko run [DIR...] -- CMD [ARGS...]")
			}
			if len(dirs) == 0 {
				dirs = []string{"."}
			}
			return runInGuest(c.Context(), o, dirs, argv, false, c.InOrStdin(), c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	o.flags(c)
	c.Flags().DurationVar(&o.timeout, "timeout", 10*time.Minute, "stop the command (and the guest) after this long")
	return c
}

func newShellCmd() *cobra.Command {
	o := &guestCmdOpts{}
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
			if len(args) == 0 {
				args = []string{"."}
			}
			return runInGuest(c.Context(), o, args, nil, true, c.InOrStdin(), c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	o.flags(c)
	return c
}

// runInGuest is rko run (argv) and rko shell (shell set).
func runInGuest(ctx context.Context, o *guestCmdOpts, dirs, argv []string, shell bool, stdin io.Reader, stdout, stderr io.Writer) error {
	params, err := moduleParams(o.params)
	if err != nil {
		return err
	}
	p := printer(o.env.quiet)
	env, ko, err := o.env.prepare(ctx, p, true)
	if err != nil {
		return err
	}
	k, err := env.Kernel(ctx, ko)
	if err != nil {
		return err
	}
	mods, err := env.BuildModules(ctx, k, dirs)
	if err != nil {
		return err
	}
	to := workflow.TestOpts{Accel: o.accel, Timeout: o.timeout, MemoryMB: o.memory, CPUs: o.cpus,
		Cmdline: o.cmdline, Params: params, ConsoleLimitMB: o.consoleMB, NoTests: true,
		ExtraFiles: workflow.SourceFiles(mods)}
	to.ProfileDefaults(k, false)
	where := "/rko/src/" + filepath.Base(mods[0].Dir)
	stepName := "run " + strings.Join(argv, " ")
	step := guest.Step{Name: stepName, Kind: proto.KindExec, Argv: argv, Dir: where, TimeoutSec: int(o.timeout.Seconds())}
	var restore func()
	if shell {
		stepName = "shell"
		step = guest.Step{Name: stepName, Kind: proto.KindShell, Argv: []string{"/bin/sh"}, Dir: where}
		to.Timeout = 24 * time.Hour // the user ends it
		tap := &shellTap{out: stdout}
		gate := &gatedReader{r: stdin, open: make(chan struct{})}
		to.Tap = tap
		to.OnFrame = func(f guest.Frame) {
			if f.Step == stepName {
				tap.show(f.Ev == proto.EvStart)
				if f.Ev == proto.EvStart {
					gate.openOnce.Do(func() { close(gate.open) })
				}
			}
		}
		// What the user types before the shell runs waits for it: the
		// serial port drops input that comes before it is opened.
		to.Stdin = gate
		if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			st, err := term.MakeRaw(int(f.Fd()))
			if err == nil {
				restore = func() { term.Restore(int(f.Fd()), st) }
				defer restore()
			}
			p.Logf("booting %s with %s loaded: leave the shell with exit or Ctrl-D", k.Release, strings.Join(mods[0].Modules, ", "))
		} else {
			p.Warnf("stdin is not a terminal: a line-mode shell reads its commands from stdin")
			step.Env = append(step.Env, "RKO_NOECHO=1")
			// The end of stdin is the shell's: a console has no end of
			// input, so it gets the terminal's ^D.
			gate.r = io.MultiReader(stdin, bytes.NewReader([]byte{4}))
		}
	} else {
		to.OnFrame = func(f guest.Frame) {
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
	to.ExtraSteps = []guest.Step{step}
	plan := workflow.MakePlan(mods, to)
	tr, err := env.Boot(ctx, k, mods, plan, to, mods[0].Modules[0])
	if restore != nil {
		restore()
	}
	if err != nil {
		if tr != nil && tr.ConsoleLog != "" {
			return fmt.Errorf("%w (console log: %s)", err, tr.ConsoleLog)
		}
		return err
	}
	rep := &TestReport{Accel: tr.Accel, AccelNote: tr.AccelNote, RunDir: tr.RunDir, ConsoleLog: tr.ConsoleLog, Modules: mods, Steps: tr.Session.Steps}
	judge(ctx, rep, k, mods, tr)
	var ran *guest.StepResult
	for i := range tr.Session.Steps {
		if tr.Session.Steps[i].Name == stepName {
			ran = &tr.Session.Steps[i]
		}
	}
	// The command's own failure is its exit status; anything else that
	// failed the run (a crash, a hang, a module that stayed) is rko test's
	// verdict.
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
