package report

import (
	"strconv"
	"strings"
)

// build turns the lines of one report into a Report: title, frames,
// guilty frame, location.
func build(p *pending) *Report {
	r := &Report{Type: p.typ, GuiltyIndex: -1}
	if len(p.lines) == 0 {
		return r
	}
	r.StartLine = p.lines[0].num
	r.EndLine = p.lines[len(p.lines)-1].num
	var sb strings.Builder
	lines := make([]string, len(p.lines))
	for i, l := range p.lines {
		lines[i] = l.text
		sb.WriteString(l.text)
		sb.WriteByte('\n')
	}
	r.Text = sb.String()
	hi := 0
	for hi < len(lines)-1 {
		if k, _ := classify(lines[hi]); k != kSeparator {
			break
		}
		hi++
	}
	for hi+1 < len(lines) && strings.HasSuffix(lines[hi], " [inline]") {
		if k, _ := classify(lines[hi+1]); k != kHeader {
			break
		}
		hi++
	}
	header := lines[hi]
	body := lines[hi+1:]

	var lead []Frame // frames named by the report itself, tried first
	switch r.Type {
	case NullDeref, PagingRequest, GPF, Oops, KernelBUG, SoftLockup, Bug, AtomicSchedule:
		if f, ok := ripFrame(body); ok {
			lead = append(lead, f)
		}
	case Warning:
		if f, ok := ripFrame(body); ok {
			lead = append(lead, f)
		} else if f, ok := headerFrame(header, " at "); ok {
			lead = append(lead, f)
		}
		r.Location = warningLocation(header)
	case KASAN, KFENCE:
		if f, ok := headerFrame(header, " in "); ok {
			f.IP = true
			lead = append(lead, f)
		}
	case Lockdep:
		if f, ok := lockdepFrame(body); ok {
			lead = append(lead, f)
		}
	case RCUStall:
		if f, ok := ripFrame(body); ok {
			lead = append(lead, f)
		}
	case UBSAN:
		if i := strings.Index(header, " in "); i >= 0 {
			r.Location = strings.TrimSpace(header[i+4:])
		}
	case RustPanic:
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
	if r.Type == KernelBUG {
		r.Location = strings.TrimSuffix(strings.TrimPrefix(header, "kernel BUG at "), "!")
	}
	if r.Type == Panic || r.Type == StackProtector {
		for _, l := range lines {
			if reason, ok := panicReason(l); ok {
				r.Message = reason
				break
			}
		}
	}

	var trace []Frame
	switch r.Type {
	case Kmemleak:
		trace = framesAfter(body, "backtrace")
	case KFENCE:
		trace = framesAfter(body, "")
	case RCUStall:
		trace = framesAfter(body, "Call Trace:")
		if i := indexLine(body, "</IRQ>"); i >= 0 {
			if after := framesAfter(body[i:], ""); len(after) > 0 {
				trace = after
			}
		}
	default:
		trace = framesAfter(body, "Call Trace:")
	}
	r.Frames = append(lead, trace...)
	if len(r.Frames) == 0 {
		switch r.Type {
		case Panic, StackProtector, Warning:
		default:
			r.Corrupted = true
		}
	}
	if r.Type == Kmemleak {
		r.PID = kmemleakPID(body)
	}
	r.header, r.body = header, body
	r.pickGuilty()
	return r
}

// pickGuilty chooses the guilty frame, the first that is not generic, and
// the title. A bare address (an unloaded module's code, not named yet)
// ends the search: the frames after it are its callers, and blaming one of
// them would blame the wrong function.
func (r *Report) pickGuilty() {
	r.GuiltyIndex, r.Frame, r.Module = -1, "", ""
	for i, f := range r.Frames {
		if f.Func == "" || !isGeneric(f.Func) && !skipForType(r.Type, f.Func) {
			r.GuiltyIndex = i
			break
		}
	}
	if g := r.Guilty(); g != nil {
		r.Frame = baseName(g.Func)
		r.Module = g.Module
	}
	r.Title = title(r, r.header, r.body)
}

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

// skipForType holds the few extra frames to skip for one type of report,
// as syzkaller does.
func skipForType(t Type, fn string) bool {
	s := strings.TrimLeft(fn, "_")
	switch t {
	case Kmemleak:
		for _, p := range []string{"alloc", "create_object", "kstrdup", "kmemdup", "idr_", "pcpu_", "kvasprintf", "kasprintf"} {
			if strings.HasPrefix(s, p) {
				return true
			}
		}
	case Spinlock:
		return strings.Contains(s, "spin_")
	}
	return false
}

func ripFrame(body []string) (Frame, bool) {
	for _, l := range body {
		if strings.HasPrefix(l, "RIP: ") || strings.HasPrefix(l, "IP: ") {
			if f, ok := ParseFrame(l); ok {
				return f, true
			}
		}
		if strings.HasPrefix(l, "Call Trace:") {
			break
		}
	}
	return Frame{}, false
}

// headerFrame parses the frame after the last sep in a header line
// ("BUG: KASAN: slab-use-after-free in ring_pop+0x40/0x80 [uaf]").
func headerFrame(header, sep string) (Frame, bool) {
	i := strings.LastIndex(header, sep)
	if i < 0 {
		return Frame{}, false
	}
	rest := header[i+len(sep):]
	// The new WARNING format ends with ", CPU#0: comm/pid".
	if j := strings.Index(rest, ", CPU#"); j >= 0 {
		rest = rest[:j]
	}
	// The old WARNING format has "file:line func+off/size".
	if j := strings.LastIndexByte(rest, ' '); j >= 0 && !strings.Contains(rest[:j], "+0x") && !strings.HasSuffix(rest, "]") {
		rest = rest[j+1:]
	} else if j := strings.IndexByte(rest, ' '); j >= 0 && !strings.Contains(rest[:j], "+0x") {
		rest = rest[j+1:]
	}
	return ParseFrame(rest)
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

// lockdepFrame is the "at: func+off" of the lock being taken (or
// released) in a lockdep report.
func lockdepFrame(body []string) (Frame, bool) {
	want := false
	for _, l := range body {
		if strings.Contains(l, "is trying to acquire") || strings.HasSuffix(l, " takes:") ||
			strings.Contains(l, "is trying to release lock") || strings.Contains(l, "just changed the state of lock") ||
			strings.Contains(l, "is freeing memory") || strings.Contains(l, "is leaving the kernel with locks still held") ||
			strings.Contains(l, "is exiting with locks still held") {
			want = true
			continue
		}
		if want {
			if i := strings.Index(l, "at: "); i >= 0 {
				if f, ok := ParseFrame(l[i+4:]); ok {
					return f, true
				}
			}
			if i := strings.Index(l, ") at "); i >= 0 { // "... (&lock) at: ..." variants
				if f, ok := ParseFrame(l[i+5:]); ok {
					return f, true
				}
			}
		}
	}
	return Frame{}, false
}

func indexLine(body []string, prefix string) int {
	for i, l := range body {
		if strings.HasPrefix(strings.TrimSpace(l), prefix) || prefix == "Call Trace:" && strings.HasPrefix(strings.TrimSpace(l), "Call trace:") {
			return i
		}
	}
	return -1
}

// framesAfter collects the frames of the first stack trace after a line
// starting with marker ("" means from the start), until a line that is
// neither a frame nor a <TASK>/<IRQ> marker.
func framesAfter(body []string, marker string) []Frame {
	start := 0
	if marker != "" {
		i := indexLine(body, marker)
		if i < 0 {
			return nil
		}
		start = i + 1
	}
	var frames []Frame
	seen := false
	for _, l := range body[start:] {
		t := strings.TrimSpace(l)
		if t == "" {
			if seen {
				break
			}
			continue
		}
		if t[0] == '<' && t[len(t)-1] == '>' { // <TASK>, </IRQ>, <EOI>
			continue
		}
		if strings.HasPrefix(t, "? ") || strings.Contains(t, "] ? ") {
			continue
		}
		f, ok := ParseFrame(t)
		if !ok {
			if seen {
				break
			}
			continue
		}
		if f.IP {
			continue // a RIP: line inside the trace (an interrupt frame)
		}
		seen = true
		frames = append(frames, f)
		if len(frames) >= 64 {
			break
		}
	}
	return frames
}

// title builds the syzkaller-style one-line title.
func title(r *Report, header string, body []string) string {
	in := ""
	if r.Frame != "" {
		in = " in " + r.Frame
	}
	switch r.Type {
	case NullDeref:
		return "BUG: unable to handle kernel NULL pointer dereference" + in
	case PagingRequest:
		return "BUG: unable to handle kernel paging request" + in
	case GPF:
		return "general protection fault" + in
	case Oops:
		what := strings.TrimPrefix(header, "Oops: ")
		if i := strings.Index(what, ": "); i >= 0 {
			what = what[:i]
		}
		if what == "" || strings.HasPrefix(what, "0") {
			what = "Oops"
		}
		return what + in
	case KernelBUG:
		return "kernel BUG" + in
	case Warning:
		return "WARNING" + in
	case KASAN:
		h := strings.TrimPrefix(header, "BUG: KASAN: ")
		kind := h
		if i := strings.Index(h, " in "); i >= 0 {
			kind = h[:i]
		} else if i := strings.Index(h, " on address"); i >= 0 {
			kind = h[:i]
		}
		if kind == "double-free or invalid-free" || kind == "double-free" || kind == "invalid-free" {
			return "KASAN: invalid-free" + in
		}
		access := ""
		for _, l := range body {
			if strings.HasPrefix(l, "Read of size") {
				access = " Read"
				break
			}
			if strings.HasPrefix(l, "Write of size") {
				access = " Write"
				break
			}
		}
		return "KASAN: " + kind + access + in
	case KFENCE:
		h := strings.TrimPrefix(header, "BUG: KFENCE: ")
		if i := strings.Index(h, " in "); i >= 0 {
			h = h[:i]
		}
		return "KFENCE: " + h + in
	case UBSAN:
		h := strings.TrimPrefix(header, "UBSAN: ")
		if i := strings.Index(h, " in "); i >= 0 {
			h = h[:i]
		}
		return "UBSAN: " + h + in
	case Kmemleak:
		return "memory leak" + in
	case Lockdep:
		h := header
		h = strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(h, "WARNING: "), "BUG: "), "INFO: ")
		switch {
		case strings.HasPrefix(h, "possible circular locking"), strings.HasPrefix(h, "possible recursive locking"),
			strings.HasPrefix(h, "possible irq lock inversion"), strings.Contains(h, "-unsafe lock order"):
			return "possible deadlock" + in
		case strings.HasPrefix(h, "inconsistent lock state"):
			return "inconsistent lock state" + in
		}
		h = strings.TrimSuffix(strings.TrimRight(h, "!"), " detected")
		if i := strings.Index(h, ": "); i >= 0 {
			h = h[:i]
		}
		return "lockdep: " + h + in
	case SoftLockup:
		return "BUG: soft lockup" + in
	case AtomicSchedule:
		return "BUG: scheduling while atomic" + in
	case AtomicSleep:
		return "BUG: sleeping function called from invalid context" + in
	case Spinlock:
		h := strings.TrimPrefix(header, "BUG: ")
		words := strings.Fields(h)
		if len(words) > 3 {
			words = words[:3]
		}
		for i, w := range words {
			if w == "on" {
				words = words[:i]
				break
			}
		}
		return "BUG: " + strings.TrimRight(strings.Join(words, " "), ",:") + in
	case HungTask:
		return "INFO: task hung" + in
	case RCUStall:
		return "INFO: rcu detected stall" + in
	case RustPanic:
		msg := r.Message
		if len(msg) > 120 {
			msg = msg[:120]
		}
		if msg == "" {
			return "Rust panic" + in
		}
		return "Rust panic: " + msg + in
	case StackProtector:
		return "kernel panic: stack-protector" + in
	case Panic:
		return "kernel panic: " + r.Message
	}
	h := strings.TrimPrefix(header, "BUG: ")
	for _, sep := range []string{", ", " at ", ": ", " on CPU", " in process", " ("} {
		if i := strings.Index(h, sep); i > 0 {
			h = h[:i]
		}
	}
	return "BUG: " + strings.TrimSpace(h) + in
}

// panicReason is the reason of a "Kernel panic - not syncing: REASON" line.
func panicReason(l string) (string, bool) {
	rest, ok := strings.CutPrefix(l, "Kernel panic - not syncing")
	if !ok {
		return "", false
	}
	return strings.TrimSpace(strings.TrimPrefix(rest, ":")), true
}
