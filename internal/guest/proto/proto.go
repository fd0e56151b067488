// Package proto is rko's guest protocol, the one definition compiled into
// both the host (package guest, vm users) and the guest init (PID 1): the
// plan and its steps, the commands of the init's command mode, and the
// frames the init prints. It uses the standard library only, so the init
// stays a static program built anywhere. See docs/guest-protocol.md.
package proto

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
)

// Version is the protocol version the init prints in its boot frame.
const Version = "2"

// FramePrefix marks a frame line in the console.
const FramePrefix = "@@rko "

// Step kinds.
const (
	KindInsmod   = "insmod"   // finit_module of Path with Params
	KindRmmod    = "rmmod"    // delete_module of Module, O_NONBLOCK
	KindExec     = "exec"     // run Argv; output framed line by line
	KindKmemleak = "kmemleak" // scan and copy leaks into the kernel log
	KindShell    = "shell"    // run Argv on the console as its session leader (rko shell)
	// KindBound checks that every driver Module registered bound a
	// device (the job attached devices): one "driver D bound DEV" line
	// each; exit status 1 when a driver bound none.
	KindBound = "bound"
	// KindFailNth loads Path (Params) with the loading task's N-th
	// fault-injectable call failing (/proc/thread-self/fail-nth), N = 1,
	// 2, ... until a load succeeds with nothing injected, unloading
	// after each load that succeeded; one FailNthLine a try. It stops at
	// the first try that taints the kernel (an oops, a WARN).
	KindFailNth = "fail-nth"
)

// FailNthLine starts the output line of one try of a fail-nth step:
// "fail-nth n=N pid=PID result=RESULT injected=BOOL taint=T", RESULT being
// "ok" or the errno of the load. The pid is the loading task's, so a leak
// kmemleak reports later (with the allocating pid) is traced to its N.
const FailNthLine = "fail-nth "

// FailNthStartLine starts the line a try prints before its load:
// "fail-nth try n=N pid=PID". A load that crashes the kernel never prints
// its FailNthLine; this one ties the crash's injected call (its stack,
// printed with the pid) to N.
const FailNthStartLine = "fail-nth try "

// Step is one entry of a plan, or the step of a "step" command.
type Step struct {
	Name       string   `json:"name"`
	Kind       string   `json:"kind"`
	Path       string   `json:"path,omitempty"`
	Params     string   `json:"params,omitempty"`
	Module     string   `json:"module,omitempty"`
	Argv       []string `json:"argv,omitempty"`
	Env        []string `json:"env,omitempty"`
	Dir        string   `json:"dir,omitempty"`
	TimeoutSec int      `json:"timeout_sec,omitempty"`
	StopOnFail bool     `json:"stop_on_fail,omitempty"`
}

// Plan is what the init runs after it boots.
type Plan struct {
	Steps []Step `json:"steps"`
	// Serve: after the steps, read commands from the console (the
	// command mode of rko watch) instead of rebooting.
	Serve bool `json:"serve,omitempty"`
	// KUnitFilter, if set, is written to the kunit module's filter_glob
	// parameter before the first step: the kernel boots with a filter
	// that skips its own built-in suites (the doctests), and the module
	// suites loaded later run.
	KUnitFilter string `json:"kunit_filter,omitempty"`
	// Token is the boot's secret, chosen by the host (NewToken, a fresh
	// one for every boot): the init reads it, deletes /rko/plan.json and
	// signs every frame with it (Frame.Sign), so a frame the code under
	// test prints (a module's printk, a test script's echo to /dev/kmsg) is
	// told from the init's own (ParseFrameFor). Empty: frames are not
	// authenticated (old plans and recorded consoles).
	Token string `json:"token,omitempty"`
}

// JSON encodes the plan for /rko/plan.json.
func (p *Plan) JSON() []byte {
	b, _ := json.MarshalIndent(p, "", "  ")
	return append(b, '\n')
}

// Commands of the command mode: one JSON object a line on the console's
// input.
const (
	CmdPut    = "put"    // write Data (base64) to Path with Mode
	CmdStep   = "step"   // run Step, frame it, then ack
	CmdPing   = "ping"   // ack at once: is the init answering?
	CmdReboot = "reboot" // sync and reboot (the VM ends)
)

