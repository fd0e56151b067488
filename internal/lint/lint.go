// Package lint checks Rust-for-Linux policy rules on Rust source, without
// a compiler: the files are parsed with tree-sitter's Rust grammar and the
// rules walk the syntax tree, so comments, strings, raw strings and doc
// tests never trigger a rule.
//
// The rule IDs (see Rules) are part of rko's interface: they appear in
// findings, in rko-allow comments and in .rko-lint.toml.
package lint

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
)

// Severity says how much a finding matters. Only SeverityError findings
// make rko lint exit 1.
type Severity int

// Severities, from least to most severe. SeverityOff disables a rule.
const (
	SeverityOff Severity = iota
	SeverityNote
	SeverityWarning
	SeverityError
)

var severityNames = []string{"off", "note", "warning", "error"}

// String returns the lower-case name used in config files and output.
func (s Severity) String() string {
	if int(s) < len(severityNames) {
		return severityNames[s]
	}
	return fmt.Sprintf("severity(%d)", int(s))
}

// ParseSeverity parses "error", "warning", "note" or "off".
func ParseSeverity(s string) (Severity, error) {
	for i, n := range severityNames {
		if n == s {
			return Severity(i), nil
		}
	}
	return 0, fmt.Errorf("invalid severity %q, want one of error, warning, note, off", s)
}

// MarshalText implements encoding.TextMarshaler.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Finding is one rule violation.
type Finding struct {
	// Rule is the rule ID, e.g. "panic-in-kernel".
	Rule string `json:"rule"`
	// Severity is the rule's severity after configuration.
	Severity Severity `json:"severity"`
	// Path is the file as named on the command line (joined with the
	// directory that was walked).
	Path string `json:"path"`
	// Line and Column are 1-based; Column counts bytes.
	Line   int `json:"line"`
	Column int `json:"column"`
	// EndLine and EndColumn end the flagged span (exclusive column).
	EndLine   int `json:"end_line"`
	EndColumn int `json:"end_column"`
	// Message says what is wrong in one sentence.
	Message string `json:"message"`
	// Source is the text of the line the finding starts on.
	Source string `json:"source"`

	stmtLine int // the first line of the statement holding the token, for rko-allow comments; 0: Line
}

// Options are the inputs of Run.
type Options struct {
	// Paths are files or directories to lint; empty means ".".
	Paths []string
	// Jobs is the number of files linted in parallel; 0 means GOMAXPROCS.
	Jobs int
	// Config, when set, replaces the .rko-lint.toml lookup for every file.
	Config *Config
}

// FileError is a file that could not be read or parsed.
type FileError struct {
	// Path is the file.
	Path string
	// Err is why it could not be linted.
	Err error
}

// Error names the file and the cause.
func (e *FileError) Error() string { return fmt.Sprintf("%s: %v", e.Path, e.Err) }

// Unwrap returns the cause.
func (e *FileError) Unwrap() error { return e.Err }

// Result is the outcome of Run.
type Result struct {
	// Findings are sorted by path, line, column and rule.
	Findings []Finding
	// Files is the number of .rs files linted.
	Files int
	// Lines is the number of source lines linted.
	Lines int
	// PartialParses lists files where tree-sitter recovered from a syntax
	// error; they were linted on the partial tree.
	PartialParses []string
	// Suppressed counts findings silenced by rko-allow comments.
	Suppressed int
}

// Errors counts findings at SeverityError.
func (r *Result) Errors() int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == SeverityError {
			n++
		}
	}
	return n
}

// Counts returns the number of findings per rule ID (every rule present,
// zero included).
func (r *Result) Counts() map[string]int {
	m := map[string]int{}
	for _, rl := range Rules {
		m[rl.ID] = 0
	}
	for _, f := range r.Findings {
		m[f.Rule]++
	}
	return m
}

