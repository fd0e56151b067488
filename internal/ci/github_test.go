package ci

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"

	"github.com/rkodev/rko/internal/job"
	"github.com/rkodev/rko/internal/matrix"
)

func cell(name string) matrix.Planned {
	return matrix.Planned{Cell: matrix.Cell{Name: name, ID: "m-default-host-default"},
		Job: &job.Job{Kernel: job.Kernel{Kind: job.KindRko, Arch: "x86_64", Profile: "default"}}}
}

func TestGitHubErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    GitHubOptions
		want string
	}{
		{"version", GitHubOptions{Matrix: "m.json", Cells: []matrix.Planned{cell("m")}, RkoVersion: "v1; curl x"}, `"v1; curl x": want letters, digits`},
		{"outside", GitHubOptions{Matrix: "../m.json", Cells: []matrix.Planned{cell("m")}}, "is outside the repository"},
		{"expression", GitHubOptions{Matrix: "m.json", Cells: []matrix.Planned{cell("${{ github.token }}/default/host/default")}}, "which GitHub would evaluate as an expression"},
		{"refused", GitHubOptions{Matrix: "m.json", Cells: []matrix.Planned{{Cell: matrix.Cell{Name: "m"}, Refused: "no"}}}, "every cell of the matrix is refused"},
	} {
		if _, err := GitHub(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestGitHubHostileNames: a module directory and a matrix path with
// quotes, "$(", backquotes and braces reach the workflow quoted, never inside a run:
// script, and the workflow still lints.
func TestGitHubHostileNames(t *testing.T) {
	name := "we\"ird $(id) `id` {{x}}/default/host/default"
	wf, err := GitHub(GitHubOptions{Matrix: `dir with 'quote'/rko-matrix.json`, Cells: []matrix.Planned{cell(name)}})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "rko.yml")
	os.WriteFile(out, wf, 0o644)
	l, err := actionlint.NewLinter(os.Stderr, &actionlint.LinterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	errs, err := l.LintFile(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := actionlint.Parse(wf)
	for _, e := range errs {
		t.Errorf("actionlint: %s", e)
	}
	if w == nil {
		t.Fatal("no workflow")
	}
	for _, st := range w.Jobs["cell"].Steps {
		if run, ok := st.Exec.(*actionlint.ExecRun); ok && (strings.Contains(run.Run.Value, "we\"ird") || strings.Contains(run.Run.Value, "quote")) {
			t.Errorf("a user value inside a run: script:\n%s", run.Run.Value)
		}
	}
}
