package workflow

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/rkodev/rko/internal/bench"
	"github.com/rkodev/rko/internal/guest"
	"github.com/rkodev/rko/internal/vm"
)

// BenchBooter runs rko bench's rounds through the one boot path, one boot
// a round, with one vCPU so that both twins run on the same (virtual)
// core. The first round decides the accelerator (vm.Boot's policy), and
// the later rounds keep what it ran under.
type BenchBooter struct {
	r      *Resolved
	o      BootOpts
	dir    string
	rounds int
	accel  string
	note   string
}

// BenchBooter is the bench.Booter of r for the guest g, keeping each
// round's image and console in dir.
func (r *Resolved) BenchBooter(g *bench.Guest, dir string) *BenchBooter {
	o := r.BootOpts()
	o.CPUs = 1
	if o.MemoryMB == 0 {
		o.MemoryMB = 1024
	}
	if r.Job.Boot.Timeout == 0 {
		o.Timeout = 20 * time.Minute
	}
	o.NoTests, o.Kmemleak = true, false
	o.ExtraFiles, o.Binaries, o.BinaryRoots = g.Files, g.Binaries, g.BinaryRoots
	return &BenchBooter{r: r, o: o, dir: dir}
}

// Accel returns the accelerator the rounds ran under and, when it is not
// KVM, why.
func (b *BenchBooter) Accel() (string, string) { return b.accel, b.note }

// Boot runs one round.
func (b *BenchBooter) Boot(ctx context.Context, plan *guest.Plan) ([]byte, time.Duration, error) {
	b.rounds++
	cfg, err := b.r.Env.bootConfig(ctx, b.r.Kernel, plan, nil, b.o, b.dir)
	if err != nil {
		return nil, 0, err
	}
	logPath := filepath.Join(b.dir, fmt.Sprintf("console-round%d.log", b.rounds))
	cfg.ConsoleLog = logPath
	want := b.accel
	if want == "" {
		want = b.o.Accel
	}
	res, err := vm.Boot(ctx, cfg, want)
	if res != nil && b.accel == "" {
		b.accel, b.note = res.Accel, res.AccelNote
		for _, a := range res.Attempts {
			b.r.Env.UI.Logf("round %d: %s boot failed after %.1fs: %s (console: %s); the rounds run under %s", b.rounds, a.Accel, a.Seconds, a.Error, a.ConsoleLog, res.Accel)
		}
	}
	if err != nil {
		return nil, 0, fmt.Errorf("round %d: %w (console: %s)", b.rounds, err, logPath)
	}
	if res.TimedOut {
		return res.Console, res.Duration, fmt.Errorf("round %d: the guest timed out (console: %s)", b.rounds, logPath)
	}
	return res.Console, res.Duration, nil
}
