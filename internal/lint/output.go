package lint

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"github.com/owenrumney/go-sarif/v3/pkg/report/v210/sarif"
)

// Formats lists the output formats of WriteReport.
var Formats = []string{"text", "json", "sarif"}

// WriteReport writes res to w in format (text, json or sarif).
func WriteReport(w io.Writer, format string, res *Result) error {
	switch format {
	case "text":
		return WriteText(w, res)
	case "json":
		return WriteJSON(w, res)
	case "sarif":
		return WriteSARIF(w, res)
	}
	return fmt.Errorf("invalid format %q, want one of %s", format, strings.Join(Formats, ", "))
}

// WriteText writes one finding per block: `file:line:col: rule: message`,
// then the source line and a caret under the column.
func WriteText(w io.Writer, res *Result) error {
	for _, f := range res.Findings {
		if _, err := fmt.Fprintf(w, "%s:%d:%d: %s: %s\n", f.Path, f.Line, f.Column, f.Rule, f.Message); err != nil {
			return err
		}
		if f.Source != "" {
			pad := make([]byte, 0, f.Column)
			for i := 0; i < f.Column-1 && i < len(f.Source); i++ {
				if f.Source[i] == '\t' {
					pad = append(pad, '\t')
				} else {
					pad = append(pad, ' ')
				}
			}
			if _, err := fmt.Fprintf(w, "    %s\n    %s^\n", f.Source, pad); err != nil {
				return err
			}
		}
	}
	return nil
}

// JSONReport is the document written by --format json (schema version 1).
type JSONReport struct {
	// Version of this document's shape; bumped on incompatible change.
	Version int `json:"version"`
	// Files and Lines count what was linted.
	Files int `json:"files"`
	Lines int `json:"lines"`
	// Errors counts error-level findings (exit status 1 when > 0).
	Errors int `json:"errors"`
	// Suppressed counts findings silenced by rko-allow comments.
	Suppressed int `json:"suppressed"`
	// Counts maps every rule ID to its number of findings.
	Counts map[string]int `json:"counts"`
	// PartialParses lists files linted on a tree with parse errors.
	PartialParses []string `json:"partial_parses"`
	// Findings, sorted by path, line, column, rule.
	Findings []Finding `json:"findings"`
}

// WriteJSON writes res as a JSONReport.
func WriteJSON(w io.Writer, res *Result) error {
	r := JSONReport{Version: 1, Files: res.Files, Lines: res.Lines, Errors: res.Errors(),
		Suppressed: res.Suppressed, Counts: res.Counts(), PartialParses: res.PartialParses, Findings: res.Findings}
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	if r.PartialParses == nil {
		r.PartialParses = []string{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func sarifLevel(s Severity) string {
	switch s {
	case SeverityError:
		return "error"
	case SeverityWarning:
		return "warning"
	}
	return "note"
}

// InformationURI is where SARIF consumers send users for rko.
const InformationURI = "https://github.com/rkodev/rko"

// WriteSARIF writes res as a SARIF 2.1.0 log with one run, one rule per
// rule ID and relative artifact URIs, as GitHub code scanning expects.
func WriteSARIF(w io.Writer, res *Result) error {
	rep := sarif.NewReport()
	run := sarif.NewRunWithInformationURI("rko lint", InformationURI)
	index := map[string]int{}
	for i, r := range Rules {
		index[r.ID] = i
		run.AddRule(r.ID).
			WithName(ruleName(r.ID)).
			WithShortDescription(sarif.NewMultiformatMessageString().WithText(r.Summary)).
			WithFullDescription(sarif.NewMultiformatMessageString().WithText(r.Summary)).
			WithHelpURI(InformationURI + "/blob/main/" + r.DocURL()).
			WithHelp(sarif.NewMultiformatMessageString().WithText("See " + r.DocURL() + " in the rko repository.")).
			WithDefaultConfiguration(sarif.NewReportingConfiguration().WithLevel(sarifLevel(r.Severity)))
	}
	for _, f := range res.Findings {
		uri := filepath.ToSlash(f.Path)
		uri = strings.TrimPrefix(uri, "./")
		region := sarif.NewRegion().WithStartLine(f.Line).WithStartColumn(f.Column)
		if f.EndLine >= f.Line {
			region.WithEndLine(f.EndLine)
			if f.EndColumn > 0 && (f.EndLine > f.Line || f.EndColumn > f.Column) {
				region.WithEndColumn(f.EndColumn)
			}
		}
		run.CreateResultForRule(f.Rule).
			WithRuleIndex(index[f.Rule]).
			WithLevel(sarifLevel(f.Severity)).
			WithMessage(sarif.NewTextMessage(f.Message)).
			AddLocation(sarif.NewLocationWithPhysicalLocation(
				sarif.NewPhysicalLocation().
					WithArtifactLocation(sarif.NewSimpleArtifactLocation(uri)).
					WithRegion(region)))
	}
	rep.AddRun(run)
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// ruleName turns a rule ID into the PascalCase name SARIF viewers show.
func ruleName(id string) string {
	var sb strings.Builder
	for _, p := range strings.Split(id, "-") {
		if p == "" {
			continue
		}
		sb.WriteString(strings.ToUpper(p[:1]) + p[1:])
	}
	return sb.String()
}

// Summary is a one-line account of a run for stderr.
func Summary(res *Result) string {
	counts := res.Counts()
	var parts []string
	ids := RuleIDs()
	sort.Strings(ids)
	for _, id := range ids {
		if counts[id] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", id, counts[id]))
		}
	}
	s := fmt.Sprintf("rko lint: %d files, %d lines, %d findings (%d errors)", res.Files, res.Lines, len(res.Findings), res.Errors())
	if len(parts) > 0 {
		s += ": " + strings.Join(parts, ", ")
	}
	if res.Suppressed > 0 {
		s += fmt.Sprintf("; %d suppressed by rko-allow", res.Suppressed)
	}
	return s
}
