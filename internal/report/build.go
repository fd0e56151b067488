package report

import (
	"strconv"
	"strings"
)

// build turns the lines of one report into a Report: the format, the
// frames, the guilty frame, the title, the location.
func build(p *pending, c *parseMemo) *Report {
	if len(p.lines) == 0 {
		return &Report{Type: p.typ(), GuiltyIndex: -1}
	}
	// The same report again (a WARNING in a loop): the same verdict, at
	// its own lines.
	n := 0
	for _, l := range p.lines {
		n += len(l.text) + 1
	}
	var sb strings.Builder
	sb.Grow(n)
	for _, l := range p.lines {
		sb.WriteString(l.text)
		sb.WriteByte('\n')
	}
	text := sb.String()
	if prev, ok := c.reports[memoKey{p.fam, text}]; ok {
		r := *prev
		r.StartLine, r.EndLine = p.lines[0].num, p.lines[len(p.lines)-1].num
		r.headerLine = r.StartLine + prev.headerLine - prev.StartLine
		r.Frames = append([]Frame(nil), prev.Frames...) // NameFrames edits them
		return &r
	}
	r := buildNew(p, c, text)
	if len(c.reports) < maxSkipCache {
		saved := *r
		saved.Frames = append([]Frame(nil), r.Frames...)
		c.reports[memoKey{p.fam, text}] = &saved
	}
	return r
}

// buildNew is build for a report not seen before in this console.
func buildNew(p *pending, c *parseMemo, all string) *Report {
	r := &Report{Type: p.typ(), GuiltyIndex: -1}
	if len(p.lines) == 0 {
		return r
	}
	r.StartLine = p.lines[0].num
	r.EndLine = p.lines[len(p.lines)-1].num
	lines := make([]string, len(p.lines))
	for i, l := range p.lines {
		lines[i] = l.text
	}
	r.Text = all
	hi := 0
	for hi < len(lines)-1 {
		if k, _ := classify(lines[hi]); k != kSeparator {
			break
		}
		hi++
	}
	for hi+1 < len(lines) && strings.HasSuffix(lines[hi], " [inline]") {
		if k, fam := classify(lines[hi+1]); k != kHeader || fam != p.fam {
			break
		}
		hi++
	}
	header := lines[hi]
	body := lines[hi+1:]
	r.headerLine = p.lines[hi].num
	off := hi
	for _, l := range lines[:hi] {
		off += len(l)
	}
	text := r.Text[off:] // the report from its header on

	sel := c.sel.get(memoKey{p.fam, text}, func() selection {
		f, groups, matched := selectFormat(p.fam, header, text)
		return selection{f, groups, matched}
	})
	f, groups, matched := sel.f, sel.groups, sel.matched
	r.fam, r.fmt, r.groups = p.fam, f, groups
	if f != nil {
		r.Type = f.typ
		fr := c.frames.get(memoKey{p.fam, text}, func() []Frame { return f.trace(lines[hi:]) })
		r.Frames = append([]Frame(nil), fr...) // NameFrames edits them
		if f.where != nil {
			f.where(r, header, body)
		}
		r.Corrupted = f.corrupted || !f.noStack && len(r.Frames) == 0
	} else {
		r.Type = p.fam.typ
		// A header of a family that no format knows: syzkaller titles it
		// with the header line; a format's title that matched but not its
		// report regexp means a damaged report.
		r.Corrupted = matched
		r.Frames = (&format{}).frames(lines[hi:], callStack)
	}
	if p.fam.kind == kPanic {
		r.Message, _ = panicReason(header)
	}
	if r.Type == Kmemleak {
		r.PID = kmemleakPID(body)
	}
	r.header = header
	r.pick(c)
	return r
}

// memoKey is a family and a header or a report's text.
type memoKey struct {
	fam *family
	s   string
}

type selection struct {
	f       *format
	groups  []string
	matched bool
}