// Command is one request to the init in command mode. Every command is
// answered with an "ack" frame carrying its ID.
type Command struct {
	ID   int    `json:"id"`
	Cmd  string `json:"cmd"`
	Path string `json:"path,omitempty"`
	Data []byte `json:"data,omitempty"` // base64 in JSON
	Mode uint32 `json:"mode,omitempty"`
	// Offset and More split a put into parts, for a console that takes
	// lines of a few KiB only (package target, ConsoleLine): each part
	// writes Data at Offset of the file (the first, at 0, creates it), and
	// the part without More puts the file in place.
	Offset int64 `json:"offset,omitempty"`
	More   bool  `json:"more,omitempty"`
	// Enc says how a put's Data is encoded beside base64: EncDeflate, or
	// "" for the file's bytes as they are. A put in parts encodes the
	// whole file once and sends the encoded bytes in parts.
	Enc string `json:"enc,omitempty"`
	// Dict says that Data (EncDeflate) was compressed with the content
	// of the last put of Path the init took as DEFLATE's preset
	// dictionary: a module rebuilt after an edit differs little from the
	// one sent before, and crosses the console in a few hundred bytes
	// instead of a few KB. The init keeps that content in its own memory,
	// not in the file (which a step could change).
	Dict bool `json:"dict,omitempty"`
	// Sum is the sha256 of the file's content, in hex: the init refuses
	// a put whose content does not match.
	Sum  string `json:"sha256,omitempty"`
	Step *Step  `json:"step,omitempty"`
}

// MaxDictContent bounds the content the init keeps of a put as the
// dictionary of the next put of its path (Command.Dict): larger files are
// sent without one.
const MaxDictContent = 4 << 20

// EncDeflate is Command.Enc for a put whose Data is the file compressed
// with DEFLATE (RFC 1951, compress/flate): a module without its debug
// info shrinks to a quarter, and the console carries a quarter of the
// bytes.
const EncDeflate = "deflate"

// Frame events.
const (
	EvBoot   = "boot"   // the init started: Version
	EvStart  = "start"  // a step began: Step, Kind
	EvOut    = "out"    // a line of a step's output: Step, Stream, Line
	EvEnd    = "end"    // a step ended: Step, RC, Signal, Error, Ms, Taint
	EvModule = "module" // where an insmod put the module's text: Module, PID, Sections
	EvError  = "error"  // a plan-level error: Error
	EvDone   = "done"   // the plan finished: the guest reboots (or serves)
	EvReady  = "ready"  // command mode: waiting for commands
	EvAck    = "ack"    // command ID done: Error if it failed
)

// Frame is one line the init prints.
type Frame struct {
	Ev      string `json:"ev"`
	Version string `json:"version,omitempty"`
	Step    string `json:"step,omitempty"`
	Kind    string `json:"kind,omitempty"`
	Stream  string `json:"stream,omitempty"`
	Line    string `json:"line,omitempty"`
	RC      int    `json:"rc"`
	Signal  string `json:"signal,omitempty"`
	Error   string `json:"error,omitempty"`
	Ms      int64  `json:"ms,omitempty"`
	// Taint is /proc/sys/kernel/tainted when the step ended: the host
	// tells a kernel that a crash tainted (oops, WARN, ...) from the flags,
	// not only from the console.
	Taint uint64 `json:"taint,omitempty"`
	// Module and Sections are set on a "module" frame: where the init
	// found the text sections of a module it loaded.
	Module   string            `json:"module,omitempty"`
	Sections map[string]string `json:"sections,omitempty"`
	PID      int               `json:"pid,omitempty"`
	// ID is the command an "ack" answers.
	ID int `json:"id,omitempty"`
	// Nonce is set on the boot frame of a signed boot: the kernel's
	// boot_id, which tells a new boot of the same plan (the same guest
	// booted again under TCG after KVM failed) from the boot frame of
	// this boot printed again.
	Nonce string `json:"nonce,omitempty"`
	// Seq numbers the frames of a signed boot 1, 2, 3, ... in the order
	// the init wrote them: a frame copied out of the kernel log and
	// printed again repeats an old number (FrameReader rejects it).
	Seq uint64 `json:"seq,omitempty"`
	// Token authenticates a signed frame: not the plan's Token itself
	// (every frame is in the kernel log, which any root program in the
	// guest can read) but an HMAC-SHA256 keyed with it over the rest of
	// the frame's line (Sign). Keep it the last field: the signed text is
	// the frame's JSON without it.
	Token string `json:"tok,omitempty"`
}

