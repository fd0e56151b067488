package mcpserver

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/rkodev/rko/internal/job"
	"github.com/rkodev/rko/internal/kdoc"
	"github.com/rkodev/rko/internal/lint"
	"github.com/rkodev/rko/internal/results"
	"github.com/rkodev/rko/internal/scaffold"
	"github.com/rkodev/rko/internal/symbolize"
	"github.com/rkodev/rko/internal/toolchain"
	"github.com/rkodev/rko/internal/workflow"
)

// The tools' names, as clients call them.
const (
	ToolDoctor     = "doctor"
	ToolNew        = "new"
	ToolBuild      = "build"
	ToolTest       = "test"
	ToolTriage     = "triage"
	ToolLint       = "lint"
	ToolDoc        = "doc"
	ToolWatchStart = "watch_start"
	ToolWatchCycle = "watch_cycle"
	ToolWatchStop  = "watch_stop"
)

func ptr[T any](v T) *T { return &v }

func (s *Server) addTools() {
	addTool(s, &mcp.Tool{Name: ToolDoctor, Title: "Check the host and toolchain",
		Description: "Check the host and the Rust-for-Linux toolchain as rko doctor does: the kernel's rust_is_available rules (rustc, bindgen, libclang, rust-src), clang, make, QEMU, bubblewrap, and whether KVM really runs a guest (it boots one). Each failing check says how to fix it. Returns the doctor report; ok is false when a check failed.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, OpenWorldHint: ptr(false)}}, s.doctor)
	addTool(s, &mcp.Tool{Name: ToolNew, Title: "Create a module directory",
		Description: "Create DIR/NAME as rko new does: a Rust kernel module (or its C twin, lang c) with KUnit tests, Kbuild, Makefile and tests/smoke.sh; never writes into an existing path. A Rust module gets rust-project.json when the kernel is built already. Returns the new directory: pass it to test.",
		Annotations: &mcp.ToolAnnotations{DestructiveHint: ptr(false), OpenWorldHint: ptr(false)}}, s.newModule)
	addTool(s, &mcp.Tool{Name: ToolBuild, Title: "Build modules",
		Description: "Build module directories out of tree with Kbuild against the kernel the fields name (rko's own by default, built first if needed: minutes, with progress), as rko build does. Returns the built .ko files; a module that does not compile is an error result listing the compiler's messages (file:line:col).",
		Annotations: &mcp.ToolAnnotations{DestructiveHint: ptr(false), IdempotentHint: true, OpenWorldHint: ptr(false)}}, s.build)
	addTool(s, &mcp.Tool{Name: ToolTest, Title: "Build, boot and test modules",
		Description: "Run rko test: build the module directories, boot the kernel in QEMU with them, load each module (its KUnit suites run), run the executables in DIR/tests, unload, and read the console for KUnit results and every Oops, BUG, WARNING, KASAN report, lockdep splat or Rust panic. Returns rko test's JSON report: verdict (passed, reason, step), crashes (type, title, source file:line of the guilty frame, frames, report text), tests (counts and the KUnit tree of suites), steps, console_log; plus the job that ran. Give dirs and optional kernel/boot fields, or a whole job. The console log and report stay readable as rko://runs/last/console.log and rko://runs/last/report.json.",
		Annotations: &mcp.ToolAnnotations{DestructiveHint: ptr(false), IdempotentHint: true, OpenWorldHint: ptr(false)}}, s.test)
	addTool(s, &mcp.Tool{Name: ToolTriage, Title: "Triage a console log",
		Description: "Turn a saved console or dmesg log into test results and crash reports, as rko triage does: KUnit/KTAP verdicts and every crash report with its type, a stable title and the guilty frame (the source line with modules given). Give path or text.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, OpenWorldHint: ptr(false)}}, s.triage)
	addTool(s, &mcp.Tool{Name: ToolLint, Title: "Lint Rust kernel code",
		Description: "Check the Rust-for-Linux rules on Rust source without a compiler, as rko lint does: SAFETY comments on unsafe blocks and impls, # Safety docs, no raw bindings outside abstractions, no panics and no std in kernel code, no sleeping under a spinlock, SPDX headers. Returns the findings (rule, severity, path:line:column, message); errors counts the error-level ones. Rules: rko://docs/lint.md.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, OpenWorldHint: ptr(false)}}, s.lint)
	addTool(s, &mcp.Tool{Name: ToolDoc, Title: "Look up the kernel's Rust API",
		Description: "Answer a query from the rustdoc of the kernel crate (and macros, pin_init) for the kernel rko builds, as rko doc does (e.g. KVec::push, miscdevice, Mutex): each match's path, kind, signature, first doc paragraph and source file:line; items the kernel's config leaves out with the option that brings them in; else the closest names. Needs the kernel built (run test or build first); the first query builds the docs (a minute or two).",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, OpenWorldHint: ptr(false)}}, s.doc)
	addTool(s, &mcp.Tool{Name: ToolWatchStart, Title: "Start a watch session",
		Description: "Start a watch session, as rko watch does: boot the kernel once and keep the guest up, run a first cycle (build, load, KUnit, tests/, unload, verdict) and return its result with the session id. Then call watch_cycle after each edit for a new verdict in about a second (the same verdict rko test gives), and watch_stop at the end. Cycles run when watch_cycle asks, not on file saves. The session holds its module directories (test and build refuse them) until watch_stop; it ends with the server.",
		Annotations: &mcp.ToolAnnotations{DestructiveHint: ptr(false), OpenWorldHint: ptr(false)}}, s.watchStart)
	addTool(s, &mcp.Tool{Name: ToolWatchCycle, Title: "Run a watch cycle",
		Description: "Run one cycle of a watch session now (rebuild, load, KUnit, tests/, unload) and return its result: the verdict and report of rko test, the compiler's messages if the module did not build (the guest keeps running), and whether the guest is rebooted after a crash.",
		Annotations: &mcp.ToolAnnotations{DestructiveHint: ptr(false), OpenWorldHint: ptr(false)}}, s.watchCycle)
	addTool(s, &mcp.Tool{Name: ToolWatchStop, Title: "Stop a watch session",
		Description: "Stop a watch session: its guest is stopped and its module directories are free again.",
		Annotations: &mcp.ToolAnnotations{DestructiveHint: ptr(false), IdempotentHint: true, OpenWorldHint: ptr(false)}}, s.watchStop)
}

// DoctorInput is the doctor tool's input.
type DoctorInput struct {
	Arch      string `json:"arch,omitempty" jsonschema:"guest architecture the QEMU and KVM checks are for: x86_64, arm64, riscv64 or um (default: the host's)"`
	Toolchain string `json:"toolchain,omitempty" jsonschema:"toolchain to check: host (default) or rootfs (rko's pinned Debian trixie rootfs)"`
	Kernel    string `json:"kernel,omitempty" jsonschema:"also check this kernel: debian[:RELEASE] (the toolchain against Debian's kernel) or the absolute path of a kernel tree you built"`
	Source    string `json:"source,omitempty" jsonschema:"kernel source tree or tarball whose minima apply (default: Linux 7.3's)"`
}

func (s *Server) doctor(ctx context.Context, c *call, in DoctorInput) (*workflow.DoctorReport, string, error) {
	jk := KernelInput{Kernel: in.Kernel, Arch: in.Arch, Source: in.Source}.request()
	j := &job.Job{Kernel: jk, Toolchain: "auto"}
	j.Defaults()
	if _, err := j.CheckKernel(); err != nil {
		return nil, "", err
	}
	tc := in.Toolchain
	switch tc {
	case "", "auto":
		tc = "host"
	case "host", "rootfs":
	default:
		return nil, "", &job.Error{Field: "toolchain", Msg: fmt.Sprintf("unknown toolchain %q, want host or rootfs", in.Toolchain)}
	}
	rep, err := s.work.doctor(ctx, workflow.DoctorParams{Target: jk.Target(), Toolchain: tc, Source: jk.Source, Kernel: jk})
	if err != nil {
		return nil, "", err
	}
	var b strings.Builder
	if rep.OK {
		fmt.Fprintf(&b, "all checks passed (toolchain: %s, %s guests: %s)", rep.Toolchain, rep.Arch, rep.Accel)
	} else {
		fmt.Fprintf(&b, "some checks failed (toolchain: %s):", rep.Toolchain)
		for _, ch := range rep.Checks {
			if ch.Status == toolchain.Fail {
				fmt.Fprintf(&b, "\n- %s: %s", ch.Name, ch.Detail)
				if ch.Fix != "" {
					fmt.Fprintf(&b, " (fix: %s)", ch.Fix)
				}
			}
		}
	}
	return rep, b.String(), nil
}

// NewInput is the new tool's input.
type NewInput struct {
	Name   string `json:"name" jsonschema:"module name: letters, digits and _ (a C and Rust identifier)"`
	Dir    string `json:"dir" jsonschema:"directory to create the module in (DIR/NAME is made), absolute"`
	Lang   string `json:"lang,omitempty" jsonschema:"rust (default) or c"`
	Author string `json:"author,omitempty" jsonschema:"MODULE_AUTHOR / authors (default rko)"`
	KernelInput
}

// NewOutput is what the new tool made.
type NewOutput struct {
	// Dir is the module directory, to give to test.
	Dir  string `json:"dir"`
	Lang string `json:"lang"`
	// RustProject says whether rust-project.json was written, and why not.
	RustProject string `json:"rust_project,omitempty"`
}

func (s *Server) newModule(ctx context.Context, c *call, in NewInput) (NewOutput, string, error) {
	if in.Dir == "" {
		return NewOutput{}, "", &job.Error{Field: "dir", Msg: "no directory: give the absolute path of the directory to create the module in"}
	}
	parent := absPath(in.Dir)
	if err := s.checkRoots("dir", parent); err != nil {
		return NewOutput{}, "", err
	}
	lang := in.Lang
	if lang == "" {
		lang = "rust"
	}
	j, err := in.KernelInput.kernelJob()
	if err != nil {
		return NewOutput{}, "", err
	}
	dir, err := scaffold.New(scaffold.Opts{Name: in.Name, Lang: lang, Parent: parent, Author: in.Author})
	if err != nil {
		return NewOutput{}, "", err
	}
	out := NewOutput{Dir: dir, Lang: lang}
	if lang == "rust" {
		out.RustProject = "written for the kernel " + j.Kernel.Describe()
		env, err := workflow.PrepareFor(ctx, j.Toolchain, j.Kernel, false, c.p)
		if err == nil {
			k, kerr := env.CachedKernel(ctx, j.Kernel)
			if err = kerr; err == nil {
				_, err = env.RustProjects(ctx, k, []string{dir}, false)
			}
		}
		if err != nil {
			out.RustProject = fmt.Sprintf("not written (%v); build or test writes it", err)
		}
	}
	return out, fmt.Sprintf("created %s (%s); next: test with dirs [%q]", dir, lang, dir), nil
}

// BuildOutput is what the build tool built.
type BuildOutput struct {
	// Kernel is the kernel the modules were built against.
	Kernel workflow.KernelInfo `json:"kernel"`
	// Modules are the module directories with their .ko files.
	Modules []workflow.ModuleRun `json:"modules"`
	// WaitedS is how long the call waited for another call on the same
	// module directory.
	WaitedS float64 `json:"waited_s,omitempty"`
	// Job is the job the call made (the kernel and the modules).
	Job *job.Job `json:"job"`
}

func (s *Server) build(ctx context.Context, c *call, in BuildInput) (BuildOutput, string, error) {
	j, err := in.toJob()
	if err != nil {
		return BuildOutput{}, "", err
	}
	if err := s.checkRoots("dirs", j.Modules...); err != nil {
		return BuildOutput{}, "", err
	}
	release, waited, err := s.locks.acquire(ctx, j.Modules, "")
	if err != nil {
		return BuildOutput{}, "", err
	}
	defer release()
	if n := waitNote(waited); n != "" {
		c.p.Logf("%s", n)
	}
	r, err := s.work.resolve(ctx, j, c.p)
	if err != nil {
		return BuildOutput{}, "", err
	}
	done := c.p.Phase("build")
	mods, err := s.work.build(ctx, r)
	if err != nil {
		return BuildOutput{}, "", fmt.Errorf("%w\nfix the code and call build again", err)
	}
	done()
	out := BuildOutput{Modules: mods, WaitedS: seconds(waited), Job: j}
	if r.Kernel != nil {
		out.Kernel = workflow.InfoOf(r.Kernel)
	}
	var kos []string
	for _, m := range mods {
		kos = append(kos, m.KoPaths...)
	}
	text := "built " + strings.Join(kos, ", ")
	if n := waitNote(waited); n != "" {
		text += "\n" + n
	}
	return out, text, nil
}

// TestOutput is the test tool's result: rko test's report (the document
// of rko test --json, docs/schemas.md), the job that ran, and how long
// the call waited for another one on the same module directory.
type TestOutput struct {
	*workflow.Report
	// Job is the job that ran: rko test --job runs it again.
	Job *job.Job `json:"job"`
	// WaitedS is how long the call waited for another call on the same
	// module directory (calls on one directory run one at a time).
	WaitedS float64 `json:"waited_s,omitempty"`
}

// test runs a job as rko test does (internal/cli runTest): Resolve, then
// workflow.Test, under the lock of its module directories.
func (s *Server) test(ctx context.Context, c *call, in JobInput) (TestOutput, string, error) {
	j, err := in.toJob()
	if err != nil {
		return TestOutput{}, "", err
	}
	if err := s.checkRoots("dirs", j.Modules...); err != nil {
		return TestOutput{}, "", err
	}
	release, waited, err := s.locks.acquire(ctx, j.Modules, "")
	if err != nil {
		return TestOutput{}, "", err
	}
	defer release()
	if n := waitNote(waited); n != "" {
		c.p.Logf("%s", n)
	}
	r, err := s.work.resolve(ctx, j, c.p)
	if err != nil {
		return TestOutput{}, "", err
	}
	rep, err := s.work.test(ctx, r)
	if err != nil {
		return TestOutput{}, "", err
	}
	out := TestOutput{Report: rep, Job: j, WaitedS: seconds(waited)}
	s.mu.Lock()
	s.last = &out
	s.mu.Unlock()
	text := testSummary(rep, waited) + "\nreadable as resources " + uriReport + " and " + uriConsole
	return out, text, nil
}

// testSummary is a report in a few lines: the verdict, the crashes with
// their source lines, the KUnit counts, where the console is.
func testSummary(rep *workflow.Report, waited time.Duration) string {
	var b strings.Builder
	if rep.Verdict.Passed {
		fmt.Fprintf(&b, "PASS in %.1fs", rep.Timings.Total)
	} else {
		fmt.Fprintf(&b, "FAIL: %s", rep.Verdict.Reason)
	}
	fmt.Fprintf(&b, " (kernel %s %s, %s)", rep.Kernel.Arch, rep.Kernel.Release, rep.Accel)
	if rep.Results != nil {
		t := rep.Tests
		fmt.Fprintf(&b, "\nKUnit: %d passed, %d failed, %d crashed, %d skipped", t.Passed, t.Failed, t.Crashed, t.Skipped)
		for i, cr := range rep.Crashes {
			if i == 5 {
				fmt.Fprintf(&b, "\n... %d more crash reports", len(rep.Crashes)-5)
				break
			}
			fmt.Fprintf(&b, "\ncrash %d: %s", i+1, cr.Title)
			if cr.Source != "" {
				fmt.Fprintf(&b, " at %s", cr.Source)
			}
		}
	}
	for _, n := range rep.Verdict.Notes {
		fmt.Fprintf(&b, "\nnote: %s", n)
	}
	fmt.Fprintf(&b, "\nconsole log: %s", rep.ConsoleLog)
	if n := waitNote(waited); n != "" {
		b.WriteString("\n" + n)
	}
	return b.String()
}

// TriageInput is the triage tool's input: a console log, as a file or
// as text, and the modules to symbolize its frames with.
type TriageInput struct {
	Path    string         `json:"path,omitempty" jsonschema:"the console or dmesg log file, absolute"`
	Text    string         `json:"text,omitempty" jsonschema:"the console or dmesg log itself, instead of path"`
	Modules []TriageModule `json:"modules,omitempty" jsonschema:"modules whose frames get source lines"`
}

// TriageModule is a module whose crash frames are symbolized.
type TriageModule struct {
	Name      string `json:"name" jsonschema:"module name as the kernel prints it"`
	Ko        string `json:"ko" jsonschema:"the module's .ko file (with debug info), absolute"`
	SourceDir string `json:"source_dir,omitempty" jsonschema:"the module's source directory"`
}

// triage reads a console log as rko triage does (internal/cli triage).
func (s *Server) triage(ctx context.Context, c *call, in TriageInput) (*results.Results, string, error) {
	var data []byte
	switch {
	case in.Path != "" && in.Text != "":
		return nil, "", &job.Error{Field: "path, text", Msg: "give the log as path or as text, not both"}
	case in.Path != "":
		p := absPath(in.Path)
		if err := s.checkLogPath(p); err != nil {
			return nil, "", err
		}
		var err error
		if data, err = os.ReadFile(p); err != nil {
			return nil, "", &job.Error{Field: "path", Msg: fmt.Sprintf("%v: give the path of a saved console log", err)}
		}
	case in.Text != "":
		data = []byte(in.Text)
	default:
		return nil, "", &job.Error{Field: "path, text", Msg: "no console log: give path (a saved console or dmesg log) or text"}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, "", &job.Error{Field: "path, text", Msg: "the console log is empty: nothing to triage (check the file)"}
	}
	var mods []symbolize.Module
	for i, m := range in.Modules {
		if m.Name == "" || m.Ko == "" {
			return nil, "", &job.Error{Field: fmt.Sprintf("modules[%d]", i), Msg: "a module needs name and ko (its .ko file)"}
		}
		mods = append(mods, symbolize.Module{Name: m.Name, KoPath: absPath(m.Ko), SourceDir: m.SourceDir})
	}
	res := results.FromConsole(data, results.Options{Modules: mods, Context: ctx})
	var b strings.Builder
	fmt.Fprintf(&b, "KUnit: %d passed, %d failed, %d crashed, %d skipped; %d crash report(s)", res.Tests.Passed, res.Tests.Failed, res.Tests.Crashed, res.Tests.Skipped, len(res.Crashes))
	for i, cr := range res.Crashes {
		if i == 5 {
			break
		}
		fmt.Fprintf(&b, "\n%s", cr.Title)
		if cr.Source != "" {
			fmt.Fprintf(&b, " at %s", cr.Source)
		}
	}
	return res, b.String(), nil
}

// checkLogPath refuses a log outside the roots; rko's own run
// directories (console logs of rko test) are always readable.
func (s *Server) checkLogPath(p string) error {
	if len(s.opts.Roots) == 0 {
		return nil
	}
	if runs, err := runsDir(); err == nil {
		if rel, err := filepath.Rel(canon(runs), canon(p)); err == nil && !strings.HasPrefix(rel, "..") {
			return nil
		}
	}
	return s.checkRoots("path", p)
}

// LintInput is the lint tool's input.
type LintInput struct {
	Paths  []string `json:"paths" jsonschema:"module directories, kernel trees or .rs files, absolute"`
	Config string   `json:"config,omitempty" jsonschema:"a .rko-lint.toml to use instead of the nearest one above each path"`
}

// lint runs rko lint (internal/cli runLint) and returns its JSON report.
func (s *Server) lint(ctx context.Context, c *call, in LintInput) (lint.JSONReport, string, error) {
	if len(in.Paths) == 0 {
		return lint.JSONReport{}, "", &job.Error{Field: "paths", Msg: "no path: give module directories or .rs files"}
	}
	var paths []string
	for _, p := range in.Paths {
		paths = append(paths, absPath(p))
	}
	if err := s.checkRoots("paths", paths...); err != nil {
		return lint.JSONReport{}, "", err
	}
	opts := lint.Options{Paths: paths}
	if in.Config != "" {
		cfg, err := lint.LoadConfig(absPath(in.Config))
		if err != nil {
			return lint.JSONReport{}, "", &job.Error{Field: "config", Msg: err.Error()}
		}
		opts.Config = cfg
	}
	res, err := lint.Run(ctx, opts)
	if err != nil {
		return lint.JSONReport{}, "", err
	}
	rep := lint.JSONReport{Version: 1, Files: res.Files, Lines: res.Lines, Errors: res.Errors(),
		Suppressed: res.Suppressed, Counts: res.Counts(), PartialParses: res.PartialParses, Findings: res.Findings}
	if rep.Findings == nil {
		rep.Findings = []lint.Finding{}
	}
	if rep.PartialParses == nil {
		rep.PartialParses = []string{}
	}
	return rep, lint.Summary(res), nil
}

// DocInput is the doc tool's input.
type DocInput struct {
	Query  string   `json:"query" jsonschema:"what to look up: a name (Mutex), a path (KVec::push) or words (miscdevice)"`
	Crates []string `json:"crates,omitempty" jsonschema:"crates to search (all: every crate, core included); default: kernel, macros, pin_init and their neighbours"`
	Limit  int      `json:"limit,omitempty" jsonschema:"at most this many matches (default 10)"`
	KernelInput
}

// doc answers a query as rko doc does (internal/cli doc.go), from the
// kernel built already: a kernel that is not is an error result that
// says what to run.
func (s *Server) doc(ctx context.Context, c *call, in DocInput) (*kdoc.Answer, string, error) {
	if strings.TrimSpace(in.Query) == "" {
		return nil, "", &job.Error{Field: "query", Msg: "no query: give a name such as Mutex, KVec::push or miscdevice"}
	}
	if in.Limit < 0 {
		return nil, "", &job.Error{Field: "limit", Msg: fmt.Sprintf("invalid limit %d, want 1 or more (0: 10)", in.Limit)}
	}
	if in.Limit == 0 {
		in.Limit = 10
	}
	j, err := in.KernelInput.kernelJob()
	if err != nil {
		return nil, "", err
	}
	env, err := workflow.PrepareFor(ctx, j.Toolchain, j.Kernel, false, c.p)
	if err != nil {
		return nil, "", err
	}
	k, err := env.CachedKernel(ctx, j.Kernel)
	if err != nil {
		return nil, "", err
	}
	logPath, logf := workflow.LogFile("rustdoc")
	done := c.p.Phase("docs")
	docs, err := kdoc.Build(ctx, kdoc.Params{Toolchain: env.Toolchain, Kernel: k, Log: logf, Progress: c.p.Logf})
	logf.Close()
	if err != nil {
		return nil, "", fmt.Errorf("%w\nfull make output: %s", err, logPath)
	}
	done()
	ix, err := kdoc.LoadIndex(docs.Dir)
	if err != nil {
		return nil, "", err
	}
	lib := ""
	if env.Toolchain.Kind == toolchain.Rootfs {
		lib = filepath.Join(env.Toolchain.Root, "usr/lib/rustlib/src/rust/library")
	}
	a := ix.Query(in.Query, kdoc.QueryOpts{Crates: in.Crates, Limit: in.Limit, SourceDir: k.Source.Dir, BuildDir: k.BuildDir, SysrootLib: lib})
	a.Kernel = k.Key
	var b strings.Builder
	switch {
	case len(a.Results) > 0:
		fmt.Fprintf(&b, "%d match(es) for %q in kernel %s's docs", len(a.Results), a.Query, a.Kernel)
		for _, r := range a.Results {
			fmt.Fprintf(&b, "\n%s (%s)", r.Path, kdoc.LongKind(r.Kind))
		}
	case len(a.Absent) > 0:
		for _, ab := range a.Absent {
			fmt.Fprintf(&b, "%s (%s) is not in this kernel: its config turns off %s\n", ab.Path, ab.Kind, ab.Cfg)
		}
	default:
		fmt.Fprintf(&b, "no item matches %q in kernel %s's docs", a.Query, a.Kernel)
		if len(a.Closest) > 0 {
			fmt.Fprintf(&b, "; closest names: %s", strings.Join(a.Closest, ", "))
		}
	}
	return a, strings.TrimSpace(b.String()), nil
}
