package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/rkodev/rko/internal/cache"
	"github.com/rkodev/rko/internal/ci"
	"github.com/rkodev/rko/internal/job"
	"github.com/rkodev/rko/internal/matrix"
)

// CIGitHubOptions are rko ci github's options.
type CIGitHubOptions struct {
	IO *IOStreams
	// Matrix is the matrix file; Root the repository it is in (the
	// runner's checkout); Output the workflow file ("-": stdout).
	Matrix, Root, Output string
	// Force replaces an existing workflow file, keeping it as a backup.
	Force      bool
	RkoVersion string
}

func newCICmd(f *Factory) *cobra.Command {
	c := &cobra.Command{Use: "ci", Short: "Write the workflow of a CI engine for a matrix file"}
	c.AddCommand(NewCmdCIGitHub(f, nil))
	return c
}

// NewCmdCIGitHub makes rko ci github; runF, when not nil, runs instead of
// runCIGitHub.
func NewCmdCIGitHub(f *Factory, runF func(context.Context, *CIGitHubOptions) error) *cobra.Command {
	o := &CIGitHubOptions{IO: f.IO}
	c := &cobra.Command{
		Use:   "github [MATRIX]",
		Short: "Write a GitHub Actions workflow that runs a matrix file's cells",
		Long: `github writes a GitHub Actions workflow for the matrix file (default
rko-matrix.json): one job per cell through the workflow's matrix strategy,
each running rko test --job with the job of that cell (rko matrix FILE
--cell ID --print-job, on the runner, from the same file: the job rko
matrix runs locally), KVM enabled by a udev rule where the runner has
/dev/kvm and TCG otherwise, the cell's JSON and JUnit uploaded, and a last
job merging them (rko results merge) into the job summary and one JUnit
file (docs/scale.md#github-actions). The workflow goes to
ROOT/.github/workflows/rko.yml (ROOT: the git repository holding the
matrix file); an existing file is never overwritten: --force replaces it
and keeps the old one beside it as .bak-TIME.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.Matrix = "rko-matrix.json"
			if len(args) == 1 {
				o.Matrix = args[0]
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return runCIGitHub(o)
		},
	}
	c.Flags().StringVarP(&o.Output, "output", "o", "", "the workflow file to write, - for stdout (default ROOT/.github/workflows/rko.yml)")
	c.Flags().StringVar(&o.Root, "root", "", "the repository's root, which the runner checks out (default: the git repository holding the matrix file)")
	c.Flags().BoolVar(&o.Force, "force", false, "replace an existing workflow file, keeping it as FILE.bak-TIME")
	c.Flags().StringVar(&o.RkoVersion, "rko-version", "latest", "the rko version the workflow installs (go install .../cmd/rko@VERSION)")
	return c
}

func runCIGitHub(o *CIGitHubOptions) error {
	spec, err := matrix.Read(o.Matrix)
	if err != nil {
		return err
	}
	cells, err := spec.Cells()
	if err != nil {
		return err
	}
	root := o.Root
	if root == "" {
		root = gitRoot(spec.Dir)
	}
	root, err = filepath.Abs(root)
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(root, spec.Path)
	if err != nil || !filepath.IsLocal(rel) {
		return &job.Error{Field: "--root", Msg: fmt.Sprintf("%s is not inside %s: the workflow runs in the repository's checkout; give the repository with --root", spec.Path, root)}
	}
	var frags []string
	for _, fr := range spec.Test.Fragments {
		abs := fr
		if !filepath.IsAbs(abs) {
			abs = filepath.Join(spec.Dir, fr)
		}
		if r, err := filepath.Rel(root, abs); err == nil && filepath.IsLocal(r) {
			frags = append(frags, filepath.ToSlash(r))
		}
	}
	planned := planCells(cells)
	wf, err := ci.GitHub(ci.GitHubOptions{Matrix: filepath.ToSlash(rel), Cells: planned, RkoVersion: o.RkoVersion, Fragments: frags})
	if err != nil {
		return &job.Error{Field: o.Matrix, Msg: err.Error()}
	}
	p := o.IO.Printer(false)
	runnable := 0
	for _, c := range planned {
		if c.Job != nil {
			runnable++
		} else {
			p.Warnf("cell %s is refused and left out of the workflow: %s", c.Name, c.Refused)
		}
	}
	if o.Output == "-" {
		_, err := o.IO.Out.Write(wf)
		return err
	}
	out := o.Output
	if out == "" {
		out = filepath.Join(root, ".github", "workflows", "rko.yml")
	}
	backup := ""
	if _, err := os.Lstat(out); err == nil {
		if !o.Force {
			return &job.Error{Field: "--output", Msg: fmt.Sprintf("%s exists: rko never overwrites a workflow; give another --output, or --force to replace it (the old one is kept as %s.bak-TIME)", out, filepath.Base(out))}
		}
		backup = out + ".bak-" + time.Now().Format("20060102-150405")
		if err := os.Rename(out, backup); err != nil {
			return fmt.Errorf("keeping the old workflow: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	if err := cache.WriteFileAtomic(out, wf, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(o.IO.Out, "wrote %s: %d cells\n", out, runnable)
	if backup != "" {
		fmt.Fprintf(o.IO.Out, "the old workflow is kept as %s\n", backup)
	}
	return nil
}

// gitRoot is the nearest directory at or above dir holding .git, else
// dir itself.
func gitRoot(dir string) string {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, ".git")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}
