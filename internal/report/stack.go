package report

import (
	"strings"
)

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
