package cli

import (
	"fmt"

	"github.com/spf13/cobra"
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
	c.AddCommand(b)
	return c
}
