package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rkodev/rko/internal/scaffold"
)

func newNewCmd(fa *Factory) *cobra.Command {
	o := scaffold.Opts{}
	var f kernelFlags
	c := &cobra.Command{
		Use:   "new NAME",
		Short: "Create a module directory: Rust by default, --lang c for its C twin",
		Long: `new creates ./NAME with the module source (NAME.rs or NAME.c) including
KUnit tests, a Kbuild and a Makefile for out-of-tree builds, and
tests/smoke.sh, which rko test runs in the guest. It never writes into an
existing path. A Rust module gets a rust-project.json for rust-analyzer when
the kernel of --profile is built already (else rko build writes it).`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.Name = args[0]
			dir, err := scaffold.New(o)
			if err != nil {
				return err
			}
			fmt.Fprintf(fa.IO.Out, "created %s (%s, %s)\n", dir, o.Lang, o.Kind)
			if o.Lang == "rust" {
				newRustProject(c, fa, &f, dir)
			}
			fmt.Fprintf(fa.IO.Out, "next: rko test %s\n", dir)
			return nil
		},
	}
	f.add(c, "default")
	c.Flags().StringVar(&o.Lang, "lang", "rust", "language: rust or c")
	c.Flags().StringVar(&o.Kind, "kind", "misc", "kind of module: misc (a plain module), pci (a PCI driver for QEMU's pci-testdev, with bind/unbind and remove/rescan tests; docs/driver-pci.md) or platform (a platform driver with its ACPI table and device-tree nodes; docs/driver-platform.md)")
	c.Flags().StringVar(&o.Parent, "dir", ".", "directory to create the module in")
	c.Flags().StringVar(&o.Author, "author", "", "MODULE_AUTHOR / authors (default \"rko\")")
	return c
}

// newRustProject writes the new module's rust-project.json if the kernel
// is built; it never builds one, and a failure is only a note: the module
// is made.
func newRustProject(c *cobra.Command, fa *Factory, f *kernelFlags, dir string) {
	p := fa.IO.Printer(f.quiet)
	env, k, err := f.cachedKernel(c.Context(), p)
	if err == nil {
		_, err = env.RustProjects(c.Context(), k, []string{dir}, false)
	}
	if err != nil {
		p.Logf("no rust-project.json yet (%v); rko build %s writes it", err, dir)
	}
}
