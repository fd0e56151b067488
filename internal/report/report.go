// Package report finds kernel crash reports in a console log: oopses,
// BUG:s, WARNINGs, sanitizer reports (KASAN, KFENCE, UBSAN, kmemleak),
// lockdep splats, hung tasks, RCU stalls, Rust panics and kernel panics.
//
// Each report gets a type, a stable one-line title in the style of
// syzkaller's pkg/report ("KASAN: slab-use-after-free Read in ring_pop"),
// the guilty frame (the first stack frame that is not reporting machinery,
// a sanitizer, a lock or allocator primitive or a lib helper) and the span
// of console lines it came from. Reports are found with prefix checks on
// each line, not regular expressions, so that a 100 MB console parses fast.
package report

import (
	"strings"

	"github.com/rkodev/rko/internal/console"
	"github.com/rkodev/rko/internal/guest"
)

// Type names the kind of a report. The values are stable: they appear in
// rko's JSON output.
type Type string

// The report types.
const (
	NullDeref      Type = "null-deref"              // BUG: kernel NULL pointer dereference
	PagingRequest  Type = "paging-request"          // BUG: unable to handle page fault / paging request
	GPF            Type = "general-protection"      // general protection fault
	Oops           Type = "oops"                    // any other Oops (invalid opcode, ...)
	KernelBUG      Type = "kernel-bug"              // kernel BUG at file:line!
	Warning        Type = "warning"                 // WARNING: ... at file:line
	KASAN          Type = "kasan"                   // BUG: KASAN: ...
	KFENCE         Type = "kfence"                  // BUG: KFENCE: ...
	UBSAN          Type = "ubsan"                   // UBSAN: ...
	Kmemleak       Type = "kmemleak"                // unreferenced object ...
	Lockdep        Type = "lockdep"                 // possible deadlock, circular dependency, inconsistent lock state, ...
	SoftLockup     Type = "soft-lockup"             // BUG: soft lockup
	AtomicSchedule Type = "scheduling-while-atomic" // BUG: scheduling while atomic
	AtomicSleep    Type = "sleep-in-atomic"         // BUG: sleeping function called from invalid context
	Spinlock       Type = "spinlock"                // BUG: spinlock recursion, bad magic, lockup, ...
	HungTask       Type = "hung-task"               // INFO: task ... blocked for more than N seconds
	RCUStall       Type = "rcu-stall"               // rcu: INFO: ... detected stalls
	RustPanic      Type = "rust-panic"              // rust_kernel: panicked at file:line:col:
	Panic          Type = "panic"                   // Kernel panic - not syncing (on its own)
	Bug            Type = "bug"                     // any other BUG:
	StackProtector Type = "stack-protector"         // Kernel panic - not syncing: stack-protector
)

// Report is one crash report found in a console.
type Report struct {
	// Type is the kind of report.
	Type Type `json:"type"`
	// Title is a one-line summary that stays the same for the same bug:
	// no addresses, pids or timestamps.
	Title string `json:"title"`
	// Frame is the guilty function, "" when none could be told.
	Frame string `json:"frame,omitempty"`
	// Module is the module holding the guilty frame, "" for the kernel.
	Module string `json:"module,omitempty"`
	// Location is a "file:line[:col]" that the report itself names: a Rust
	// panic's location, a WARNING's or UBSAN's file:line, "kernel BUG at".
	Location string `json:"location,omitempty"`
	// Message is the free text of the report where it has one: a Rust
	// panic's message, a panic's reason.
	Message string `json:"message,omitempty"`
	// Frames is the stack trace that the guilty frame was taken from,
	// unreliable ("? ") frames left out.
	Frames []Frame `json:"frames,omitempty"`
	// GuiltyIndex is the index in Frames of the guilty frame, -1 if none.
	GuiltyIndex int `json:"-"`
	// StartLine and EndLine are the 1-based console lines of the report
	// (inclusive).
	StartLine int `json:"start_line"`
	EndLine   int `json:"end_line"`
	// Text is the report's console lines with printk prefixes removed.
	Text string `json:"-"`
	// Corrupted is true when no stack trace was found where one belongs.
	Corrupted bool `json:"corrupted,omitempty"`
	// PID is the process the report names as where it happened, when it
	// says (kmemleak's `comm "init", pid 757`); 0 otherwise.
	PID int `json:"pid,omitempty"`

	header string   // the report's header line
	body   []string // the lines after it
}

// Guilty returns the guilty frame, or nil.
func (r *Report) Guilty() *Frame {
	if r.GuiltyIndex < 0 || r.GuiltyIndex >= len(r.Frames) {
		return nil
	}
	return &r.Frames[r.GuiltyIndex]
}

