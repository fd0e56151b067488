package mcpserver

import (
	"bufio"
	"context"
	"encoding"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/rkodev/rko/internal/guest"
	"github.com/rkodev/rko/internal/job"
	"github.com/rkodev/rko/internal/kdoc"
	"github.com/rkodev/rko/internal/ktap"
	"github.com/rkodev/rko/internal/lint"
	"github.com/rkodev/rko/internal/report"
	"github.com/rkodev/rko/internal/results"
	"github.com/rkodev/rko/internal/target"
	"github.com/rkodev/rko/internal/testutil"
	"github.com/rkodev/rko/internal/ui"
	"github.com/rkodev/rko/internal/workflow"
)

// moduleDir makes a module directory (a Kbuild is enough for job.Check).
func moduleDir(t *testing.T, name string) string { return testutil.ModuleDir(t, name) }

// TestJobFromFields: the fields become the job rko test's flags make,
// with rko's defaults, absolute paths and insmod's module names.
func TestJobFromFields(t *testing.T) {
	dir := moduleDir(t, "hello")
	j, err := JobInput{Dirs: []string{dir}, KernelInput: KernelInput{Profile: "debug"},
		BootInput: BootInput{Accel: "tcg", Timeout: "90s", MemoryMB: 256, Append: []string{"dyndbg=+p"},
			Params: map[string]string{"my-mod": "count=3"}, Devices: []string{"pci-testdev"}, FailNth: true}}.toJob()
	if err != nil {
		t.Fatal(err)
	}
	want := &job.Job{Schema: job.Schema, Kernel: job.Kernel{Kind: job.KindRko, Arch: target.Host().Name, Profile: "debug"},
		Toolchain: "auto", Modules: []string{dir},
		Boot: job.Boot{Accel: "tcg", Timeout: job.Duration(90 * time.Second), MemoryMB: 256, Append: []string{"dyndbg=+p"},
			ConsoleLimitMB: 256, Kmemleak: "auto"},
		Devices: []job.Device{{Name: "pci-testdev"}},
		Plan:    job.Plan{Params: map[string]string{"my_mod": "count=3"}, FailNth: true}}
	if !reflect.DeepEqual(j, want) {
		t.Errorf("job =\n%s\nwant\n%s", j.JSON(), want.JSON())
	}
	// A relative directory is taken from the working directory.
	wd, _ := os.Getwd()
	rel, _ := filepath.Rel(wd, dir)
	j, err = JobInput{Dirs: []string{rel}}.toJob()
	if err != nil || j.Modules[0] != dir {
		t.Errorf("relative dir: modules %v, err %v; want %s", j.Modules, err, dir)
	}
}

// TestJobFromDocument: a whole job is read as rko test --job reads one.
func TestJobFromDocument(t *testing.T) {
	dir := moduleDir(t, "hello")
	doc := `{"schema":1,"kernel":{"kind":"rko","arch":"x86_64"},"toolchain":"auto","modules":["` + dir + `"],"boot":{"accel":"tcg","timeout":"2m","kmemleak":"off"},"plan":{}}`
	j, err := JobInput{Job: json.RawMessage(doc)}.toJob()
	if err != nil {
		t.Fatal(err)
	}
	if j.Boot.Timeout != job.Duration(2*time.Minute) || j.Boot.ConsoleLimitMB != 256 || j.Modules[0] != dir {
		t.Errorf("job = %s", j.JSON())
	}
}

