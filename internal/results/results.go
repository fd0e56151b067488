// Package results turns a console log into the results of a run: the
// KUnit/KTAP test verdicts and the crash reports, with module frames
// resolved to source lines. It writes them as JSON (docs/results-schema.md),
// JUnit XML and a human summary. It knows nothing about guest steps; rko
// test adds those in its own document around this one.
package results

import (
	"context"
	"path/filepath"
	"strings"

	"github.com/rkodev/rko/internal/guest"
	"github.com/rkodev/rko/internal/ktap"
	"github.com/rkodev/rko/internal/report"
	"github.com/rkodev/rko/internal/symbolize"
)

// SchemaVersion is the version of the JSON document; it changes when a
// field changes meaning or goes away (adding fields does not change it).
const SchemaVersion = 1

// Options tunes FromConsole.
type Options struct {
	// Modules are the modules under test, for symbolization and for
	// naming which crashes are in them.
	Modules []symbolize.Module
	// Symbolizer resolves module frames; nil means symbolize.New(Modules).
	// Symbolization is skipped when no module has a KoPath.
	Symbolizer *symbolize.Symbolizer
	// Context bounds the symbolizer's tool runs; nil means Background.
	Context context.Context
	// TestsFrom is the byte offset in the console where the tests to count
	// begin: rko test counts only the suites that ran after its guest init
	// started (the modules'), not the kernel's built-in ones before it.
	// Crash reports are read from the whole console.
	TestsFrom int
	// Token is the boot's frame token (proto.Plan.Token): module-load
	// frames without its signature are console text. "" reads every frame.
	Token string
}

// Results is the document of `rko test` and `rko triage`.
type Results struct {
	// Schema is SchemaVersion.
	Schema int `json:"schema"`
	// Tests are the KUnit/KTAP results.
	Tests Tests `json:"tests"`
	// Crashes are the crash reports in console order; the first is the
	// primary one.
	Crashes []Crash `json:"crashes"`
	// KTAP is the raw KTAP found in the console.
	KTAP []string `json:"-"`
	// Warnings are problems met while building the results (a module that
	// could not be symbolized), for the human summary.
	Warnings []string `json:"warnings,omitempty"`
	// Error says why there are no results, when the console could not be
	// read or was empty; the command then exits 2.
	Error string `json:"error,omitempty"`
}

// Failed is the document of a run that could not be triaged: no tests,
// no crashes, and the error, so that --json always prints a document.
func Failed(err error) *Results {
	return &Results{Schema: SchemaVersion, Tests: Tests{Suites: []*ktap.Test{}}, Crashes: []Crash{}, Error: err.Error()}
}

// Tests are the test counts and the tree of suites and tests.
type Tests struct {
	// Total is the number of leaf tests that ran (passed+failed+crashed+skipped).
	Total   int `json:"total"`
	Passed  int `json:"passed"`
	Failed  int `json:"failed"`
	Crashed int `json:"crashed"`
	Skipped int `json:"skipped"`
	// Errors counts KTAP parse errors (a missing plan, a missing result);
	// they do not make a run fail on their own.
	Errors int `json:"errors"`
	// Found is false when the console held no KTAP at all.
	Found bool `json:"found"`
	// Suites is the per-test tree: top-level suites with their tests.
	Suites []*ktap.Test `json:"suites"`
}

// Crash is one crash report.
type Crash struct {
	// Type is the kind of report ("kasan", "null-deref", "rust-panic", ...;
	// see docs/results-schema.md).
	Type string `json:"type"`
	// Title is a stable one-line summary ("KASAN: slab-use-after-free Read
	// in ring_pop").
	Title string `json:"title"`
	// Frame is the guilty function, "" if none could be told.
	Frame string `json:"frame"`
	// Module is the module of the guilty frame, "" for the kernel image.
	Module string `json:"module,omitempty"`
	// Source is the "file:line" that caused the crash where known: the
	// symbolized guilty frame, or the first symbolized frame in a module
	// under test, or a Rust panic's own location, or the file:line that a
	// WARNING or UBSAN report names.
	Source string `json:"source,omitempty"`
	// Location is the file:line[:col] printed in the report itself.
	Location string `json:"location,omitempty"`
	// Message is a Rust panic's message or a kernel panic's reason.
	Message string `json:"message,omitempty"`
	// InModule is true when a frame of the stack is in a module under test.
	InModule bool `json:"in_module"`
	// Corrupted is true when the report lacks the stack trace it should have.
	Corrupted bool `json:"corrupted,omitempty"`
	// StartLine and EndLine are the report's 1-based console lines.
	StartLine int `json:"start_line"`
	EndLine   int `json:"end_line"`
	// Frames is the stack trace, symbolized where possible.
	Frames []report.Frame `json:"frames,omitempty"`
	// Report is the report's console text, prefixes stripped.
	Report string `json:"report"`
}

