package workflow

import (
	"context"
	"regexp"
	"strconv"
	"strings"

	"github.com/rkodev/rko/internal/guest"
	"github.com/rkodev/rko/internal/guest/proto"
	"github.com/rkodev/rko/internal/symbolize"
)

// FailNthSweep is what rko test --fail-nth found for one module: how many
// fault-injectable calls its load (and probe) made and were each failed
// once, how the loads ended, and the calls whose failure crashed the
// kernel or leaked (docs/fail-nth.md).
type FailNthSweep struct {
	Module string `json:"module"`
	// Calls is the number of fault-injectable calls tried (N = 1..Calls
	// each failed once); Complete says a load then ran with nothing
	// injected.
	Calls    int  `json:"calls"`
	Complete bool `json:"complete"`
	// Seconds is the sweep's time in the guest.
	Seconds float64 `json:"seconds"`
	// Results counts the loads by how they ended: "ok" (the failure was
	// tolerated; the module loaded and was unloaded) or the errno
	// ("ENOMEM", the expected one).
	Results map[string]int `json:"results"`
	// Expected counts the kernel's own reports of injected failures,
	// which are not failures of the module: "fault_injection" (each
	// injected call's report), "page_allocation_failure" (the page
	// allocator's warning when fail_page_alloc failed it),
	// "vmalloc_failure" (vmalloc's "vmalloc error: size ..." warning when
	// its area's allocation was failed), "probe_failed"
	// (a driver core's "probe ... failed with error -N").
	Expected map[string]int `json:"expected,omitempty"`
	// Findings are the calls whose failure ended badly.
	Findings []FailNthFinding `json:"findings,omitempty"`
}

// FailNthFinding is one injected call whose failure crashed, tainted the
// kernel or leaked.
type FailNthFinding struct {
	// N is the injected call: the load's N-th fault-injectable call failed.
	N int `json:"n"`
	// Kind is "crash" (the kernel oopsed, or WARNed: tainted) or "leak"
	// (kmemleak found memory the failed load allocated).
	Kind string `json:"kind"`
	// Result is how that load ended (ENOMEM, ok, or "" when it never
	// returned).
	Result string `json:"result,omitempty"`
	// Stack is the injected call's stack as the kernel printed it
	// (module frames with their source line), innermost first.
	Stack []string `json:"stack,omitempty"`
	// Source is the first module frame's source line: where the module
	// made the call whose failure it mishandled.
	Source string `json:"source,omitempty"`
}

var (
	failNthTry     = regexp.MustCompile(`^` + proto.FailNthLine + `n=(\d+) pid=(\d+) result=(\S+) injected=(\w+)`)
	failNthStart   = regexp.MustCompile(`^` + proto.FailNthStartLine + `n=(\d+) pid=(\d+)$`)
	failNthDone    = regexp.MustCompile(`^fail-nth: done: (\d+) fault-injectable calls tried`)
	failNthTainted = regexp.MustCompile(`call (\d+) failing tainted`)
	// The task line of a stack dump: "CPU: 0 UID: 0 PID: 123 Comm: ..."
	// (7.x) or "CPU: 0 PID: 123 Comm: ..." (older).
	dumpPID = regexp.MustCompile(`CPU: \d+ (?:UID: \d+ )?PID: (\d+) Comm:`)
	// kmemleak: `comm "init", pid 123, jiffies 4294...`.
	leakPID = regexp.MustCompile(`comm "[^"]*", pid (\d+), jiffies`)
	// A stack frame of a module: " func+0x1a/0x40 [mod]".
	modFrame = regexp.MustCompile(`^\s*(?:\? )?([A-Za-z0-9_.$]+)\+0x([0-9a-f]+)/0x[0-9a-f]+ \[([A-Za-z0-9_]+)\]`)
	stampRE  = regexp.MustCompile(`^\[\s*\d+\.\d+\](?:\[\s*[CT]\d+\])? ?`)
)