// TestJobErrors: every bad input is a job.Error naming the tool's
// argument and the fix, before anything is built.
func TestJobErrors(t *testing.T) {
	dir := moduleDir(t, "hello")
	missing := filepath.Join(t.TempDir(), "nope")
	cases := []struct {
		name  string
		in    JobInput
		field string
		msg   string
	}{
		{"no dirs", JobInput{}, "dirs (modules)", "give dirs"},
		{"missing dir", JobInput{Dirs: []string{missing}}, "dirs (modules)", missing + " does not exist"},
		{"no Kbuild", JobInput{Dirs: []string{t.TempDir()}}, "dirs (modules)", "neither a Kbuild nor a Makefile"},
		{"bad arch", JobInput{Dirs: []string{dir}, KernelInput: KernelInput{Arch: "sparc"}}, "arch (kernel.arch)", "sparc"},
		{"bad profile", JobInput{Dirs: []string{dir}, KernelInput: KernelInput{Profile: "fast"}}, "profile (kernel.profile)", "unknown profile"},
		{"profile on debian", JobInput{Dirs: []string{dir}, KernelInput: KernelInput{Kernel: "debian", Profile: "debug"}}, "profile (kernel.profile)", "built already"},
		{"bad toolchain", JobInput{Dirs: []string{dir}, KernelInput: KernelInput{Toolchain: "gcc"}}, "toolchain (toolchain)", "want auto, host or rootfs"},
		{"bad accel", JobInput{Dirs: []string{dir}, BootInput: BootInput{Accel: "hvf"}}, "accel (boot.accel)", "unknown accelerator"},
		{"bad timeout", JobInput{Dirs: []string{dir}, BootInput: BootInput{Timeout: "soon"}}, "timeout (boot.timeout)", "90s or 5m"},
		{"negative timeout", JobInput{Dirs: []string{dir}, BootInput: BootInput{Timeout: "-1m"}}, "timeout (boot.timeout)", "negative"},
		{"little memory", JobInput{Dirs: []string{dir}, BootInput: BootInput{MemoryMB: 8}}, "memory_mb (boot.memory_mb)", "at least 64"},
		{"spaced append", JobInput{Dirs: []string{dir}, BootInput: BootInput{Append: []string{"a b"}}}, "append (boot.append)", "no spaces"},
		{"bad param module", JobInput{Dirs: []string{dir}, BootInput: BootInput{Params: map[string]string{"a.b": "x=1"}}}, "params (plan.params)", "not a module name"},
		{"job and dirs", JobInput{Dirs: []string{dir}, BootInput: BootInput{Accel: "tcg"}, Job: json.RawMessage(`{"schema":1}`)}, "job", "drop accel, dirs"},
		{"job unknown field", JobInput{Job: json.RawMessage(`{"schema":1,"colour":"red"}`)}, "job.colour", "unknown field"},
		{"job schema", JobInput{Job: json.RawMessage(`{"schema":2}`)}, "job.schema", "want 1"},
		{"job not JSON", JobInput{Job: json.RawMessage(`{"schema":`)}, "job", "not JSON"},
		{"unknown device", JobInput{Dirs: []string{dir}, BootInput: BootInput{Devices: []string{"nvme"}}}, "devices (devices)", "nvme"},
		{"device on uml", JobInput{Dirs: []string{dir}, KernelInput: KernelInput{Arch: "um"}, BootInput: BootInput{Devices: []string{"pci-testdev"}}}, "devices (devices)", "um"},
		{"fail-nth with job", JobInput{BootInput: BootInput{FailNth: true}, Job: json.RawMessage(`{"schema":1}`)}, "job", "drop fail_nth"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.in.toJob()
			var je *job.Error
			if !errors.As(err, &je) {
				t.Fatalf("err = %v (%T), want a *job.Error", err, err)
			}
			if je.Field != c.field || !strings.Contains(je.Msg, c.msg) {
				t.Errorf("err = %q, want field %q and a message with %q", err, c.field, c.msg)
			}
		})
	}
}

// fakeReport is a report with what a real failing run has: a crash with
// frames, a KUnit tree two levels deep, steps, a self-check.
func fakeReport(runDir string) *workflow.Report {
	sub := &ktap.Test{Name: "hello_adds", Number: 1, Status: ktap.Passed}
	suite := &ktap.Test{Name: "hello", Number: 1, Status: ktap.Failed, Subtests: []*ktap.Test{sub,
		{Name: "hello_oops", Number: 2, Status: ktap.Crashed, Log: []string{"oops"}}}}
	return &workflow.Report{
		Verdict: workflow.Verdict{Reason: "kernel reported: BUG: unable to handle kernel NULL pointer dereference in item_set (buggy_null.c:12)", Step: "insmod buggy_null"},
		Kernel:  workflow.KernelInfo{Arch: "x86_64", Release: "7.3.4", Origin: "rko", Profile: "default"},
		Accel:   "tcg", RunDir: runDir, ConsoleLog: filepath.Join(runDir, "console.log"),
		Modules: []workflow.ModuleRun{{Dir: "/m", Modules: []string{"buggy_null"}, KoPaths: []string{"/m/buggy_null.ko"}}},
		Steps:   []guest.StepResult{{Name: "insmod buggy_null", Kind: "insmod", Status: "running"}},
		Results: &results.Results{Schema: results.SchemaVersion,
			Tests: results.Tests{Total: 2, Passed: 1, Crashed: 1, Found: true, Suites: []*ktap.Test{suite}},
			Crashes: []results.Crash{{Type: "null-deref", Title: "BUG: unable to handle kernel NULL pointer dereference in item_set",
				Frame: "item_set", Module: "buggy_null", Source: "buggy_null.c:12", InModule: true,
				Frames: []report.Frame{{Func: "item_set", Offset: 0x12, Module: "buggy_null"}}, Report: "BUG: ..."}}},
		KernelSelfCheck: &workflow.SelfCheck{Total: 351, Recorded: time.Unix(0, 0).UTC()},
		Timings:         workflow.Timings{Build: 0.4, Boot: 1.1, Total: 1.6},
	}
}

