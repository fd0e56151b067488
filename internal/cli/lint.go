package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rkodev/rko/internal/lint"
)

// lintOptions are the inputs of rko lint.
type lintOptions struct {
	paths  []string
	format string
	jobs   int
	config string
}

func newLintCmd(fa *Factory) *cobra.Command {
	o := &lintOptions{}
	cmd := &cobra.Command{
		Use:   "lint [PATH...]",
		Short: "Check Rust-for-Linux rules on source, without a compiler",
		Long: `rko lint parses Rust files with tree-sitter and checks the Rust-for-Linux
rules: no raw bindings outside the abstraction layer, SAFETY comments on
unsafe blocks and impls, # Safety docs on public unsafe fns, no panics and
no std in kernel code, no sleeping under a spinlock, SPDX headers.

PATH is a module directory, a kernel tree or .rs files (default "."). The
nearest .rko-lint.toml above each path configures it; see docs/lint.md.

Exit status: 0 no error-level finding, 1 findings, 2 could not run.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.paths = args
			return runLint(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "text", "output format: "+strings.Join(lint.Formats, ", "))
	f.IntVarP(&o.jobs, "jobs", "j", 0, "files linted in parallel (0: one per CPU)")
	f.StringVar(&o.config, "config", "", "use this config file instead of looking for "+lint.ConfigName)
	return cmd
}

func runLint(cmd *cobra.Command, o *lintOptions) error {
	valid := false
	for _, f := range lint.Formats {
		valid = valid || f == o.format
	}
	if !valid {
		return fmt.Errorf("invalid --format %q, want one of %s", o.format, strings.Join(lint.Formats, ", "))
	}
	if o.jobs < 0 {
		return fmt.Errorf("invalid --jobs %d, want 0 or more", o.jobs)
	}
	opts := lint.Options{Paths: o.paths, Jobs: o.jobs}
	if o.config != "" {
		c, err := lint.LoadConfig(o.config)
		if err != nil {
			return err
		}
		opts.Config = c
	}
	res, err := lint.Run(cmd.Context(), opts)
	if err != nil {
		return err
	}
	if err := lint.WriteReport(cmd.OutOrStdout(), o.format, res); err != nil {
		return err
	}
	writeLintSummary(cmd.ErrOrStderr(), res)
	if res.Errors() > 0 {
		return exitCode(ExitFail)
	}
	return nil
}

func writeLintSummary(w io.Writer, res *lint.Result) {
	fmt.Fprintln(w, lint.Summary(res))
	for _, p := range res.PartialParses {
		fmt.Fprintf(w, "rko lint: %s has a syntax error; linted the parts tree-sitter recovered\n", p)
	}
}