// selectFormat picks the first format of fam whose title matches the
// header and whose report regexp, if any, matches the text; it returns
// the groups for the title template. matched says that some title
// matched.
func selectFormat(fam *family, header, text string) (*format, []string, bool) {
	matched := false
	for _, f := range fam.formats {
		m := f.title.FindStringSubmatch(header)
		if m == nil {
			continue
		}
		matched = true
		if f.report != nil {
			m = f.report.FindStringSubmatch(text)
			if m == nil {
				continue
			}
		}
		return f, m[1:], true
	}
	if !matched {
		// A header cut short and printed again ("INFO: t", "** replaying
		// previous printk message **", the whole line): the earliest title
		// in the report's text, as syzkaller matches titles.
		best, at := (*format)(nil), len(text)
		var groups []string
		for _, f := range fam.formats {
			m := f.title.FindStringSubmatchIndex(text)
			if m == nil || m[0] >= at {
				continue
			}
			g := make([]string, 0, len(m)/2)
			for i := 2; i+1 < len(m); i += 2 {
				if m[i] >= 0 {
					g = append(g, text[m[i]:m[i+1]])
				} else {
					g = append(g, "")
				}
			}
			if f.report != nil {
				rm := f.report.FindStringSubmatch(text)
				if rm == nil {
					continue
				}
				g = rm[1:]
			}
			best, at, groups = f, m[0], g
		}
		if best != nil {
			return best, groups, true
		}
	}
	return nil, nil, matched
}

// stackStart reports whether a line starts a stack trace (syzkaller's
// stackStartRes): parsing one stack trace stops there.
func stackStart(l string) bool {
	// Called on every line of a trace: most end in ")" or "]" and hold
	// no "Call " or "badaddr".
	t := strings.TrimRight(l, " \t")
	if t == "" {
		return false
	}
	if t[len(t)-1] != ':' {
		if i := strings.Index(t, "Call "); i >= 0 && (strings.HasPrefix(t[i+5:], "Trace") || strings.HasPrefix(t[i+5:], "trace")) {
			return true
		}
		// riscv64's show_regs() ends so, and the stack follows.
		return strings.Contains(t, " badaddr: ") && strings.Contains(t, "status: ") && strings.Contains(t, " cause: ")
	}
	switch {
	case strings.Contains(t, "Call Trace"), strings.Contains(t, "Call trace"), strings.HasSuffix(t, "Backtrace:"),
		strings.HasSuffix(t, "Allocated:"), strings.HasSuffix(t, "Freed:"), strings.Contains(t, "Uninit was stored to memory at"):
		return true
	case strings.Contains(t, "Allocated by task "), strings.Contains(t, "Freed by task "):
		return true
	case strings.Contains(t, " backtrace"):
		i := strings.Index(t, " backtrace")
		return i == 0 || t[i-1] != 'k'
	}
	return false
}

// trace is the stack trace the guilty frame is looked for in: the
// format's parts, else its second parts, else (rko) the RIP line and the
// call trace, the call trace alone or riscv64's stack when they hold a
// module's frame, so that a module's stall without a timer interrupt, or
// a UML panic without a RIP line, still names the module.
func (f *format) trace(lines []string) []Frame {
	if len(f.stack) == 0 {
		// The title comes from a regexp group or names no frame; the call
		// trace is still the report's, for symbolization and in_module.
		return f.frames(lines, callStack)
	}
	fr := f.frames(lines, f.stack)
	if !usable(fr, f.skipRe) && len(f.stack2) > 0 {
		fr = f.frames(lines, f.stack2)
	}
	if !usable(fr, f.skipRe) && len(f.stack) > 0 {
		for _, parts := range [][]part{ripStack, callStack, riscvStack} {
			if alt := f.frames(lines, parts); hasModuleFrame(alt) && usable(alt, f.skipRe) {
				fr = alt
				break
			}
		}
	}
	return fr
}