// fake is a server whose backend resolves nothing and runs nothing: the
// tests give it their own test, build and watch.
func fake(t *testing.T, o Options) (*Server, *mcp.ClientSession, *progressLog) {
	t.Helper()
	s := New(o)
	s.work.resolve = func(ctx context.Context, j *job.Job, p *ui.Printer) (*workflow.Resolved, error) {
		p.Phase("kernel (fake)")()
		return &workflow.Resolved{Job: j, Env: &workflow.Env{UI: p}}, nil
	}
	pl := &progressLog{}
	c := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "0"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
			pl.add(r.Params.Message)
		}})
	st, ct := mcp.NewInMemoryTransports()
	ctx := context.Background()
	ss, err := s.MCP().Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := c.Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cs.Close()
		ss.Wait()
		s.Close()
	})
	return s, cs, pl
}

// progressLog collects progress messages.
type progressLog struct {
	mu   sync.Mutex
	msgs []string
}

func (p *progressLog) add(m string) {
	p.mu.Lock()
	p.msgs = append(p.msgs, m)
	p.mu.Unlock()
}

// waitFor waits a while for a message holding want (notifications may
// be handled after the call's result), and returns them all.
func (p *progressLog) waitFor(want string) string {
	for i := 0; i < 100; i++ {
		if all := strings.Join(p.all(), "\n"); strings.Contains(all, want) {
			return all
		}
		time.Sleep(20 * time.Millisecond)
	}
	return strings.Join(p.all(), "\n")
}

func (p *progressLog) all() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.msgs...)
}

// callTool calls a tool with args (and a progress token).
func callTool(t *testing.T, cs *mcp.ClientSession, name string, args any) *mcp.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args, Meta: mcp.Meta{"progressToken": "tok-" + name}})
	if err != nil {
		t.Fatalf("%s: protocol error %v: a tool's failure must be a result", name, err)
	}
	return res
}

func resultText(r *mcp.CallToolResult) string {
	var b []string
	for _, c := range r.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b = append(b, tc.Text)
		}
	}
	return strings.Join(b, "\n")
}

// decodeOut decodes a result's structured content into v.
func decodeOut(t *testing.T, r *mcp.CallToolResult, v any) {
	t.Helper()
	if r.IsError {
		t.Fatalf("error result: %s", resultText(r))
	}
	b, err := json.Marshal(r.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("structured content %s: %v", b, err)
	}
}

// TestToolsListed: every tool is listed with an input schema naming its
// arguments and an output schema.
func TestToolsListed(t *testing.T) {
	_, cs, _ := fake(t, Options{})
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		ToolDoctor: {"arch", "toolchain", "kernel", "source"},
		ToolNew:    {"name", "dir", "lang", "author", "profile"},
		ToolBuild:  {"dirs", "kernel", "arch", "profile", "toolchain"},
		ToolTest: {"dirs", "kernel", "arch", "profile", "fragments", "source", "toolchain", "accel", "timeout", "memory_mb",
			"cpus", "append", "params", "kmemleak", "console_limit_mb", "devices", "fail_nth", "job"},
		ToolTriage:     {"path", "text", "modules"},
		ToolLint:       {"paths", "config"},
		ToolDoc:        {"query", "crates", "limit", "kernel"},
		ToolWatchStart: {"dirs", "kernel", "accel", "params", "job"},
		ToolWatchCycle: {"session"},
		ToolWatchStop:  {"session"},
	}
	var got []string
	for _, tool := range res.Tools {
		got = append(got, tool.Name)
		in, _ := json.Marshal(tool.InputSchema)
		var schema struct {
			Type       string                     `json:"type"`
			Properties map[string]json.RawMessage `json:"properties"`
		}
		json.Unmarshal(in, &schema)
		if schema.Type != "object" {
			t.Errorf("%s: input schema %s is not an object", tool.Name, in)
		}
		for _, p := range want[tool.Name] {
			if _, ok := schema.Properties[p]; !ok {
				t.Errorf("%s: input schema lacks %q: %s", tool.Name, p, in)
			}
		}
		if tool.OutputSchema == nil {
			t.Errorf("%s: no output schema", tool.Name)
		}
		if tool.Description == "" {
			t.Errorf("%s: no description", tool.Name)
		}
	}
	sort.Strings(got)
	var names []string
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	if !reflect.DeepEqual(got, names) {
		t.Errorf("tools = %v, want %v", got, names)
	}
}

