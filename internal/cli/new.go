package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rkodev/rko/internal/scaffold"
)

func init() { register(newNewCmd) }

func newNewCmd() *cobra.Command {
	o := scaffold.Opts{}
	c := &cobra.Command{
		Use:   "new NAME",
		Short: "Create a module directory: Rust by default, --lang c for its C twin",
		Long: `new creates ./NAME with the module source (NAME.rs or NAME.c) including
KUnit tests, a Kbuild and a Makefile for out-of-tree builds, and
tests/smoke.sh, which rko test runs in the guest. It never writes into an
existing path.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.Name = args[0]
			dir, err := scaffold.New(o)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "created %s (%s)\nnext: rko test %s\n", dir, o.Lang, dir)
			return nil
		},
	}
	c.Flags().StringVar(&o.Lang, "lang", "rust", "language: rust or c")
	c.Flags().StringVar(&o.Parent, "dir", ".", "directory to create the module in")
	c.Flags().StringVar(&o.Author, "author", "", "MODULE_AUTHOR / authors (default \"rko\")")
	return c
}
