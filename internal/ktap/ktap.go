// Package ktap parses KTAP (KUnit's test output, KTAP v1) and the older
// kernel TAP 13/14 output out of a console log into a tree of tests.
//
// The parsing rules follow the kernel's own tools/testing/kunit/kunit_parser.py
// closely, so that the counts agree with `kunit.py parse` (leaf tests:
// passed, failed, crashed, skipped; plus parse errors). A test whose result
// line never came (the kernel crashed or the log was cut off) counts as
// crashed, and so do its parents. Parse, unlike kunit.py, reads a whole
// console: every KTAP stream in it (the boot-time suites, then the suites of
// each loaded module), with printk timestamps and caller ids stripped.
package ktap

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/rkodev/rko/internal/console"
)

// Status is the verdict of one test.
type Status int

// The verdicts, as in kunit_parser.py's TestStatus.
const (
	// Crashed means the test's result line never came: the kernel crashed,
	// hung or the log ended while it ran. It is the status of a test
	// before its result line is seen.
	Crashed Status = iota
	// Passed means "ok".
	Passed
	// Failed means "not ok".
	Failed
	// Skipped means "ok ... # SKIP" (or "not ok ... # SKIP").
	Skipped
	// NoTests means a test with a header but no subtests.
	NoTests
	// ParseFailure means no KTAP output was found at all.
	ParseFailure
)

var statusNames = [...]string{"crashed", "passed", "failed", "skipped", "no_tests", "parse_failure"}

// String returns the lower-case name used in JSON ("passed", "failed",
// "crashed", "skipped", "no_tests", "parse_failure").
func (s Status) String() string {
	if s < 0 || int(s) >= len(statusNames) {
		return "status(" + strconv.Itoa(int(s)) + ")"
	}
	return statusNames[s]
}

// MarshalText makes a Status a JSON string.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads the names that MarshalText writes.
func (s *Status) UnmarshalText(b []byte) error {
	for i, n := range statusNames {
		if n == string(b) {
			*s = Status(i)
			return nil
		}
	}
	return &badStatusError{string(b)}
}

type badStatusError struct{ s string }

func (e *badStatusError) Error() string {
	return "unknown test status " + strconv.Quote(e.s) + ", want one of " + strings.Join(statusNames[:], ", ")
}

// OK reports whether the status counts as good: passed or skipped.
func (s Status) OK() bool { return s == Passed || s == Skipped }

// Counts are the numbers of leaf tests (tests without subtests) by
// verdict, plus the parse errors met on the way, as in kunit.py's
// "Ran N tests" line.
type Counts struct {
	Passed  int `json:"passed"`
	Failed  int `json:"failed"`
	Crashed int `json:"crashed"`
	Skipped int `json:"skipped"`
	Errors  int `json:"errors"`
}

// Total is the number of leaf tests that ran.
func (c Counts) Total() int {
	return satAdd(satAdd(c.Passed, c.Failed), satAdd(c.Crashed, c.Skipped))
}

func (c *Counts) add(o Counts) {
	c.Passed = satAdd(c.Passed, o.Passed)
	c.Failed = satAdd(c.Failed, o.Failed)
	c.Crashed = satAdd(c.Crashed, o.Crashed)
	c.Skipped = satAdd(c.Skipped, o.Skipped)
	c.Errors = satAdd(c.Errors, o.Errors)
}

// satAdd adds two non-negative counts, stopping at the largest int: a
// bogus plan ("1..9227000000000000000") counts its missing tests, and the
// sums must not wrap around to negative counts.
func satAdd(a, b int) int {
	const maxInt = int(^uint(0) >> 1)
	if b > maxInt-a {
		return maxInt
	}
	return a + b
}

// status aggregates counts into a verdict: crashes first, then failures.
func (c Counts) status() Status {
	switch {
	case c.Total() == 0:
		return NoTests
	case c.Crashed > 0:
		return Crashed
	case c.Failed > 0:
		return Failed
	case c.Passed > 0:
		return Passed
	}
	return Skipped
}

func (c *Counts) addStatus(s Status) {
	switch s {
	case Passed:
		c.Passed = satAdd(c.Passed, 1)
	case Failed:
		c.Failed = satAdd(c.Failed, 1)
	case Skipped:
		c.Skipped = satAdd(c.Skipped, 1)
	case NoTests:
	default:
		c.Crashed = satAdd(c.Crashed, 1)
	}
}

