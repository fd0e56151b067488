package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// mcpClient is the SDK's own client on a real rko mcp over a stdio pipe,
// with the progress messages of each call by its token.
type mcpClient struct {
	cs     *mcp.ClientSession
	cmd    *exec.Cmd
	stderr *syncBuffer

	mu       sync.Mutex
	progress map[string][]string
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startMCP(t *testing.T) *mcpClient {
	t.Helper()
	c := &mcpClient{stderr: &syncBuffer{}, progress: map[string][]string{}}
	c.cmd = exec.Command(rkoBin, "mcp")
	c.cmd.Stderr = c.stderr
	client := mcp.NewClient(&mcp.Implementation{Name: "rko-e2e", Version: "1"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
			tok := fmt.Sprint(r.Params.ProgressToken)
			c.mu.Lock()
			c.progress[tok] = append(c.progress[tok], r.Params.Message)
			c.mu.Unlock()
		}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: c.cmd}, nil)
	if err != nil {
		t.Fatalf("connecting to rko mcp: %v\nstderr:\n%s", err, c.stderr)
	}
	c.cs = cs
	return c
}

// messages are the progress messages of the call with token tok.
func (c *mcpClient) messages(tok string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.progress[tok]...)
}

// call calls a tool with a progress token; a protocol error fails the test.
func (c *mcpClient) call(t *testing.T, ctx context.Context, tok, tool string, args any) *mcp.CallToolResult {
	t.Helper()
	res, err := c.cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args, Meta: mcp.Meta{"progressToken": tok}})
	if err != nil {
		t.Fatalf("%s: %v\nserver's stderr:\n%s", tool, err, c.stderr)
	}
	return res
}

func mcpText(r *mcp.CallToolResult) string {
	var parts []string
	for _, c := range r.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// mcpReport is the test tool's report, as rko test --json's.
func mcpReport(t *testing.T, r *mcp.CallToolResult) testReport {
	t.Helper()
	b, _ := json.Marshal(r.StructuredContent)
	var rep testReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("structured content %s: %v", b, err)
	}
	return rep
}

// descendants are the processes under pid whose command line holds
// substr, by pid.
func descendants(pid int, substr string) map[int]string {
	kids := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if state, ppid, ok := procStat(p); ok && state != "Z" {
			kids[ppid] = append(kids[ppid], p)
		}
	}
	out := map[int]string{}
	var walk func(int)
	walk = func(p int) {
		for _, k := range kids[p] {
			cmd, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(k), "cmdline"))
			line := strings.ReplaceAll(string(cmd), "\x00", " ")
			if strings.Contains(line, substr) {
				out[k] = line
			}
			walk(k)
		}
	}
	walk(pid)
	return out
}

// alive reports whether pid is a process that has not exited.
func alive(pid int) bool {
	state, _, ok := procStat(pid)
	return ok && state != "Z"
}