// hasModuleFrame reports whether a frame is in a module.
func hasModuleFrame(frames []Frame) bool {
	for _, f := range frames {
		if f.Module != "" {
			return true
		}
	}
	return false
}

// frames walks the parts over the report's lines (the header first) and
// returns the frames they offer, in order.
func (f *format) frames(lines []string, parts []part) []Frame {
	var out []Frame
	pos := 0
next:
	for _, pt := range parts {
		if pt.re == nil {
			for ; pos < len(lines); pos++ {
				l := lines[pos]
				if faultInjection(l) {
					return out
				}
				if stackStart(l) {
					pos++
					continue next
				}
				if fr, ok := ParseFrame(l); ok && !fr.IP {
					out = append(out, fr)
				} else if a, b, ok := armFrames(l); ok {
					out = append(out, a, b)
				}
				if len(out) >= 256 {
					return out
				}
			}
			continue
		}
		for pos < len(lines) {
			l := lines[pos]
			pos++
			if faultInjection(l) {
				return out
			}
			if !containsAny(l, pt.need) {
				continue
			}
			m := pt.re.FindStringSubmatchIndex(l)
			if m == nil {
				continue
			}
			if len(m) >= 4 && m[2] >= 0 {
				fr, ok := ParseFrame(l[m[2]:])
				if !ok {
					fr = Frame{Func: l[m[2]:m[3]]}
				}
				fr.IP = true
				out = append(out, fr)
			}
			break
		}
	}
	return out
}

// frameName is the name a frame is skipped, blamed and titled by: a C
// name cut at its first '.' (".isra.0", ".cold") and without a syscall
// prefix; a Rust path as it is.
func frameName(fn string) string {
	if strings.Contains(fn, "::") {
		return fn
	}
	n := baseName(fn)
	for changed := true; changed; {
		changed = false
		for _, p := range stripFramePrefixes {
			if strings.HasPrefix(n, p) && len(n) > len(p) {
				n, changed = n[len(p):], true
			}
		}
	}
	return n
}

// usable reports whether frames has a frame that is not skipped, or a
// bare address (which ends the search).
func usable(frames []Frame, skip *skipper) bool {
	for _, fr := range frames {
		if fr.Func == "" || !skip.skip(baseName(fr.Func)) {
			return true
		}
	}
	return false
}

// pickGuilty chooses the guilty frame, the first that is not skipped
// (or the one the format's extractor picks), and the title. A bare
// address (an unloaded module's code, not named yet) ends the search: the
// frames after it are its callers, and blaming one of them would blame the
// wrong function.
func (r *Report) pickGuilty() { r.pick(nil) }

func (r *Report) pick(c *parseMemo) {
	r.GuiltyIndex, r.Frame, r.Module = -1, "", ""
	f := r.fmt
	skip := defaultSkip
	if f != nil {
		skip = f.skipRe
	}
	var names []string
	var idx []int
	unnamed := false
	for i, fr := range r.Frames {
		if fr.Func == "" {
			unnamed = len(names) == 0
			break
		}
		if skip.skip(baseName(fr.Func)) {
			continue
		}
		names = append(names, frameName(fr.Func))
		idx = append(idx, i)
	}
	chosen := groupFrame(f, r.groups)
	switch {
	case chosen != "":
		// "possible deadlock in {1}": a regexp group names the frame.
	case len(names) > 0 && f != nil && f.extract != nil:
		// rko: a stall or hang in a module's code blames the module's
		// first frame; the dispatch point syzkaller looks for would
		// name the syscall that loaded it (finit_module).
		for j, i := range idx {
			if r.Frames[i].Module != "" {
				chosen = names[j]
				break
			}
		}
		if chosen == "" {
			chosen = f.extract(names)
		}
	case len(names) > 0:
		chosen = names[0]
	}
	for j, n := range names {
		if n == chosen {
			r.GuiltyIndex = idx[j]
			break
		}
	}
	if r.GuiltyIndex < 0 && chosen != "" {
		for i, fr := range r.Frames {
			if fr.Func != "" && frameName(fr.Func) == chosen {
				r.GuiltyIndex = i
				break
			}
		}
	}
	r.Frame = chosen
	if g := r.Guilty(); g != nil {
		r.Module = g.Module
	}
	var titles memo[string, string]
	if c != nil {
		titles = c.title
	}
	r.Title = r.makeTitle(unnamed, titles)
}

