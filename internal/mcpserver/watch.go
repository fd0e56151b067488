package mcpserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/rkodev/rko/internal/workflow"
)

// onCallOnly is the debounce of a watch session's file events: longer
// than any session, so that cycles run only when watch_cycle asks. An
// agent's edit is done when it says so, not at its first saved file, and
// each watch_cycle gets the result of the cycle it started.
const onCallOnly = time.Duration(1<<63 - 1)

// watchSession is a running workflow.Watch: a guest that stays up, a
// cycle per watch_cycle (a line written to the Enter pipe), the cycles'
// results as they come.
type watchSession struct {
	id     string
	dirs   []string
	sink   *lineSink
	enter  *io.PipeWriter
	cancel context.CancelFunc
	done   chan struct{} // closed when Watch returned
	err    error         // Watch's error, set before done is closed

	mu      sync.Mutex // guards pending and ready
	pending []workflow.WatchCycle
	ready   chan struct{} // a cycle was delivered (buffered, one)

	turn sync.Mutex // one watch_cycle or watch_stop at a time
	// triggered counts the cycles asked for after the first; outstanding
	// is the number of a cycle asked for whose result no call took (its
	// call was cancelled), 0 if none.
	triggered, outstanding int
}

// deliver is Watch's OnCycle.
func (w *watchSession) deliver(c workflow.WatchCycle, _ error) {
	w.mu.Lock()
	w.pending = append(w.pending, c)
	w.mu.Unlock()
	select {
	case w.ready <- struct{}{}:
	default:
	}
}

// wait returns the result of cycle n, dropping those of earlier cycles,
// unless ctx ends or the session does first.
func (w *watchSession) wait(ctx context.Context, n int) (workflow.WatchCycle, error) {
	for {
		w.mu.Lock()
		for len(w.pending) > 0 {
			c := w.pending[0]
			w.pending = w.pending[1:]
			if c.Cycle == n {
				w.mu.Unlock()
				return c, nil
			}
		}
		w.mu.Unlock()
		select {
		case <-w.ready:
		case <-w.done:
			select {
			case <-w.ready: // delivered just before the end
				continue
			default:
			}
			return workflow.WatchCycle{}, w.endError()
		case <-ctx.Done():
			return workflow.WatchCycle{}, ctx.Err()
		}
	}
}

// endError says that the session has ended, and why.
func (w *watchSession) endError() error {
	if w.err == nil || errors.Is(w.err, context.Canceled) {
		return fmt.Errorf("session: watch session %s has ended: start another with watch_start", w.id)
	}
	return fmt.Errorf("session: watch session %s has ended: %v; start another with watch_start", w.id, w.err)
}

// WatchStartOutput is the first cycle of a new watch session, with the
// session's id for watch_cycle and watch_stop.
type WatchStartOutput struct {
	// Session is the session's id.
	Session string `json:"session"`
	workflow.WatchCycle
}

// watchStart resolves the job, starts workflow.Watch in the background
// and returns its first cycle. The session's directories are held until
// it ends; a call cancelled before the first cycle ends the session.
func (s *Server) watchStart(ctx context.Context, c *call, in JobInput) (WatchStartOutput, string, error) {
	j, err := in.toJob()
	if err != nil {
		return WatchStartOutput{}, "", err
	}
	if err := s.checkRoots("dirs", j.Modules...); err != nil {
		return WatchStartOutput{}, "", err
	}
	s.mu.Lock()
	s.nWatch++
	id := fmt.Sprintf("w%d", s.nWatch)
	s.mu.Unlock()
	release, waited, err := s.locks.acquire(ctx, j.Modules, id)
	if err != nil {
		return WatchStartOutput{}, "", err
	}
	if n := waitNote(waited); n != "" {
		c.p.Logf("%s", n)
	}
	w := &watchSession{id: id, dirs: j.Modules, done: make(chan struct{}), ready: make(chan struct{}, 1)}
	w.sink = newLineSink(s.opts.Log, "rko mcp: watch "+id+": ", c.send)
	p := w.sink.printer()
	r, err := s.work.resolve(ctx, j, p)
	if err != nil {
		release()
		return WatchStartOutput{}, "", err
	}
	if !s.enter() {
		release()
		return WatchStartOutput{}, "", errors.New("rko mcp is shutting down: call again after it restarts")
	}
	sctx, cancel := context.WithCancel(s.base)
	pr, pw := io.Pipe()
	w.enter, w.cancel = pw, cancel
	go func() {
		defer s.calls.Done()
		err := s.work.watch(sctx, r, workflow.WatchOptions{Debounce: onCallOnly, Enter: pr, OnCycle: w.deliver})
		w.err = err
		cancel()
		pw.Close()
		release()
		close(w.done)
		if err != nil && !errors.Is(err, context.Canceled) {
			s.logf("watch %s ended: %v", id, err)
		}
	}()
	s.mu.Lock()
	s.sessions[id] = w
	s.mu.Unlock()
	first, err := w.wait(ctx, 1)
	w.sink.to(nil)
	if err != nil {
		s.endSession(w)
		if ctx.Err() != nil {
			return WatchStartOutput{}, "", ctx.Err()
		}
		if w.err != nil {
			return WatchStartOutput{}, "", w.err
		}
		return WatchStartOutput{}, "", err
	}
	return WatchStartOutput{Session: id, WatchCycle: first}, "session " + id + ": " + cycleSummary(first), nil
}

