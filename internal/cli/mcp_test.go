package cli

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestMCPFlags: --root takes directories, made absolute; anything else is
// refused before the server starts.
func TestMCPFlags(t *testing.T) {
	dir := t.TempDir()
	f, _, _ := testStreams("")
	var got *MCPOptions
	c := NewCmdMCP(f, func(_ context.Context, o *MCPOptions) error { got = o; return nil })
	wd := filepath.Dir(dir)
	t.Chdir(wd)
	c.SetArgs([]string{"--root", filepath.Base(dir)})
	if err := c.Execute(); err != nil {
		t.Fatal(err)
	}
	if got == nil || len(got.Roots) != 1 || got.Roots[0] != dir {
		t.Errorf("roots = %+v, want [%s]", got, dir)
	}
	c = NewCmdMCP(f, func(context.Context, *MCPOptions) error { t.Error("ran with a bad --root"); return nil })
	c.SetArgs([]string{"--root", filepath.Join(dir, "nope")})
	if err := c.Execute(); err == nil || !strings.Contains(err.Error(), "is not a directory") {
		t.Errorf("err = %v", err)
	}
}

// TestMCPServes: rko mcp serves the protocol on the Factory's streams
// and ends when the client closes its side.
func TestMCPServes(t *testing.T) {
	cin, sout := io.Pipe() // server writes, client reads
	sin, cout := io.Pipe() // client writes, server reads
	var errOut bytes.Buffer
	f := &Factory{IO: &IOStreams{In: sin, Out: sout, ErrOut: &syncWriter{w: &errOut}}}
	done := make(chan error, 1)
	go func() {
		err := runMCP(context.Background(), &MCPOptions{IO: f.IO})
		sout.Close()
		done <- err
	}()
	client := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "0"}, nil)
	cs, err := client.Connect(context.Background(), &mcp.IOTransport{Reader: cin, Writer: cout}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cs.InitializeResult().ServerInfo.Name != "rko" {
		t.Errorf("server = %+v", cs.InitializeResult().ServerInfo)
	}
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "test", Arguments: map[string]any{"dirs": []string{filepath.Join(t.TempDir(), "x")}}})
	if err != nil || !res.IsError {
		t.Errorf("test of a missing directory: %v %+v", err, res)
	}
	cs.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("runMCP = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("rko mcp did not end when the client closed its side")
	}
}

// syncWriter serializes writes (the server logs from several goroutines).
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
