// Package ui prints rko's progress on stderr: phases with their elapsed
// time and one-line status updates. Results go to stdout through the
// commands themselves; colour is used only when stderr is a terminal.
package ui

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"
)

// Printer prints progress lines. The zero value is not usable; use New.
type Printer struct {
	mu    sync.Mutex
	w     io.Writer
	color bool
	phase string
	since time.Time
	quiet bool
}

// New returns a printer on w; colour is on when w is a terminal and
// NO_COLOR is unset.
func New(w io.Writer, quiet bool) *Printer {
	color := false
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) && os.Getenv("NO_COLOR") == "" {
		color = true
	}
	return &Printer{w: w, color: color, quiet: quiet}
}

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

func (p *Printer) paint(code, s string) string {
	if !p.color {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

// Phase starts a named phase and returns a function that ends it and
// returns its duration.
func (p *Printer) Phase(name string) func() time.Duration {
	start := time.Now()
	p.mu.Lock()
	p.phase, p.since = name, start
	if !p.quiet {
		fmt.Fprintf(p.w, "%s %s\n", p.paint("1;34", "==>"), p.paint("1", name))
	}
	p.mu.Unlock()
	return func() time.Duration {
		d := time.Since(start) // this phase's, even if another began since
		p.mu.Lock()
		if !p.quiet {
			fmt.Fprintf(p.w, "    %s in %s\n", name, fmtDur(d))
		}
		p.mu.Unlock()
		return d
	}
}

// Logf prints a status line under the current phase, with the time since
// the phase began.
func (p *Printer) Logf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.quiet {
		return
	}
	el := ""
	if !p.since.IsZero() {
		el = p.paint("2", fmt.Sprintf("[%s] ", fmtDur(time.Since(p.since))))
	}
	fmt.Fprintf(p.w, "    %s%s\n", el, fmt.Sprintf(format, args...))
}

// Warnf prints a warning line.
func (p *Printer) Warnf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "%s %s\n", p.paint("33", "warning:"), fmt.Sprintf(format, args...))
}

func fmtDur(d time.Duration) string {
	if d < 10*time.Second {
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

// Every calls f every d, from another goroutine, until the returned stop
// is called: the periodic progress line of a long make ("building: 412
// objects, 1m20s elapsed"). stop waits for a call of f in progress.
func Every(d time.Duration, f func()) (stop func()) {
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				f()
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(done) })
		<-exited
	}
}
