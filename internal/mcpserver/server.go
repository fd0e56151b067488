// Package mcpserver is rko as a Model Context Protocol server (rko mcp):
// the whole loop (doctor, new, build, test, triage, lint, doc and a watch
// session) as tools with typed inputs and outputs, the last test run and
// rko's docs as resources, over the official Go SDK
// (github.com/modelcontextprotocol/go-sdk). The tools make jobs and call
// internal/workflow as the commands do, so a test call and rko test give
// the same report (docs/mcp.md).
//
// Long tools (test, build, the watch tools, doc) send their progress lines as
// progress notifications when the call carries a progress token, and stop
// what they started (make, QEMU) when the call is cancelled. Bad input is
// a tool result with isError and a message that names the argument and
// the fix, never a protocol error. Calls on one module directory run one
// at a time; a watch session holds its directories until watch_stop.
package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	rko "github.com/rkodev/rko"
	"github.com/rkodev/rko/internal/job"
	"github.com/rkodev/rko/internal/ui"
	"github.com/rkodev/rko/internal/workflow"
)

// Options configure a Server.
type Options struct {
	// Version is rko's version, told to the client.
	Version string
	// Roots, when not empty, are the only directories whose files the
	// tools may build in, create, lint or read (module directories, rko
	// new's parent, lint paths, console logs): a path outside them is
	// refused. Empty: any path the user running rko may use.
	Roots []string
	// Log gets the server's own lines and every call's progress (rko mcp:
	// standard error, which MCP clients keep in their logs). Nil: none.
	Log io.Writer
	// Docs holds docs/*.md (nil: the pages embedded in rko).
	Docs fs.FS
}

// Server is rko's MCP server. Make one with New; Run serves one client.
type Server struct {
	opts  Options
	mcp   *mcp.Server
	work  backend
	locks *dirLocks

	// base is the context of everything that outlives a call (watch
	// sessions); Close cancels it.
	base   context.Context
	cancel context.CancelFunc
	calls  sync.WaitGroup // tool calls and watch sessions in progress
	nCalls atomic.Int64

	mu       sync.Mutex
	closed   bool // Close began: no new call or session
	sessions map[string]*watchSession
	nWatch   int
	last     *TestOutput // the last test call's report
}

// backend is the work the tools call, as functions so that the unit
// tests run the tools without a kernel or a guest.
type backend struct {
	resolve func(context.Context, *job.Job, *ui.Printer) (*workflow.Resolved, error)
	test    func(context.Context, *workflow.Resolved) (*workflow.Report, error)
	build   func(context.Context, *workflow.Resolved) ([]workflow.ModuleRun, error)
	watch   func(context.Context, *workflow.Resolved, workflow.WatchOptions) error
	doctor  func(context.Context, workflow.DoctorParams) (*workflow.DoctorReport, error)
}

// realWork is the backend of rko mcp: workflow's.
var realWork = backend{
	resolve: func(ctx context.Context, j *job.Job, p *ui.Printer) (*workflow.Resolved, error) {
		return workflow.Resolve(ctx, j, p, true)
	},
	test: workflow.Test,
	build: func(ctx context.Context, r *workflow.Resolved) ([]workflow.ModuleRun, error) {
		return r.BuildModules(ctx)
	},
	watch:  workflow.Watch,
	doctor: workflow.Doctor,
}

// New makes a server with rko's tools and resources.
func New(o Options) *Server {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Docs == nil {
		sub, err := fs.Sub(rko.Docs, "docs")
		if err != nil {
			panic("mcpserver: embedded docs: " + err.Error())
		}
		o.Docs = sub
	}
	for i, r := range o.Roots {
		o.Roots[i] = canon(r)
	}
	if o.Version == "" {
		o.Version = "devel"
	}
	s := &Server{opts: o, work: realWork, locks: newDirLocks(), sessions: map[string]*watchSession{}}
	s.base, s.cancel = context.WithCancel(context.Background())
	s.mcp = mcp.NewServer(&mcp.Implementation{Name: "rko", Title: "rko: Rust Linux kernel modules", Version: o.Version},
		&mcp.ServerOptions{Instructions: instructions})
	s.addTools()
	s.addResources()
	return s
}

// instructions tell the client's model what the server is for.
const instructions = `rko builds Linux kernel modules written in Rust (or C) out of tree, boots them in QEMU with a small Rust-enabled kernel, loads them, runs their KUnit suites and tests/ programs, and reports every Oops, WARNING, KASAN report or Rust panic with its source line.
The loop: new (a module directory) -> edit -> test (dirs: the module directory) -> read the verdict, the crashes and the KUnit tree -> fix -> test again. For many quick iterations on one module, watch_start keeps a guest up and watch_cycle gives a new verdict in about a second. lint checks the Rust-for-Linux rules without a compiler; doc answers questions about the kernel crate's API for the kernel rko builds; triage reads a saved console log.
Paths are absolute. Calls on one module directory run one at a time. The first test builds the kernel (minutes; progress is reported); later ones take seconds.
Resources: rko://runs/last/report.json and rko://runs/last/console.log (the last test run), rko://docs/NAME.md (rko's documentation).`

