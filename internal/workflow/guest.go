package workflow

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/rkodev/rko/internal/guest"
	"github.com/rkodev/rko/internal/guest/proto"
	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/vm"
)

// Guest is a guest that stays up: booted once in the init's command mode,
// it is sent files and steps over its console and answers each with
// frames (rko watch). The console is kept whole; a caller reads the part
// of one cycle with Console(from).
type Guest struct {
	in    *vm.Instance
	stdin *io.PipeWriter
	mu    sync.Mutex
	// waiting holds, for each command sent and not yet answered, the
	// channel its ack goes to.
	waiting map[int]chan ackAt
	nextID  int
	// sent holds the content of the last put of each path the init
	// acknowledged (up to proto.MaxDictContent bytes): the init keeps the
	// same, and the next put of that path is compressed with it as the
	// dictionary (proto.Command.Dict). staged holds the content of puts
	// not yet acknowledged, by path and sha256.
	sent, staged map[string][]byte
	// Accel and AccelNote say what the guest runs under and why.
	Accel, AccelNote string
	// BootTaint is the kernel's taint flags once the guest was up.
	BootTaint uint64
	// ConsoleLog is the guest's console log.
	ConsoleLog string
	// RunDir holds the guest's initramfs and console log.
	RunDir string
	// Booted is how long the boot took.
	Booted time.Duration
	// lineMax bounds a command line on the console (target.ConsoleLine).
	lineMax int
	// token authenticates the init's frames (proto.Plan.Token).
	token string
}

// ErrGuestGone means the guest ended (it crashed, panicked or was
// stopped) or stopped answering.
var ErrGuestGone = errors.New("the guest is gone")

// StartGuest boots k in command mode, through the one boot path: the
// init mounts, lifts the KUnit filter when the kernel's self-check is
// recorded, prints "ready" and waits for commands. It returns once the
// guest is ready; vm decides KVM or TCG and falls back.
func (e *Env) StartGuest(ctx context.Context, k *kernel.Kernel, o BootOpts, name string) (*Guest, error) {
	dir, err := NewRunDir(name)
	if err != nil {
		return nil, err
	}
	plan := &guest.Plan{Serve: true}
	cfg, err := e.bootConfig(ctx, k, plan, nil, o, dir)
	if err != nil {
		return nil, err
	}
	// A guest that stays up has no end: the timeout bounds its boot.
	wait := cfg.Timeout
	cfg.Timeout = 0
	g := &Guest{waiting: map[int]chan ackAt{}, sent: map[string][]byte{}, staged: map[string][]byte{}, RunDir: dir, ConsoleLog: cfg.ConsoleLog, lineMax: k.Target().ConsoleLine, token: plan.Token}
	ready := make(chan proto.Frame, 1)
	frames := &guest.FrameReader{Token: plan.Token}
	cfg.OnLine = func(line string) {
		fr, ok, _ := frames.Read(line)
		if !ok {
			return
		}
		switch fr.Ev {
		case proto.EvReady:
			select {
			case ready <- fr:
			default:
			}
		case proto.EvAck:
			at := time.Now()
			g.mu.Lock()
			ch := g.waiting[fr.ID]
			delete(g.waiting, fr.ID)
			g.mu.Unlock()
			if ch != nil {
				ch <- ackAt{fr, at} // buffered: the console is never held up
			}
		}
	}
	start := time.Now()
	up, err := vm.StartUp(ctx, cfg, o.Accel, wait)
	if err != nil {
		return nil, err
	}
	g.in, g.stdin, g.Accel, g.AccelNote = up.Instance, up.Stdin, up.Accel, up.Note
	select {
	case fr := <-ready:
		g.Booted, g.BootTaint = time.Since(start), fr.Taint
		return g, nil
	case <-up.Done():
		res, err := up.Wait()
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("the guest ended before its init was ready (console: %s, exit %d)", res.LogPath, res.ExitCode)
	case <-ctx.Done():
		up.Stop()
		return nil, ctx.Err()
	}
}

// Console returns the console from byte offset from on.
func (g *Guest) Console(from int) []byte {
	c := g.in.Console()
	if from > len(c) {
		return nil
	}
	return c[from:]
}

// ConsoleLen is the length of the console so far (where the next cycle's
// part starts).
func (g *Guest) ConsoleLen() int { return len(g.in.Console()) }

// Alive reports whether the guest is still running.
func (g *Guest) Alive() bool {
	select {
	case <-g.in.Done():
		return false
	default:
		return true
	}
}

