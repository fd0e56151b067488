// Package proto is rko's guest protocol, the one definition compiled into
// both the host (package guest, vm users) and the guest init (PID 1): the
// plan and its steps, the commands of the init's command mode, and the
// frames the init prints. It uses the standard library only, so the init
// stays a static program built anywhere. See docs/guest-protocol.md.
package proto

import (
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
)

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
	// Token is the boot's secret, chosen by the host: the init puts it in
	// every frame it writes, so a frame the code under test prints (a
	// module's printk, a test script's echo to /dev/kmsg) is told from the
	// init's own. Empty: frames are not authenticated (old plans).
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
	Step   *Step `json:"step,omitempty"`
}

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
	// Token is the plan's Token: only the init knows it.
	Token string `json:"tok,omitempty"`
}

// Encode encodes the frame as a console line (without the newline).
func (f Frame) Encode() string {
	b, _ := json.Marshal(f)
	return FramePrefix + string(b)
}

// ParseFrame decodes a console line holding a frame, wherever the frame
// starts (after a printk timestamp, say). ok is false for other lines.
func ParseFrame(line string) (Frame, bool) {
	i := strings.Index(line, FramePrefix)
	if i < 0 {
		return Frame{}, false
	}
	var f Frame
	if err := json.Unmarshal([]byte(strings.TrimSpace(line[i+len(FramePrefix):])), &f); err != nil || f.Ev == "" {
		return Frame{}, false
	}
	return f, true
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
