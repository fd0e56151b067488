package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/rkodev/rko/internal/job"
	"github.com/rkodev/rko/internal/ui"
	"github.com/rkodev/rko/internal/workflow"
)

// TestOptions are rko test's options: the job, and how to show its report.
type TestOptions struct {
	jobOptions
	// Jobs are the jobs of a list of kernels (--kernel 6.12,7.3), one per
	// kernel; nil for one kernel (Job).
	Jobs  []*job.Job
	JSON  bool
	JUnit string
	Quiet bool
}

// NewCmdTest makes rko test; runF, when not nil, runs instead of runTest.
func NewCmdTest(f *Factory, runF func(context.Context, *TestOptions) error) *cobra.Command {
	o := &TestOptions{jobOptions: jobOptions{IO: f.IO}}
	var fl jobFlags
	c := &cobra.Command{
		Use:   "test [DIR...]",
		Short: "Build modules, boot them in QEMU, run their tests and triage the console",
		Long: `test builds each module directory (default: the current one), makes a
reproducible initramfs whose PID 1 is rko's static guest init, boots the
kernel of --profile in QEMU (KVM when it really works, TCG otherwise),
loads every module (running its KUnit suites), runs the executables in
DIR/tests, unloads the modules (a module that does not unload fails) and,
on the debug profile, scans for leaks with kmemleak. The console is read
for KUnit results and for every Oops, BUG, WARNING, KASAN report, lockdep
splat or Rust panic. A guest that hangs is stopped after --timeout; its
console log is kept. The flags and directories make one job
(docs/schemas.md#the-job): --print-job prints it, --job FILE runs one.
Exit status: 0 when everything passed, 1 when anything failed, 2 when
rko could not run (bad input: nothing is built or booted).`,
		RunE: func(c *cobra.Command, args []string) error {
			jobs, err := fl.dirsJobs(c, args, o.IO.In)
			if err != nil {
				return err
			}
			o.set(jobs[0], &fl)
			if len(jobs) > 1 {
				o.Jobs = jobs
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return runTest(c.Context(), o)
		},
	}
	fl.add(c, bootDefaults{gdb: true, keep: true})
	c.Flags().BoolVar(&fl.failNth, "fail-nth", false, "before the clean load, load each module (and probe its devices) with its 1st, 2nd, ... own slab allocation failing until one load injects nothing; a crash, WARN or leak on an error path fails the run (a kernel with fault injection: --profile debug; docs/fail-nth.md)")
	c.Flags().BoolVar(&o.JSON, "json", false, "print the report as JSON (docs/schemas.md)")
	c.Flags().StringVar(&o.JUnit, "junit", "", "also write the KUnit results and crashes as JUnit XML to this file")
	return c
}

func runTest(ctx context.Context, o *TestOptions) error {
	p := o.IO.Printer(o.Quiet || o.JSON)
	if o.Jobs != nil {
		return runTestKernels(ctx, o, p)
	}
	r, done, err := resolve(ctx, o.IO, o.Job, o.PrintJob, p)
	if done || err != nil {
		return err
	}
	rep, err := workflow.Test(ctx, r)
	if err != nil {
		return err
	}
	return renderTest(o, rep)
}

// renderTest writes rep as o asks (text or JSON, and JUnit) and returns
// the exit status: ExitFail when the verdict failed.
func renderTest(o *TestOptions, rep *workflow.Report) error {
	if o.JUnit != "" {
		if err := writeFileWith(o.JUnit, rep.Results.WriteJUnit); err != nil {
			return fmt.Errorf("--junit: %w", err)
		}
	}
	if o.JSON {
		if err := writeJSON(o.IO.Out, rep); err != nil {
			return err
		}
	} else {
		printTestReport(o.IO.Out, rep, isTerminal(o.IO.Out))
	}
	if !rep.Verdict.Passed {
		return exitCode(ExitFail)
	}
	return nil
}

func printTestReport(w io.Writer, r *workflow.Report, color bool) {
	what := r.Kernel.Profile
	if r.Kernel.Origin != "" && r.Kernel.Origin != "rko" {
		what = r.Kernel.Origin
	}
	fmt.Fprintf(w, "kernel %s %s (%s), %s\n", r.Kernel.Arch, r.Kernel.Release, what, r.Accel)
	for _, s := range r.Steps {
		fmt.Fprintf(w, "  %-8s %s\n", s.Status, s.Name)
		if s.Status != "passed" {
			for _, l := range s.Output {
				fmt.Fprintf(w, "           | %s\n", l)
			}
		}
	}
	if r.Results != nil {
		r.Results.WriteText(w, color)
	}
	for _, n := range r.Verdict.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if r.Verdict.Passed {
		fmt.Fprintf(w, "PASS in %.1fs (console: %s)\n", r.Timings.Total, r.ConsoleLog)
	} else {
		fmt.Fprintf(w, "FAIL: %s\nconsole: %s\n", r.Verdict.Reason, r.ConsoleLog)
	}
}

// runTestKernels is rko test --kernel A,B: a run per kernel, each report,
// then a table of the verdicts.
func runTestKernels(ctx context.Context, o *TestOptions, p *ui.Printer) error {
	if o.PrintJob {
		return writeJSON(o.IO.Out, o.Jobs)
	}
	if o.JUnit != "" {
		return &job.Error{Field: "--junit", Msg: "one JUnit file holds one kernel's results: give one --kernel, or use --json"}
	}
	rep, err := workflow.TestKernels(ctx, o.Jobs, p)
	if err != nil {
		return err
	}
	if o.JSON {
		if err := writeJSON(o.IO.Out, rep); err != nil {
			return err
		}
	} else {
		printTestKernels(o.IO.Out, rep, isTerminal(o.IO.Out))
	}
	if !rep.Passed {
		return exitCode(ExitFail)
	}
	return nil
}

func printTestKernels(w io.Writer, rep *workflow.KernelsReport, color bool) {
	for _, k := range rep.Kernels {
		fmt.Fprintf(w, "== --kernel %s\n", orDefault(k.Kernel))
		if k.Report != nil {
			printTestReport(w, k.Report, color)
		} else {
			fmt.Fprintf(w, "FAIL: %s\n", k.Error)
		}
		fmt.Fprintln(w)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KERNEL\tRELEASE\tARCH\tVERDICT\tTIME")
	for _, k := range rep.Kernels {
		rel, arch, verdict, took := "-", "-", "FAIL", "-"
		if k.Report != nil {
			rel, arch, took = k.Report.Kernel.Release, k.Report.Kernel.Arch, fmt.Sprintf("%.1fs", k.Report.Timings.Total)
			if !k.Passed {
				verdict = "FAIL: " + k.Report.Verdict.Reason
			}
		} else {
			verdict = "FAIL: did not run (build)"
		}
		if k.Passed {
			verdict = "PASS"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", orDefault(k.Kernel), rel, arch, verdict, took)
	}
	tw.Flush()
	if rep.Passed {
		fmt.Fprintf(w, "PASS on %d kernels\n", len(rep.Kernels))
	} else {
		failed := 0
		for _, k := range rep.Kernels {
			if !k.Passed {
				failed++
			}
		}
		fmt.Fprintf(w, "FAIL on %d of %d kernels\n", failed, len(rep.Kernels))
	}
}

// orDefault names rko's default kernel in a table.
func orDefault(spec string) string {
	if spec == "" {
		return "default"
	}
	return spec
}
