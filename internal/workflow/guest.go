package workflow

import (
	"context"
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
	in     *vm.Instance
	stdin  *io.PipeWriter
	mu     sync.Mutex
	waitID int
	acks   chan proto.Frame
	nextID int
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
	g := &Guest{acks: make(chan proto.Frame, 16), RunDir: dir, ConsoleLog: cfg.ConsoleLog, lineMax: k.Target().ConsoleLine, token: plan.Token}
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
			g.mu.Lock()
			want := g.waitID
			g.mu.Unlock()
			if fr.ID == want {
				g.acks <- fr
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

// do sends one command and waits for its ack, at most timeout.
func (g *Guest) do(ctx context.Context, c proto.Command, timeout time.Duration) (proto.Frame, error) {
	g.mu.Lock()
	g.nextID++
	c.ID = g.nextID
	g.waitID = c.ID
	g.mu.Unlock()
	line, err := json.Marshal(c)
	if err != nil {
		return proto.Frame{}, err
	}
	// The write blocks until the guest reads: it is bounded like the rest.
	werr := make(chan error, 1)
	go func() {
		_, err := g.stdin.Write(append(line, '\n'))
		werr <- err
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case err := <-werr:
			if err != nil {
				return proto.Frame{}, fmt.Errorf("%w: %v", ErrGuestGone, err)
			}
			werr = nil
		case ack := <-g.acks:
			if ack.ID != c.ID {
				continue
			}
			if ack.Error != "" {
				return ack, fmt.Errorf("guest: %s", ack.Error)
			}
			return ack, nil
		case <-g.in.Done():
			return proto.Frame{}, ErrGuestGone
		case <-t.C:
			return proto.Frame{}, fmt.Errorf("%w: no answer to %q in %s", ErrGuestGone, c.Cmd, timeout)
		case <-ctx.Done():
			return proto.Frame{}, ctx.Err()
		}
	}
}

// Put writes data to path in the guest.
func (g *Guest) Put(ctx context.Context, path string, data []byte, mode os.FileMode) error {
	// A MiB over the serial console takes about a second under TCG.
	timeout := 10*time.Second + time.Duration(len(data)>>20)*5*time.Second
	for _, c := range putParts(path, data, mode, g.lineMax) {
		if _, err := g.do(ctx, c, timeout); err != nil {
			return err
		}
	}
	return nil
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

// Step runs st in the guest and waits for it to end.
func (g *Guest) Step(ctx context.Context, st proto.Step) error {
	timeout := time.Duration(st.TimeoutSec) * time.Second
	if timeout == 0 {
		timeout = 120 * time.Second
	}
	// The init kills a step at its own timeout; the margin is for the
	// kernel's last words and the frames.
	_, err := g.do(ctx, proto.Command{Cmd: proto.CmdStep, Step: &st}, timeout+15*time.Second)
	if err != nil && !errors.Is(err, ErrGuestGone) && !errors.Is(err, context.Canceled) {
		return nil // the step failed: its end frame says how
	}
	return err
}

// Ping checks that the init answers.
func (g *Guest) Ping(ctx context.Context) error {
	_, err := g.do(ctx, proto.Command{Cmd: proto.CmdPing}, 10*time.Second)
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