// groupFrame is the frame a template like "possible deadlock in {1}"
// names by a regexp group, "" for other templates.
func groupFrame(f *format, groups []string) string {
	if f == nil {
		return ""
	}
	t := f.tmpl
	i := strings.LastIndex(t, " in {")
	if i < 0 || len(t) != i+7 || t[i+6] != '}' {
		return ""
	}
	n := int(t[i+5] - '0')
	if n < 1 || n > len(groups) || groups[n-1] == "" || strings.ContainsAny(groups[n-1], " +/=") {
		return ""
	}
	return frameName(groups[n-1])
}

// makeTitle fills the format's template. With no format, the header line
// is the title, as syzkaller does.
func (r *Report) makeTitle(unnamed bool, titles memo[string, string]) string {
	f := r.fmt
	if f == nil {
		return titles.get(r.header, func() string { return sanitizeTitle(r.header) })
	}
	t := f.tmpl
	// "possible deadlock in {1}": the group names the frame, and keeps
	// its digits like one.
	gf := ""
	if g := groupFrame(f, r.groups); g != "" {
		gf, t = g, t[:strings.LastIndex(t, " in {")]+" in {frame}"
	}
	for i := len(r.groups); i >= 1; i-- {
		t = strings.ReplaceAll(t, "{"+strconv.Itoa(i)+"}", r.groups[i-1])
	}
	frame := ""
	if strings.Contains(t, "{frame}") {
		switch {
		case gf != "":
			frame = gf
		case r.Frame != "":
			frame = r.Frame
		case unnamed:
			// The frame is code of a module that was unloaded; naming
			// its address (NameFrames) fills it in.
			t = strings.TrimSuffix(strings.ReplaceAll(t, " in {frame}", ""), "{frame}")
		default:
			frame = "corrupted"
			r.Corrupted = true
		}
	}
	// The text around the frame loses its numbers and addresses; the
	// frame's name keeps them ("nl802154_add_llsec_key").
	before, after, hasFrame := strings.Cut(t, "{frame}")
	if !hasFrame {
		return titles.get(t, func() string { return sanitizeTitle(t) })
	}
	return cleanTitle(titles.get(before, func() string { return fixTitle(before) }) + frame + after)
}

var defaultSkip = newSkipper(skipPatterns)

// kmemleakPID reads the pid of kmemleak's `comm "init", pid 757, jiffies
// 4294894493` line, 0 if there is none.
func kmemleakPID(body []string) int {
	for _, l := range body {
		t := strings.TrimSpace(l)
		if !strings.HasPrefix(t, "comm \"") {
			continue
		}
		_, rest, ok := strings.Cut(t, "\", pid ")
		if !ok {
			return 0
		}
		rest, _, _ = strings.Cut(rest, ",")
		pid, err := strconv.Atoi(rest)
		if err != nil {
			return 0
		}
		return pid
	}
	return 0
}

// warningLocation pulls "file:line" out of both WARNING header formats:
// "WARNING: CPU: 0 PID: 1 at file:line func+..." and
// "WARNING: file:line at func+..., CPU#0: comm/pid".
func warningLocation(h string) string {
	h = strings.TrimPrefix(h, "WARNING: ")
	if strings.HasPrefix(h, "CPU: ") {
		i := strings.Index(h, " at ")
		if i < 0 {
			return ""
		}
		rest := h[i+4:]
		if j := strings.IndexByte(rest, ' '); j >= 0 {
			rest = rest[:j]
		}
		if strings.Contains(rest, ":") {
			return rest
		}
		return ""
	}
	if i := strings.Index(h, " at "); i > 0 && strings.Contains(h[:i], ":") && !strings.Contains(h[:i], " ") {
		return h[:i]
	}
	return ""
}

