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

// BenchCount decides what rko bench counts, want being what the user
// asked (bench.CountInstructions, bench.CountTime, or "" for the
// default): instructions unless the rounds will run under KVM, where
// QEMU cannot count them and time is real hardware's. The note says why
// when the user did not choose; asking for instructions under --accel kvm
// is an error.
func (r *Resolved) BenchCount(ctx context.Context, want string) (count, note string, err error) {
	accel := r.Job.Boot.Accel
	switch want {
	case bench.CountInstructions:
		if accel == vm.KVM {
			return "", "", fmt.Errorf("--count instructions needs QEMU's TCG, which counts the instructions it emulates, and --accel kvm runs them on the CPU: use --accel tcg (or auto), or --count time")
		}
		return want, "", nil
	case bench.CountTime:
		return want, "", nil
	case "":
	default:
		return "", "", fmt.Errorf("unknown --count %q, want %s or %s", want, bench.CountInstructions, bench.CountTime)
	}
	first, why := vm.FirstAccel(ctx, vm.Config{Target: r.Kernel.Target()}, accel)
	if first == vm.KVM {
		return bench.CountTime, "KVM runs the guest: wall time on real hardware (QEMU counts instructions only under TCG; --count instructions with --accel tcg)", nil
	}
	if why == "" {
		why = "--accel " + accel
	}
	return bench.CountInstructions, "TCG runs the guest (" + why + "): instructions, which the host's load does not change (--count time for emulated wall time)", nil
}

// BenchBooter is the bench.Booter of r for the guest g, keeping each
// round's image and console in dir; count is BenchCount's (instructions
// boot under TCG with the guest's clock driven by them).
func (r *Resolved) BenchBooter(g *bench.Guest, dir, count string) *BenchBooter {
	o := r.BootOpts()
	if count == bench.CountInstructions {
		o.Accel, o.ICount = vm.TCG, true
	}
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

// Attribution is a booter like b for rko bench --functions' one boot: under
// TCG, instruction-counted, with the TCG plugins, keeping its image and
// console in dir.
func (b *BenchBooter) Attribution(dir string, plugins ...string) *BenchBooter {
	o := b.o
	o.Accel, o.ICount, o.Plugins = vm.TCG, true, plugins
	return &BenchBooter{r: b.r, o: o, dir: dir}
}