// ackAt is an ack frame and when its line reached the host.
type ackAt struct {
	f  proto.Frame
	at time.Time
}

// Sent is a command sent to the guest and its answer.
type Sent struct {
	Cmd proto.Command
	Ack proto.Frame
	// At is when the command's line was written to the console; Acked
	// when its ack reached the host.
	At, Acked time.Time
}

// Send sends cmds and waits for each one's ack, in order. On a console
// whose input takes lines of any length the commands are written at once:
// the init reads and runs them one after another, so the next command is
// already there when one ends, and no round trip is spent between them; on
// one that takes short lines only (target.ConsoleLine: UML's), each is
// written once the one before is answered. The wait for a command's ack is
// bounded by CmdTimeout from the previous ack. onAck, if not nil, is told
// of each answer as it comes. Send returns the commands answered; it stops
// early only when the guest is gone or does not answer in time
// (ErrGuestGone) or ctx ends, and otherwise returns the first error an ack
// carried once every command is answered, so that no answer of this batch
// is left to arrive in the next one's console.
func (g *Guest) Send(ctx context.Context, cmds []proto.Command, onAck func(i int, s Sent)) ([]Sent, error) {
	if len(cmds) == 0 {
		return nil, nil
	}
	chans := make([]chan ackAt, len(cmds))
	g.mu.Lock()
	for i := range cmds {
		g.nextID++
		cmds[i].ID = g.nextID
		chans[i] = make(chan ackAt, 1)
		g.waiting[cmds[i].ID] = chans[i]
	}
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		for _, c := range cmds {
			delete(g.waiting, c.ID)
		}
		g.mu.Unlock()
	}()
	lines := make([][]byte, len(cmds))
	for i, c := range cmds {
		line, err := json.Marshal(c)
		if err != nil {
			return nil, err
		}
		lines[i] = append(line, '\n')
	}
	// A write blocks until the guest reads: it runs beside the wait, and
	// the wait is what is bounded.
	werr := make(chan error, len(cmds))
	write := func(b []byte) {
		go func() {
			_, err := g.stdin.Write(b)
			werr <- err
		}()
	}
	pipelined := g.lineMax == 0
	sentAt := make([]time.Time, len(cmds))
	if pipelined {
		now := time.Now()
		for i := range sentAt {
			sentAt[i] = now
		}
		write(bytes.Join(lines, nil))
	}
	var out []Sent
	var ackErr error
	last := time.Now()
	for i, c := range cmds {
		if !pipelined {
			sentAt[i] = time.Now()
			write(lines[i])
		}
		t := time.NewTimer(CmdTimeout(c))
		var a ackAt
	wait:
		for {
			select {
			case a = <-chans[i]:
				break wait
			case err := <-werr:
				if err != nil {
					t.Stop()
					return out, fmt.Errorf("%w: %v", ErrGuestGone, err)
				}
			case <-g.in.Done():
				t.Stop()
				return out, ErrGuestGone
			case <-t.C:
				return out, fmt.Errorf("%w: no answer to %q in %s", ErrGuestGone, c.Cmd, CmdTimeout(c))
			case <-ctx.Done():
				t.Stop()
				return out, ctx.Err()
			}
		}
		t.Stop()
		last = a.at
		if c.Cmd == proto.CmdPut && !c.More && a.f.Error == "" {
			g.putDone(c.Path, c.Sum)
		}
		s := Sent{Cmd: c, Ack: a.f, At: sentAt[i], Acked: last}
		out = append(out, s)
		if a.f.Error != "" && ackErr == nil {
			ackErr = fmt.Errorf("guest: %s", a.f.Error)
		}
		if onAck != nil {
			onAck(i, s)
		}
	}
	return out, ackErr
}

// CmdTimeout is how long the init may take to answer c: a step's own
// timeout (120 s by default; the init kills the step then) and 15 s for
// the kernel's last words and the frames; a put, 10 s and 5 s a MiB (a
// MiB over the serial console takes about a second under TCG); anything
// else, 10 s.
func CmdTimeout(c proto.Command) time.Duration {
	switch c.Cmd {
	case proto.CmdStep:
		timeout := 120 * time.Second
		if c.Step != nil && c.Step.TimeoutSec > 0 {
			timeout = time.Duration(c.Step.TimeoutSec) * time.Second
		}
		return timeout + 15*time.Second
	case proto.CmdPut:
		return 10*time.Second + time.Duration(len(c.Data)>>20)*5*time.Second
	}
	return 10 * time.Second
}

