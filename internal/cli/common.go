package cli

import (
	"context"
	"encoding/json"
	"github.com/rkodev/rko/internal/kernel"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rkodev/rko/internal/target"
	"github.com/rkodev/rko/internal/ui"
	"github.com/rkodev/rko/internal/workflow"
)

// envFlags are the flags shared by the commands that need a toolchain and
// a kernel.
type envFlags struct {
	toolchain string
	source    string
	profile   string
	fragments []string
	quiet     bool
	// kernel is --kernel (addKernelFlag): "" for rko's own kernel.
	kernel string
	arch   string
}

func (f *envFlags) add(c *cobra.Command, withKernel bool) {
	c.Flags().StringVar(&f.toolchain, "toolchain", "auto", "toolchain: auto (host if rko doctor passes, else the pinned rootfs), host or rootfs")
	c.Flags().StringVar(&f.source, "source", "", "kernel source: a tree or a linux-source tarball (default: $RKO_LINUX_SRC, /usr/src/linux-source-*, the rootfs's)")
	c.Flags().BoolVarP(&f.quiet, "quiet", "q", false, "print no progress")
	if withKernel {
		addArchFlag(c, &f.arch)
		c.Flags().StringVar(&f.profile, "profile", "default", "kernel profile: default, debug (KASAN, lockdep, kmemleak...) or bench")
		c.Flags().StringArrayVar(&f.fragments, "fragment", nil, "extra kernel config fragment file (repeatable), applied after the profile's")
	}
}

// kernelOpts turns the flags into the kernel to use; a bad --arch is
// the error.
func (f *envFlags) kernelOpts() (workflow.KernelOpts, error) {
	t, err := target.Lookup(f.arch)
	if err != nil {
		return workflow.KernelOpts{}, err
	}
	return workflow.KernelOpts{Spec: f.kernel, Target: t, Profile: f.profile, Fragments: f.fragments}, nil
}

// kernelFlagUsage is --kernel's help, the same on every command.
const kernelFlagUsage = "kernel to build against and boot: rko's own (default, see --profile), debian[:RELEASE] for Debian's own Rust-enabled kernel (default release: the newest on the mirror; docs/kernels.md), or the DIR of a kernel you built (an O= tree or a source tree built in place)"

// addKernelFlag adds --kernel to a command that builds modules or boots a
// kernel (build, test, doctor; run and shell take it the same way).
func addKernelFlag(c *cobra.Command, into *string) {
	c.Flags().StringVar(into, "kernel", "", kernelFlagUsage)
}

// addArchFlag adds --arch, the guest architecture, to c (kernel build,
// build, test, quickstart, doctor, bench).
func addArchFlag(c *cobra.Command, arch *string) {
	c.Flags().StringVar(arch, "arch", "", "guest architecture: "+strings.Join(target.Names(), ", ")+" (default: the host's, "+target.Host().Name+")")
}

type printerT = *ui.Printer

func printer(quiet bool) *ui.Printer { return ui.New(os.Stderr, quiet) }

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func seconds(d time.Duration) float64 {
	return float64(d.Round(time.Millisecond)) / float64(time.Second)
}

// isTerminal reports whether w is a terminal (for colour).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && ui.IsTerminal(f) && os.Getenv("NO_COLOR") == ""
}

// prepare checks the kernel flags (a bad --arch is refused before
// anything is installed), then selects the toolchain and finds the
// source for them, installing the toolchain when install is set.
func (f *envFlags) prepare(ctx context.Context, p printerT, install bool) (*workflow.Env, workflow.KernelOpts, error) {
	ko, err := f.kernelOpts()
	if err != nil {
		return nil, ko, err
	}
	env, err := workflow.PrepareFor(ctx, f.toolchain, f.source, f.kernel, install, p)
	return env, ko, err
}

// cachedKernel is the toolchain and the kernel the flags name, built
// already (rko's own) or resolved from --kernel: what rko doc, rko
// rust-analyzer and rko new work against, never starting a kernel build.
func (f *envFlags) cachedKernel(ctx context.Context, p printerT) (*workflow.Env, *kernel.Kernel, error) {
	env, ko, err := f.prepare(ctx, p, false)
	if err != nil {
		return nil, nil, err
	}
	k, err := env.CachedKernel(ctx, ko)
	return env, k, err
}
