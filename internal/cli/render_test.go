package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rkodev/rko/internal/guest"
	"github.com/rkodev/rko/internal/kbuild"
	"github.com/rkodev/rko/internal/results"
	"github.com/rkodev/rko/internal/toolchain"
	"github.com/rkodev/rko/internal/workflow"
)

func report(passed bool) *workflow.Report {
	rep := &workflow.Report{
		Kernel:     workflow.KernelInfo{Arch: "x86_64", Release: "7.3.4", Origin: "rko", Profile: "default"},
		Accel:      "tcg",
		ConsoleLog: "/runs/1/console.log",
		Steps: []guest.StepResult{
			{Name: "insmod hello", Status: "passed"},
			{Name: "test hello/smoke.sh", Status: "failed", Output: []string{"smoke: bad answer"}},
		},
		Results: &results.Results{Schema: results.SchemaVersion, Crashes: []results.Crash{}},
		Timings: workflow.Timings{Total: 1.25},
	}
	rep.Verdict = workflow.Verdict{Passed: passed}
	if passed {
		rep.Steps[1].Status, rep.Steps[1].Output = "passed", nil
	} else {
		rep.Verdict.Reason = `step "test hello/smoke.sh" failed (exit status 1)`
		rep.Verdict.Forged = []workflow.Forged{{Step: "test hello/smoke.sh", Line: `@@rko {"ev":"end"}`, Why: "no token"}}
	}
	return rep
}

// TestRenderTest checks rko test's text and JSON output and its exit
// status for a passed and a failed report, and that --junit is written.
func TestRenderTest(t *testing.T) {
	tests := []struct {
		name   string
		passed bool
		json   bool
		want   []string
		code   int
	}{
		{"pass text", true, false, []string{"kernel x86_64 7.3.4 (default), tcg\n", "  passed   test hello/smoke.sh\n", "PASS in 1.2s (console: /runs/1/console.log)\n"}, ExitOK},
		{"fail text", false, false, []string{"  failed   test hello/smoke.sh\n           | smoke: bad answer\n", "FAIL: step \"test hello/smoke.sh\" failed (exit status 1)\nconsole: /runs/1/console.log\n"}, ExitFail},
		{"fail json", false, true, []string{`"passed": false`, `"forged": [`, `"why": "no token"`, `"arch": "x86_64"`}, ExitFail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, out, _ := testStreams("")
			junit := filepath.Join(t.TempDir(), "r.xml")
			err := renderTest(&TestOptions{jobOptions: jobOptions{IO: f.IO}, JSON: tt.json, JUnit: junit}, report(tt.passed))
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if tt.json && !json.Valid(out.Bytes()) {
				t.Errorf("--json output is not JSON:\n%s", out)
			}
			if got := exitStatus(err, &bytes.Buffer{}); got != tt.code {
				t.Errorf("exit status %d, want %d", got, tt.code)
			}
			if _, err := os.Stat(junit); err != nil {
				t.Errorf("--junit: %v", err)
			}
		})
	}
}

// TestRunExit: rko run exits with the command's status, 127 when it was
// not found, and 1 when the run failed for another reason.
func TestRunExit(t *testing.T) {
	const step = "run false"
	failedRun := func(rc int, errText string) (*workflow.Report, *guest.StepResult) {
		rep := report(false)
		rep.Verdict.Step = step
		return rep, &guest.StepResult{Name: step, Status: "failed", RC: rc, Error: errText}
	}
	tests := []struct {
		name string
		rep  func() (*workflow.Report, *guest.StepResult)
		code int
	}{
		{"passed", func() (*workflow.Report, *guest.StepResult) {
			return report(true), &guest.StepResult{Name: step, Status: "passed"}
		}, ExitOK},
		{"command status", func() (*workflow.Report, *guest.StepResult) { return failedRun(3, "") }, 3},
		{"not found", func() (*workflow.Report, *guest.StepResult) { return failedRun(0, "exec: command not found") }, 127},
		{"crash", func() (*workflow.Report, *guest.StepResult) {
			rep, ran := failedRun(1, "")
			rep.Crashes = []results.Crash{{Title: "BUG: oops"}}
			return rep, ran
		}, ExitFail},
		{"never ran", func() (*workflow.Report, *guest.StepResult) { return report(false), nil }, ExitFail},
	}
	for _, tt := range tests {
		rep, ran := tt.rep()
		var stderr bytes.Buffer
		if got := exitStatus(runExit(rep, ran, step, &stderr), &bytes.Buffer{}); got != tt.code {
			t.Errorf("%s: exit status %d, want %d (%s)", tt.name, got, tt.code, stderr.String())
		}
	}
}

