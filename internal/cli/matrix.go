package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/rkodev/rko/internal/job"
	"github.com/rkodev/rko/internal/matrix"
)

// MatrixOptions are rko matrix's options.
type MatrixOptions struct {
	IO *IOStreams
	// File is the matrix file; Spec it read; Cells its cells (those --cell
	// selected), each with its job made by rko test's flags.
	File  string
	Spec  *matrix.Spec
	Cells []matrix.Planned
	// Guests is --guests (0: what the machine holds, matrix.Slots).
	Guests    int
	JSON      bool
	PrintJobs bool
	// PrintJob prints the one selected cell's job document (rko test
	// --job reads it).
	PrintJob bool
	Quiet    bool
}

// NewCmdMatrix makes rko matrix; runF, when not nil, runs instead of
// runMatrix.
func NewCmdMatrix(f *Factory, runF func(context.Context, *MatrixOptions) error) *cobra.Command {
	o := &MatrixOptions{IO: f.IO}
	var cellNames []string
	c := &cobra.Command{
		Use:   "matrix FILE",
		Short: "Run a module's test matrix (modules x kernels x architectures x profiles) on a local pool",
		Long: `matrix reads a matrix file (JSON, docs/scale.md) naming module
directories, kernels (--kernel values), architectures and profiles, with
excludes. Every cell is one rko test job: the job rko test --print-job
writes for the cell's flags. Each kernel is found or built once (one
build at a time); cells run on a pool of --guests at once (default: one
per core, as many as the memory holds); cells of one module directory
run one after another. A cell that cannot work is refused with the
reason and the others run. The table gives each cell's verdict and
time; --json the whole (docs/schemas.md#rko-matrix---json).
Exit status: 0 when every cell passed, 1 when any failed or was
refused, 2 when the file is bad; Ctrl-C stops every guest and build and
reports the cells that finished.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.File = args[0]
			spec, err := matrix.Read(o.File)
			if err != nil {
				return err
			}
			cells, err := spec.Cells()
			if err != nil {
				return err
			}
			cells, err = selectCells(cells, cellNames)
			if err != nil {
				return err
			}
			o.Spec = spec
			o.Cells = planCells(cells)
			if o.PrintJob && len(o.Cells) != 1 {
				return &job.Error{Field: "--print-job", Msg: fmt.Sprintf("prints one cell's job and %d cells are selected: name one with --cell (--print-jobs prints them all)", len(o.Cells))}
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return runMatrix(c.Context(), o)
		},
	}
	fl := c.Flags()
	fl.IntVar(&o.Guests, "guests", 0, "cells run at once at most (default: one per core, as many as the available memory holds)")
	fl.StringArrayVar(&cellNames, "cell", nil, "run only this cell, by name (module/kernel/arch/profile) or id (repeatable)")
	fl.BoolVar(&o.JSON, "json", false, "print the report as JSON (docs/schemas.md#rko-matrix---json)")
	fl.BoolVar(&o.PrintJobs, "print-jobs", false, "print every cell and its job as JSON and run nothing")
	fl.BoolVar(&o.PrintJob, "print-job", false, "print the job of the one cell --cell selects (what rko test --job runs) and run nothing")
	fl.BoolVarP(&o.Quiet, "quiet", "q", false, "print no progress")
	return c
}

// selectCells keeps the cells --cell names (all when none is named).
func selectCells(cells []matrix.Cell, names []string) ([]matrix.Cell, error) {
	if len(names) == 0 {
		return cells, nil
	}
	var out []matrix.Cell
	for _, n := range names {
		found := false
		for _, c := range cells {
			if c.Name == n || c.ID == n {
				out, found = append(out, c), true
				break
			}
		}
		if !found {
			ids := make([]string, len(cells))
			for i, c := range cells {
				ids[i] = c.ID
			}
			return nil, &job.Error{Field: "--cell", Msg: fmt.Sprintf("no cell %q in the matrix: want one of %s", n, strings.Join(ids, ", "))}
		}
	}
	return out, nil
}

// planCells makes each cell's job from its rko test arguments, through
// rko test's own flags (jobFlags.toJob): a cell runs exactly what rko
// test with those arguments runs. A job that cannot work is refused with
// job.Check's reason.
func planCells(cells []matrix.Cell) []matrix.Planned {
	out := make([]matrix.Planned, len(cells))
	for i, c := range cells {
		j, err := CellJob(c.Args)
		out[i] = matrix.Planned{Cell: c, Job: j}
		if err != nil {
			out[i].Job, out[i].Refused = nil, err.Error()
		}
	}
	return out
}

// CellJob is the job rko test makes of args (its flags and directories),
// without running it.
func CellJob(args []string) (*job.Job, error) {
	var got *job.Job
	sub := &Factory{IO: &IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard}}
	c := NewCmdTest(sub, func(_ context.Context, o *TestOptions) error {
		if o.Jobs != nil {
			return &job.Error{Field: "kernels", Msg: "a cell names one kernel"}
		}
		got = o.Job
		return nil
	})
	c.SilenceUsage, c.SilenceErrors = true, true
	c.SetArgs(args)
	if err := c.ExecuteContext(context.Background()); err != nil {
		return nil, err
	}
	return got, nil
}

// PlannedJob is one cell and its job, as --print-jobs prints them.
type PlannedJob struct {
	matrix.Cell
	Job     *job.Job `json:"job,omitempty"`
	Refused string   `json:"refused,omitempty"`
}

func runMatrix(ctx context.Context, o *MatrixOptions) error {
	if o.PrintJob {
		c := o.Cells[0]
		if c.Job == nil {
			return &job.Error{Field: "--cell " + c.Name, Msg: "refused: " + c.Refused}
		}
		_, err := o.IO.Out.Write(c.Job.JSON())
		return err
	}
	if o.PrintJobs {
		jobs := make([]PlannedJob, len(o.Cells))
		for i, c := range o.Cells {
			jobs[i] = PlannedJob{Cell: c.Cell, Job: c.Job, Refused: c.Refused}
		}
		return writeJSON(o.IO.Out, jobs)
	}
	p := o.IO.Printer(o.Quiet || o.JSON)
	rep, err := matrix.Run(ctx, o.Cells, matrix.Options{File: o.Spec.Path, Guests: o.Guests, Printer: p})
	if rep != nil {
		if o.JSON {
			if werr := writeJSON(o.IO.Out, rep); werr != nil {
				return werr
			}
		} else {
			printMatrix(o.IO.Out, rep)
		}
	}
	if err != nil {
		return err
	}
	if !rep.Passed {
		return exitCode(ExitFail)
	}
	return nil
}

// printMatrix writes the table of a matrix run: a line per cell, then
// the summary with the wall time against the sum of the cells.
func printMatrix(w io.Writer, rep *matrix.Report) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CELL\tRELEASE\tVERDICT\tTIME")
	counts := map[string]int{}
	for _, c := range rep.Cells {
		counts[c.Verdict]++
		rel, took := "-", "-"
		if c.Report != nil {
			rel = c.Report.Kernel.Release
		}
		if c.TimeS > 0 {
			took = fmt.Sprintf("%.1fs", c.TimeS)
		}
		v := strings.ToUpper(c.Verdict)
		if c.Reason != "" {
			v += ": " + c.Reason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Name, rel, v, took)
	}
	tw.Flush()
	verdict := "FAIL"
	if rep.Passed {
		verdict = "PASS"
	}
	fmt.Fprintf(w, "%s: %d cells (%s) in %.1fs wall, %.1fs the sum of the cells, %d guests at once\n",
		verdict, len(rep.Cells), matrix.Verdicts(counts), rep.WallS, rep.CellsS, rep.Guests)
}