// Put writes data to path in the guest.
func (g *Guest) Put(ctx context.Context, path string, data []byte, mode os.FileMode) error {
	_, err := g.Send(ctx, g.PutCommands(path, data, mode), nil)
	return err
}

// PutCommands are the commands that write data to path in this guest:
// compressed (proto.EncDeflate) when that makes it smaller, with the
// content of the last put of path the guest acknowledged as the
// dictionary when there is one (proto.Command.Dict: the module of the
// last cycle, the same test program), in parts when the console takes
// short lines only (putParts). The content's sha256 goes with it.
func (g *Guest) PutCommands(path string, data []byte, mode os.FileMode) []proto.Command {
	h := sha256.Sum256(data)
	sum := hex.EncodeToString(h[:])
	g.mu.Lock()
	prev, dict := g.sent[path]
	if len(data) <= proto.MaxDictContent {
		g.staged[path+"\x00"+sum] = data
	}
	g.mu.Unlock()
	enc := ""
	if z := deflate(data, prev, dict); len(z) < len(data) {
		data, enc = z, proto.EncDeflate
	} else {
		dict = false
	}
	parts := putParts(path, data, mode, g.lineMax)
	for i := range parts {
		parts[i].Enc, parts[i].Dict, parts[i].Sum = enc, dict, sum
	}
	return parts
}

// putDone records that the init took the put of path whose content has
// sha256 sum: the content is the dictionary of the next put of path.
func (g *Guest) putDone(path, sum string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	key := path + "\x00" + sum
	if d, ok := g.staged[key]; ok {
		g.sent[path] = d
		delete(g.staged, key)
	} else {
		delete(g.sent, path) // too large: the init keeps none either
	}
}

// deflate compresses data with DEFLATE (proto.EncDeflate), with the end
// of prev (DEFLATE's window is 32 KiB) as the preset dictionary when
// dict is set.
func deflate(data, prev []byte, dict bool) []byte {
	var b bytes.Buffer
	var w *flate.Writer
	if dict {
		w, _ = flate.NewWriterDict(&b, flate.BestCompression, prev[max(0, len(prev)-32<<10):])
	} else {
		w, _ = flate.NewWriter(&b, flate.BestCompression)
	}
	w.Write(data)
	w.Close()
	return b.Bytes()
}

// putParts splits a put into commands whose JSON lines fit in lineMax
// bytes (0: one command): base64 makes 3 bytes 4, and the rest of the
// line (id, path, mode, offset) is given 256 bytes beside the path.
func putParts(path string, data []byte, mode os.FileMode, lineMax int) []proto.Command {
	one := proto.Command{Cmd: proto.CmdPut, Path: path, Data: data, Mode: uint32(mode.Perm())}
	chunk := (lineMax - 256 - len(path)) / 4 * 3
	if lineMax == 0 || len(data) <= chunk {
		return []proto.Command{one}
	}
	if chunk < 3 {
		chunk = 3
	}
	var parts []proto.Command
	for off := 0; off < len(data); off += chunk {
		end := min(off+chunk, len(data))
		c := one
		c.Data, c.Offset, c.More = data[off:end], int64(off), end < len(data)
		parts = append(parts, c)
	}
	return parts
}

// Step runs st in the guest and waits for it to end. A step that fails
// is not an error (its end frame says how it failed); a guest that is
// gone, or stopped answering, is.
func (g *Guest) Step(ctx context.Context, st proto.Step) error {
	_, err := g.Send(ctx, []proto.Command{{Cmd: proto.CmdStep, Step: &st}}, nil)
	if err != nil && !errors.Is(err, ErrGuestGone) && !errors.Is(err, context.Canceled) {
		return nil // the step failed: its end frame says how
	}
	return err
}

// Ping checks that the init answers.
func (g *Guest) Ping(ctx context.Context) error {
	_, err := g.Send(ctx, []proto.Command{{Cmd: proto.CmdPing}}, nil)
	return err
}

// Stop ends the guest: a reboot command, then the process, and waits.
func (g *Guest) Stop() *vm.Result {
	if g.Alive() {
		g.stdin.Write([]byte(`{"cmd":"reboot"}` + "\n"))
		select {
		case <-g.in.Done():
		case <-time.After(3 * time.Second):
		}
	}
	g.stdin.Close()
	res, _ := g.in.Stop()
	return res
}