// TestTestTool: a test call resolves the job, runs the test with the
// call's progress going to the client, and returns the report, whose
// console log and report are then resources.
func TestTestTool(t *testing.T) {
	s, cs, pl := fake(t, Options{})
	runDir := t.TempDir()
	os.WriteFile(filepath.Join(runDir, "console.log"), []byte("[    0.1] BUG: unable to handle kernel NULL pointer dereference\n"), 0o644)
	rep := fakeReport(runDir)
	b, _ := json.Marshal(rep)
	os.WriteFile(filepath.Join(runDir, "report.json"), b, 0o644)
	var gotJob *job.Job
	s.work.test = func(ctx context.Context, r *workflow.Resolved) (*workflow.Report, error) {
		gotJob = r.Job
		r.Env.UI.Phase("test (3 steps)")()
		r.Env.UI.Logf("step 1/3 insmod buggy_null")
		return rep, nil
	}
	dir := moduleDir(t, "buggy_null")
	res := callTool(t, cs, ToolTest, map[string]any{"dirs": []string{dir}, "accel": "tcg", "params": map[string]string{"buggy_null": "n=1"}})
	var out struct {
		Verdict workflow.Verdict `json:"verdict"`
		Crashes []results.Crash  `json:"crashes"`
		Tests   results.Tests    `json:"tests"`
		Job     *job.Job         `json:"job"`
	}
	decodeOut(t, res, &out)
	if out.Verdict.Passed || len(out.Crashes) != 1 || out.Crashes[0].Source != "buggy_null.c:12" {
		t.Errorf("report = %+v", out)
	}
	if len(out.Tests.Suites) != 1 || len(out.Tests.Suites[0].Subtests) != 2 || out.Tests.Suites[0].Subtests[1].Status != ktap.Crashed {
		t.Errorf("KUnit tree = %+v", out.Tests.Suites)
	}
	if gotJob == nil || gotJob.Boot.Accel != "tcg" || gotJob.Modules[0] != dir || gotJob.Plan.Params["buggy_null"] != "n=1" {
		t.Errorf("job = %+v", gotJob)
	}
	if out.Job == nil || out.Job.Modules[0] != dir {
		t.Errorf("result's job = %+v", out.Job)
	}
	text := resultText(res)
	for _, want := range []string{"FAIL: kernel reported", "crash 1: BUG: unable to handle kernel NULL pointer dereference in item_set at buggy_null.c:12", "KUnit: 1 passed, 0 failed, 1 crashed", uriReport} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	msgs := pl.waitFor("step 1/3 insmod buggy_null")
	for _, want := range []string{"==> kernel (fake)", "==> test (3 steps)", "step 1/3 insmod buggy_null"} {
		if !strings.Contains(msgs, want) {
			t.Errorf("progress lacks %q:\n%s", want, msgs)
		}
	}
	rr, err := cs.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: uriConsole})
	if err != nil || !strings.Contains(rr.Contents[0].Text, "NULL pointer dereference") {
		t.Errorf("console resource: %v %+v", err, rr)
	}
	rr, err = cs.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: uriReport})
	if err != nil || !strings.Contains(rr.Contents[0].Text, `"buggy_null.c:12"`) {
		t.Errorf("report resource: %v %+v", err, rr)
	}
}

