package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rkodev/rko/internal/job"
	"github.com/rkodev/rko/internal/workflow"
)

// DebugOptions are rko debug's options: the job, and the debugger's.
type DebugOptions struct {
	jobOptions
	Debug workflow.DebugOptions
	JSON  bool
}

// NewCmdDebug makes rko debug; runF, when not nil, runs instead of
// runDebug.
func NewCmdDebug(f *Factory, runF func(context.Context, *DebugOptions) error) *cobra.Command {
	o := &DebugOptions{jobOptions: jobOptions{IO: f.IO}}
	var fl jobFlags
	c := &cobra.Command{
		Use:   "debug [DIR...]",
		Short: "Run the modules in a guest under gdb, with the kernel's and the modules' symbols",
		Long: `debug builds the module directories (default: the current one) against a
kernel with debug info (default: the debug profile), boots it with QEMU's
gdb stub, stopped at its first instruction, and runs gdb (gdb-multiarch)
with vmlinux, the kernel's own gdb scripts (lx-symbols loads each module's
symbols at its real addresses as it is loaded), the toolchain's Rust pretty
printers and the --break points. The plan is rko test's (load, KUnit,
tests/, unload); when gdb ends (detach, or quit), the guest runs to its
verdict. --break init stops in every module's init, --break panic at a
Rust panic or an oops, --break FUNC at a function (hello::checked_sum).
--batch FILE runs a gdb script and exits with its status when that is not
0, for scripts and CI; --listen ADDR only opens the stub and prints how to
attach (an editor's debugger, say). Guests run under TCG. docs/debug.md.`,
		RunE: func(c *cobra.Command, args []string) error {
			j, err := fl.dirsJob(c, args, o.IO.In)
			if err != nil {
				return err
			}
			if o.Debug.Batch != "" && o.Debug.Listen != "" {
				return &job.Error{Field: "--batch/--listen", Msg: "--batch runs gdb and --listen runs none: give one"}
			}
			if j.Kernel.Kind == job.KindDebian {
				return &job.Error{Field: "--kernel (kernel.kind)", Msg: "Debian's packaged kernel ships no debug info for gdb: debug on rko's own kernel (drop --kernel)"}
			}
			if j.Kernel.Arch == "um" {
				return &job.Error{Field: "--arch (kernel.arch)", Msg: "a UML kernel is a host process, not a QEMU guest with a gdb stub: debug under --arch x86_64"}
			}
			o.set(j, &fl)
			if runF != nil {
				return runF(c.Context(), o)
			}
			return runDebug(c.Context(), o)
		},
	}
	fl.add(c, bootDefaults{profile: "debug", timeoutHelp: "stop the guest after this long (default: no limit under a debugger)"})
	c.Flags().StringArrayVar(&o.Debug.Breaks, "break", nil, "stop here: init (every module's init), panic (a Rust panic or an oops), or a function such as hello::checked_sum (repeatable)")
	c.Flags().StringVar(&o.Debug.Batch, "batch", "", "run this gdb script in batch mode and exit with gdb's status (end it with detach to let the guest run to its verdict)")
	c.Flags().StringVar(&o.Debug.Listen, "listen", "", "only open the gdb stub at HOST:PORT and print how to attach")
	c.Flags().StringVar(&o.Debug.Debugger, "debugger", "", "the debugger (default: gdb-multiarch, else gdb for guests of the host's architecture)")
	c.Flags().BoolVar(&o.JSON, "json", false, "print the run's report as JSON when the guest ends (docs/schemas.md)")
	return c
}

func runDebug(ctx context.Context, o *DebugOptions) error {
	p := o.IO.Printer(o.Quiet)
	r, done, err := resolve(ctx, o.IO, o.Job, o.PrintJob, p)
	if done || err != nil {
		return err
	}
	o.Debug.In, o.Debug.Out, o.Debug.Err = o.IO.In, o.IO.Out, o.IO.ErrOut
	res, err := workflow.Debug(ctx, r, o.Debug)
	if err != nil {
		return err
	}
	if res.GDBStatus != 0 {
		fmt.Fprintf(o.IO.ErrOut, "rko: gdb exited with status %d (console: %s)\n", res.GDBStatus, res.Report.ConsoleLog)
		return exitCode(res.GDBStatus)
	}
	return renderTest(&TestOptions{jobOptions: o.jobOptions, JSON: o.JSON}, res.Report)
}