// Test is one test or suite. The root returned by Parse is named "main"
// and holds the top-level suites as Subtests.
type Test struct {
	// Name is the test's name from its result line or "# Subtest:" header.
	Name string `json:"name"`
	// Number is the test's position in its parent's plan (1-based).
	Number int `json:"number,omitempty"`
	// Status is the verdict.
	Status Status `json:"status"`
	// Directive is "SKIP" or "TODO" when the result line carried one.
	Directive string `json:"directive,omitempty"`
	// Reason is the text after the directive.
	Reason string `json:"reason,omitempty"`
	// Attributes are KTAP test attributes ("# module: x", "# speed: slow").
	Attributes map[string]string `json:"attributes,omitempty"`
	// Line is the 1-based line of the console where the test's result (or,
	// without one, its header) was found; 0 if neither was.
	Line int `json:"line,omitempty"`
	// Expected is the plan's count of subtests, or -1 without a plan.
	Expected int `json:"-"`
	// Counts are the leaf-test counts of this test and everything under it.
	Counts Counts `json:"counts"`
	// Log holds the diagnostic lines that came with the test (before its
	// result line), at most MaxLog of them.
	Log []string `json:"log,omitempty"`
	// Errors are the parse errors found in this test (not its subtests).
	Errors []string `json:"errors,omitempty"`
	// Subtests are the test's children in order.
	Subtests []*Test `json:"subtests,omitempty"`
	// OwnFailure is set on a suite that said "not ok" although none of its
	// tests failed; kunit.py counts that as one failure of the suite.
	OwnFailure bool `json:"-"`
}

// MaxLog bounds Test.Log so that a huge console does not end up in memory
// twice; later lines are dropped and counted in a final "... N more" line.
const MaxLog = 200

// maxMissing bounds the placeholder tests made for a plan's missing tests.
const maxMissing = 1000

func newTest() *Test { return &Test{Status: Crashed, Expected: 0} }

func (t *Test) addError(msg string) {
	t.Counts.Errors = satAdd(t.Counts.Errors, 1)
	t.Errors = append(t.Errors, msg)
}

func (t *Test) addLog(lines []string) {
	for _, l := range lines {
		if len(t.Log) < MaxLog {
			t.Log = append(t.Log, l)
		}
	}
}

// Options changes how Parse reads a log.
type Options struct {
	// Compat reads the log exactly as kunit.py does: only the first KTAP
	// stream, a fixed-width prefix taken from its version line, stopping at
	// "List of all partitions:" and the like. Without it, Parse reads every
	// stream of a console and strips printk prefixes line by line.
	Compat bool
}

// line is one extracted KTAP line with its 1-based number in the input.
type line struct {
	num  int
	text string
}

type stream struct {
	lines []line
	pos   int
}

func (s *stream) more() bool { return s.pos < len(s.lines) }

func (s *stream) peek() string {
	if s.pos < len(s.lines) {
		return s.lines[s.pos].text
	}
	return ""
}

func (s *stream) num() int {
	if s.pos < len(s.lines) {
		return s.lines[s.pos].num
	}
	return 0
}

func (s *stream) pop() string {
	t := s.peek()
	if s.pos < len(s.lines) {
		s.pos++
	}
	return t
}

// Parse reads a console log and returns the root test, named "main".
// It never fails: a log without KTAP gives a root with status ParseFailure
// and one error.
func Parse(log []byte, opts Options) *Test {
	root, _ := parse(string(log), opts)
	return root
}

// ParseConsole reads a console in console mode and returns the root test
// and the raw KTAP lines (as Extract), reading the console once.
func ParseConsole(console string) (*Test, []string) {
	return parse(console, Options{})
}

func parse(log string, opts Options) (*Test, []string) {
	lines := extract(log, opts.Compat)
	var raw []string
	for _, l := range lines {
		if !isDiagnostic(l.text) || strings.HasPrefix(lstrip(l.text), "#") {
			raw = append(raw, l.text)
		}
	}
	s := &stream{lines: lines}
	if !s.more() {
		t := newTest()
		t.Name = "<missing>"
		t.addError("could not find any KTAP output")
		t.Status = ParseFailure
		return t, raw
	}
	root := parseTest(s, 0, nil, false)
	if !opts.Compat {
		for s.more() {
			// A document starts with its version line. Result lines
			// without one are not a new stream: a late console flush
			// printing the tail of a finished document again (seen on a
			// 7.3 boot), or lines a crash interleaved.
			if l := s.peek(); !isKTAPStart(l) && !isTAPStart(l) {
				s.pop()
				continue
			}
			start := s.pos
			next := parseTest(s, 0, nil, false)
			if s.pos == start {
				s.pop()
				continue
			}
			if len(next.Subtests) == 0 {
				continue // trailing console lines, not another stream
			}
			root.Subtests = append(root.Subtests, next.Subtests...)
			root.Counts.add(next.Counts)
			root.Errors = append(root.Errors, next.Errors...)
			root.addLog(next.Log)
			if root.Expected >= 0 && next.Expected >= 0 {
				root.Expected += next.Expected
			} else {
				root.Expected = -1
			}
		}
	}
	if root.Status != NoTests || len(root.Subtests) > 0 {
		root.Status = root.Counts.status()
	}
	return root, raw
}

