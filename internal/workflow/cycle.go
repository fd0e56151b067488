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
}

// RunCycle loads mods into the running guest g and runs the plan rko test
// would run for them (MakePlan: load, tests, unload, kmemleak), step by
// step through the command mode, and returns the console part of this
// cycle as a TestRun that Judge and the results reader take as they take
// a whole boot's. The modules and test programs are sent over the console
// as bytes (no shared file system, so nothing stale can be served); the
// .ko files go without their debug info, which the host keeps.
func (e *Env) RunCycle(ctx context.Context, g *Guest, mods []ModuleRun, o BootOpts) (*Cycle, error) {
	plan := MakePlan(mods, o)
	plan.Token = g.token
	for _, m := range mods {
		for _, ko := range m.KoPaths {
			data, err := e.strippedModule(ctx, ko, g.RunDir)
			if err != nil {
				return nil, err
			}
			if err := g.Put(ctx, "/rko/modules/"+filepath.Base(ko), data, 0o644); err != nil {
				return e.goneCycle(g, plan, g.ConsoleLen(), err)
			}
		}
		for _, t := range m.Tests {
			data, err := os.ReadFile(t)
			if err != nil {
				return nil, err
			}
			if err := g.Put(ctx, "/rko/tests/"+filepath.Base(m.Dir)+"/"+filepath.Base(t), data, 0o755); err != nil {
				return e.goneCycle(g, plan, g.ConsoleLen(), err)
			}
		}
	}
	from := g.ConsoleLen()
	steps := 0
	for _, st := range plan.Steps {
		if err := g.Step(ctx, st); err != nil {
			if errors.Is(err, context.Canceled) {
				return nil, err
			}
			return e.goneCycle(g, plan, from, err)
		}
		steps++
		e.UI.Logf("step %d/%d: %s", steps, len(plan.Steps), st.Name)
	}
	c := e.cycleRun(g, plan, from)
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
// size or less: it crosses a serial console), made with the toolchain's
// llvm-strip; the .ko itself is not touched. Without llvm-strip the whole
// file is sent.
func (e *Env) strippedModule(ctx context.Context, ko, workDir string) ([]byte, error) {
	out := filepath.Join(workDir, "stripped-"+filepath.Base(ko))
	if _, err := e.Toolchain.Run(ctx, runOpts(), []string{filepath.Dir(ko), workDir}, "llvm-strip", "--strip-debug", "-o", out, ko); err == nil {
		if data, err := os.ReadFile(out); err == nil {
			return data, nil
		}
	}
	return os.ReadFile(ko)
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