// TestToolErrorsAreResults: bad input, a failed run and an unknown
// session are results with isError and a message naming the argument
// and the fix, never protocol errors; nothing runs.
func TestToolErrorsAreResults(t *testing.T) {
	s, cs, _ := fake(t, Options{})
	ran := false
	s.work.test = func(context.Context, *workflow.Resolved) (*workflow.Report, error) {
		ran = true
		return nil, errors.New("module build in /m failed with 1 error(s):\n  /m/m.rs:3:5: error[E0425]: cannot find value `x`")
	}
	dir := moduleDir(t, "m")
	missing := filepath.Join(t.TempDir(), "gone")
	cases := []struct {
		tool string
		args map[string]any
		want string
	}{
		{ToolTest, map[string]any{"dirs": []string{missing}}, "dirs (modules): " + missing + " does not exist: give the module's directory"},
		{ToolTest, map[string]any{"dirs": []string{dir}, "arch": "vax"}, "arch (kernel.arch): "},
		{ToolTest, map[string]any{"dirs": []string{dir}, "timeout": "later"}, "timeout (boot.timeout): \"later\" is not a duration"},
		{ToolTest, map[string]any{"dirs": []string{dir}, "colour": "red"}, "colour"},
		{ToolTest, map[string]any{"dirs": "not-a-list"}, "dirs"},
		{ToolBuild, map[string]any{"dirs": []string{missing}}, "does not exist"},
		{ToolWatchStart, map[string]any{"dirs": []string{dir}, "kmemleak": "maybe"}, "kmemleak (boot.kmemleak): invalid value"},
		{ToolWatchCycle, map[string]any{"session": "w99"}, "no watch session \"w99\": start one with watch_start"},
		{ToolWatchStop, map[string]any{"session": "w99"}, "no watch session"},
		{ToolTriage, map[string]any{}, "no console log"},
		{ToolTriage, map[string]any{"path": missing}, "give the path of a saved console log"},
		{ToolLint, map[string]any{"paths": []string{}}, "paths: no path"},
		{ToolDoc, map[string]any{"query": " "}, "query: no query"},
		{ToolDoc, map[string]any{"query": "Mutex", "profile": "fast"}, "profile (kernel.profile): unknown profile"},
		{ToolNew, map[string]any{"name": "9bad", "dir": t.TempDir()}, "9bad"},
		{ToolDoctor, map[string]any{"toolchain": "gcc"}, "toolchain: unknown toolchain \"gcc\""},
	}
	for _, c := range cases {
		res := callTool(t, cs, c.tool, c.args)
		if !res.IsError || !strings.Contains(resultText(res), c.want) {
			t.Errorf("%s %v: isError %v, text %q; want an error result with %q", c.tool, c.args, res.IsError, resultText(res), c.want)
		}
	}
	if ran {
		t.Errorf("a call with bad input ran the test")
	}
	res := callTool(t, cs, ToolTest, map[string]any{"dirs": []string{dir}})
	if !res.IsError || !strings.Contains(resultText(res), "m.rs:3:5: error[E0425]") {
		t.Errorf("a failed build: isError %v, text %q", res.IsError, resultText(res))
	}
}

// TestRoots: with roots, a path outside them is refused.
func TestRoots(t *testing.T) {
	root := t.TempDir()
	_, cs, _ := fake(t, Options{Roots: []string{root}})
	outside := moduleDir(t, "m")
	for _, c := range []struct {
		tool string
		args map[string]any
	}{
		{ToolTest, map[string]any{"dirs": []string{outside}}},
		{ToolBuild, map[string]any{"dirs": []string{outside}}},
		{ToolNew, map[string]any{"name": "m2", "dir": filepath.Dir(outside)}},
		{ToolLint, map[string]any{"paths": []string{outside}}},
		{ToolTriage, map[string]any{"path": filepath.Join(outside, "Kbuild")}},
	} {
		res := callTool(t, cs, c.tool, c.args)
		if !res.IsError || !strings.Contains(resultText(res), "is outside the directories this server may use") {
			t.Errorf("%s: isError %v, text %q", c.tool, res.IsError, resultText(res))
		}
	}
	res := callTool(t, cs, ToolNew, map[string]any{"name": "inside", "dir": root, "lang": "c"})
	var out NewOutput
	decodeOut(t, res, &out)
	if out.Dir != filepath.Join(canon(root), "inside") && out.Dir != filepath.Join(root, "inside") {
		t.Errorf("new made %s", out.Dir)
	}
	if _, err := os.Stat(filepath.Join(out.Dir, "Kbuild")); err != nil {
		t.Errorf("new made no module: %v", err)
	}
}

