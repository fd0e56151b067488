package workflow

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/rkodev/rko/internal/guest"
	"github.com/rkodev/rko/internal/guest/proto"
)

// RunOptions are what rko run and rko shell add to a job: the console's
// input and output while the command runs.
type RunOptions struct {
	// Stdin is what the guest's console reads; Tap gets its raw bytes;
	// OnFrame gets each authentic frame as it comes.
	Stdin   io.Reader
	Tap     io.Writer
	OnFrame func(guest.Frame)
	// NoEcho: the shell reads commands from a pipe, not a terminal, and
	// does not echo them.
	NoEcho bool
}

// RunStepName is the name of the step of a job's command (plan.run) or
// shell (plan.shell).
func RunStepName(p []string, shell bool) string {
	if shell {
		return "shell"
	}
	return "run " + strings.Join(p, " ")
}

// Run is rko run and rko shell: it builds the job's modules, boots with
// them loaded and their files in /rko/src/DIRNAME, runs the job's command
// or a shell there, unloads the modules, and returns the report and the
// command's step (nil when it never ran).
func Run(ctx context.Context, r *Resolved, ro RunOptions) (*Report, *guest.StepResult, error) {
	mods, err := r.BuildModules(ctx)
	if err != nil {
		return nil, nil, err
	}
	o := r.BootOpts()
	o.ExtraFiles = SourceFiles(mods)
	o.Stdin, o.Tap, o.OnFrame = ro.Stdin, ro.Tap, ro.OnFrame
	plan := r.Job.Plan
	where := "/rko/src/" + filepath.Base(mods[0].Dir)
	name := RunStepName(plan.Run, plan.Shell)
	step := guest.Step{Name: name, Kind: proto.KindExec, Argv: plan.Run, Dir: where, TimeoutSec: int(o.Timeout.Seconds())}
	if plan.Shell {
		step = guest.Step{Name: name, Kind: proto.KindShell, Argv: []string{"/bin/sh"}, Dir: where}
		if r.Job.Boot.Timeout == 0 {
			o.Timeout = 24 * time.Hour // the user ends it
		}
		if ro.NoEcho {
			step.Env = append(step.Env, "RKO_NOECHO=1")
		}
	}
	o.ExtraSteps = []guest.Step{step}
	gplan := MakePlan(mods, o)
	tr, err := r.Env.Boot(ctx, r.Kernel, mods, gplan, o, mods[0].Modules[0])
	if err != nil {
		if tr != nil && tr.ConsoleLog != "" {
			return nil, nil, fmt.Errorf("%w (console log: %s)", err, tr.ConsoleLog)
		}
		return nil, nil, err
	}
	rep := NewReport(ctx, r.Kernel, mods, tr)
	var ran *guest.StepResult
	for i := range tr.Session.Steps {
		if tr.Session.Steps[i].Name == name {
			ran = &tr.Session.Steps[i]
		}
	}
	return rep, ran, nil
}