// TestMCP drives the real rko mcp through the SDK's client over a stdio
// pipe: the handshake, the tools and their schemas, a passing test, a
// module that oopses on load (a failing verdict with a symbolized
// crash), a test cancelled while its guest runs (no QEMU of it is left),
// bad input as an error result, the resources, and a watch session that
// ends with the server.
func TestMCP(t *testing.T) {
	requireRealPath(t)
	began := time.Now()
	c := startMCP(t)
	defer func() {
		if t.Failed() {
			t.Logf("server's stderr:\n%s", c.stderr)
		}
	}()
	ctx := context.Background()

	init := c.cs.InitializeResult()
	if init == nil || init.ServerInfo == nil || init.ServerInfo.Name != "rko" || init.Capabilities.Tools == nil || init.Capabilities.Resources == nil {
		t.Fatalf("initialize result = %+v", init)
	}
	tools, err := c.cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range tools.Tools {
		names = append(names, tool.Name)
		schema, _ := json.Marshal(tool.InputSchema)
		if !bytes.Contains(schema, []byte(`"type":"object"`)) || tool.OutputSchema == nil {
			t.Errorf("%s: input schema %s, output schema %v", tool.Name, schema, tool.OutputSchema != nil)
		}
		if tool.Name == "test" {
			for _, f := range []string{"dirs", "arch", "profile", "accel", "timeout", "params", "job"} {
				if !bytes.Contains(schema, []byte(`"`+f+`":`)) {
					t.Errorf("test's input schema lacks %q: %s", f, schema)
				}
			}
		}
	}
	sort.Strings(names)
	if want := "build doc doctor lint new test triage watch_cycle watch_start watch_stop"; strings.Join(names, " ") != want {
		t.Errorf("tools = %v, want %s", names, want)
	}

	// A passing module; the first call may build (or wait for) the kernel.
	hello := copyDir(t, "../examples/hello/rust")
	callStart := time.Now()
	res := c.call(t, ctx, "hello", "test", map[string]any{"dirs": []string{hello}})
	rep := mcpReport(t, res)
	if res.IsError || !rep.Verdict.Passed || rep.Tests.Passed < 2 || len(rep.Crashes) != 0 {
		t.Fatalf("hello: isError %v, verdict %+v, tests %+v, crashes %+v\n%s", res.IsError, rep.Verdict, rep.Tests, rep.Crashes, mcpText(res))
	}
	if !strings.HasPrefix(mcpText(res), "PASS") {
		t.Errorf("hello's text does not start with the verdict:\n%s", mcpText(res))
	}
	if msgs := strings.Join(c.messages("hello"), "\n"); !strings.Contains(msgs, "==> build") || !strings.Contains(msgs, "step 1/") {
		t.Errorf("hello's progress lacks the build and the steps:\n%s", msgs)
	}
	t.Logf("test hello/rust over MCP: %s", time.Since(callStart).Round(time.Millisecond))

	// A test cancelled while its guest runs a slow test step: the call
	// ends, the run's QEMU is stopped, the server goes on.
	slow := copyDir(t, "../examples/hello/rust")
	os.WriteFile(filepath.Join(slow, "tests", "slow.sh"), []byte("#!/bin/sh\necho slow test running\nsleep 600\n"), 0o755)
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := c.cs.CallTool(cctx, &mcp.CallToolParams{Name: "test", Arguments: map[string]any{"dirs": []string{slow}},
			Meta: mcp.Meta{"progressToken": "slow"}})
		errc <- err
	}()
	var qemu map[int]string
	deadline := time.Now().Add(10 * time.Minute)
	for ; time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if strings.Contains(strings.Join(c.messages("slow"), "\n"), "step 1/") {
			qemu = descendants(c.cmd.Process.Pid, "qemu-system")
			if len(qemu) > 0 {
				break
			}
		}
	}
	if len(qemu) == 0 {
		cancel()
		t.Fatalf("no QEMU under rko mcp while the slow test ran; progress:\n%s", strings.Join(c.messages("slow"), "\n"))
	}
	time.Sleep(500 * time.Millisecond) // into slow.sh's sleep
	cancelled := time.Now()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("the cancelled call returned %v, want context.Canceled", err)
	}
	for time.Since(cancelled) < 30*time.Second {
		left := false
		for pid := range qemu {
			left = left || alive(pid)
		}
		if !left && len(descendants(c.cmd.Process.Pid, "qemu-system")) == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for pid, cmd := range qemu {
		if alive(pid) {
			t.Errorf("QEMU of the cancelled run is still running %s after the cancel: %d %.200s", time.Since(cancelled).Round(time.Millisecond), pid, cmd)
		}
	}
	if left := descendants(c.cmd.Process.Pid, "qemu-system"); len(left) > 0 {
		t.Errorf("QEMU left under rko mcp after the cancel: %v", left)
	}
	t.Logf("QEMU of the cancelled test gone %s after the cancel", time.Since(cancelled).Round(time.Millisecond))

	// A module that oopses on load: a failing verdict naming the crash,
	// whose guilty frame has its source line.
	null := copyDir(t, "../examples/buggy/null_c")
	res = c.call(t, ctx, "null", "test", map[string]any{"dirs": []string{null}})
	rep = mcpReport(t, res)
	if res.IsError || rep.Verdict.Passed || len(rep.Crashes) == 0 {
		t.Fatalf("null_c: isError %v, verdict %+v, crashes %+v\n%s", res.IsError, rep.Verdict, rep.Crashes, mcpText(res))
	}
	if !strings.Contains(rep.Crashes[0].Title, "NULL pointer dereference") || !strings.HasPrefix(rep.Crashes[0].Source, "buggy_null.c:") {
		t.Errorf("null_c's first crash = %+v, want a NULL pointer dereference at buggy_null.c:LINE", rep.Crashes[0])
	}
	if !strings.HasPrefix(rep.Verdict.Step, "insmod") || !strings.Contains(mcpText(res), "at buggy_null.c:") {
		t.Errorf("null_c: verdict %+v, text:\n%s", rep.Verdict, mcpText(res))
	}

	// Bad input is a result with isError and the fix; nothing is built.
	res = c.call(t, ctx, "bad", "test", map[string]any{"dirs": []string{hello}, "arch": "arm64", "kernel": "debian"})
	if !res.IsError || !strings.Contains(mcpText(res), "arch (kernel.arch): Debian's Rust-enabled kernel is rko's for x86_64") {
		t.Errorf("bad input: isError %v, text %q", res.IsError, mcpText(res))
	}

	// The last run's console and report, and a docs page.
	rr, err := c.cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "rko://runs/last/console.log"})
	if err != nil || !strings.Contains(rr.Contents[0].Text, "NULL pointer dereference") {
		t.Errorf("console resource: %v", err)
	}
	rr, err = c.cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "rko://runs/last/report.json"})
	if err != nil {
		t.Errorf("report resource: %v", err)
	} else {
		var last testReport
		if err := json.Unmarshal([]byte(rr.Contents[0].Text), &last); err != nil || last.ConsoleLog != rep.ConsoleLog || last.Verdict.Passed {
			t.Errorf("report resource = %+v (%v), want null_c's report", last.Verdict, err)
		}
	}
	rr, err = c.cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "rko://docs/mcp.md"})
	if err != nil || !strings.Contains(rr.Contents[0].Text, `"args": ["mcp"]`) {
		t.Errorf("docs resource: %v", err)
	}

	// A watch session, left running: it ends with the server.
	res = c.call(t, ctx, "watch", "watch_start", map[string]any{"dirs": []string{hello}})
	var start struct {
		Session string                `json:"session"`
		Cycle   int                   `json:"cycle"`
		Verdict struct{ Passed bool } `json:"verdict"`
	}
	b, _ := json.Marshal(res.StructuredContent)
	json.Unmarshal(b, &start)
	if res.IsError || start.Session == "" || !start.Verdict.Passed {
		t.Fatalf("watch_start: %s", mcpText(res))
	}
	os.Chtimes(filepath.Join(hello, "hello.rs"), time.Now(), time.Now())
	res = c.call(t, ctx, "cycle", "watch_cycle", map[string]any{"session": start.Session})
	var cy struct {
		Cycle   int                   `json:"cycle"`
		Verdict struct{ Passed bool } `json:"verdict"`
	}
	b, _ = json.Marshal(res.StructuredContent)
	json.Unmarshal(b, &cy)
	if res.IsError || cy.Cycle != 2 || !cy.Verdict.Passed {
		t.Errorf("watch_cycle: %s", mcpText(res))
	}
	if res := c.call(t, ctx, "busy", "test", map[string]any{"dirs": []string{hello}}); !res.IsError || !strings.Contains(mcpText(res), "held by watch session") {
		t.Errorf("test on a watched directory: %s", mcpText(res))
	}
	if len(descendants(c.cmd.Process.Pid, "qemu-system")) == 0 {
		t.Errorf("no guest under rko mcp while a watch session runs")
	}

	// The client goes: the server stops the session's guest and exits.
	closed := time.Now()
	if err := c.cs.Close(); err != nil {
		t.Errorf("closing the session: %v (server's stderr:\n%s)", err, c.stderr)
	}
	if c.cmd.ProcessState == nil || !c.cmd.ProcessState.Exited() {
		t.Errorf("rko mcp did not exit after the client closed its input: %v", c.cmd.ProcessState)
	}
	t.Logf("rko mcp exited %s after the client closed its input", time.Since(closed).Round(time.Millisecond))
	assertNoLeftovers(t)
	t.Logf("TestMCP took %s", time.Since(began).Round(time.Millisecond))
}