// Extract returns the KTAP lines of a console, printk prefixes stripped:
// version lines, plans, headers, results and "#" diagnostics; other
// console lines between them are left out.
func Extract(log []byte) []string {
	_, raw := parse(string(log), Options{})
	return raw
}

// Leaves calls fn for every leaf test under t in order, with the names of
// its parents (not including the root "main").
func (t *Test) Leaves(fn func(path []string, leaf *Test)) {
	var walk func(path []string, x *Test)
	walk = func(path []string, x *Test) {
		if len(x.Subtests) == 0 {
			fn(path, x)
			return
		}
		for _, c := range x.Subtests {
			walk(append(path[:len(path):len(path)], x.Name), c)
		}
	}
	for _, c := range t.Subtests {
		walk(nil, c)
	}
}

// --- line extraction ---

var (
	ktapEndMarkers = []string{"List of all partitions:", "Kernel panic - not syncing: VFS:", "reboot: System halted"}
)

// versionAt returns the index in l where a "KTAP version N" or "TAP
// version N" that ends the line starts, and which of the two it is.
func versionAt(l string) (idx int, ktap bool) {
	i := strings.Index(l, "TAP version ")
	if i < 0 {
		return -1, false
	}
	for {
		rest := l[i+len("TAP version "):]
		if rest != "" && console.Digits(rest) {
			if i > 0 && l[i-1] == 'K' {
				return i - 1, true
			}
			return i, false
		}
		j := strings.Index(l[i+1:], "TAP version ")
		if j < 0 {
			return -1, false
		}
		i += 1 + j
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func rstrip(s string) string {
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func lstrip(s string) string {
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	return s
}

func executorError(l string) bool { return strings.Contains(l, "kunit executor: ") }

// extract isolates the KTAP lines of a log, as kunit_parser.py's
// extract_tap_lines does (Compat), or line by line for a console.
func extract(log string, compat bool) []line {
	var out []line
	started := false
	prefixLen := 0
	prefix := ""
	num := 0
	for len(log) > 0 {
		var l string
		if i := strings.IndexByte(log, '\n'); i >= 0 {
			l, log = log[:i], log[i+1:]
		} else {
			l, log = log, ""
		}
		num++
		l = rstrip(l)
		if compat {
			if !started {
				if i, _ := versionAt(l); i >= 0 {
					prefixLen = i
					started = true
					out = append(out, line{num, l[i:]})
				} else if executorError(l) {
					out = append(out, line{num, l})
				}
				continue
			}
			if ktapEnd(l) {
				break
			}
			if len(l) > prefixLen {
				out = append(out, line{num, l[prefixLen:]})
			} else {
				out = append(out, line{num, ""})
			}
			continue
		}
		s := console.StripPrefix(l)
		if !started {
			if i, _ := versionAt(s); i >= 0 {
				prefix = s[:i]
				if strings.TrimLeft(prefix, " \t") == "" {
					prefix = ""
				}
				started = true
				out = append(out, line{num, s[i:]})
			} else if executorError(s) {
				out = append(out, line{num, s})
			}
			continue
		}
		if prefix != "" {
			s = strings.TrimPrefix(s, prefix)
		}
		out = append(out, line{num, s})
	}
	return out
}

func ktapEnd(l string) bool {
	for _, m := range ktapEndMarkers {
		if strings.Contains(l, m) {
			return true
		}
	}
	return false
}

// --- line kinds; each guarded by a cheap check before any regexp ---

var (
	reKTAPStart = regexp.MustCompile(`^\s*KTAP version ([0-9]+)$`)
	reTAPStart  = regexp.MustCompile(`^\s*TAP version ([0-9]+)$`)
	reHeader    = regexp.MustCompile(`^\s*# Subtest: (.*)$`)
	rePlan      = regexp.MustCompile(`^\s*1\.\.([0-9]+)`)
	reResult    = regexp.MustCompile(`^\s*(ok|not ok) ([0-9]+) ?(:?- )?([^#]*)( # .*)?$`)
	reSkip      = regexp.MustCompile(`^\s*(ok|not ok) ([0-9]+) ?(:?- )?(.*) # SKIP ?(.*)$`)
	reTodo      = regexp.MustCompile(`^\s*(ok|not ok) ([0-9]+) ?(:?- )?(.*) # TODO ?(.*)$`)
	reAttr      = regexp.MustCompile(`^\s*# (?:[^ :]+\.)?(speed|module|is_init): (.*)$`)
)

func maybeResult(l string) bool {
	t := lstrip(l)
	return strings.HasPrefix(t, "ok ") || strings.HasPrefix(t, "not ok ")
}

func matchResult(l string) []string {
	if !maybeResult(l) {
		return nil
	}
	return reResult.FindStringSubmatch(l)
}

func isKTAPStart(l string) bool {
	t := lstrip(l)
	return strings.HasPrefix(t, "KTAP version ") && reKTAPStart.MatchString(l)
}

func isTAPStart(l string) bool {
	t := lstrip(l)
	return strings.HasPrefix(t, "TAP version ") && reTAPStart.MatchString(l)
}

func matchHeader(l string) []string {
	t := lstrip(l)
	if !strings.HasPrefix(t, "# Subtest: ") {
		return nil
	}
	return reHeader.FindStringSubmatch(l)
}

func matchPlan(l string) []string {
	t := lstrip(l)
	if !strings.HasPrefix(t, "1..") {
		return nil
	}
	return rePlan.FindStringSubmatch(l)
}

// isDiagnostic is the negation of kunit.py's non_diagnostic_lines.
func isDiagnostic(l string) bool {
	t := lstrip(l)
	if t == "" {
		return true
	}
	switch t[0] {
	case 'o', 'n':
		return matchResult(l) == nil
	case '#':
		return matchHeader(l) == nil
	case 'K':
		return !isKTAPStart(l)
	case 'T':
		return !isTAPStart(l)
	case '1':
		return matchPlan(l) == nil
	}
	return true
}

func parseDiagnostic(s *stream) []string {
	var log []string
	for s.more() && isDiagnostic(s.peek()) {
		if len(log) < MaxLog {
			log = append(log, s.peek())
		}
		s.pop()
	}
	return log
}

func parseKTAPHeader(s *stream, t *Test) bool {
	l := s.peek()
	if !s.more() {
		return false
	}
	var v int
	var ok bool
	if isKTAPStart(l) {
		v, _ = strconv.Atoi(reKTAPStart.FindStringSubmatch(l)[1])
		ok = true
		checkVersion(t, v, 1, 1, "KTAP")
	} else if isTAPStart(l) {
		v, _ = strconv.Atoi(reTAPStart.FindStringSubmatch(l)[1])
		ok = true
		checkVersion(t, v, 13, 14, "TAP")
	}
	if ok {
		s.pop()
	}
	return ok
}

func checkVersion(t *Test, v, lo, hi int, kind string) {
	if v < lo {
		t.addError(kind + " version lower than expected: " + strconv.Itoa(v))
	} else if v > hi {
		t.addError(kind + " version higher than expected: " + strconv.Itoa(v))
	}
}

func parseTestHeader(s *stream, t *Test) bool {
	if !s.more() {
		return false
	}
	m := matchHeader(s.peek())
	if m == nil {
		return false
	}
	t.Name = m[1]
	if t.Line == 0 {
		t.Line = s.num()
	}
	s.pop()
	return true
}

func parseTestPlan(s *stream, t *Test) bool {
	var m []string
	if s.more() {
		m = matchPlan(s.peek())
	}
	if m == nil {
		t.Expected = -1
		return false
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		n = int(^uint(0) >> 1)
	}
	t.Expected = n
	s.pop()
	return true
}

func peekTestNameMatch(s *stream, t *Test) bool {
	if !s.more() {
		return false
	}
	m := matchResult(s.peek())
	if m == nil || m[4] == "" {
		return false
	}
	return m[4] == t.Name
}

func parseTestResult(s *stream, t *Test, expectedNum int) bool {
	if !s.more() {
		return false
	}
	l := s.peek()
	m := matchResult(l)
	if m == nil {
		return false
	}
	t.Line = s.num()
	s.pop()
	skip := reSkip.FindStringSubmatch(l)
	if skip != nil {
		t.Name = skip[4]
	} else {
		t.Name = m[4]
	}
	num, err := strconv.Atoi(m[2])
	if err != nil || num != expectedNum {
		t.addError("expected test number " + strconv.Itoa(expectedNum) + " but found " + m[2])
	}
	switch {
	case skip != nil:
		t.Status = Skipped
		t.Directive = "SKIP"
		t.Reason = skip[5]
	case m[1] == "ok":
		t.Status = Passed
	default:
		t.Status = Failed
	}
	if skip == nil && strings.HasPrefix(m[5], " # TODO") {
		if todo := reTodo.FindStringSubmatch(l); todo != nil {
			t.Directive = "TODO"
			t.Reason = todo[5]
		}
	}
	return true
}

func bubbleUp(t *Test) {
	status := t.Status
	for _, c := range t.Subtests {
		t.Counts.add(c.Counts)
	}
	if t.Counts.Total() == 0 {
		t.Counts.addStatus(status)
	} else if t.Counts.status() == Crashed {
		t.Status = Crashed
	}
	if status == Failed && t.Counts.status() == Passed {
		t.Counts.addStatus(status)
	}
	sub := 0
	for _, c := range t.Subtests {
		sub += c.Counts.Failed
	}
	t.OwnFailure = len(t.Subtests) > 0 && t.Counts.Failed > sub
}

// attributes moves KTAP attribute lines of t's log into t.Attributes.
func attributes(t *Test) {
	for _, l := range t.Log {
		if !strings.Contains(l, ": ") {
			continue
		}
		if m := reAttr.FindStringSubmatch(l); m != nil {
			if t.Attributes == nil {
				t.Attributes = map[string]string{}
			}
			t.Attributes[m[1]] = m[2]
		}
	}
}

// parseTest is kunit_parser.py's parse_test.
func parseTest(s *stream, expectedNum int, log []string, isSubtest bool) *Test {
	t := newTest()
	t.Number = expectedNum
	t.addLog(log)
	t.addLog(parseDiagnostic(s))
	var parent bool
	if !isSubtest {
		t.Name = "main"
		parseKTAPHeader(s, t)
		t.addLog(parseDiagnostic(s))
		parseTestPlan(s, t)
		parent = true
	} else {
		ktapLine := parseKTAPHeader(s, t)
		subLine := parseTestHeader(s, t)
		t.addLog(parseDiagnostic(s))
		parseTestPlan(s, t)
		parent = ktapLine || subLine
	}
	expected := t.Expected
	num := 1
	for parent && (expected < 0 || num <= expected) {
		subLog := parseDiagnostic(s)
		var sub *Test
		if !s.more() || (isSubtest && peekTestNameMatch(s, t)) {
			if expected > 0 && num <= expected {
				// The rest of the plan never ran: each missing test
				// counts as crashed with one error, as in kunit.py, but
				// at most maxMissing placeholders are kept so that a
				// bogus plan ("1..99999999999") cannot exhaust memory.
				missing := expected - num + 1
				t.Counts.Crashed = satAdd(t.Counts.Crashed, missing)
				t.Counts.Errors = satAdd(t.Counts.Errors, missing)
				t.Errors = append(t.Errors, "missing expected subtest(s): "+strconv.Itoa(missing))
				for i := 0; i < min(missing, maxMissing); i++ {
					sub = newTest()
					sub.Number = num + i
					if i == 0 {
						sub.addLog(subLog)
					}
					t.Subtests = append(t.Subtests, sub)
				}
				break
			} else {
				t.addLog(subLog)
				break
			}
		} else {
			sub = parseTest(s, num, subLog, true)
		}
		t.Subtests = append(t.Subtests, sub)
		num++
	}
	if isSubtest {
		t.addLog(parseDiagnostic(s))
		switch {
		case t.Name != "" && !peekTestNameMatch(s, t):
			t.addError("missing subtest result line")
		case !s.more():
			t.Status = NoTests
			t.addError("no more test results")
		default:
			parseTestResult(s, t, expectedNum)
		}
	}
	if parent && len(t.Subtests) == 0 {
		if t.Status == Crashed || t.Status == Passed {
			t.Status = NoTests
			t.addError("0 tests run")
		}
	}
	attributes(t)
	bubbleUp(t)
	return t
}
