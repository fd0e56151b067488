// Package report finds kernel crash reports in a console log: oopses,
// BUG:s, WARNINGs, sanitizer reports (KASAN, KFENCE, KMSAN, KCSAN, UBSAN,
// kmemleak), lockdep splats, hung tasks, RCU stalls, Rust panics and kernel
// panics, on x86_64, arm64, riscv64, arm, powerpc and UML.
//
// Each report gets a type, the title syzkaller's pkg/report would give it
// ("KASAN: slab-use-after-free Read in ring_pop"), the guilty frame and the
// span of console lines it came from. The formats are a table
// (formats.go). Headers are found with prefix checks on each line; regular
// expressions run only on header lines and on reports, so that a 100 MB
// console parses fast.
package report

import (
	"sort"
	"strings"

	"github.com/rkodev/rko/internal/console"
	"github.com/rkodev/rko/internal/guest/proto"
)

// Type names the kind of a report. The values are stable: they appear in
// rko's JSON output.
type Type string

// The report types.
const (
	NullDeref       Type = "null-deref"              // BUG: kernel NULL pointer dereference
	PagingRequest   Type = "paging-request"          // BUG: unable to handle page fault / paging request
	GPF             Type = "general-protection"      // general protection fault
	Oops            Type = "oops"                    // any other Oops (invalid opcode, ...)
	KernelBUG       Type = "kernel-bug"              // kernel BUG at file:line!
	Warning         Type = "warning"                 // WARNING: ... at file:line
	KASAN           Type = "kasan"                   // BUG: KASAN: ...
	KFENCE          Type = "kfence"                  // BUG: KFENCE: ...
	UBSAN           Type = "ubsan"                   // UBSAN: ...
	Kmemleak        Type = "kmemleak"                // unreferenced object ...
	Lockdep         Type = "lockdep"                 // possible deadlock, circular dependency, inconsistent lock state, ...
	SoftLockup      Type = "soft-lockup"             // BUG: soft lockup
	AtomicSchedule  Type = "scheduling-while-atomic" // BUG: scheduling while atomic
	AtomicSleep     Type = "sleep-in-atomic"         // BUG: sleeping function called from invalid context
	Spinlock        Type = "spinlock"                // BUG: spinlock recursion, bad magic, lockup, ...
	HungTask        Type = "hung-task"               // INFO: task ... blocked for more than N seconds
	RCUStall        Type = "rcu-stall"               // rcu: INFO: ... detected stalls
	RustPanic       Type = "rust-panic"              // rust_kernel: panicked at file:line:col:
	Panic           Type = "panic"                   // Kernel panic - not syncing (on its own)
	Bug             Type = "bug"                     // any other BUG:
	StackProtector  Type = "stack-protector"         // Kernel panic - not syncing: stack-protector
	ListCorruption  Type = "list-corruption"         // kernel BUG at lib/list_debug.c, list_add corruption
	Usercopy        Type = "usercopy"                // kernel BUG at mm/usercopy.c: bad usercopy
	Refcount        Type = "refcount"                // WARNING in lib/refcount.c: refcount bug
	DoubleFault     Type = "double-fault"            // PANIC: double fault
	DivideError     Type = "divide-error"            // divide error
	InvalidOpcode   Type = "invalid-opcode"          // invalid opcode (not a BUG() or a Rust panic)
	StackSegment    Type = "stack-segment"           // stack segment fault
	KMSAN           Type = "kmsan"                   // BUG: KMSAN: ...
	KCSAN           Type = "kcsan"                   // BUG: KCSAN: ...
	UseAfterFreeVFS Type = "vfs-use-after-free"      // VFS: Busy inodes after unmount, file count is zero
	NetdevRefcount  Type = "netdev-refcount"         // unregister_netdevice: waiting for DEV to become free
	Reboot          Type = "reboot"                  // the kernel booted again in the middle of a run
	SyzFailure      Type = "syz-failure"             // SYZFAIL:/SYZFATAL: from syzkaller's executor
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

	header     string   // the report's header line
	headerLine int      // its line number: reports are in the order of their headers
	fam        *family  // the header's family
	fmt        *format  // the format that matched, nil if none
	groups     []string // the format's regexp groups, for the title
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

// kind is what a line is to the scanner.
type kind int

const (
	kNone      kind = iota
	kHeader         // a report starts here
	kOopsLine       // "Oops: ...", "Internal error:": a header on its own, or part of the open report
	kKernelBUG      // "kernel BUG at": a header, or part of an open Rust panic
	kPanic          // "Kernel panic - not syncing": part of the open or last report
	kRustPanic      // "rust_kernel: panicked at"
	kKmemleak       // "unreferenced object"
	kReboot         // "Booting the kernel.": a reboot, once the kernel has printed
	kSeparator      // "=====": starts or ends KASAN/KFENCE/UBSAN/lockdep blocks
	kEndTrace       // "---[ end trace"
	kEndPanic       // "---[ end Kernel panic"
)

// classify looks at one prefix-stripped line. It is called on every line of
// the console, so it goes by the first byte.
func classify(s string) (kind, *family) {
	if s == "" {
		return kNone, nil
	}
	switch s[0] {
	case '=':
		if len(s) >= 20 && strings.TrimRight(s, "=") == "" {
			return kSeparator, nil
		}
		return kNone, nil
	case '-':
		if strings.HasPrefix(s, "---[ end trace") {
			return kEndTrace, nil
		}
		if strings.HasPrefix(s, "---[ end Kernel panic") {
			return kEndPanic, nil
		}
		return kNone, nil
	}
	for _, fam := range byFirst[s[0]] {
		if strings.HasPrefix(s, fam.header) {
			return fam.kind, fam
		}
	}
	return kNone, nil
}

// findHeader classifies a line, looking for a header at its start, then
// after a leading "[ " (old lockdep) and after up to four ": " (a header
// behind "syzkaller login: " or "NMI watchdog: "). It returns the line
// from the header on.
func findHeader(l string) (kind, *family, string) {
	k, fam := classify(l)
	if k != kNone {
		return ignored(k, fam, l, l)
	}
	// One pass over the spaces: a header may follow "xxx: ", "] " or
	// "[ ", and syzkaller's own failures follow a date.
	rest := l
	for n := 0; n < 16; n++ {
		i := strings.IndexByte(rest, ' ')
		if i < 0 || i+1 >= len(rest) {
			break
		}
		if c := rest[i+1]; c != ' ' && (i > 0 && (rest[i-1] == ':' || rest[i-1] == ']' || rest[i-1] == '[') || c == 'S') {
			if k, fam := classify(rest[i+1:]); fam != nil {
				return ignored(k, fam, l, rest[i+1:])
			}
		}
		rest = rest[i+1:]
	}
	// Old KASAN's hint and the oops may share a line.
	if strings.HasPrefix(l, "kasan: GPF") {
		if i := strings.Index(l, "general protection fault"); i > 0 {
			if k, fam := classify(l[i:]); fam != nil {
				return ignored(k, fam, l, l[i:])
			}
		}
	}
	return kNone, nil, l
}

// ignored drops a header that its family's ignore list matches on the
// whole line.
func ignored(k kind, fam *family, line, rest string) (kind, *family, string) {
	if fam != nil {
		for _, re := range fam.ignore {
			if re.MatchString(line) {
				return kNone, nil, line
			}
		}
	}
	return k, fam, rest
}

type rawLine struct {
	num  int    // 1-based
	text string // prefix stripped
}

type pending struct {
	fam     *family
	fmt     *format // chosen from the header line; build chooses again with the whole report
	lines   []rawLine
	inTrace bool // a "Call Trace:" or "backtrace" was seen
	body    bool // a line other than the header was added
}

func (p *pending) typ() Type {
	if p.fmt != nil {
		return p.fmt.typ
	}
	return p.fam.typ
}

// end is what closes the report.
func (p *pending) end() end {
	if p.fmt != nil {
		return p.fmt.end
	}
	return p.fam.end
}

// absorbs reports whether an "Oops:"-like line belongs to this report.
func (p *pending) absorbs() bool {
	if p.inTrace {
		return false
	}
	if p.fam.kind == kPanic {
		return true
	}
	if p.fmt != nil {
		return p.fmt.absorbs
	}
	return p.fam.typ == Bug // a BUG: of no known format
}

// Parse returns every report in console, in order; the first is the
// primary one. It never fails and never panics.
func Parse(console []byte) []*Report { return ParseString(string(console)) }

// ParseString is Parse on a string, for callers that already hold one.
func ParseString(s string) []*Report {
	var reports []*Report
	var cur *pending
	var lastSep *rawLine
	var umlRIP *rawLine // see umlFault
	prevNum := 0        // the previous line of the current context
	memo := newParseMemo()
	closeCur := func() {
		if cur != nil {
			reports = append(reports, build(cur, memo))
			cur = nil
		}
	}
	// With CONFIG_PRINTK_CALLER every line says which task or CPU printed
	// it ("[ T123]", "[ C1]"), and reports printed at the same time by two
	// CPUs interleave. As syzkaller does, a report takes only the lines of
	// its header's context: each context has its own open report.
	type ctxState struct {
		cur     *pending
		lastSep *rawLine
		prevNum int
	}
	states := map[string]*ctxState{}
	curCtx := ""
	nmiCtx := "" // the context whose report is printing all CPUs' backtraces
	switchTo := func(ctx string) {
		if ctx == curCtx {
			return
		}
		if cur != nil || lastSep != nil {
			states[curCtx] = &ctxState{cur, lastSep, prevNum}
		} else {
			delete(states, curCtx)
		}
		cur, lastSep, prevNum = nil, nil, 0
		if st := states[ctx]; st != nil {
			cur, lastSep, prevNum = st.cur, st.lastSep, st.prevNum
			delete(states, ctx)
		}
		curCtx = ctx
	}
	closeAll := func(keepPanic bool) {
		for c, st := range states {
			if st.cur != nil && !(keepPanic && st.cur.fam.kind == kPanic) {
				reports = append(reports, build(st.cur, memo))
				st.cur = nil
			}
			if st.cur == nil {
				delete(states, c)
			}
		}
		if cur != nil && !(keepPanic && cur.fam.kind == kPanic) {
			closeCur()
		}
	}
	num := 0
	kernelSeen := false // a printk timestamp was seen: the kernel runs
	for len(s) > 0 {
		var l string
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			l, s = s[:i], s[i+1:]
		} else {
			l, s = s, ""
		}
		num++
		raw := l
		ctx := callerID(raw)
		l = strings.TrimRight(console.StripPrefix(l), "\r")
		if !kernelSeen && len(raw) > 0 && raw[0] == '[' && len(l) < len(raw) {
			kernelSeen = true
		}
		fromFrame := false
		if strings.HasPrefix(l, proto.FramePrefix) {
			f, ok := proto.ParseFrame(l)
			text, isOut := strings.TrimRight(f.Line, "\r\n"), ok && f.Ev == "out"
			if !isOut {
				// A step ended or the guest moved on: the reports are over.
				closeAll(true)
				continue
			}
			l, fromFrame = text, true
		}
		if l == "** replaying previous printk message **" {
			continue // printk repeats a line it cut short: not part of the report
		}
		k, fam, hl := findHeader(l)
		if ctx != "" && nmiCtx != "" && ctx[0] == 'C' && k == kNone && (states[ctx] == nil || states[ctx].cur == nil) && ctx != curCtx {
			ctx = nmiCtx // another CPU's backtrace, asked for by the report
		}
		switchTo(ctx)
		prev := prevNum
		prevNum = num
		if fromFrame && k != kKmemleak && !(cur != nil && cur.typ() == Kmemleak) {
			// Program output is not kernel output: only the kmemleak
			// scan that the guest prints counts.
			continue
		}
		rl := rawLine{num, l}
		if k == kReboot && (!kernelSeen || cur != nil) {
			k = kNone
		}
		switch k {
		case kSeparator:
			if cur != nil && cur.end() == endSep && len(cur.lines) > 1 {
				cur.lines = append(cur.lines, rl)
				closeCur()
				lastSep = nil
				continue
			}
			lastSep = &rawLine{num, l}
			if cur != nil && cur.end() == endStack {
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
			reason, _ := panicReason(hl)
			if cur != nil {
				cur.lines = append(cur.lines, rl)
				continue
			}
			if len(reports) > 0 && consequence(reason) {
				reports[len(reports)-1].extend(rl)
				continue
			}
		case kOopsLine:
			if cur != nil && cur.absorbs() {
				cur.lines = append(cur.lines, rl)
				continue
			}
		case kKmemleak:
			// The guest prints each leak as "BUG: memory leak" and then
			// kmemleak's "unreferenced object" lines: one report.
			if cur != nil && cur.typ() == Kmemleak && !cur.body {
				cur.body = true
				cur.lines = append(cur.lines, rl)
				continue
			}
		case kKernelBUG:
			if cur != nil && cur.typ() == RustPanic && !cur.inTrace {
				cur.lines = append(cur.lines, rl)
				continue
			}
		case kHeader:
			// asm-generic's BUG(), on architectures without their own
			// (UML), prints "BUG: failure at FILE:LINE/FUNC()!" where
			// x86_64 prints "kernel BUG at FILE:LINE!": the BUG() a Rust
			// panic ends in is part of the panic's report
			// (testdata/um/oob_rust).
			if cur != nil && cur.typ() == RustPanic && !cur.inTrace && strings.HasPrefix(hl, "BUG: failure at ") {
				cur.lines = append(cur.lines, rl)
				continue
			}
		case kNone:
			if cur == nil && strings.HasPrefix(l, umlRIPPrefix) {
				umlRIP = &rawLine{num, l}
			}
			if cur != nil {
				if !cur.accept(l) {
					closeCur()
					continue
				}
				cur.body = true
				cur.lines = append(cur.lines, rl)
				if curCtx != "" && strings.Contains(l, "Sending NMI from CPU") {
					nmiCtx = curCtx
				}
				if len(cur.lines) >= MaxLines {
					closeCur()
				}
			}
			continue
		}
		// A symbolized report repeats its header once per inlined frame
		// ("BUG: KASAN: ... in f file.h:96 [inline]"): one report.
		if cur != nil && fam == cur.fam && !cur.body && k == kHeader {
			cur.lines = append(cur.lines, rawLine{num, hl})
			continue
		}
		// A new report starts here.
		closeCur()
		cur = &pending{fam: fam, fmt: fam.provisional(hl, memo)}
		if lastSep != nil && lastSep.num == prev {
			cur.lines = append(cur.lines, *lastSep)
		}
		cur.lines = append(cur.lines, rawLine{num, hl})
		lastSep = nil
		if k == kPanic {
			umlFault(cur, hl, umlRIP)
		}
	}
	closeAll(false)
	// Reports of several contexts close out of order.
	sort.SliceStable(reports, func(i, j int) bool { return reports[i].headerLine < reports[j].headerLine })
	return reports
}

// callerID is the printk caller id of a raw console line ("T123" of
// "[   1.2][ T123] ..."), "" when the line has none.
func callerID(raw string) string {
	if len(raw) > 2 && raw[0] == '<' {
		if j := strings.IndexByte(raw[:min(len(raw), 6)], '>'); j > 1 {
			raw = raw[j+1:]
		}
	}
	if len(raw) < 5 || raw[0] != '[' {
		return ""
	}
	i := strings.IndexByte(raw, ']')
	if i < 0 || i+1 >= len(raw) || raw[i+1] != '[' || i > 20 {
		return ""
	}
	j := strings.IndexByte(raw[i+1:], ']')
	if j < 0 || j > 12 {
		return ""
	}
	id := strings.TrimSpace(raw[i+2 : i+1+j])
	if len(id) < 2 || (id[0] != 'T' && id[0] != 'C') || !console.Digits(id[1:]) {
		return ""
	}
	return id
}

// accept reports whether a plain line still belongs to the open report.
func (p *pending) accept(l string) bool {
	if strings.HasPrefix(l, "Call Trace:") || strings.HasPrefix(l, "Call trace:") || strings.HasPrefix(l, "stack backtrace:") {
		p.inTrace = true
		return true
	}
	if p.end() != endStack {
		return true
	}
	switch p.fam.kind {
	case kPanic:
		return true
	case kKmemleak:
		// kmemleak's object reports are indented under their header.
		return l == "" || l[0] == ' ' || l[0] == '\t'
	}
	if p.typ() == Kmemleak {
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