// TestSameDirectorySerialized: a second call on a module directory
// waits for the first and says so; a call on another directory does not.
func TestSameDirectorySerialized(t *testing.T) {
	s, cs, _ := fake(t, Options{})
	started := make(chan string, 3)
	unblock := make(chan struct{})
	s.work.test = func(ctx context.Context, r *workflow.Resolved) (*workflow.Report, error) {
		started <- r.Job.Modules[0]
		<-unblock
		return fakeReport(t.TempDir()), nil
	}
	dir := moduleDir(t, "m")
	other := moduleDir(t, "o")
	type got struct {
		out TestOutput
		res *mcp.CallToolResult
	}
	results := make(chan got, 2)
	go func() {
		res := callTool(t, cs, ToolTest, map[string]any{"dirs": []string{dir}})
		var out TestOutput
		json.Unmarshal(mustJSON(res.StructuredContent), &out)
		results <- got{out, res}
	}()
	<-started
	go func() {
		res := callTool(t, cs, ToolTest, map[string]any{"dirs": []string{dir}})
		var out TestOutput
		json.Unmarshal(mustJSON(res.StructuredContent), &out)
		results <- got{out, res}
	}()
	// The other directory runs while the first holds its own.
	done := make(chan struct{})
	go func() {
		callTool(t, cs, ToolTest, map[string]any{"dirs": []string{other}})
		close(done)
	}()
	if d := <-started; d != other {
		t.Fatalf("started %s; want the other directory to run at once", d)
	}
	select {
	case d := <-started:
		t.Fatalf("the second call on %s started while the first ran", d)
	case <-time.After(200 * time.Millisecond):
	}
	close(unblock)
	<-done
	a, b := <-results, <-results
	if a.out.WaitedS > b.out.WaitedS {
		a, b = b, a // both end once unblocked: their results may come in either order
	}
	if a.out.WaitedS != 0 {
		t.Errorf("the first call waited %vs", a.out.WaitedS)
	}
	if b.out.WaitedS < 0.1 || !strings.Contains(resultText(b.res), "waited") {
		t.Errorf("the second call: waited_s %v, text %q", b.out.WaitedS, resultText(b.res))
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// TestCancelStopsTest: a cancelled call cancels the context the test runs
// under (workflow stops make and QEMU with it), and frees the directory.
func TestCancelStopsTest(t *testing.T) {
	s, cs, _ := fake(t, Options{})
	started := make(chan struct{})
	stopped := make(chan error, 1)
	s.work.test = func(ctx context.Context, r *workflow.Resolved) (*workflow.Report, error) {
		close(started)
		<-ctx.Done()
		stopped <- ctx.Err()
		return nil, ctx.Err()
	}
	dir := moduleDir(t, "m")
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: ToolTest, Arguments: map[string]any{"dirs": []string{dir}}})
		errc <- err
	}()
	<-started
	cancel()
	select {
	case err := <-stopped:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the test's context ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the test's context was not cancelled")
	}
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("CallTool = %v, want context.Canceled", err)
	}
	// The directory is free again.
	s.work.test = func(context.Context, *workflow.Resolved) (*workflow.Report, error) {
		return fakeReport(t.TempDir()), nil
	}
	if res := callTool(t, cs, ToolTest, map[string]any{"dirs": []string{dir}}); res.IsError {
		t.Errorf("after the cancel: %s", resultText(res))
	}
}