// TestMCPOverhead measures a test call over MCP against rko test --json
// on the same module, warm, RKO_E2E_MCP_OVERHEAD=N times each
// (interleaved); it logs the medians.
func TestMCPOverhead(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("RKO_E2E_MCP_OVERHEAD"))
	if n <= 0 {
		t.Skip("set RKO_E2E_MCP_OVERHEAD=N to measure N runs of each")
	}
	requireRealPath(t)
	c := startMCP(t)
	defer c.cs.Close()
	dir := copyDir(t, "../examples/hello/rust")
	if r := rko(t, coldTimeout, "test", "--json", dir); r.code != 0 {
		t.Fatalf("warm-up failed:\n%s", r.stderr)
	}
	// total is the report's own total (kernel, build, boot and tests):
	// what is left of a call's time is the way to and from the run.
	total := func(b []byte) time.Duration {
		var rep struct {
			Timings struct {
				Total float64 `json:"total_s"`
			} `json:"timings"`
		}
		json.Unmarshal(b, &rep)
		return time.Duration(rep.Timings.Total * float64(time.Second))
	}
	var viaMCP, viaCLI, outMCP, outCLI []time.Duration
	for i := 0; i < n; i++ {
		os.Chtimes(filepath.Join(dir, "hello.rs"), time.Now(), time.Now())
		start := time.Now()
		res := c.call(t, context.Background(), "o", "test", map[string]any{"dirs": []string{dir}})
		took := time.Since(start)
		viaMCP = append(viaMCP, took)
		if !mcpReport(t, res).Verdict.Passed {
			t.Fatalf("MCP run failed: %s", mcpText(res))
		}
		b, _ := json.Marshal(res.StructuredContent)
		outMCP = append(outMCP, took-total(b))
		os.Chtimes(filepath.Join(dir, "hello.rs"), time.Now(), time.Now())
		r := rko(t, 10*time.Minute, "test", "--json", dir)
		viaCLI = append(viaCLI, r.took)
		outCLI = append(outCLI, r.took-total([]byte(r.stdout)))
		if r.code != 0 {
			t.Fatalf("CLI run failed:\n%s", r.stderr)
		}
	}
	med := func(d []time.Duration) time.Duration {
		s := append([]time.Duration(nil), d...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return s[len(s)/2]
	}
	t.Logf("test call over MCP: %v, median %s", viaMCP, med(viaMCP))
	t.Logf("rko test --json:    %v, median %s", viaCLI, med(viaCLI))
	t.Logf("outside the report's total_s: MCP median %s, CLI median %s", med(outMCP), med(outCLI))
}