// Run lints every .rs file under opts.Paths. It returns an error when it
// could not run: a missing path, a bad config file, a file that cannot be
// read, or a parser that cannot start. Findings are not errors.
func Run(ctx context.Context, opts Options) (*Result, error) {
	paths := opts.Paths
	if len(paths) == 0 {
		paths = []string{"."}
	}
	cfgs := newConfigCache(opts.Config)
	var files []target
	for _, p := range paths {
		fs, err := collect(p, cfgs)
		if err != nil {
			return nil, err
		}
		files = append(files, fs...)
	}
	jobs := opts.Jobs
	if jobs <= 0 {
		jobs = runtime.GOMAXPROCS(0)
	}

	// Phase 1: parse every file in parallel.
	parsed := make([]*File, len(files))
	errs := make([]error, len(files))
	parallel(ctx, len(files), jobs, func(i int) {
		src, err := os.ReadFile(files[i].path)
		if err != nil {
			errs[i] = &FileError{files[i].path, err}
			return
		}
		f, err := Parse(files[i].path, src)
		if err != nil {
			errs[i] = &FileError{files[i].path, err}
			return
		}
		parsed[i] = f
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}

	// Phase 2: facts that cross files (which field names are spinlocks).
	facts := gatherLockFacts(files, parsed)
	inherited := inheritedAttrs(files, parsed)

	// Phase 3: rules, in parallel.
	per := make([][]Finding, len(files))
	supp := make([]int, len(files))
	parallel(ctx, len(files), jobs, func(i int) {
		per[i], supp[i] = lintFile(parsed[i], files[i], facts, inherited[files[i].abs])
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res := &Result{Files: len(files)}
	for i := range files {
		res.Findings = append(res.Findings, per[i]...)
		res.Suppressed += supp[i]
		res.Lines += parsed[i].NumLines()
		if parsed[i].HasError {
			res.PartialParses = append(res.PartialParses, files[i].path)
		}
	}
	sort.SliceStable(res.Findings, func(i, j int) bool {
		a, b := res.Findings[i], res.Findings[j]
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Column != b.Column {
			return a.Column < b.Column
		}
		return a.Rule < b.Rule
	})
	return res, nil
}

func parallel(ctx context.Context, n, jobs int, fn func(int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < jobs; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				fn(i)
			}
		}()
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}

// target is one file to lint, with the configuration that applies to it.
type target struct {
	path  string // as it will be printed
	abs   string // absolute, cleaned
	cfg   *resolved
	group string // the module it belongs to (findModuleGroup)
}

// collect expands p into the .rs files under it.
func collect(p string, cfgs *configCache) ([]target, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("lint path %q: %w", p, err)
	}
	if !st.IsDir() {
		if !strings.HasSuffix(p, ".rs") {
			return nil, fmt.Errorf("lint path %q is not a .rs file or a directory", p)
		}
		// A file named on the command line is linted even when the
		// config excludes it: exclusion is for directory walks.
		t, _, err := makeTarget(p, cfgs)
		if err != nil {
			return nil, err
		}
		return []target{t}, nil
	}
	var out []target
	err = filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != p && (strings.HasPrefix(name, ".") || name == "target") {
				return filepath.SkipDir
			}
			abs, err := filepath.Abs(path)
			if err != nil {
				return err
			}
			c, err := cfgs.forDir(abs)
			if err != nil {
				return err
			}
			if path != p && c.excluded(abs) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".rs") || !d.Type().IsRegular() {
			return nil
		}
		t, skip, err := makeTarget(path, cfgs)
		if err != nil {
			return err
		}
		if !skip {
			out = append(out, t)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walk %s: %w", p, err)
	}
	return out, nil
}

func makeTarget(path string, cfgs *configCache) (target, bool, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return target{}, false, err
	}
	c, err := cfgs.forDir(filepath.Dir(abs))
	if err != nil {
		return target{}, false, err
	}
	return target{path: path, abs: abs, cfg: c, group: cfgs.moduleGroup(filepath.Dir(abs))}, c.excluded(abs), nil
}
