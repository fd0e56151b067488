package cli

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/rkodev/rko/internal/debian"
	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/workflow"
)

func newKernelCmd(fa *Factory) *cobra.Command {
	c := &cobra.Command{Use: "kernel", Short: "Build Rust-enabled kernels for QEMU"}
	var f kernelFlags
	var asJSON bool
	b := &cobra.Command{
		Use:   "build",
		Short: "Build (or fetch from the cache) a small Rust-enabled kernel for --arch",
		Long: `build makes tinyconfig plus the architecture's and the profile's
fragments (configs/*.config; default = base + rust + kunit, on x86_64 with
bench's options too; debug adds KASAN, lockdep, kmemleak and debug info)
plus any --fragment, checks that every requested option survived
olddefconfig and names the unmet dependency of any that did not, and builds
the architecture's image (bzImage, Image or UML's linux) and modules with
LLVM=1 ARCH=... Kernels are cached by (source, fragments, toolchain,
architecture).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p := fa.IO.Printer(f.quiet)
			env, ko, err := f.prepare(c.Context(), p, true)
			if err != nil {
				return err
			}
			done := p.Phase("kernel build")
			k, err := env.Kernel(c.Context(), ko)
			if err != nil {
				return err
			}
			done()
			if asJSON {
				return writeJSON(fa.IO.Out, k)
			}
			fmt.Fprintf(fa.IO.Out, "kernel %s (profile %s)\n  image: %s\n  KDIR:  %s\n", k.Release, k.Profile, k.Image, k.BuildDir)
			return nil
		},
	}
	f.add(b, "default")
	b.Flags().BoolVar(&asJSON, "json", false, "print the kernel as JSON")
	c.AddCommand(b, NewCmdKernelList(fa, nil), NewCmdKernelPush(fa, nil), NewCmdKernelPull(fa, nil))
	return c
}

// KernelListOptions are rko kernel list's.
type KernelListOptions struct {
	IO        *IOStreams
	JSON      bool
	Available bool
	Toolchain string
}

// KernelList is rko kernel list --json's document (docs/schemas.md).
type KernelList struct {
	// Built are the kernels in the cache, newest first.
	Built []kernel.Summary `json:"built"`
	// Available are the kernel versions Debian's archive has sources of
	// (with --available), newest first.
	Available []debian.SourceRelease `json:"available,omitempty"`
}

// NewCmdKernelList is rko kernel list.
func NewCmdKernelList(f *Factory, runF func(context.Context, *KernelListOptions) error) *cobra.Command {
	o := &KernelListOptions{IO: f.IO}
	c := &cobra.Command{
		Use:   "list",
		Short: "List the kernels rko built (version, architecture, profile) and, with --available, the versions it can build",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(c.Context(), o)
			}
			return runKernelList(c.Context(), o)
		},
	}
	c.Flags().BoolVar(&o.JSON, "json", false, "print the list as JSON")
	c.Flags().BoolVar(&o.Available, "available", false, "also list the kernel versions Debian's archive has sources of (--kernel SERIES builds one)")
	c.Flags().StringVar(&o.Toolchain, "toolchain", "rootfs", "toolchain whose apt reads the archive's index (with --available)")
	return c
}

func runKernelList(ctx context.Context, o *KernelListOptions) error {
	var l KernelList
	for _, k := range kernel.AllCached() {
		l.Built = append(l.Built, k.Summarize())
	}
	if o.Available {
		tc, err := workflow.SelectToolchain(ctx, o.Toolchain, "", false, o.IO.Printer(true))
		if err != nil {
			return err
		}
		if l.Available, err = debian.SourceVersions(ctx, debian.Params{Toolchain: tc}); err != nil {
			return err
		}
	}
	if o.JSON {
		return writeJSON(o.IO.Out, l)
	}
	w := tabwriter.NewWriter(o.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "VERSION\tARCH\tPROFILE\tRUSTC\tKEY\tBUILT\tBUILD TIME")
	for _, k := range l.Built {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%.0fs\n", k.Version, k.Arch, k.Profile, k.Rustc, k.Key, k.Built.Local().Format("2006-01-02 15:04"), k.BuildSecs)
	}
	if len(l.Built) == 0 {
		fmt.Fprintln(w, "(none built: rko kernel build)")
	}
	w.Flush()
	if o.Available {
		fmt.Fprintln(o.IO.Out, "\nversions rko can build (--kernel SERIES or --kernel VERSION):")
		for _, r := range l.Available {
			fmt.Fprintf(o.IO.Out, "  %-6s %s\n", r.Series, r)
		}
	}
	return nil
}
