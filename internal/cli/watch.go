package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/rkodev/rko/internal/job"
	"github.com/rkodev/rko/internal/kbuild"
	"github.com/rkodev/rko/internal/workflow"
)

// WatchOptions are rko watch's options.
type WatchOptions struct {
	jobOptions
	JSON     bool
	Debounce time.Duration
	Cycles   int
}

// NewCmdWatch makes rko watch; runF, when not nil, runs instead of
// runWatch.
func NewCmdWatch(f *Factory, runF func(context.Context, *WatchOptions) error) *cobra.Command {
	o := &WatchOptions{jobOptions: jobOptions{IO: f.IO}}
	var fl jobFlags
	c := &cobra.Command{
		Use:   "watch [DIR...]",
		Short: "Keep a guest up and test the modules again on every save",
		Long: `watch boots the kernel once, in the guest init's command mode, and runs a
first cycle; then, on every save of a module's source (file events,
debounced) or on Enter, it rebuilds, sends the modules and test programs
to the running guest over its console, loads them, runs their KUnit suites
and tests/ executables, unloads them and prints the verdict, the same one
rko test gives for the same source. The guest is rebooted only when it
must be: the kernel was tainted by a crash (oops, WARN, KASAN) or a crash
was reported (lockdep), a module did not unload, or the guest died or
stopped answering; that cycle's verdict says why. A save that does not
compile prints the compiler's message and leaves the guest as it is.
--json prints one JSON object per cycle, one per line. Ctrl-C ends the
session and the guest.`,
		RunE: func(c *cobra.Command, args []string) error {
			j, err := fl.dirsJob(c, args, o.IO.In)
			if err != nil {
				return err
			}
			if o.Debounce < 0 || o.Cycles < 0 {
				return &job.Error{Field: "--debounce/--cycles", Msg: "want values of 0 or more"}
			}
			o.set(j, &fl)
			if runF != nil {
				return runF(c.Context(), o)
			}
			return runWatch(c.Context(), o)
		},
	}
	fl.add(c, bootDefaults{timeoutHelp: "the longest the guest may take to boot (default 3m)"})
	c.Flags().BoolVar(&o.JSON, "json", false, "print one JSON object per cycle, one per line (docs/schemas.md)")
	c.Flags().DurationVar(&o.Debounce, "debounce", 0, "wait this long after the last file event before a cycle (0: start at the first event; a build whose sources change meanwhile is done again, and a save that changes nothing runs no cycle)")
	c.Flags().IntVar(&o.Cycles, "cycles", 0, "stop after this many cycles (0: until Ctrl-C)")
	return c
}

func runWatch(ctx context.Context, o *WatchOptions) error {
	p := o.IO.Printer(o.Quiet)
	r, done, err := resolve(ctx, o.IO, o.Job, o.PrintJob, p)
	if done || err != nil {
		return err
	}
	return workflow.Watch(ctx, r, workflow.WatchOptions{Debounce: o.Debounce, Cycles: o.Cycles, Enter: o.IO.In,
		OnCycle: func(c workflow.WatchCycle, buildErr error) { printCycle(o.IO.Out, o.JSON, c, buildErr) }})
}

func printCycle(w io.Writer, asJSON bool, c workflow.WatchCycle, buildErr error) {
	if asJSON {
		b, _ := json.Marshal(c)
		fmt.Fprintf(w, "%s\n", b)
		return
	}
	mark := "PASS"
	if !c.Verdict.Passed {
		mark = "FAIL"
	}
	fmt.Fprintf(w, "cycle %d: %s in %.2fs", c.Cycle, mark, c.EditToVerdictS)
	if c.Rebooted {
		fmt.Fprint(w, " (fresh guest)")
	}
	fmt.Fprintln(w)
	if buildErr != nil {
		var be *kbuild.Error
		if errors.As(buildErr, &be) && len(be.Diagnostics) > 0 {
			for _, d := range be.Diagnostics {
				fmt.Fprintf(w, "  %s\n", d)
			}
		} else {
			fmt.Fprintf(w, "  %v\n", buildErr)
		}
		fmt.Fprintln(w, "  the guest keeps running; fix the error and save again")
		return
	}
	if !c.Verdict.Passed {
		fmt.Fprintf(w, "  %s\n", c.Verdict.Reason)
	}
	if c.Results != nil {
		fmt.Fprintf(w, "  tests: %d passed, %d failed (module suites)\n", c.Tests.Passed, c.Tests.Failed+c.Tests.Crashed)
	}
	if c.RebootReason != "" {
		fmt.Fprintf(w, "  rebooting the guest: %s\n", c.RebootReason)
	}
}