// warningWhere takes "file:line" from a WARNING header.
func warningWhere(r *Report, header string, _ []string) { r.Location = warningLocation(header) }

// ubsanWhere takes the "file:line:col" after UBSAN's " in ".
func ubsanWhere(r *Report, header string, _ []string) {
	if i := strings.Index(header, " in "); i >= 0 {
		r.Location = strings.TrimSpace(header[i+4:])
	}
}

// kernelBUGWhere takes the file:line of "kernel BUG at file:line!".
func kernelBUGWhere(r *Report, header string, _ []string) {
	r.Location = strings.TrimSuffix(strings.TrimPrefix(header, "kernel BUG at "), "!")
}

// rustWhere takes a Rust panic's location and its message, the line
// after the header.
func rustWhere(r *Report, header string, body []string) {
	loc := strings.TrimPrefix(header, "rust_kernel: panicked at ")
	r.Location = strings.TrimSuffix(strings.TrimSpace(loc), ":")
	for _, l := range body {
		if k, _ := classify(l); k != kNone || strings.HasPrefix(l, "------------[ cut here ]") {
			break
		}
		if r.Message == "" {
			r.Message = strings.TrimSpace(l)
		}
	}
}

// panicReason is the reason of a "Kernel panic - not syncing: REASON" line.
func panicReason(l string) (string, bool) {
	rest, ok := strings.CutPrefix(l, "Kernel panic - not syncing")
	if !ok {
		return "", false
	}
	return strings.TrimSpace(strings.TrimPrefix(rest, ":")), true
}

// containsAny reports whether l holds one of need; no need means yes.
func containsAny(l string, need []string) bool {
	if len(need) == 0 {
		return true
	}
	for _, n := range need {
		if strings.Contains(l, n) {
			return true
		}
	}
	return false
}

// faultInjection reports whether l is a frame of fault injection's
// should_fail(): its stacks are often mixed into a report, and the frames
// after it are not the report's (syzkaller's corruptedLines).
func faultInjection(l string) bool {
	i := strings.Index(l, "should_fail")
	if i < 0 {
		return false
	}
	t := strings.TrimSpace(l[:i])
	if t != "" && !(strings.HasPrefix(t, "[<") && strings.HasSuffix(t, ">]")) {
		return false
	}
	rest := strings.TrimPrefix(l[i+len("should_fail"):], "slab")
	if j := strings.IndexByte(rest, '+'); j >= 0 && (j == 0 || rest[0] == '.') {
		return strings.HasPrefix(rest[j:], "+0x")
	}
	return false
}

// armFrames reads a 32-bit arm frame, "[<818df678>] (dump_backtrace) from
// [<818df774>] (show_stack+0x18/0x1c)": the function and its caller (the
// top frame is only in the link register, so both count, as syzkaller
// does).
func armFrames(l string) (Frame, Frame, bool) {
	t := strings.TrimLeft(l, " ")
	if !strings.HasPrefix(t, "[<") {
		return Frame{}, Frame{}, false
	}
	i := strings.Index(t, ">] (")
	if i < 0 {
		return Frame{}, Frame{}, false
	}
	rest := t[i+4:]
	j := strings.Index(rest, ") from [<")
	if j <= 0 {
		return Frame{}, Frame{}, false
	}
	name := rest[:j]
	rest = rest[j+len(") from [<"):]
	k := strings.Index(rest, ">] (")
	if k < 0 {
		return Frame{}, Frame{}, false
	}
	caller, ok := ParseFrame(strings.TrimSuffix(rest[k+4:], ")"))
	if !ok || strings.ContainsAny(name, " ()") {
		return Frame{}, Frame{}, false
	}
	fn, sym := Demangle(name)
	return Frame{Func: fn, Symbol: sym}, caller, true
}
