package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/rkodev/rko/internal/merge"
)

// ResultsMergeOptions are rko results merge's options.
type ResultsMergeOptions struct {
	IO    *IOStreams
	Files []string
	// JSON prints the merged document instead of the Markdown table.
	JSON bool
	// JUnit and Markdown are files to write ("" for none).
	JUnit, Markdown string
}

func newResultsCmd(f *Factory) *cobra.Command {
	c := &cobra.Command{
		Use:   "results",
		Short: "Work with the JSON documents of rko runs",
	}
	c.AddCommand(NewCmdResultsMerge(f, nil))
	return c
}

// NewCmdResultsMerge makes rko results merge; runF, when not nil, runs
// instead of runResultsMerge.
func NewCmdResultsMerge(f *Factory, runF func(context.Context, *ResultsMergeOptions) error) *cobra.Command {
	o := &ResultsMergeOptions{IO: f.IO}
	c := &cobra.Command{
		Use:   "merge FILE...",
		Short: "Merge rko test, rko matrix and merged JSON documents into one report",
		Long: `merge reads the --json documents of rko test (one kernel or a list),
rko matrix and rko results merge, from any number of runs or machines (a
CI matrix's jobs), and writes one report: a Markdown table on stdout
(--json: the merged document, docs/schemas.md#rko-results-merge---json),
and with --junit one JUnit file, with --markdown the table to a file
(appended, as GitHub's $GITHUB_STEP_SUMMARY wants it).
Exit status: 0 when every run passed, 1 when any did not, 2 when a file
is not such a document.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.Files = args
			if runF != nil {
				return runF(c.Context(), o)
			}
			return runResultsMerge(o)
		},
	}
	c.Flags().BoolVar(&o.JSON, "json", false, "print the merged document as JSON instead of the Markdown table")
	c.Flags().StringVar(&o.JUnit, "junit", "", "also write every run's verdict and tests as one JUnit XML file")
	c.Flags().StringVar(&o.Markdown, "markdown", "", "also append the Markdown table to this file (e.g. $GITHUB_STEP_SUMMARY)")
	return c
}

func runResultsMerge(o *ResultsMergeOptions) error {
	m, err := merge.Files(o.Files)
	if err != nil {
		return err
	}
	if o.JUnit != "" {
		if err := writeFileWith(o.JUnit, m.WriteJUnit); err != nil {
			return fmt.Errorf("--junit: %w", err)
		}
	}
	if o.Markdown != "" {
		f, err := os.OpenFile(o.Markdown, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return fmt.Errorf("--markdown: %w", err)
		}
		err = m.WriteMarkdown(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("--markdown: %w", err)
		}
	}
	if o.JSON {
		err = writeJSON(o.IO.Out, m)
	} else {
		err = m.WriteMarkdown(o.IO.Out)
	}
	if err != nil {
		return err
	}
	if !m.Passed {
		return exitCode(ExitFail)
	}
	return nil
}