// fakeWatch behaves as workflow.Watch does for the server: a cycle at
// once, then one per Enter line, until ctx ends; it reports whether its
// guest was stopped.
func fakeWatch(stopped chan<- struct{}) func(context.Context, *workflow.Resolved, workflow.WatchOptions) error {
	return func(ctx context.Context, r *workflow.Resolved, o workflow.WatchOptions) error {
		defer close(stopped)
		if o.Debounce < 24*time.Hour {
			return errors.New("file events would start cycles nobody asked for")
		}
		lines := make(chan struct{})
		go func() {
			sc := bufio.NewScanner(o.Enter)
			for sc.Scan() {
				lines <- struct{}{}
			}
		}()
		for n := 1; ; n++ {
			r.Env.UI.Logf("cycle %d running", n)
			rep := fakeReport(r.Job.Modules[0])
			rep.Verdict = workflow.Verdict{Passed: true}
			o.OnCycle(workflow.WatchCycle{Cycle: n, Report: rep}, nil)
			select {
			case <-lines:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}

// TestWatchSession: watch_start gives the first cycle and a session;
// watch_cycle runs the next cycle and returns it; the session's
// directory is refused to test until watch_stop, which stops the guest.
func TestWatchSession(t *testing.T) {
	s, cs, pl := fake(t, Options{})
	stopped := make(chan struct{})
	s.work.watch = fakeWatch(stopped)
	s.work.test = func(context.Context, *workflow.Resolved) (*workflow.Report, error) {
		return fakeReport(t.TempDir()), nil
	}
	dir := moduleDir(t, "m")
	var start WatchStartOutput
	decodeOut(t, callTool(t, cs, ToolWatchStart, map[string]any{"dirs": []string{dir}}), &start)
	if start.Session == "" || start.Cycle != 1 || start.Report == nil || !start.Verdict.Passed {
		t.Fatalf("watch_start = %+v", start)
	}
	for n := 2; n <= 3; n++ {
		var c workflow.WatchCycle
		decodeOut(t, callTool(t, cs, ToolWatchCycle, map[string]any{"session": start.Session}), &c)
		if c.Cycle != n {
			t.Errorf("watch_cycle = cycle %d, want %d", c.Cycle, n)
		}
	}
	if msgs := pl.waitFor("cycle 3 running"); !strings.Contains(msgs, "cycle 3 running") {
		t.Errorf("no progress of cycle 3 reached the client:\n%s", msgs)
	}
	res := callTool(t, cs, ToolTest, map[string]any{"dirs": []string{dir}})
	if !res.IsError || !strings.Contains(resultText(res), "held by watch session "+start.Session) {
		t.Errorf("test on a watched directory: %s", resultText(res))
	}
	var stop WatchStopOutput
	decodeOut(t, callTool(t, cs, ToolWatchStop, map[string]any{"session": start.Session}), &stop)
	select {
	case <-stopped:
	default:
		t.Error("watch_stop returned before the guest stopped")
	}
	if stop.Cycles != 3 {
		t.Errorf("watch_stop = %+v, want 3 cycles", stop)
	}
	if res := callTool(t, cs, ToolTest, map[string]any{"dirs": []string{dir}}); res.IsError {
		t.Errorf("test after watch_stop: %s", resultText(res))
	}
	if res := callTool(t, cs, ToolWatchCycle, map[string]any{"session": start.Session}); !res.IsError {
		t.Error("watch_cycle on a stopped session succeeded")
	}
}

// TestSessionsEndWithServer: closing the server stops every session's
// guest.
func TestSessionsEndWithServer(t *testing.T) {
	s, cs, _ := fake(t, Options{})
	stopped := make(chan struct{})
	s.work.watch = fakeWatch(stopped)
	var start WatchStartOutput
	decodeOut(t, callTool(t, cs, ToolWatchStart, map[string]any{"dirs": []string{moduleDir(t, "m")}}), &start)
	cs.Close()
	s.Close()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("the session's guest outlived the server")
	}
}

// TestWatchStartFails: a session whose guest does not boot is an error
// result, and its directory is free again.
func TestWatchStartFails(t *testing.T) {
	s, cs, _ := fake(t, Options{})
	s.work.watch = func(context.Context, *workflow.Resolved, workflow.WatchOptions) error {
		return errors.New("the guest did not boot: kernel panic")
	}
	dir := moduleDir(t, "m")
	res := callTool(t, cs, ToolWatchStart, map[string]any{"dirs": []string{dir}})
	if !res.IsError || !strings.Contains(resultText(res), "kernel panic") {
		t.Errorf("watch_start: %s", resultText(res))
	}
	s.work.test = func(context.Context, *workflow.Resolved) (*workflow.Report, error) {
		return fakeReport(t.TempDir()), nil
	}
	if res := callTool(t, cs, ToolTest, map[string]any{"dirs": []string{dir}}); res.IsError {
		t.Errorf("test after a failed watch_start: %s", resultText(res))
	}
}

// TestTriageAndLint run the tools that need no kernel on real input.
func TestTriageAndLint(t *testing.T) {
	_, cs, _ := fake(t, Options{})
	console := "[    1.0] KTAP version 1\n[    1.0] 1..1\n[    1.0]     KTAP version 1\n[    1.0]     # Subtest: s\n[    1.0]     1..1\n[    1.0]     ok 1 t\n[    1.0] ok 1 s\n" +
		"[    2.0] ------------[ cut here ]------------\n[    2.0] WARNING: CPU: 0 PID: 1 at /m/warn.c:10 check_limit+0x1/0x2 [warn]\n[    2.0] Modules linked in: warn\n[    2.0] RIP: 0010:check_limit+0x1/0x2 [warn]\n[    2.0] Call Trace:\n[    2.0]  <TASK>\n[    2.0]  check_limit+0x1/0x2 [warn]\n[    2.0]  </TASK>\n[    2.0] ---[ end trace 0000000000000000 ]---\n"
	var res results.Results
	decodeOut(t, callTool(t, cs, ToolTriage, map[string]any{"text": console}), &res)
	if res.Tests.Passed != 1 || len(res.Crashes) != 1 || !strings.Contains(res.Crashes[0].Title, "WARNING") {
		t.Errorf("triage = %+v", res)
	}
	src := filepath.Join(t.TempDir(), "bad.rs")
	os.WriteFile(src, []byte("fn f() { unsafe { g() } }\n"), 0o644)
	var rep struct {
		Files    int
		Errors   int
		Findings []struct{ Rule, Severity string }
	}
	decodeOut(t, callTool(t, cs, ToolLint, map[string]any{"paths": []string{src}}), &rep)
	if rep.Files != 1 || rep.Errors != 1 || len(rep.Findings) != 2 || rep.Findings[1].Severity != "error" {
		t.Errorf("lint = %+v", rep)
	}
}

// TestDocsResources: rko's docs are listed and read.
func TestDocsResources(t *testing.T) {
	docs := fstest.MapFS{"mcp.md": {Data: []byte("# rko as an MCP server\n")}, "lint/x.md": {Data: []byte("# x\n")}}
	_, cs, _ := fake(t, Options{Docs: docs})
	var uris []string
	for r, err := range cs.Resources(context.Background(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		uris = append(uris, r.URI)
	}
	want := []string{"rko://docs/lint/x.md", "rko://docs/mcp.md", uriConsole, uriReport}
	sort.Strings(uris)
	sort.Strings(want)
	if !reflect.DeepEqual(uris, want) {
		t.Errorf("resources = %v, want %v", uris, want)
	}
	rr, err := cs.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: "rko://docs/mcp.md"})
	if err != nil || rr.Contents[0].Text != "# rko as an MCP server\n" || rr.Contents[0].MIMEType != "text/markdown" {
		t.Errorf("read = %+v, %v", rr, err)
	}
	if _, err := cs.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: "rko://docs/nope.md"}); err == nil {
		t.Error("a missing page was read")
	}
}