// Encode encodes the frame as a console line (without the newline).
func (f Frame) Encode() string {
	b, _ := json.Marshal(f)
	return FramePrefix + string(b)
}

// NewToken returns a fresh secret for Plan.Token: 16 bytes from
// crypto/rand in hex.
func NewToken() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand does not fail on Linux (getrandom); a constant
		// token would let anything that knows it forge a verdict.
		panic("rko: no random numbers for the boot token: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// tokField is how a signed line ends: `,"tok":"MAC"}`.
const tokField = `,"tok":"`

// Sign encodes the frame as a console line (without the newline)
// authenticated with key, the plan's Token: the line is the frame's JSON
// without a token, with `"tok":"MAC"` added as its last member, where
// MAC is frameMAC(key, that JSON). The frame's own Token is ignored. With
// key "" it is Encode. The caller numbers the frame (Seq).
func (f Frame) Sign(key string) string {
	f.Token = ""
	if key == "" {
		return f.Encode()
	}
	b, _ := json.Marshal(f)
	body := string(b)
	return FramePrefix + body[:len(body)-1] + tokField + frameMAC(key, body) + `"}`
}

// frameMAC is the authenticator of a frame's JSON text: HMAC-SHA256 keyed
// with the plan's token, cut to 128 bits, in hex.
func frameMAC(key, body string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte("rko frame\x00"))
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// ParseFrame decodes a console line holding a frame, wherever the frame
// starts (after a printk timestamp, say). ok is false for other lines. It
// does not authenticate the frame: see ParseFrameFor.
func ParseFrame(line string) (Frame, bool) {
	f, _, ok := parse(line)
	return f, ok
}

// parse is ParseFrame that also returns the frame's JSON text.
func parse(line string) (Frame, string, bool) {
	i := strings.Index(line, FramePrefix)
	if i < 0 {
		return Frame{}, "", false
	}
	body := strings.TrimSpace(line[i+len(FramePrefix):])
	var f Frame
	if err := json.Unmarshal([]byte(body), &f); err != nil || f.Ev == "" {
		return Frame{}, "", false
	}
	return f, body, true
}

// ParseFrameFor decodes a console line as ParseFrame does (isFrame) and
// says whether the init wrote it (authentic): with key, the plan's Token,
// the line must be a frame as Sign wrote it, its MAC that of the rest of
// its text. A line that parses as a frame and is not authentic is console
// text that looks like a frame: printed by the code under test, most
// likely. With key "" every frame is authentic (plans without a token).
// It does not catch a signed frame printed twice (copied from the kernel
// log): FrameReader does.
func ParseFrameFor(line, key string) (f Frame, authentic, isFrame bool) {
	f, body, ok := parse(line)
	if !ok {
		return Frame{}, false, false
	}
	return f, key == "" || signed(body, key), true
}

// signed reports whether body, a frame's JSON text, carries the MAC of
// the rest of it under key as its last member.
func signed(body, key string) bool {
	j := strings.LastIndex(body, tokField)
	if j < 0 || !strings.HasSuffix(body, `"}`) || j+len(tokField) > len(body)-2 {
		return false
	}
	mac := body[j+len(tokField) : len(body)-2]
	return hmac.Equal([]byte(mac), []byte(frameMAC(key, body[:j]+"}")))
}

// Step statuses, as the host reads them from the frames.
const (
	StatusPassed  = "passed"
	StatusFailed  = "failed"
	StatusCrashed = "crashed" // started, never ended
	StatusSkipped = "skipped" // never started
)

// Taint flags the host acts on (include/linux/panic.h).
const (
	TaintBadPage = 1 << 5 // B: bad page; KASAN reports set it too
	TaintDie     = 1 << 7 // D: an oops (die())
	TaintWarn    = 1 << 9 // W: a WARN fired
)

// TaintCrash is the flags after which a kernel is no longer one a verdict
// can trust. A lockdep splat sets no flag of its own (it turns lock
// debugging off): the host reads the console for it.
const TaintCrash = TaintDie | TaintWarn | TaintBadPage