// FailNthSweeps reads the sweeps of a run: each fail-nth step's tries
// (its output), the kernel's report of each injected call (its stack,
// printed while the module was loaded, so with its symbols) and the
// kmemleak reports, tied to a try by the loading task's pid.
func FailNthSweeps(ctx context.Context, steps []guest.StepResult, console []byte, mods []symbolize.Module) []FailNthSweep {
	var sweeps []FailNthSweep
	type try struct {
		sweep, n int
		result   string
	}
	byPID := map[int]try{}
	for _, st := range steps {
		if st.Kind != proto.KindFailNth {
			continue
		}
		sw := FailNthSweep{Module: strings.TrimPrefix(st.Name, "fail-nth "), Results: map[string]int{}, Seconds: float64(st.Ms) / 1000}
		started := 0 // the last try that began its load
		for _, l := range st.Output {
			if m := failNthStart.FindStringSubmatch(l); m != nil {
				n, _ := strconv.Atoi(m[1])
				pid, _ := strconv.Atoi(m[2])
				started = n
				byPID[pid] = try{sweep: len(sweeps), n: n}
			} else if m := failNthTry.FindStringSubmatch(l); m != nil {
				n, _ := strconv.Atoi(m[1])
				pid, _ := strconv.Atoi(m[2])
				sw.Calls = max(sw.Calls, n)
				if m[4] == "true" {
					sw.Results[m[3]]++
				} else {
					sw.Calls = n - 1
				}
				byPID[pid] = try{sweep: len(sweeps), n: n, result: m[3]}
			} else if m := failNthDone.FindStringSubmatch(l); m != nil {
				sw.Complete = true
			}
		}
		if st.Status != "passed" {
			// The try after the last one reported is the one that
			// crashed (its line never came) or tainted the kernel.
			n := max(sw.Calls+1, started)
			if m := failNthTainted.FindStringSubmatch(st.Error + strings.Join(st.Output, "\n")); m != nil {
				n, _ = strconv.Atoi(m[1])
			}
			sw.Findings = append(sw.Findings, FailNthFinding{N: n, Kind: "crash"})
		}
		sweeps = append(sweeps, sw)
	}
	if len(sweeps) == 0 {
		return nil
	}
	// The console: each injected call's stack by pid, the expected
	// reports, and the leaks by pid.
	stacks := map[int][]string{}
	leaks := map[int]bool{}
	var cur []string
	curPID, inInject := 0, false
	count := func(kind string) {
		for i := range sweeps {
			if sweeps[i].Expected == nil {
				sweeps[i].Expected = map[string]int{}
			}
		}
		// The reports come during the sweeps; a run has one sweep per
		// module in order, so charge the last sweep that has begun.
		sweeps[len(sweeps)-1].Expected[kind]++
	}
	for _, raw := range strings.Split(string(console), "\n") {
		l := stampRE.ReplaceAllString(strings.TrimRight(raw, "\r"), "")
		switch {
		case strings.HasPrefix(l, "FAULT_INJECTION: forcing a failure"):
			if inInject && curPID != 0 {
				stacks[curPID] = cur
			}
			inInject, cur, curPID = true, nil, 0
			count("fault_injection")
			continue
		case strings.Contains(l, ": page allocation failure: order:"):
			count("page_allocation_failure")
		case strings.Contains(l, ": vmalloc error: size "):
			count("vmalloc_failure")
		case strings.Contains(l, ": probe with driver ") && strings.Contains(l, " failed with error -"):
			// -ENOMEM, or what the failed call became on its way up
			// (pci_request_region says -EBUSY for any failure).
			count("probe_failed")
		}
		if m := leakPID.FindStringSubmatch(l); m != nil {
			pid, _ := strconv.Atoi(m[1])
			leaks[pid] = true
		}
		if !inInject {
			continue
		}
		if m := dumpPID.FindStringSubmatch(l); m != nil && curPID == 0 {
			curPID, _ = strconv.Atoi(m[1])
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(l), "</TASK>") || strings.HasPrefix(l, "@@rko ") {
			if curPID != 0 {
				stacks[curPID] = cur
			}
			inInject, cur, curPID = false, nil, 0
			continue
		}
		// Frames only: "func+0x1a/0x40 [mod]", not the registers of the
		// system call's entry the trace ends with.
		if f := strings.TrimSpace(l); curPID != 0 && strings.Contains(f, "+0x") && !strings.Contains(f, ":") {
			cur = append(cur, f)
		}
	}
	if inInject && curPID != 0 {
		stacks[curPID] = cur
	}
	sym := symbolize.New(mods)
	for pid := range leaks {
		t, ok := byPID[pid]
		if !ok {
			continue
		}
		sweeps[t.sweep].Findings = append(sweeps[t.sweep].Findings, FailNthFinding{N: t.n, Kind: "leak", Result: t.result})
	}
	for i := range sweeps {
		for j := range sweeps[i].Findings {
			f := &sweeps[i].Findings[j]
			for pid, t := range byPID {
				if t.sweep == i && t.n == f.N {
					f.Result = t.result
					f.Stack = symbolizeStack(ctx, sym, stacks[pid])
				}
			}
			for _, fr := range f.Stack {
				// The first reliable module frame ("? " marks a guess).
				if strings.Contains(fr, "] (") && !strings.HasPrefix(fr, "? ") {
					f.Source = fr[strings.LastIndex(fr, "(")+1 : len(fr)-1]
					break
				}
			}
		}
	}
	return sweeps
}

// symbolizeStack adds the source line to each module frame of a stack:
// "leaky_init+0x2a/0x60 [failnth_c] (failnth_c.c:21)".
func symbolizeStack(ctx context.Context, sym *symbolize.Symbolizer, stack []string) []string {
	var out []string
	for _, f := range stack {
		m := modFrame.FindStringSubmatch(f)
		if m != nil && sym.Has(m[3]) {
			off, _ := strconv.ParseUint(m[2], 16, 64)
			if locs, err := sym.Resolve(ctx, m[3], m[1], off, false); err == nil && len(locs) > 0 {
				// The outermost of an inlined chain is the module's own
				// line (the innermost is the kmalloc of slab.h).
				f += " (" + locs[len(locs)-1].String() + ")"
			}
		}
		out = append(out, f)
	}
	return out
}
