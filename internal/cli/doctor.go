package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rkodev/rko/internal/job"
	"github.com/rkodev/rko/internal/toolchain"
	"github.com/rkodev/rko/internal/workflow"
)

// DoctorOptions are rko doctor's options.
type DoctorOptions struct {
	IO *IOStreams
	// Params are the checks to run (the target, toolchain, source and
	// kernel the flags name).
	Params workflow.DoctorParams
	JSON   bool
}

// NewCmdDoctor makes rko doctor; runF, when not nil, runs instead of
// runDoctor.
func NewCmdDoctor(f *Factory, runF func(context.Context, *DoctorOptions) error) *cobra.Command {
	o := &DoctorOptions{IO: f.IO}
	var kf kernelFlags
	c := &cobra.Command{
		Use:   "doctor",
		Short: "Check the toolchain and the host for Rust kernel work",
		Long: `doctor applies the kernel's scripts/rust_is_available.sh rules (rustc and
bindgen at least the tree's minima, bindgen 0.66.x refused, libclang as
bindgen sees it, the known bindgen/libclang bug pairs, rust-src) and checks
clang, ld.lld, make, flex, bison, bc, libelf headers, QEMU, bubblewrap and
whether KVM really runs a guest. Each failing check says how to fix it.
With --kernel VERSION (6.12, 7.2, 7.3) the minima are that version's own
(its scripts/min-tool-version.sh). With --kernel debian[:RELEASE] it also compares the toolchain's rustc,
bindgen, C compiler and pahole with the versions Debian's kernel was
built with (reading only the index and the headers package); with
--kernel DIR, it checks the tree has what rko needs.
--toolchain says which toolchain to check: host (default) or rootfs.
It lists the kernels rko has built (version, architecture, profile).
Exit status: 0 when every check passes, 1 otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			jk, err := kf.checkedKernel("auto")
			if err != nil {
				return err
			}
			if kf.toolchain == "auto" {
				kf.toolchain = "host"
			}
			switch kf.toolchain {
			case "host", "rootfs":
			default:
				return &job.Error{Field: "--toolchain", Msg: fmt.Sprintf("unknown toolchain %q, want host or rootfs", kf.toolchain)}
			}
			o.Params = workflow.DoctorParams{Target: jk.Target(), Toolchain: kf.toolchain, Source: jk.Source, Kernel: jk}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return runDoctor(c.Context(), o)
		},
	}
	kf.add(c, "default")
	c.Flags().BoolVar(&o.JSON, "json", false, "print the report as JSON")
	return c
}

func runDoctor(ctx context.Context, o *DoctorOptions) error {
	rep, err := workflow.Doctor(ctx, o.Params)
	if err != nil {
		return err
	}
	w := o.IO.Out
	if o.JSON {
		if err := writeJSON(w, rep); err != nil {
			return err
		}
	} else {
		printChecks(w, rep.Checks)
		if len(rep.Kernels) > 0 {
			fmt.Fprintf(w, "\nkernels built (rko kernel list):")
			for _, k := range rep.Kernels {
				fmt.Fprintf(w, " %s %s %s;", k.Version, k.Arch, k.Profile)
			}
			fmt.Fprintln(w)
		}
		if rep.OK {
			fmt.Fprintf(w, "\nall checks passed (toolchain: %s, %s guests: %s)\n", rep.Toolchain, rep.Arch, rep.Accel)
		} else {
			fmt.Fprintf(w, "\nsome checks failed: fix them, or let rko use its pinned toolchain (rko toolchain install)\n")
		}
	}
	if !rep.OK {
		return exitCode(ExitFail)
	}
	return nil
}

func printChecks(w io.Writer, cs []toolchain.Check) {
	for _, c := range cs {
		mark := map[toolchain.Status]string{toolchain.Pass: "ok  ", toolchain.Warn: "warn", toolchain.Fail: "FAIL", toolchain.Skip: "skip"}[c.Status]
		line := fmt.Sprintf("%s %-20s", mark, c.Name)
		if c.Found != "" {
			line += " " + c.Found
		}
		if c.Detail != "" && c.Status != toolchain.Pass {
			line += " — " + c.Detail
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
		if c.Fix != "" && c.Status != toolchain.Pass && c.Status != toolchain.Skip {
			fmt.Fprintf(w, "     fix: %s\n", c.Fix)
		}
	}
}