// FromConsole builds Results from a console log (raw bytes; @@rko frames
// and printk prefixes are fine).
func FromConsole(console []byte, opts Options) *Results {
	r := &Results{Schema: SchemaVersion, Crashes: []Crash{}}
	text := string(console) // one copy, shared by both parsers
	ctx := opts.Context
	if ctx == nil {
		ctx = context.Background()
	}
	var sym *symbolize.Symbolizer
	if hasKo(opts.Modules) {
		sym = symbolize.New(opts.Modules)
	}
	from := opts.TestsFrom
	if from < 0 || from > len(text) {
		from = 0
	}
	root, raw := ktap.ParseConsole(text[from:])
	r.Tests = Tests{
		Passed: root.Counts.Passed, Failed: root.Counts.Failed, Crashed: root.Counts.Crashed,
		Skipped: root.Counts.Skipped, Errors: root.Counts.Errors, Total: root.Counts.Total(),
		Found: root.Status != ktap.ParseFailure, Suites: root.Subtests,
	}
	if r.Tests.Suites == nil {
		r.Tests.Suites = []*ktap.Test{}
	}
	if !r.Tests.Found {
		r.Tests.Errors = 0
	}
	r.KTAP = raw

	ours := map[string]symbolize.Module{}
	for _, m := range opts.Modules {
		ours[m.Name] = m
		ours[strings.ReplaceAll(m.Name, "-", "_")] = m
	}
	var loads []symbolize.Load
	if sym != nil {
		for _, l := range guest.ModuleLoadsFor(text, opts.Token) {
			loads = append(loads, symbolize.Load{Module: l.Module, PID: l.PID, Sections: l.Sections})
		}
	}
	warned := map[string]bool{}
	for _, rep := range report.ParseString(text) {
		if len(loads) > 0 {
			nameUnloaded(rep, sym, loads)
		}
		c := Crash{
			Type: string(rep.Type), Title: rep.Title, Frame: rep.Frame, Module: rep.Module,
			Location: rep.Location, Message: rep.Message, Corrupted: rep.Corrupted,
			StartLine: rep.StartLine, EndLine: rep.EndLine, Frames: rep.Frames, Report: rep.Text,
		}
		own := map[int]string{} // frame -> innermost line in the module's own source
		for i := range c.Frames {
			f := &c.Frames[i]
			if _, ok := ours[f.Module]; ok {
				c.InModule = true
			}
			if sym == nil || f.Module == "" || !sym.Has(f.Module) {
				continue
			}
			name := f.Symbol
			if name == "" {
				name = f.Func
			}
			locs, err := sym.Resolve(ctx, f.Module, name, f.Offset, f.IP)
			if err != nil {
				if msg := err.Error(); !warned[msg] {
					warned[msg] = true
					r.Warnings = append(r.Warnings, "symbolize: "+msg)
				}
				continue
			}
			if len(locs) > 0 {
				f.Source = locs[0].String()
				for _, l := range locs[1:] {
					f.Inlined = append(f.Inlined, l.Func+" "+l.String())
				}
				own[i] = ownLocation(locs)
			}
		}
		c.Source = source(rep, own, ours)
		r.Crashes = append(r.Crashes, c)
	}
	return r
}

// nameUnloaded names the frames of rep that the kernel printed as bare
// addresses, because the module was gone by then (kmemleak prints the
// backtraces it saved at allocation time after the scan), from where the
// guest saw each module loaded (its "module" frames) and the .ko's
// symbols, as the kernel would have named them for the live module. The
// pid the report names tells apart modules loaded at a reused address.
func nameUnloaded(rep *report.Report, sym *symbolize.Symbolizer, loads []symbolize.Load) {
	rep.NameFrames(func(f *report.Frame) bool {
		p, ok := sym.Locate(f.Addr, loads, rep.PID)
		if !ok {
			return false
		}
		f.Func, f.Symbol = report.Demangle(p.Symbol)
		f.Offset, f.Size, f.Module = p.Offset, p.Size, p.Module
		return true
	})
}

func hasKo(ms []symbolize.Module) bool {
	for _, m := range ms {
		if m.KoPath != "" {
			return true
		}
	}
	return false
}

// source picks the line to blame, in order: a Rust panic's own location,
// the symbolized guilty frame, the first symbolized frame in a module
// under test, the report's own file:line.
//
// For a frame with inlined code (a Rust module's frame is often
// KBox::new or a lock guard inlined into the module's function), the
// innermost line in the module's own source is blamed rather than the
// kernel crate's line it called.
func source(rep *report.Report, own map[int]string, ours map[string]symbolize.Module) string {
	if rep.Type == report.RustPanic && rep.Location != "" {
		return relLocation(rep.Location, ours)
	}
	at := func(i int) string {
		if loc := own[i]; loc != "" {
			return loc
		}
		return rep.Frames[i].Source
	}
	if g := rep.Guilty(); g != nil && g.Source != "" {
		return at(rep.GuiltyIndex)
	}
	for i, f := range rep.Frames {
		if _, ok := ours[f.Module]; ok && f.Source != "" {
			return at(i)
		}
	}
	return relLocation(rep.Location, ours)
}

// ownLocation is the innermost of locs inside the module's source
// directory (the symbolizer shows those relative to it), or "".
func ownLocation(locs []symbolize.Location) string {
	for _, l := range locs {
		if l.File != "" && !filepath.IsAbs(l.File) {
			return l.String()
		}
	}
	return ""
}

// relLocation shows an absolute path inside a module's source dir
// relative to it.
func relLocation(loc string, ours map[string]symbolize.Module) string {
	for _, m := range ours {
		if rel := symbolize.Relative(loc, m.SourceDir); rel != loc {
			return rel
		}
	}
	return loc
}

// OK reports whether the run is clean: no failed or crashed test and no
// crash report.
func (r *Results) OK() bool {
	return r.Tests.Failed == 0 && r.Tests.Crashed == 0 && len(r.Crashes) == 0
}
