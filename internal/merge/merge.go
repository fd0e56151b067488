// Package merge gathers the JSON documents of many rko runs (rko test
// --json, rko test --kernel LIST --json, rko matrix --json, and merged
// documents themselves) into one: a run per test, whatever machine or CI
// job it ran on, written as JSON, as one JUnit file, and as a Markdown
// table (rko results merge; a CI workflow's job summary).
package merge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/rkodev/rko/internal/matrix"
	"github.com/rkodev/rko/internal/results"
	"github.com/rkodev/rko/internal/workflow"
)

// Schema is the version of the merged document.
const Schema = 1

// Merged is the merged document (docs/schemas.md#rko-results-merge---json).
// It passed when every run passed.
type Merged struct {
	Schema int   `json:"schema"`
	Passed bool  `json:"passed"`
	Runs   []Run `json:"runs"`
}

// Run is one test run of a merged document.
type Run struct {
	// Name is the cell's name (matrix), "FILE: --kernel K" (a kernels
	// document), or the file's name without .json (a test report; its
	// directory's name when the file is report.json).
	Name string `json:"name"`
	// Source is the file the run was read from.
	Source string `json:"source"`
	Passed bool   `json:"passed"`
	// Verdict is passed, failed, error, refused or cancelled (as rko
	// matrix's cells); Reason says why when not passed.
	Verdict string `json:"verdict"`
	Reason  string `json:"reason,omitempty"`
	// Arch and Release are the kernel's, when the run booted.
	Arch    string  `json:"arch,omitempty"`
	Release string  `json:"release,omitempty"`
	TimeS   float64 `json:"time_s"`
	// Report is rko test --json's document of the run, when it booted.
	Report *workflow.Report `json:"report,omitempty"`
}

// Files reads every file and merges their runs, in the order given.
func Files(paths []string) (*Merged, error) {
	m := &Merged{Schema: Schema, Passed: true}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		runs, err := Parse(data, p)
		if err != nil {
			return nil, err
		}
		m.Runs = append(m.Runs, runs...)
	}
	if len(m.Runs) == 0 {
		return nil, fmt.Errorf("no runs: give rko test, rko matrix or merged --json documents")
	}
	for _, r := range m.Runs {
		m.Passed = m.Passed && r.Passed
	}
	return m, nil
}

// Parse reads one document (name is its file) into its runs, telling
// the kinds apart by their top-level fields: "runs" (merged), "cells"
// (rko matrix), "kernels" (rko test --kernel LIST), "verdict" (rko test).
func Parse(data []byte, name string) ([]Run, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("%s: not a JSON object: %v", name, err)
	}
	decode := func(v any) error {
		if err := json.NewDecoder(bytes.NewReader(data)).Decode(v); err != nil {
			return fmt.Errorf("%s: %v", name, err)
		}
		return nil
	}
	switch {
	case probe["runs"] != nil:
		var m Merged
		if err := decode(&m); err != nil {
			return nil, err
		}
		if m.Schema != Schema {
			return nil, fmt.Errorf("%s: merged schema %d, want %d", name, m.Schema, Schema)
		}
		return m.Runs, nil
	case probe["cells"] != nil:
		var rep matrix.Report
		if err := decode(&rep); err != nil {
			return nil, err
		}
		runs := make([]Run, len(rep.Cells))
		for i, c := range rep.Cells {
			runs[i] = Run{Name: c.Name, Source: name, Passed: c.Verdict == matrix.Passed, Verdict: c.Verdict,
				Reason: c.Reason, TimeS: c.TimeS, Report: c.Report}
			runs[i].fromReport()
		}
		return runs, nil
	case probe["kernels"] != nil:
		var rep workflow.KernelsReport
		if err := decode(&rep); err != nil {
			return nil, err
		}
		var runs []Run
		for _, k := range rep.Kernels {
			r := Run{Name: stem(name) + ": --kernel " + orDefault(k.Kernel), Source: name, Passed: k.Passed, Report: k.Report}
			switch {
			case k.Passed:
				r.Verdict = matrix.Passed
			case k.Report != nil:
				r.Verdict, r.Reason = matrix.Failed, k.Report.Verdict.Reason
			default:
				r.Verdict, r.Reason = matrix.Failed, firstLine(k.Error)
			}
			r.fromReport()
			runs = append(runs, r)
		}
		return runs, nil
	case probe["verdict"] != nil:
		var rep workflow.Report
		if err := decode(&rep); err != nil {
			return nil, err
		}
		r := Run{Name: stem(name), Source: name, Passed: rep.Verdict.Passed, Verdict: matrix.Passed, Report: &rep}
		if !r.Passed {
			r.Verdict, r.Reason = matrix.Failed, rep.Verdict.Reason
		}
		r.fromReport()
		return []Run{r}, nil
	}
	return nil, fmt.Errorf("%s: not an rko document: want the output of rko test --json, rko matrix --json or rko results merge --json", name)
}

