package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rkodev/rko/internal/guest"
	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/results"
	"github.com/rkodev/rko/internal/symbolize"
	"github.com/rkodev/rko/internal/vm"
	"github.com/rkodev/rko/internal/workflow"
)

func init() { register(newTestCmd) }

type testOpts struct {
	env       envFlags
	accel     string
	timeout   time.Duration
	memory    int
	cpus      int
	json      bool
	kmemleak  string
	junit     string
	cmdline   []string
	params    []string
	consoleMB int
}

// TestReport is the JSON output of rko test (docs/schemas.md).
type TestReport struct {
	Verdict   workflow.Verdict `json:"verdict"`
	Kernel    KernelInfo       `json:"kernel"`
	Accel     string           `json:"accel"`
	AccelNote string           `json:"accel_note,omitempty"`
	// Attempts are boots given up for reasons of the host (a broken
	// KVM) before the one reported, each with its console log.
	Attempts   []vm.Attempt         `json:"attempts,omitempty"`
	RunDir     string               `json:"run_dir"`
	ConsoleLog string               `json:"console_log"`
	Modules    []workflow.ModuleRun `json:"modules"`
	Steps      []guest.StepResult   `json:"steps"`
	// Results holds "schema", "tests" and "crashes" (docs/results-schema.md),
	// at the top level of the JSON document.
	*results.Results
	// KernelSelfCheck is the kernel's own KUnit suites (the Rust doctests
	// and other built-in suites), run once per kernel build and reported
	// apart: "tests" counts only the modules' suites.
	KernelSelfCheck *workflow.SelfCheck `json:"kernel_selfcheck,omitempty"`
	Timings         Timings             `json:"timings"`
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

func newTestCmd() *cobra.Command {
	o := &testOpts{}
	c := &cobra.Command{
		Use:   "test [DIR...]",
		Short: "Build modules, boot them in QEMU, run their tests and triage the console",
		Long: `test builds each module directory (default: the current one), makes a
reproducible initramfs whose PID 1 is rko's static guest init, boots the
kernel of --profile in QEMU (KVM when it really works, TCG otherwise),
loads every module (running its KUnit suites), runs the executables in
DIR/tests, unloads the modules (a module that does not unload fails) and,
on the debug profile, scans for leaks with kmemleak. The console is read
for KUnit results and for every Oops, BUG, WARNING, KASAN report, lockdep
splat or Rust panic. A guest that hangs is stopped after --timeout; its
console log is kept. Exit status: 0 when everything passed, 1 when
anything failed, 2 when rko could not run.`,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{"."}
			}
			rep, err := RunTest(c.Context(), o, args, printer(o.env.quiet || o.json))
			if err != nil {
				return err
			}
			if o.json {
				if err := writeJSON(c.OutOrStdout(), rep); err != nil {
					return err
				}
			} else {
				printTestReport(c.OutOrStdout(), rep, isTerminal(c.OutOrStdout()))
			}
			if !rep.Verdict.Passed {
				return exitCode(ExitFail)
			}
			return nil
		},
	}
	o.env.add(c, true)
	addKernelFlag(c, &o.env.kernel)
	c.Flags().StringVar(&o.accel, "accel", "auto", "QEMU accelerator: auto (KVM if it really works), kvm or tcg")
	c.Flags().DurationVar(&o.timeout, "timeout", 0, "stop a guest that has not finished after this long (default 3m, 10m for the debug profile)")
	c.Flags().IntVar(&o.memory, "memory", 0, "guest memory in MiB (default 512, 1024 for debug)")
	c.Flags().IntVar(&o.cpus, "cpus", 0, "guest CPUs (default 1, 2 for debug)")
	c.Flags().BoolVar(&o.json, "json", false, "print the report as JSON (docs/schemas.md)")
	c.Flags().StringVar(&o.junit, "junit", "", "also write the KUnit results and crashes as JUnit XML to this file")
	c.Flags().StringVar(&o.kmemleak, "kmemleak", "auto", "scan for leaks after unloading: auto (on with the debug profile), on, off")
	c.Flags().StringArrayVar(&o.params, "param", nil, "module parameter for insmod, MODULE.NAME=VALUE as on the kernel command line (repeatable), e.g. --param hello.count=3")
	c.Flags().IntVar(&o.consoleMB, "console-limit", 256, "stop a guest that prints more than this many MiB on its console")
	c.Flags().StringArrayVar(&o.cmdline, "append", nil, "extra kernel command-line argument, e.g. dyndbg=+p (repeatable; each value is one argument)")
	return c
}

