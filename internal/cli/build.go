package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newBuildCmd(fa *Factory) *cobra.Command {
	var f kernelFlags
	var asJSON bool
	c := &cobra.Command{
		Use:   "build [DIR...]",
		Short: "Build modules out of tree with Kbuild against rko's kernel, Debian's or yours",
		Long: `build runs make LLVM=1 -C KDIR M=DIR modules for each module directory
(default: the current one) against the kernel of --profile, building that
kernel first if needed, or against the --kernel given (Debian's own
kernel, or a tree you built; with the compilers its config names), and
writes each Rust module's rust-project.json for that kernel (rko
rust-analyzer). Each .ko is then checked as the kernel will: every symbol
it needs is exported, and its vermagic is the kernel's. Compiler errors
are printed as file:line:col with the message; the whole make output is
kept in a log file.`,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{"."}
			}
			p := fa.IO.Printer(f.quiet)
			env, ko, err := f.prepare(c.Context(), p, true)
			if err != nil {
				return err
			}
			k, err := env.Kernel(c.Context(), ko)
			if err != nil {
				return err
			}
			// rust-analyzer's view of the modules, before the build so
			// that it works on code that does not compile yet.
			if _, err := env.RustProjects(c.Context(), k, args, false); err != nil {
				p.Warnf("rust-project.json: %v", err)
			}
			done := p.Phase("build")
			mods, err := env.BuildModules(c.Context(), k, args)
			if err != nil {
				return err
			}
			done()
			if asJSON {
				return writeJSON(fa.IO.Out, mods)
			}
			for _, m := range mods {
				for _, ko := range m.KoPaths {
					fmt.Fprintln(fa.IO.Out, ko)
				}
			}
			return nil
		},
	}
	f.add(c, "default")
	c.Flags().BoolVar(&asJSON, "json", false, "print the built modules as JSON")
	return c
}