// NameFrames offers each frame the kernel printed as a bare address (code
// of a module that was gone when the report was printed) to name, which
// fills in Func, Symbol, Offset, Size and Module when it knows the address.
// If any frame was named, the guilty frame and the title are chosen again.
func (r *Report) NameFrames(name func(f *Frame) bool) {
	named := false
	for i := range r.Frames {
		if f := &r.Frames[i]; f.Func == "" && f.Addr != 0 && name(f) {
			named = true
		}
	}
	if named {
		r.pickGuilty()
	}
}

// MaxLines bounds a report's span; a report with no end marker stops here.
const MaxLines = 500

// kind is what a header line starts.
type kind int

const (
	kNone kind = iota
	kHeader
	kOopsLine  // "Oops: ...": a header on its own, or part of the open report
	kKernelBUG // "kernel BUG at": a header, or part of an open Rust panic
	kPanic     // "Kernel panic - not syncing": part of the open or last report
	kRustPanic // "rust_kernel: panicked at"
	kKmemleak  // "unreferenced object"
	kSeparator // "=====": starts or ends KASAN/KFENCE/UBSAN/lockdep blocks
	kEndTrace  // "---[ end trace"
	kEndPanic  // "---[ end Kernel panic"
)

// classify looks at one prefix-stripped line. It is called on every line of
// the console, so it starts with a switch on the first byte.
func classify(s string) (kind, Type) {
	if s == "" {
		return kNone, ""
	}
	switch s[0] {
	case 'B':
		if strings.HasPrefix(s, "BUG: ") {
			return kHeader, bugType(s)
		}
	case 'W':
		if strings.HasPrefix(s, "WARNING: ") {
			return kHeader, warningType(s)
		}
	case 'O':
		if strings.HasPrefix(s, "Oops: ") || strings.HasPrefix(s, "Oops -") {
			return kOopsLine, Oops
		}
	case 'g':
		if strings.HasPrefix(s, "general protection fault") {
			return kOopsLine, GPF
		}
	case 'k':
		if strings.HasPrefix(s, "kernel BUG at ") {
			return kKernelBUG, KernelBUG
		}
	case 'K':
		if strings.HasPrefix(s, "Kernel panic - not syncing") {
			return kPanic, Panic
		}
	case 'I':
		if strings.HasPrefix(s, "INFO: task ") && strings.Contains(s, " blocked ") && strings.Contains(s, " for more than ") {
			return kHeader, HungTask
		}
		if strings.HasPrefix(s, "INFO: rcu") && strings.Contains(s, "stall") {
			return kHeader, RCUStall
		}
		if strings.HasPrefix(s, "INFO: possible circular locking") || strings.HasPrefix(s, "INFO: possible recursive locking") || strings.HasPrefix(s, "INFO: inconsistent lock state") {
			return kHeader, Lockdep
		}
	case 'U':
		if strings.HasPrefix(s, "UBSAN: ") {
			return kHeader, UBSAN
		}
	case 'r':
		if strings.HasPrefix(s, "rust_kernel: panicked at ") {
			return kRustPanic, RustPanic
		}
		if strings.HasPrefix(s, "rcu: INFO: ") && strings.Contains(s, "stall") {
			return kHeader, RCUStall
		}
	case 'w':
		if strings.HasPrefix(s, "watchdog: BUG: soft lockup") {
			return kHeader, SoftLockup
		}
	case 'u':
		if strings.HasPrefix(s, "unreferenced object 0x") {
			return kKmemleak, Kmemleak
		}
	case '=':
		if len(s) >= 20 && strings.TrimRight(s, "=") == "" {
			return kSeparator, ""
		}
	case '-':
		if strings.HasPrefix(s, "---[ end trace") {
			return kEndTrace, ""
		}
		if strings.HasPrefix(s, "---[ end Kernel panic") {
			return kEndPanic, ""
		}
	}
	return kNone, ""
}