// endSession stops w, waits for its guest to stop and forgets it.
func (s *Server) endSession(w *watchSession) {
	w.cancel()
	<-w.done
	s.mu.Lock()
	delete(s.sessions, w.id)
	s.mu.Unlock()
}

// SessionInput names a watch session.
type SessionInput struct {
	Session string `json:"session" jsonschema:"the session id watch_start returned"`
}

// session is the running session id names.
func (s *Server) session(id string) (*watchSession, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.sessions[id]
	if !ok {
		return nil, fmt.Errorf("session: no watch session %q: start one with watch_start (a session ends with watch_stop or with the server)", id)
	}
	return w, nil
}

// watchCycle runs one cycle of a session now and returns its result. A
// call cancelled while its cycle runs stops waiting; the cycle ends on
// the guest, and the next call waits for it before starting its own.
func (s *Server) watchCycle(ctx context.Context, c *call, in SessionInput) (workflow.WatchCycle, string, error) {
	w, err := s.session(in.Session)
	if err != nil {
		return workflow.WatchCycle{}, "", err
	}
	w.turn.Lock()
	defer w.turn.Unlock()
	select {
	case <-w.done:
		return workflow.WatchCycle{}, "", w.endError()
	default:
	}
	w.sink.to(c.send)
	defer w.sink.to(nil)
	if w.outstanding != 0 {
		c.p.Logf("waiting for cycle %d, asked for by a cancelled call", w.outstanding)
		if _, err := w.wait(ctx, w.outstanding); err != nil {
			return workflow.WatchCycle{}, "", err
		}
		w.outstanding = 0
	}
	w.triggered++
	n := w.triggered + 1 // cycle 1 ran at watch_start
	w.outstanding = n
	if _, err := io.WriteString(w.enter, "\n"); err != nil {
		return workflow.WatchCycle{}, "", w.endError()
	}
	cy, err := w.wait(ctx, n)
	if err != nil {
		return workflow.WatchCycle{}, "", err
	}
	w.outstanding = 0
	return cy, cycleSummary(cy), nil
}

// WatchStopOutput is a stopped session.
type WatchStopOutput struct {
	Session string `json:"session"`
	// Cycles is the number of cycles the session ran.
	Cycles int `json:"cycles"`
	// Error is why the session had ended before watch_stop, if it had.
	Error string `json:"error,omitempty"`
}

// watchStop ends a session: its guest is stopped, its directories freed.
func (s *Server) watchStop(ctx context.Context, c *call, in SessionInput) (WatchStopOutput, string, error) {
	w, err := s.session(in.Session)
	if err != nil {
		return WatchStopOutput{}, "", err
	}
	w.cancel() // a watch_cycle in progress ends with the session
	w.turn.Lock()
	defer w.turn.Unlock()
	s.endSession(w)
	out := WatchStopOutput{Session: w.id, Cycles: w.triggered + 1}
	if w.err != nil && !errors.Is(w.err, context.Canceled) {
		out.Error = w.err.Error()
	}
	return out, fmt.Sprintf("session %s stopped after %d cycle(s)", w.id, out.Cycles), nil
}

// cycleSummary is a watch cycle in a few lines.
func cycleSummary(c workflow.WatchCycle) string {
	var s string
	switch {
	case c.BuildError != nil:
		s = fmt.Sprintf("cycle %d: the module did not build (the guest keeps running): %s", c.Cycle, c.BuildError.Error)
	case c.Report != nil:
		s = fmt.Sprintf("cycle %d: ", c.Cycle) + testSummary(c.Report, 0)
	default:
		s = fmt.Sprintf("cycle %d", c.Cycle)
	}
	if c.RebootReason != "" {
		s += "\nthe guest is rebooted: " + c.RebootReason
	}
	return s
}