// fromReport fills the kernel and the time from the run's report.
func (r *Run) fromReport() {
	if r.Report == nil {
		return
	}
	r.Arch, r.Release = r.Report.Kernel.Arch, r.Report.Kernel.Release
	if r.TimeS == 0 {
		r.TimeS = r.Report.Timings.Total
	}
}

// stem names a test report by its file: the base name without .json,
// or the directory's name for a report.json (a run directory, a CI
// artifact).
func stem(path string) string {
	base := strings.TrimSuffix(filepath.Base(path), ".json")
	if base == "report" {
		return filepath.Base(filepath.Dir(path))
	}
	return base
}

func orDefault(k string) string {
	if k == "" {
		return "default"
	}
	return k
}

// firstLine is the first line of s, and the next one too when the first
// ends with a colon (an error followed by its first diagnostic).
func firstLine(s string) string {
	l, rest, _ := strings.Cut(s, "\n")
	if strings.HasSuffix(l, ":") && rest != "" {
		next, _, _ := strings.Cut(rest, "\n")
		l += " " + strings.TrimSpace(next)
	}
	return l
}

// WriteJUnit writes the runs as one JUnit file (results.WriteJUnitRuns).
func (m *Merged) WriteJUnit(w io.Writer) error {
	runs := make([]results.JUnitRun, len(m.Runs))
	for i, r := range m.Runs {
		runs[i] = results.JUnitRun{Name: r.Name, Passed: r.Passed, Verdict: r.Verdict, Reason: r.Reason}
		if r.Report != nil {
			runs[i].Results = r.Report.Results
		}
	}
	return results.WriteJUnitRuns(w, runs)
}

// WriteMarkdown writes the runs as a Markdown table (GitHub's job
// summary renders it), then a line with the counts.
func (m *Merged) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("| run | kernel | verdict | tests | time |\n| --- | --- | --- | --- | ---: |\n")
	counts := map[string]int{}
	for _, r := range m.Runs {
		counts[r.Verdict]++
		kernel, tests := "-", "-"
		if r.Release != "" {
			kernel = r.Arch + " " + r.Release
		}
		if r.Report != nil && r.Report.Results != nil {
			t := r.Report.Results.Tests
			tests = fmt.Sprintf("%d/%d", t.Passed, t.Total)
			if n := len(r.Report.Results.Crashes); n > 0 {
				tests += fmt.Sprintf(", %d crash(es)", n)
			}
		}
		verdict := "✅ passed"
		if !r.Passed {
			verdict = "❌ " + r.Verdict
			if r.Reason != "" {
				verdict += ": " + r.Reason
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %.1fs |\n", cell(r.Name), cell(kernel), cell(verdict), tests, r.TimeS)
	}
	verdict := "**FAIL**"
	if m.Passed {
		verdict = "**PASS**"
	}
	fmt.Fprintf(&b, "\n%s: %d runs (%s)\n", verdict, len(m.Runs), matrix.Verdicts(counts))
	_, err := io.WriteString(w, b.String())
	return err
}

// cell makes s safe in a Markdown table cell: one line, no bare '|'.
func cell(s string) string {
	s = strings.ReplaceAll(firstLine(s), "|", `\|`)
	if r := []rune(s); len(r) > 160 {
		s = string(r[:157]) + "..."
	}
	return s
}