func bugType(s string) Type {
	h := s[len("BUG: "):]
	switch {
	case strings.HasPrefix(h, "KASAN: "):
		return KASAN
	case strings.HasPrefix(h, "KFENCE: "):
		return KFENCE
	case strings.HasPrefix(h, "kernel NULL pointer dereference"), strings.HasPrefix(h, "unable to handle kernel NULL pointer"),
		strings.HasPrefix(h, "Kernel NULL pointer"):
		return NullDeref
	case strings.HasPrefix(h, "unable to handle page fault"), strings.HasPrefix(h, "unable to handle kernel paging request"),
		strings.HasPrefix(h, "unable to handle kernel"):
		return PagingRequest
	case strings.HasPrefix(h, "soft lockup"):
		return SoftLockup
	case strings.HasPrefix(h, "scheduling while atomic"):
		return AtomicSchedule
	case strings.HasPrefix(h, "sleeping function called from invalid context"):
		return AtomicSleep
	case strings.HasPrefix(h, "spinlock ") || strings.HasPrefix(h, "rwlock "):
		return Spinlock
	case strings.HasPrefix(h, "bad unlock balance"), strings.HasPrefix(h, "held lock freed"),
		strings.Contains(h, "still has locks held"), strings.HasPrefix(h, "lock held when returning"),
		strings.HasPrefix(h, "looking up invalid subclass"), strings.HasPrefix(h, "key ") && strings.Contains(h, "not in .data"),
		strings.HasPrefix(h, "Invalid wait context"):
		return Lockdep
	case strings.HasPrefix(h, "memory leak"):
		return Kmemleak
	}
	return Bug
}

func warningType(s string) Type {
	h := s[len("WARNING: "):]
	switch {
	case strings.HasPrefix(h, "possible circular locking"), strings.HasPrefix(h, "possible recursive locking"),
		strings.HasPrefix(h, "inconsistent lock state"), strings.HasPrefix(h, "possible irq lock inversion"),
		strings.Contains(h, "-safe -> ") && strings.Contains(h, "-unsafe lock order"),
		strings.HasPrefix(h, "bad unlock balance"), strings.HasPrefix(h, "held lock freed"),
		strings.HasPrefix(h, "lock held when returning"), strings.HasPrefix(h, "Nested lock was not taken"),
		strings.HasPrefix(h, "suspicious RCU usage"), strings.HasPrefix(h, "Invalid wait context"):
		return Lockdep
	}
	return Warning
}

// hasEndMarker reports whether a report of type t ends with a marker line
// ("---[ end trace" or "=====") rather than at the end of its stack trace.
func hasEndMarker(t Type) bool {
	switch t {
	case NullDeref, PagingRequest, GPF, Oops, KernelBUG, Warning, RustPanic, KASAN, KFENCE, UBSAN:
		return true
	}
	return false
}

// separatorEnds reports whether a "=====" line closes a report of type t.
func separatorEnds(t Type) bool { return t == KASAN || t == KFENCE || t == UBSAN }

type rawLine struct {
	num  int    // 1-based
	text string // prefix stripped
}

type pending struct {
	typ     Type
	lines   []rawLine
	inTrace bool // a "Call Trace:" or "backtrace" was seen
	body    bool // a line other than the header was added
}

// Parse returns every report in console, in order; the first is the
// primary one. It never fails and never panics.
func Parse(console []byte) []*Report { return ParseString(string(console)) }

