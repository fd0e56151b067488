package mcpserver

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/rkodev/rko/internal/ui"
)

// notifier sends one progress message to the client that asked for
// progress (its call carried a progress token).
type notifier func(msg string)

// progressTo is the notifier of a tool call: each message becomes a
// notifications/progress with the call's token and a count that goes up
// by one; nil when the client passed no token.
func progressTo(ctx context.Context, req *mcp.CallToolRequest) notifier {
	if req == nil || req.Params == nil || req.Session == nil {
		return nil
	}
	tok := req.Params.GetProgressToken()
	if tok == nil {
		return nil
	}
	var mu sync.Mutex
	n := 0
	return func(msg string) {
		mu.Lock()
		n++
		p := &mcp.ProgressNotificationParams{ProgressToken: tok, Message: msg, Progress: float64(n)}
		mu.Unlock()
		// A client that has gone or cancelled the call misses it: the
		// work does not depend on it.
		_ = req.Session.NotifyProgress(ctx, p)
	}
}

// lineSink is the io.Writer under a tool's ui.Printer: it turns each
// line the printer writes into a progress message to the call's client
// (when there is one) and copies it to the server's log, prefixed with
// the call. A watch session's sink changes client with each watch_cycle.
type lineSink struct {
	mu     sync.Mutex
	buf    []byte
	prefix string
	log    io.Writer
	send   notifier
}

func newLineSink(log io.Writer, prefix string, send notifier) *lineSink {
	return &lineSink{log: log, prefix: prefix, send: send}
}

// to makes the sink's messages go to send (nil: the log only).
func (s *lineSink) to(send notifier) {
	s.mu.Lock()
	s.send = send
	s.mu.Unlock()
}

// Write takes the printer's output; whole lines are sent.
func (s *lineSink) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = append(s.buf, b...)
	for {
		i := bytes.IndexByte(s.buf, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimSpace(string(s.buf[:i]))
		s.buf = s.buf[i+1:]
		if line == "" {
			continue
		}
		if s.log != nil {
			fmt.Fprintf(s.log, "%s%s\n", s.prefix, line)
		}
		if s.send != nil {
			s.send(line)
		}
	}
	return len(b), nil
}

// printer is a progress printer on the sink (no colour: it is no
// terminal).
func (s *lineSink) printer() *ui.Printer { return ui.New(s, false) }
