package results

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/rkodev/rko/internal/ktap"
)

// WriteJSON writes the document described in docs/results-schema.md.
func (r *Results) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteKTAP writes the raw KTAP lines found in the console.
func (r *Results) WriteKTAP(w io.Writer) error {
	for _, l := range r.KTAP {
		if _, err := io.WriteString(w, l+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// JUnit XML, in the form Jenkins, GitLab and GitHub test reporters read:
// <testsuites><testsuite><testcase><failure|error|skipped/>.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Error     *junitMessage `xml:"error,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes one <testsuite> per top-level KTAP suite (nested
// suites flattened into the classname) and, when there were crashes, a
// "crashes" suite with one failed case per crash report.
func (r *Results) WriteJUnit(w io.Writer) error {
	return writeJUnit(w, junitSuites{Name: "rko", Suites: r.junitSuites("")})
}

// JUnitRun is one run of a merged JUnit file (rko results merge): its
// name, its verdict, and its results when it booted.
type JUnitRun struct {
	Name    string
	Passed  bool
	Verdict string // passed, failed, error, refused, cancelled
	Reason  string
	Results *Results
}

// WriteJUnitRuns writes runs as one JUnit file: per run a suite NAME with
// one "verdict" case (failed, or an error when the run could not happen,
// skipped when it was refused or cancelled), then the run's own suites
// named "NAME: SUITE".
func WriteJUnitRuns(w io.Writer, runs []JUnitRun) error {
	doc := junitSuites{Name: "rko"}
	for _, r := range runs {
		js := junitSuite{Name: r.Name, Tests: 1}
		c := junitCase{Name: "verdict", Classname: r.Name}
		msg := clean(r.Verdict + ": " + r.Reason)
		switch {
		case r.Passed:
		case r.Verdict == "refused" || r.Verdict == "cancelled":
			c.Skipped = &junitMessage{Message: msg}
			js.Skipped++
		case r.Verdict == "error":
			c.Error = &junitMessage{Message: msg, Type: r.Verdict}
			js.Errors++
		default:
			c.Failure = &junitMessage{Message: msg, Type: r.Verdict}
			js.Failures++
		}
		js.Cases = append(js.Cases, c)
		doc.Suites = append(doc.Suites, js)
		if r.Results != nil {
			doc.Suites = append(doc.Suites, r.Results.junitSuites(r.Name+": ")...)
		}
	}
	return writeJUnit(w, doc)
}

// junitSuites are r's suites, their names prefixed.
func (r *Results) junitSuites(prefix string) []junitSuite {
	var suites []junitSuite
	for _, s := range r.Tests.Suites {
		js := junitSuite{Name: prefix + testName(s)}
		add := func(path []string, t *ktap.Test) {
			cls := testName(s)
			if len(path) > 0 {
				cls = strings.Join(path, ".")
			}
			c := junitCase{Name: testName(t), Classname: cls}
			log := clean(strings.Join(t.Log, "\n"))
			switch t.Status {
			case ktap.Passed:
			case ktap.Skipped:
				c.Skipped = &junitMessage{Message: clean(t.Reason)}
				js.Skipped++
			case ktap.Failed:
				c.Failure = &junitMessage{Message: "failed", Type: "failed", Text: log}
				js.Failures++
			case ktap.NoTests:
				c.Skipped = &junitMessage{Message: "no tests"}
				js.Skipped++
			default:
				c.Error = &junitMessage{Message: "crashed: no result line (the kernel crashed or the log was cut off)", Type: "crashed", Text: log}
				js.Errors++
			}
			js.Cases = append(js.Cases, c)
			js.Tests++
		}
		var walk func(parents []string, x *ktap.Test)
		walk = func(parents []string, x *ktap.Test) {
			if len(x.Subtests) == 0 || x.OwnFailure {
				// A leaf, or a suite that said "not ok" although its
				// tests passed (kunit.py counts that as one failure).
				add(parents, x)
			}
			for _, c := range x.Subtests {
				walk(append(parents[:len(parents):len(parents)], testName(x)), c)
			}
		}
		walk(nil, s)
		suites = append(suites, js)
	}
	if len(r.Crashes) > 0 {
		js := junitSuite{Name: prefix + "crashes"}
		for i, c := range r.Crashes {
			text := c.Report
			if c.Source != "" {
				text = "source: " + c.Source + "\n" + text
			}
			js.Cases = append(js.Cases, junitCase{
				Name:      fmt.Sprintf("%d: %s", i+1, clean(c.Title)),
				Classname: "crashes." + c.Type,
				Failure:   &junitMessage{Message: clean(c.Title), Type: c.Type, Text: clean(text)},
			})
			js.Tests++
			js.Failures++
		}
		suites = append(suites, js)
	}
	return suites
}

// writeJUnit writes doc with its totals.
func writeJUnit(w io.Writer, doc junitSuites) error {
	for _, s := range doc.Suites {
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		doc.Skipped += s.Skipped
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func testName(t *ktap.Test) string {
	if t.Name != "" {
		return t.Name
	}
	return fmt.Sprintf("#%d", t.Number)
}

// clean drops characters that XML 1.0 cannot carry (console logs hold
// control bytes and invalid UTF-8).
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return r
		case r < 0x20, r == 0xFFFD, r == 0xFFFE, r == 0xFFFF, r >= 0xD800 && r <= 0xDFFF:
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
}

const (
	red    = "\x1b[31m"
	green  = "\x1b[32m"
	yellow = "\x1b[33m"
	bold   = "\x1b[1m"
	reset  = "\x1b[0m"
)

// WriteText writes the human summary; color adds ANSI colours (callers
// pass true only for a terminal).
func (r *Results) WriteText(w io.Writer, color bool) error {
	paint := func(c, s string) string {
		if !color {
			return s
		}
		return c + s + reset
	}
	var b strings.Builder
	t := r.Tests
	if t.Found {
		line := fmt.Sprintf("tests: %d passed, %d failed, %d crashed, %d skipped (of %d)", t.Passed, t.Failed, t.Crashed, t.Skipped, t.Total)
		switch {
		case t.Failed > 0 || t.Crashed > 0:
			line = paint(red, line)
		case t.Passed > 0:
			line = paint(green, line)
		default:
			line = paint(yellow, line)
		}
		b.WriteString(line + "\n")
		for _, s := range t.Suites {
			var walk func(path string, x *ktap.Test)
			walk = func(path string, x *ktap.Test) {
				name := path + testName(x)
				if x.OwnFailure {
					fmt.Fprintf(&b, "  %s %s (the suite reported not ok)\n", paint(red, "FAIL "), name)
				}
				if len(x.Subtests) > 0 {
					for _, c := range x.Subtests {
						walk(name+".", c)
					}
					return
				}
				switch x.Status {
				case ktap.Failed:
					fmt.Fprintf(&b, "  %s %s\n", paint(red, "FAIL "), name)
					for _, l := range tail(x.Log, 5) {
						fmt.Fprintf(&b, "        %s\n", strings.TrimSpace(l))
					}
				case ktap.Crashed:
					fmt.Fprintf(&b, "  %s %s\n", paint(red, "CRASH"), name)
				case ktap.Skipped:
					reason := ""
					if x.Reason != "" {
						reason = " (" + x.Reason + ")"
					}
					fmt.Fprintf(&b, "  %s %s%s\n", paint(yellow, "SKIP "), name, reason)
				}
			}
			walk("", s)
		}
	} else {
		b.WriteString("tests: no KTAP output found\n")
	}
	if len(r.Crashes) == 0 {
		b.WriteString(paint(green, "crashes: none") + "\n")
	} else {
		b.WriteString(paint(red, fmt.Sprintf("crashes: %d", len(r.Crashes))) + "\n")
		// Reports with the same title and source (a leak in a loop, a
		// WARN hit on every call) are shown once, with their count; the
		// JSON keeps every one.
		same := map[string]int{}
		for _, c := range r.Crashes {
			same[c.Title+"\x00"+c.Source]++
		}
		shown := map[string]bool{}
		for i, c := range r.Crashes {
			key := c.Title + "\x00" + c.Source
			if shown[key] {
				continue
			}
			shown[key] = true
			title := c.Title
			if n := same[key]; n > 1 {
				title += fmt.Sprintf(" (%d reports)", n)
			}
			fmt.Fprintf(&b, "  %s %s\n", paint(bold, fmt.Sprintf("[%d]", i+1)), paint(red, title))
			where := "type " + c.Type
			if c.Source != "" {
				where += ", at " + c.Source
			}
			if c.Frame != "" {
				where += " (" + c.Frame
				if c.Module != "" {
					where += " [" + c.Module + "]"
				}
				where += ")"
			}
			lines := "console lines"
			if same[key] > 1 {
				lines = "first at console lines"
			}
			fmt.Fprintf(&b, "      %s; %s %d-%d\n", where, lines, c.StartLine, c.EndLine)
		}
	}
	for _, wmsg := range r.Warnings {
		fmt.Fprintf(&b, "%s %s\n", paint(yellow, "warning:"), wmsg)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func tail(s []string, n int) []string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
