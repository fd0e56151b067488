package workflow

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rkodev/rko/internal/guest"
	"github.com/rkodev/rko/internal/guest/proto"
	"github.com/rkodev/rko/internal/kbuild"
	"github.com/rkodev/rko/internal/run"
	"github.com/rkodev/rko/internal/vm"
)

// Cycle is one edit's run on a guest that stays up.
type Cycle struct {
	Run *TestRun
	// Reboot, when set, says why the guest cannot be trusted for the next
	// cycle (a crash tainted the kernel, a module did not unload, the
	// guest died or stopped answering): the caller starts a fresh one.
	Reboot string
	// Transfer is the time from the start of the cycle to the guest's
	// answer to the last put: stripping the modules and sending them and
	// the test programs.
	Transfer time.Duration
	// Steps are the plan's steps as the host saw them, in order.
	Steps []StepTime
}

// StepTime is one step of a cycle as the host saw it.
type StepTime struct {
	Name string
	// Took is from the later of the step's command written and the
	// answer before it, to the step's answer: the step itself, the
	// frames crossing the console and the init starting the next one.
	Took time.Duration
}

// RunCycle loads mods into the running guest g and runs the plan rko test
// would run for them (MakePlan: load, tests, unload, kmemleak), step by
// step through the command mode, and returns the console part of this
// cycle as a TestRun that Judge and the results reader take as they take
// a whole boot's. The modules and test programs are sent over the console
// as bytes (no shared file system, so nothing stale can be served); the
// .ko files go without their debug info, which the host keeps. The puts
// and the steps go out as one batch (Guest.Send): the init runs them in
// order, and the host waits for each answer.
func (e *Env) RunCycle(ctx context.Context, g *Guest, mods []ModuleRun, o BootOpts) (*Cycle, error) {
	start := time.Now()
	plan := MakePlan(mods, o)
	plan.Token = g.token
	var cmds []proto.Command
	for _, m := range mods {
		for _, ko := range m.KoPaths {
			data, err := e.strippedModule(ctx, ko, g.RunDir)
			if err != nil {
				return nil, err
			}
			cmds = append(cmds, g.PutCommands("/rko/modules/"+filepath.Base(ko), data, 0o644)...)
		}
		for _, t := range m.Tests {
			data, err := os.ReadFile(t)
			if err != nil {
				return nil, err
			}
			cmds = append(cmds, g.PutCommands("/rko/tests/"+filepath.Base(m.Dir)+"/"+filepath.Base(t), data, 0o755)...)
		}
	}
	puts := len(cmds)
	for i := range plan.Steps {
		cmds = append(cmds, proto.Command{Cmd: proto.CmdStep, Step: &plan.Steps[i]})
	}
	from := g.ConsoleLen()
	var transfer time.Duration
	if puts == 0 {
		transfer = time.Since(start)
	}
	var steps []StepTime
	prev := time.Time{}
	sent, err := g.Send(ctx, cmds, func(i int, s Sent) {
		if i < puts {
			if i == puts-1 {
				transfer = s.Acked.Sub(start)
			}
			prev = s.Acked
			return
		}
		from := s.At
		if prev.After(from) {
			from = prev
		}
		prev = s.Acked
		steps = append(steps, StepTime{Name: s.Cmd.Step.Name, Took: s.Acked.Sub(from)})
		e.UI.Logf("step %d/%d: %s", len(steps), len(plan.Steps), s.Cmd.Step.Name)
	})
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return nil, err
		}
		// A put the init refused, or a guest gone: this guest cannot be
		// trusted with the next cycle. (A step that failed is not an
		// error: its end frame says how.)
		putFailed := len(sent) < len(cmds)
		for i := 0; i < puts && i < len(sent); i++ {
			putFailed = putFailed || sent[i].Ack.Error != ""
		}
		if putFailed {
			c, _ := e.goneCycle(g, plan, from, err)
			c.Transfer, c.Steps = transfer, steps
			return c, nil
		}
	}
	c := e.cycleRun(g, plan, from)
	c.Transfer, c.Steps = transfer, steps
	c.Run.Session.Done = true
	s := c.Run.Session
	// A crash leaves the kernel tainted; the flags say so even when the
	// console is cut short.
	var taint uint64
	for _, st := range s.Steps {
		taint |= st.Taint
	}
	if t := (taint &^ g.BootTaint) & proto.TaintCrash; t != 0 {
		c.Reboot = fmt.Sprintf("the kernel is tainted (%s)", taintLetters(t))
	}
	for _, st := range s.Steps {
		if st.Kind == proto.KindRmmod && st.Status != proto.StatusPassed && c.Reboot == "" {
			c.Reboot = "a module did not unload"
		}
	}
	return c, nil
}

// goneCycle is a cycle in which the guest died or stopped answering.
func (e *Env) goneCycle(g *Guest, plan *guest.Plan, from int, cause error) (*Cycle, error) {
	if g.Alive() {
		g.Stop() // not answering: it cannot be trusted with the next cycle
	}
	c := e.cycleRun(g, plan, from)
	c.Reboot = "the guest died or stopped answering: " + cause.Error()
	return c, nil
}

func (e *Env) cycleRun(g *Guest, plan *guest.Plan, from int) *Cycle {
	seg := g.Console(from)
	s := guest.ReadSession(seg, plan)
	s.Booted, s.Served = true, true
	res := &vm.Result{Console: seg, LogPath: g.ConsoleLog, Accel: g.Accel, Ready: true}
	return &Cycle{Run: &TestRun{Token: plan.Token, RunDir: g.RunDir, ConsoleLog: g.ConsoleLog, Accel: g.Accel, AccelNote: g.AccelNote, Session: s, Boot: res}}
}

// strippedModule returns the .ko without its debug info (a tenth of its
// size or less: it crosses a serial console), stripped in process
// (kbuild.StripDebug), else with the toolchain's llvm-strip; the .ko itself
// is not touched. Without either the whole file is sent.
func (e *Env) strippedModule(ctx context.Context, ko, workDir string) ([]byte, error) {
	orig, err := os.ReadFile(ko)
	if err != nil {
		return nil, err
	}
	if data, err := kbuild.StripDebug(orig); err == nil {
		return data, nil
	}
	out := filepath.Join(workDir, "stripped-"+filepath.Base(ko))
	if _, err := e.Toolchain.Run(ctx, runOpts(), []string{filepath.Dir(ko), workDir}, "llvm-strip", "--strip-debug", "-o", out, ko); err == nil {
		if data, err := os.ReadFile(out); err == nil {
			return data, nil
		}
	}
	return orig, nil
}

// taintLetters spells taint flags the way /proc/sys/kernel/tainted's
// readers (and oops headers) do, for the flags rko acts on.
func taintLetters(t uint64) string {
	var b strings.Builder
	for _, f := range []struct {
		bit    uint64
		letter string
	}{{proto.TaintBadPage, "B"}, {proto.TaintDie, "D"}, {proto.TaintWarn, "W"}} {
		if t&f.bit != 0 {
			b.WriteString(f.letter)
		}
	}
	return b.String()
}

func runOpts() run.Opts { return run.Opts{Timeout: time.Minute} }
