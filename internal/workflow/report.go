package workflow

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/rkodev/rko/internal/guest"
	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/results"
	"github.com/rkodev/rko/internal/symbolize"
	"github.com/rkodev/rko/internal/vm"
)

// Report is the outcome of one job run (rko test's JSON, one line of rko
// watch --json, a cell of a matrix): docs/schemas.md.
type Report struct {
	Verdict   Verdict    `json:"verdict"`
	Kernel    KernelInfo `json:"kernel"`
	Accel     string     `json:"accel"`
	AccelNote string     `json:"accel_note,omitempty"`
	// Attempts are boots given up for reasons of the host (a broken
	// KVM) before the one reported, each with its console log.
	Attempts   []vm.Attempt       `json:"attempts,omitempty"`
	RunDir     string             `json:"run_dir"`
	ConsoleLog string             `json:"console_log"`
	Modules    []ModuleRun        `json:"modules"`
	Steps      []guest.StepResult `json:"steps"`
	// Results holds "schema", "tests" and "crashes" (docs/results-schema.md),
	// at the top level of the JSON document.
	*results.Results
	// KernelSelfCheck is the kernel's own KUnit suites (the Rust doctests
	// and other built-in suites), run once per kernel build and reported
	// apart: "tests" counts only the modules' suites.
	KernelSelfCheck *SelfCheck `json:"kernel_selfcheck,omitempty"`
	// FailNth are the sweeps of rko test --fail-nth, one per module.
	FailNth []FailNthSweep `json:"fail_nth,omitempty"`
	Timings Timings        `json:"timings"`
}

// KernelInfo identifies the kernel a run used.
type KernelInfo struct {
	// Arch is the guest architecture (--arch).
	Arch    string `json:"arch"`
	Release string `json:"release"`
	// Origin is where the kernel came from: "rko", "dir:PATH" or
	// "debian:RELEASE (VERSION)" (kernel.Kernel.Origin).
	Origin  string `json:"origin"`
	Profile string `json:"profile"`
	Key     string `json:"key"`
	Image   string `json:"image"`
}

// Timings are the phases of a run, in seconds.
type Timings struct {
	Kernel float64 `json:"kernel_s"`
	Build  float64 `json:"build_s"`
	Boot   float64 `json:"boot_s"`
	Total  float64 `json:"total_s"`
}

// probeFailed is the driver core's line for a probe that returned an
// error (drivers/base/dd.c, call_driver_probe; -ENODEV and -ENXIO are
// quiet).
var probeFailed = regexp.MustCompile(`\] (\S+ \S+): probe with driver (\S+) failed with error (-\d+)`)

// probeFailures lists the failed probes of a console, "DEV: driver DRV:
// error -12", for a driver that bound nothing.
func probeFailures(console []byte) string {
	var out []string
	for _, m := range probeFailed.FindAllStringSubmatch(string(console), 8) {
		out = append(out, fmt.Sprintf("%s: probe with driver %s failed with error %s", m[1], m[2], m[3]))
	}
	return strings.Join(out, "; ")
}

// InfoOf describes k for a report.
func InfoOf(k *kernel.Kernel) KernelInfo {
	return KernelInfo{Arch: k.Target().Name, Release: k.Release, Origin: k.Origin, Profile: k.Profile, Key: k.Key, Image: k.Image}
}

// NewReport is the report of tr, a run of mods on k: the console read
// for the kernel's self-check, the modules' test results and the crash
// reports (symbolized against mods), and the verdict. rko test, rko run,
// rko shell and each cycle of rko watch decide the same way.
func NewReport(ctx context.Context, k *kernel.Kernel, mods []ModuleRun, tr *TestRun) *Report {
	rep := &Report{Kernel: InfoOf(k), Accel: tr.Accel, AccelNote: tr.AccelNote, RunDir: tr.RunDir, ConsoleLog: tr.ConsoleLog,
		Modules: mods}
	if tr.Boot != nil {
		rep.Attempts = tr.Boot.Attempts
	}
	if tr.Session != nil {
		rep.Steps = tr.Session.Steps
	}
	var syms []symbolize.Module
	for _, m := range mods {
		for i, ko := range m.KoPaths {
			syms = append(syms, symbolize.Module{Name: m.Modules[i], KoPath: ko, SourceDir: m.Dir, BuildDir: m.BuildPath})
		}
	}
	from := 0
	if tr.Session == nil || !tr.Session.Served {
		from = guest.BootOffset(tr.Boot.Console)
		rep.KernelSelfCheck = SelfCheckFrom(k, tr.Boot.Console, tr.ConsoleLog)
	} else if sc, ok := LoadSelfCheck(k); ok {
		rep.KernelSelfCheck = sc
	}
	rep.Results = results.FromConsole(tr.Boot.Console, results.Options{Modules: syms, Context: ctx, TestsFrom: from, Token: tr.Token})
	title := ""
	if len(rep.Crashes) > 0 {
		title = rep.Crashes[0].Title
		if src := rep.Crashes[0].Source; src != "" {
			title += " (" + src + ")"
		}
	}
	rep.Verdict = Judge(tr, title, rep.Tests.Failed+rep.Tests.Crashed)
	if tr.Session != nil {
		rep.FailNth = FailNthSweeps(ctx, tr.Session.Steps, tr.Boot.Console, syms)
	}
	for _, sw := range rep.FailNth {
		// A sweep's finding names the injected call: a better reason than
		// the step (kmemleak, fail-nth) it failed.
		if len(sw.Findings) > 0 {
			f := sw.Findings[0]
			what := map[string]string{"leak": "leaked memory (kmemleak)", "crash": "crashed or tainted the kernel"}[f.Kind]
			reason := fmt.Sprintf("fail-nth: the load of %s with its call %d failing %s", sw.Module, f.N, what)
			if f.Source != "" {
				reason += "; the failed call: " + f.Source
			}
			if title != "" {
				reason += ": " + title
			}
			rep.Verdict.Passed, rep.Verdict.Reason = false, reason
			break
		}
	}
	if strings.HasPrefix(rep.Verdict.Step, "bound ") {
		if why := probeFailures(tr.Boot.Console); why != "" {
			rep.Verdict.Reason += "; the kernel said: " + why
		}
	}
	rep.Verdict.Notes = KernelNotes(k, mods)
	return rep
}