// RunTest is rko test; quickstart calls it too.
func RunTest(ctx context.Context, o *testOpts, dirs []string, p printerT) (*TestReport, error) {
	start := time.Now()
	switch o.kmemleak {
	case "auto", "on", "off":
	default:
		return nil, fmt.Errorf("invalid --kmemleak %q, want auto, on or off", o.kmemleak)
	}
	for _, a := range o.cmdline {
		if a == "" || strings.ContainsAny(a, " \t\n") {
			return nil, fmt.Errorf("--append %q: give one kernel argument per --append, with no spaces (e.g. --append dyndbg=+p --append loglevel=8)", a)
		}
	}
	if o.consoleMB < 1 {
		return nil, fmt.Errorf("invalid --console-limit %d, want at least 1 (MiB)", o.consoleMB)
	}
	params, err := moduleParams(o.params)
	if err != nil {
		return nil, err
	}
	env, ko, err := o.env.prepare(ctx, p, true)
	if err != nil {
		return nil, err
	}
	phase := "kernel (" + o.env.profile + ")"
	if o.env.kernel != "" {
		phase = "kernel (" + o.env.kernel + ")"
	}
	done := p.Phase(phase)
	k, err := env.Kernel(ctx, ko)
	if err != nil {
		return nil, err
	}
	kernelTime := done()
	done = p.Phase("build")
	mods, err := env.BuildModules(ctx, k, dirs)
	if err != nil {
		return nil, err
	}
	buildTime := done()
	to := workflow.TestOpts{Accel: o.accel, Timeout: o.timeout, MemoryMB: o.memory, CPUs: o.cpus,
		Kmemleak: o.kmemleak == "on", Cmdline: o.cmdline, Params: params, ConsoleLimitMB: o.consoleMB}
	to.ProfileDefaults(k, o.kmemleak == "auto")
	plan := workflow.MakePlan(mods, to)
	done = p.Phase(fmt.Sprintf("test (%d steps)", len(plan.Steps)))
	tr, err := env.Boot(ctx, k, mods, plan, to, mods[0].Modules[0])
	if err != nil {
		if tr != nil && tr.ConsoleLog != "" {
			return nil, fmt.Errorf("%w (console log: %s)", err, tr.ConsoleLog)
		}
		return nil, err
	}
	if tr.AccelNote != "" && tr.Accel == "tcg" {
		p.Logf("KVM not used: %s", tr.AccelNote)
	}
	bootTime := done()
	rep := &TestReport{
		Kernel: KernelInfo{Arch: k.Target().Name, Release: k.Release, Origin: k.Origin, Profile: k.Profile, Key: k.Key, Image: k.Image},
		Accel:  tr.Accel, AccelNote: tr.AccelNote, Attempts: tr.Boot.Attempts, RunDir: tr.RunDir, ConsoleLog: tr.ConsoleLog,
		Modules: mods, Steps: tr.Session.Steps,
		Timings: Timings{Kernel: seconds(kernelTime), Build: seconds(buildTime), Boot: seconds(bootTime)},
	}
	judge(ctx, rep, k, mods, tr)
	rep.Timings.Total = seconds(time.Since(start))
	if o.junit != "" {
		if err := writeFileWith(o.junit, rep.Results.WriteJUnit); err != nil {
			return nil, fmt.Errorf("--junit: %w", err)
		}
	}
	if err := tr.WriteJSON("report.json", rep); err != nil {
		p.Warnf("saving the report: %v", err)
	}
	return rep, nil
}

// judge reads tr's console into rep: the kernel's self-check, the
// modules' test results, the crash reports (symbolized against mods) and
// the verdict. rko test and each cycle of rko watch decide the same way.
func judge(ctx context.Context, rep *TestReport, k *kernel.Kernel, mods []workflow.ModuleRun, tr *workflow.TestRun) {
	var syms []symbolize.Module
	for _, m := range mods {
		for i, ko := range m.KoPaths {
			syms = append(syms, symbolize.Module{Name: m.Modules[i], KoPath: ko, SourceDir: m.Dir, BuildDir: m.BuildPath})
		}
	}
	from := 0
	if tr.Session == nil || !tr.Session.Served {
		from = guest.BootOffset(tr.Boot.Console)
		rep.KernelSelfCheck = workflow.SelfCheckFrom(k, tr.Boot.Console, tr.ConsoleLog)
	} else if sc, ok := workflow.LoadSelfCheck(k); ok {
		rep.KernelSelfCheck = sc
	}
	rep.Results = results.FromConsole(tr.Boot.Console, results.Options{Modules: syms, Context: ctx, TestsFrom: from})
	title := ""
	if len(rep.Crashes) > 0 {
		title = rep.Crashes[0].Title
		if src := rep.Crashes[0].Source; src != "" {
			title += " (" + src + ")"
		}
	}
	rep.Verdict = workflow.Judge(tr, title, rep.Tests.Failed+rep.Tests.Crashed)
	rep.Verdict.Notes = workflow.KernelNotes(k, mods)
}

func printTestReport(w io.Writer, r *TestReport, color bool) {
	what := r.Kernel.Profile
	if r.Kernel.Origin != "" && r.Kernel.Origin != "rko" {
		what = r.Kernel.Origin
	}
	fmt.Fprintf(w, "kernel %s %s (%s), %s\n", r.Kernel.Arch, r.Kernel.Release, what, r.Accel)
	for _, s := range r.Steps {
		fmt.Fprintf(w, "  %-8s %s\n", s.Status, s.Name)
		if s.Status != "passed" {
			for _, l := range s.Output {
				fmt.Fprintf(w, "           | %s\n", l)
			}
		}
	}
	r.Results.WriteText(w, color)
	for _, n := range r.Verdict.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if r.Verdict.Passed {
		fmt.Fprintf(w, "PASS in %.1fs (console: %s)\n", r.Timings.Total, r.ConsoleLog)
	} else {
		fmt.Fprintf(w, "FAIL: %s\nconsole: %s\n", r.Verdict.Reason, r.ConsoleLog)
	}
}

// moduleParams reads --param MODULE.NAME=VALUE flags into the insmod
// parameters of each module ("NAME=VALUE NAME2=VALUE2").
func moduleParams(flags []string) (map[string]string, error) {
	params := map[string]string{}
	for _, f := range flags {
		mod, nv, ok := strings.Cut(f, ".")
		name, _, hasValue := strings.Cut(nv, "=")
		if !ok || mod == "" || name == "" || !hasValue || strings.ContainsAny(f, " \t\n") {
			return nil, fmt.Errorf("invalid --param %q, want MODULE.NAME=VALUE with no spaces (e.g. --param hello.count=3)", f)
		}
		mod = strings.ReplaceAll(mod, "-", "_")
		if params[mod] != "" {
			params[mod] += " "
		}
		params[mod] += nv
	}
	return params, nil
}