// Run serves one client over t until it disconnects or ctx ends, then
// ends every watch session and waits for the calls in progress to stop
// what they started (no guest outlives the server).
func (s *Server) Run(ctx context.Context, t mcp.Transport) error {
	err := s.mcp.Run(ctx, t)
	s.Close()
	if errors.Is(err, context.Canceled) || errors.Is(err, io.EOF) {
		err = nil
	}
	return err
}

// Close cancels every watch session and call and waits for them to end.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.calls.Wait()
}

// enter counts a call or session in, unless the server is closing; the
// caller calls s.calls.Done when it ends.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.calls.Add(1)
	return true
}

// MCP is the SDK's server, for connecting it to other transports (tests).
func (s *Server) MCP() *mcp.Server { return s.mcp }

// logf writes a line of the server's own to its log.
func (s *Server) logf(format string, args ...any) {
	fmt.Fprintf(s.opts.Log, "rko mcp: "+format+"\n", args...)
}

// call is one tool call: its request, and the progress printer whose
// lines go to the client (with a progress token) and to the log.
type call struct {
	name string
	req  *mcp.CallToolRequest
	send notifier
	sink *lineSink
	p    *ui.Printer
}

// handler is a tool's work: its output, a short text for the model (""
// for none), or an error that becomes a result with isError.
type handler[In, Out any] func(ctx context.Context, c *call, in In) (Out, string, error)

// addTool registers a tool whose input and output schemas are inferred
// from In and Out. The call runs under a context that ends with the
// request (the client cancelled it or went away) or with the server.
func addTool[In, Out any](s *Server, t *mcp.Tool, h handler[In, Out]) {
	t.InputSchema = inputSchema[In]()
	t.OutputSchema = outputSchema[Out]()
	mcp.AddTool(s.mcp, t, func(ctx context.Context, req *mcp.CallToolRequest, in In) (*mcp.CallToolResult, Out, error) {
		var zero Out
		if !s.enter() {
			return nil, zero, errors.New("rko mcp is shutting down: call again after it restarts")
		}
		defer s.calls.Done()
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stop := context.AfterFunc(s.base, cancel)
		defer stop()
		n := s.nCalls.Add(1)
		c := &call{name: t.Name, req: req, send: progressTo(ctx, req)}
		c.sink = newLineSink(s.opts.Log, fmt.Sprintf("rko mcp: %s#%d: ", t.Name, n), c.send)
		c.p = c.sink.printer()
		start := time.Now()
		out, text, err := h(ctx, c, in)
		if err != nil {
			err = argError(err)
			if ctx.Err() != nil && !errors.Is(err, context.Canceled) {
				err = fmt.Errorf("cancelled: %w", err)
			}
			s.logf("%s#%d: error after %s: %v", t.Name, n, time.Since(start).Round(time.Millisecond), err)
			return nil, zero, err
		}
		s.logf("%s#%d: done in %s", t.Name, n, time.Since(start).Round(time.Millisecond))
		if text == "" {
			return nil, out, nil
		}
		// The summary first, for a model that reads the text; then the
		// whole document, as the spec asks of a tool with structured
		// output (clients that ignore structuredContent read it here).
		js, jerr := json.Marshal(out)
		if jerr != nil {
			return nil, zero, jerr
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}, &mcp.TextContent{Text: string(js)}}}, out, nil
	})
}

// checkRoots refuses a path outside the server's roots (Options.Roots).
// arg names the tool argument.
func (s *Server) checkRoots(arg string, paths ...string) error {
	if len(s.opts.Roots) == 0 {
		return nil
	}
	for _, p := range paths {
		if !s.underRoot(p) {
			return &job.Error{Field: arg, Msg: fmt.Sprintf("%s is outside the directories this server may use (%s): give a path under one of them, or start rko mcp with --root for it", p, strings.Join(s.opts.Roots, ", "))}
		}
	}
	return nil
}

// underRoot reports whether p is one of the roots or under one.
func (s *Server) underRoot(p string) bool {
	c := canon(p)
	for _, r := range s.opts.Roots {
		if rel, err := filepath.Rel(r, c); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			return true
		}
	}
	return false
}

// seconds is d in seconds, to the millisecond.
func seconds(d time.Duration) float64 {
	return float64(d.Round(time.Millisecond)) / float64(time.Second)
}

// waitNote is the note of a call that waited for another one on the same
// module directory.
func waitNote(d time.Duration) string {
	if d < time.Millisecond {
		return ""
	}
	return fmt.Sprintf("waited %s for another call on the same module directory (calls on one directory run one at a time)", d.Round(time.Millisecond))
}