// TestEmbeddedDocs: the docs rko carries include this server's page.
func TestEmbeddedDocs(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	for _, p := range []string{"commands.md", "mcp.md", "schemas.md", "lint/panic-in-kernel.md"} {
		if _, err := s.opts.Docs.Open(p); err != nil {
			t.Errorf("docs/%s is not embedded: %v", p, err)
		}
	}
}

// TestSchemasCoverMarshalers: every type a tool takes or returns whose
// JSON is its own (a json.Marshaler or encoding.TextMarshaler) has its
// schema in typeSchemas; the inferred one would describe the Go type
// and the SDK would refuse the real output.
func TestSchemasCoverMarshalers(t *testing.T) {
	marshaler := reflect.TypeFor[json.Marshaler]()
	text := reflect.TypeFor[encoding.TextMarshaler]()
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type, string)
	walk = func(ty reflect.Type, path string) {
		for ty.Kind() == reflect.Pointer || ty.Kind() == reflect.Slice || ty.Kind() == reflect.Array || ty.Kind() == reflect.Map {
			ty = ty.Elem()
		}
		if seen[ty] {
			return
		}
		seen[ty] = true
		if _, ok := typeSchemas[ty]; ok || ty == reflect.TypeFor[time.Time]() { // the generator knows time.Time
			return
		}
		if ty.Implements(marshaler) || ty.Implements(text) || reflect.PointerTo(ty).Implements(marshaler) && ty.Kind() != reflect.Struct {
			t.Errorf("%s (%s) marshals itself: give it a schema in typeSchemas", ty, path)
		}
		if ty.Kind() == reflect.Struct {
			for i := 0; i < ty.NumField(); i++ {
				f := ty.Field(i)
				if f.IsExported() && f.Tag.Get("json") != "-" {
					walk(f.Type, path+"."+f.Name)
				}
			}
		}
	}
	for _, v := range []any{DoctorInput{}, workflow.DoctorReport{}, NewInput{}, NewOutput{}, BuildInput{}, BuildOutput{},
		JobInput{}, TestOutput{}, TriageInput{}, results.Results{}, LintInput{}, lint.JSONReport{}, DocInput{}, kdoc.Answer{},
		WatchStartOutput{}, SessionInput{}, workflow.WatchCycle{}, WatchStopOutput{}} {
		walk(reflect.TypeOf(v), reflect.TypeOf(v).Name())
	}
}

// TestProgressLines: the sink sends whole lines, trimmed, in order.
func TestProgressLines(t *testing.T) {
	var got []string
	var log strings.Builder
	s := newLineSink(&log, "p: ", func(m string) { got = append(got, m) })
	io.WriteString(s, "==> build\n    [1.0s] make")
	io.WriteString(s, " done\n\n")
	if want := []string{"==> build", "[1.0s] make done"}; !reflect.DeepEqual(got, want) {
		t.Errorf("sent %q, want %q", got, want)
	}
	if log.String() != "p: ==> build\np: [1.0s] make done\n" {
		t.Errorf("log = %q", log.String())
	}
}