// ParseString is Parse on a string, for callers that already hold one.
func ParseString(s string) []*Report {
	var reports []*Report
	var cur *pending
	var lastSep *rawLine
	closeCur := func() {
		if cur != nil {
			reports = append(reports, build(cur))
			cur = nil
		}
	}
	num := 0
	for len(s) > 0 {
		var l string
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			l, s = s[:i], s[i+1:]
		} else {
			l, s = s, ""
		}
		num++
		l = strings.TrimRight(console.StripPrefix(l), "\r")
		fromFrame := false
		if strings.HasPrefix(l, guest.FramePrefix) {
			f, ok := guest.ParseFrame(l)
			text, isOut := strings.TrimRight(f.Line, "\r\n"), ok && f.Ev == "out"
			if !isOut {
				// A step ended or the guest moved on: the report is over.
				if cur != nil && cur.typ != Panic {
					closeCur()
				}
				continue
			}
			l, fromFrame = text, true
		}
		k, t := classify(l)
		if fromFrame && k != kKmemleak && !(cur != nil && cur.typ == Kmemleak) {
			// Program output is not kernel output: only the kmemleak
			// scan that the guest prints counts.
			continue
		}
		rl := rawLine{num, l}
		switch k {
		case kSeparator:
			if cur != nil && separatorEnds(cur.typ) && len(cur.lines) > 1 {
				cur.lines = append(cur.lines, rl)
				closeCur()
				lastSep = nil
				continue
			}
			lastSep = &rawLine{num, l}
			if cur != nil && !hasEndMarker(cur.typ) {
				closeCur()
			}
			continue
		case kEndTrace, kEndPanic:
			if cur != nil {
				cur.lines = append(cur.lines, rl)
				closeCur()
			} else if k == kEndPanic && len(reports) > 0 {
				reports[len(reports)-1].extend(rl)
			}
			continue
		case kPanic:
			reason, _ := panicReason(l)
			if cur != nil {
				cur.lines = append(cur.lines, rl)
				continue
			}
			if len(reports) > 0 && consequence(reason) {
				reports[len(reports)-1].extend(rl)
				continue
			}
			cur = &pending{typ: Panic, lines: []rawLine{rl}}
			if strings.HasPrefix(reason, "stack-protector") {
				cur.typ = StackProtector
			}
			continue
		case kOopsLine:
			if cur != nil && (cur.typ == NullDeref || cur.typ == PagingRequest || cur.typ == KernelBUG ||
				cur.typ == RustPanic || cur.typ == Bug || cur.typ == Panic) && !cur.inTrace {
				cur.lines = append(cur.lines, rl)
				continue
			}
			if strings.HasPrefix(l, "Oops: general protection fault") {
				t = GPF
			}
		case kKmemleak:
			// The guest prints each leak as "BUG: memory leak" and then
			// kmemleak's "unreferenced object" lines: one report.
			if cur != nil && cur.typ == Kmemleak && !cur.body {
				cur.body = true
				cur.lines = append(cur.lines, rl)
				continue
			}
		case kKernelBUG:
			if cur != nil && cur.typ == RustPanic && !cur.inTrace {
				cur.lines = append(cur.lines, rl)
				continue
			}
		case kNone:
			if cur != nil {
				if !cur.accept(l) {
					closeCur()
					continue
				}
				cur.body = true
				cur.lines = append(cur.lines, rl)
				if len(cur.lines) >= MaxLines {
					closeCur()
				}
			}
			continue
		}
		// A symbolized report repeats its header once per inlined frame
		// ("BUG: KASAN: ... in f file.h:96 [inline]"): one report.
		if cur != nil && t == cur.typ && !cur.body && k == kHeader {
			cur.lines = append(cur.lines, rl)
			continue
		}
		// A new report starts here.
		closeCur()
		cur = &pending{typ: t}
		if lastSep != nil && lastSep.num == num-1 {
			cur.lines = append(cur.lines, *lastSep)
		}
		cur.lines = append(cur.lines, rl)
		lastSep = nil
	}
	closeCur()
	return reports
}

// accept reports whether a plain line still belongs to the open report.
func (p *pending) accept(l string) bool {
	if strings.HasPrefix(l, "Call Trace:") || strings.HasPrefix(l, "Call trace:") || strings.HasPrefix(l, "stack backtrace:") {
		p.inTrace = true
		return true
	}
	if hasEndMarker(p.typ) {
		return true
	}
	if p.typ == Panic || p.typ == StackProtector {
		return true
	}
	if p.typ == Kmemleak {
		// kmemleak's object reports are indented under their header.
		return l == "" || l[0] == ' ' || l[0] == '\t'
	}
	if !p.inTrace {
		return true
	}
	// In a stack trace: frames are indented, and registers and the
	// <TASK>/<IRQ> markers belong too; the first other line ends it.
	if l == "" {
		return false
	}
	if l[0] == ' ' || l[0] == '\t' || l[0] == '<' || l[0] == '[' {
		return true
	}
	for _, p := range traceLinePrefixes {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return false
}

var traceLinePrefixes = []string{"RIP:", "Code:", "RSP:", "RAX:", "RDX:", "RBP:", "R10:", "R13:", "FS:", "CS:",
	"CR2:", "DR0:", "DR3:", "PKRU:", "Modules linked in:", "CPU:", "Hardware name:", "Tainted:", "Call Trace:",
	"NMI backtrace", "Sending NMI", "irq event stamp:", "hardirqs ", "softirqs "}

func (r *Report) extend(rl rawLine) {
	if rl.num > r.EndLine {
		r.EndLine = rl.num
		r.Text += rl.text + "\n"
	}
}

// consequence reports whether a panic with this reason follows from an
// earlier report (panic_on_oops, panic_on_warn, a fatal exception) rather
// than being a bug of its own.
func consequence(reason string) bool {
	for _, c := range []string{"Fatal exception", "panic_on_warn", "panic_on_oops", "softlockup: hung tasks",
		"hung_task: blocked tasks", "Oops", "kernel: panic_on_warn set", "KASAN", "UBSAN", "KFENCE", "RCU Stall",
		"Attempted to kill init"} {
		if strings.Contains(reason, c) {
			return true
		}
	}
	return false
}