// TestExitStatus maps errors to exit codes: a module that does not
// compile is a finding (1), other errors mean rko could not run (2).
func TestExitStatus(t *testing.T) {
	tests := []struct {
		err  error
		code int
	}{
		{nil, ExitOK},
		{exitCode(5), 5},
		{&kbuild.Error{Diagnostics: []kbuild.Diagnostic{{Severity: "error", Message: "x"}}}, ExitFail},
		{errors.New("no QEMU"), ExitError},
	}
	for _, tt := range tests {
		var w bytes.Buffer
		if got := exitStatus(tt.err, &w); got != tt.code {
			t.Errorf("exitStatus(%v) = %d, want %d", tt.err, got, tt.code)
		}
	}
}

// TestPrintCycle renders rko watch's cycles as text and JSON lines.
func TestPrintCycle(t *testing.T) {
	var out bytes.Buffer
	c := workflow.WatchCycle{Cycle: 2, EditToVerdictS: 0.5, Report: report(true)}
	printCycle(&out, false, c, nil)
	if got := out.String(); !strings.HasPrefix(got, "cycle 2: PASS in 0.50s\n") {
		t.Errorf("text cycle = %q", got)
	}
	out.Reset()
	be := &kbuild.Error{Diagnostics: []kbuild.Diagnostic{{File: "m.rs", Line: 3, Col: 1, Severity: "error", Message: "nope"}}}
	fail := workflow.WatchCycle{Cycle: 3, Report: &workflow.Report{Verdict: workflow.Verdict{Reason: "module build failed"}}}
	printCycle(&out, false, fail, be)
	if got := out.String(); !strings.Contains(got, "cycle 3: FAIL") || !strings.Contains(got, "m.rs:3:1") || !strings.Contains(got, "the guest keeps running") {
		t.Errorf("build failure cycle = %q", got)
	}
	out.Reset()
	printCycle(&out, true, c, nil)
	var back map[string]any
	if err := json.Unmarshal(out.Bytes(), &back); err != nil || back["cycle"] != 2.0 || strings.Count(out.String(), "\n") != 1 {
		t.Errorf("json cycle = %q (%v)", out.String(), err)
	}
}

// TestDoctorRender runs rko doctor's rendering on a report, through a
// runF that stands in for the checks.
func TestDoctorFlags(t *testing.T) {
	f, _, _ := testStreams("")
	var got *DoctorOptions
	c := NewCmdDoctor(f, func(_ context.Context, o *DoctorOptions) error { got = o; return nil })
	c.SetArgs([]string{"--arch", "riscv64", "--kernel", "debian"})
	c.SilenceUsage, c.SilenceErrors = true, true
	if err := c.Execute(); err == nil {
		t.Fatal("doctor --arch riscv64 --kernel debian ran; want it refused")
	}
	c = NewCmdDoctor(f, func(_ context.Context, o *DoctorOptions) error { got = o; return nil })
	c.SetArgs([]string{"--arch", "riscv64", "--toolchain", "rootfs"})
	if err := c.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Params.Target.Name != "riscv64" || got.Params.Toolchain != "rootfs" || got.Params.Kernel.Kind != "rko" {
		t.Errorf("doctor params = %+v", got.Params)
	}
	var w bytes.Buffer
	printChecks(&w, []toolchain.Check{{Name: "rustc", Status: toolchain.Fail, Found: "1.70", Detail: "too old", Fix: "apt-get install rustc"}})
	if want := "FAIL rustc                1.70 — too old\n     fix: apt-get install rustc\n"; w.String() != want {
		t.Errorf("printChecks = %q, want %q", w.String(), want)
	}
}

// TestPrintTestKernels checks the table of rko test --kernel A,B: a
// kernel that passed, one whose module did not build (its drift), and the
// last line.
func TestPrintTestKernels(t *testing.T) {
	ok := report(true)
	ok.Kernel.Release = "7.3.4"
	rep := &workflow.KernelsReport{Schema: workflow.KernelsSchema, Kernels: []workflow.KernelRun{
		{Kernel: "6.12", Error: "module build in /m failed with 1 error(s)"},
		{Kernel: "7.3", Passed: true, Report: ok},
	}}
	var b bytes.Buffer
	printTestKernels(&b, rep, false)
	for _, want := range []string{
		"== --kernel 6.12\nFAIL: module build in /m failed with 1 error(s)\n",
		"== --kernel 7.3\nkernel x86_64 7.3.4 (default), tcg\n",
		"KERNEL  RELEASE  ARCH    VERDICT                    TIME\n",
		"6.12    -        -       FAIL: did not run (build)  -\n",
		"7.3     7.3.4    x86_64  PASS                       1.2s\n",
		"FAIL on 1 of 2 kernels\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
}
