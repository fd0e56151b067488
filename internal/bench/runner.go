package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/rkodev/rko/internal/guest"
)

// Booter runs one round: it boots the bench kernel with an initramfs
// holding plan, the twins and the driver, and returns the console. The
// QEMU implementation is workflow.BenchBooter (rko's one boot path);
// tests use a fake.
type Booter interface {
	Boot(ctx context.Context, plan *guest.Plan) (console []byte, vmTime time.Duration, err error)
}

// Options configure Run.
type Options struct {
	// Workloads to run; nil means all.
	Workloads []Workload
	// Target is the wanted interval half-width relative to the ratio
	// (0.03 = ±3 %); 0 means 0.03.
	Target float64
	// Budget caps the VM time of all rounds; 0 means 5 minutes.
	Budget time.Duration
	// MaxReps caps the measured repetitions per side per round; 0 means 60.
	MaxReps int
	// Seed seeds the bootstrap.
	Seed uint64
	// Booter runs the rounds.
	Booter Booter
	// Progress receives one-line status updates.
	Progress func(format string, args ...any)
	// Modules maps a module directory name (kv_c) to its .ko path in the
	// guest; filled by the QEMU booter's preparation.
	Modules map[string]string
	// BlkModules are the guest paths of null_blk.ko and rnull_mod.ko.
	BlkModules [2]string
	// Count is what the samples measure: CountInstructions (the guest's
	// clock advances one nanosecond per instruction executed, so the
	// samples become instructions per operation) or CountTime (the
	// default when empty).
	Count string
}

// What a bench run counts (Options.Count, Report.Count).
const (
	// CountInstructions: the guest runs under QEMU TCG with -icount
	// shift=0,sleep=off, whose virtual clock advances one nanosecond per
	// instruction executed; every guest-side timing reads instructions,
	// and every workload reports instructions per operation.
	CountInstructions = "instructions"
	// CountTime: the guest's clock is the host's (KVM or TCG wall time).
	CountTime = "time"
)

// InstructionUnit is the unit of every workload under CountInstructions.
const InstructionUnit = "instructions/op"

// asInstructions is w measured in instructions: the driver's figures are
// read on a clock of one nanosecond per instruction, so ns/op are
// instructions per operation and a throughput (ops/s, IOPS) v is 1e9/v
// instructions per operation, a cost.
func (w Workload) asInstructions() Workload {
	w.Unit, w.HigherIsBetter = InstructionUnit, false
	return w
}

// instructionsPerOp converts one sample of workload w (as the driver
// prints it) to instructions per operation under CountInstructions.
func instructionsPerOp(w Workload, v float64) float64 {
	if w.HigherIsBetter {
		return 1e9 / v
	}
	return v
}

// NullBlkParams make null_blk match rnull as built in the 7.3 tree
// (drivers/block/rnull/rnull.rs: one hardware queue of depth 256, 4 KiB
// blocks, completion in the submitting context, no backing memory, which
// rnull does not have).
const NullBlkParams = "nr_devices=1 queue_mode=2 irqmode=0 submit_queues=1 hw_queue_depth=256 bs=4096 gb=1 memory_backed=0"

// minSamples is the smallest count per side for an interval to count as
// converged.
const minSamples = 8

// bootOverhead estimates the VM time of a round beyond its workloads.
const bootOverhead = 3 * time.Second

type state struct {
	w       Workload
	c, rust []float64
	ratio   Ratio
	done    bool          // the interval reached the target with enough samples
	perRep  time.Duration // measured VM time per repetition pair
	nextRep int
	// failed says why the workload failed (a twin that did not load, a
	// driver that stopped: a checksum that differs, a device that does
	// not answer); it runs no more rounds and the others go on.
	failed string
}

// n is the number of samples per side.
func (s *state) n() int { return min(len(s.c), len(s.rust)) }

// Run measures the workloads in rounds until every interval's half-width
// is at most the target or the budget is spent.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Booter == nil {
		return nil, errors.New("bench: no booter")
	}
	if o.Target == 0 {
		o.Target = 0.03
	}
	if o.Budget == 0 {
		o.Budget = 5 * time.Minute
	}
	if o.MaxReps == 0 {
		o.MaxReps = 60
	}
	if o.Progress == nil {
		o.Progress = func(string, ...any) {}
	}
	if o.Workloads == nil {
		o.Workloads = Workloads
	}
	switch o.Count {
	case "":
		o.Count = CountTime
	case CountTime, CountInstructions:
	default:
		return nil, fmt.Errorf("bench: unknown count %q, want %s or %s", o.Count, CountInstructions, CountTime)
	}
	var sts []*state
	for _, w := range o.Workloads {
		sts = append(sts, &state{w: w, nextRep: w.Reps})
	}
	rep := &Report{Target: o.Target, Started: time.Now(), Count: o.Count}
	var used time.Duration
	for round := 1; ; round++ {
		var pending []*state
		for _, s := range sts {
			if !s.done && s.failed == "" {
				pending = append(pending, s)
			}
		}
		if len(pending) == 0 {
			break
		}
		// Fit the round into what is left of the budget.
		left := o.Budget - used - bootOverhead
		var est time.Duration
		for _, s := range pending {
			est += s.perRep * time.Duration(s.nextRep+s.w.Warmup)
		}
		if round > 1 && est > left {
			scale := float64(left) / float64(est)
			for _, s := range pending {
				s.nextRep = int(float64(s.nextRep) * scale)
			}
		}
		var run []*state
		for _, s := range pending {
			if s.nextRep >= 2 || round == 1 {
				run = append(run, s)
			}
		}
		if len(run) == 0 {
			o.Progress("VM-time budget of %v spent", o.Budget)
			break
		}
		plan := roundPlan(run, o)
		var names []string
		for _, s := range run {
			names = append(names, fmt.Sprintf("%s×%d", s.w.Name, s.nextRep))
		}
		o.Progress("round %d: %s", round, strings.Join(names, ", "))
		console, vmTime, err := o.Booter.Boot(ctx, plan)
		used += vmTime
		rep.Rounds = round
		if err != nil {
			return nil, err
		}
		if err := collect(console, plan, run, o.Count); err != nil {
			return nil, fmt.Errorf("round %d: %w", round, err)
		}
		for _, s := range run {
			if s.failed != "" {
				o.Progress("  %s: failed: %s", s.w.Name, s.failed)
				continue
			}
			estimate := CostRatio
			if s.w.Paired {
				estimate = PairedCostRatio
			}
			// Instructions per operation are costs.
			higher := s.w.HigherIsBetter && o.Count != CountInstructions
			var err error
			s.ratio, err = estimate(s.c, s.rust, higher, CIOpts{Seed: o.Seed})
			if err != nil {
				return nil, fmt.Errorf("%s: %w", s.w.Name, err)
			}
			hw := s.ratio.HalfWidth()
			n := s.n()
			o.Progress("  %s: ratio %.3f [%.3f, %.3f] ±%.1f%% n=%d", s.w.Name, s.ratio.Value, s.ratio.Low, s.ratio.High, 100*hw, n)
			if hw <= o.Target && n >= minSamples {
				s.done = true
				continue
			}
			// The half-width shrinks like 1/sqrt(n): ask for what should
			// reach the target, with a margin, within [4, MaxReps].
			need := int(math.Ceil(float64(n)*math.Pow(hw/o.Target, 2)*1.2)) - n
			s.nextRep = max(4, min(o.MaxReps, need))
		}
		if used >= o.Budget {
			for _, s := range sts {
				if !s.done && s.failed == "" {
					o.Progress("VM-time budget of %v spent", o.Budget)
					break
				}
			}
			break
		}
	}
	rep.VMSeconds = used.Seconds()
	for _, s := range sts {
		w := s.w
		if o.Count == CountInstructions {
			w = w.asInstructions()
		}
		if s.failed != "" {
			rep.Workloads = append(rep.Workloads, WorkloadResult{Name: w.Name, Unit: w.Unit,
				HigherIsBetter: w.HigherIsBetter, Paired: w.Paired, Error: s.failed, Verdict: "failed"})
			continue
		}
		if len(s.c) == 0 {
			continue
		}
		rep.Workloads = append(rep.Workloads, WorkloadResult{
			Name: w.Name, Unit: w.Unit, HigherIsBetter: w.HigherIsBetter, Paired: w.Paired,
			C: Median(s.c), Rust: Median(s.rust),
			Ratio: s.ratio.Value, CILow: s.ratio.Low, CIHigh: s.ratio.High,
			HalfWidth: s.ratio.HalfWidth(), Level: s.ratio.Level,
			Converged: s.done, N: s.n(), SamplesC: s.c, SamplesRust: s.rust,
			Verdict: verdict(s.ratio),
		})
	}
	return rep, nil
}

// stepName is the plan step that runs workload w.
func stepName(w string) string { return "bench " + w }

// roundPlan loads the twins of the workloads in run and runs the driver
// once per workload.
func roundPlan(run []*state, o Options) *guest.Plan {
	p := &guest.Plan{}
	loaded := map[string]bool{}
	for _, s := range run {
		for _, m := range s.w.Modules {
			if loaded[m] {
				continue // kv and kvi share their modules
			}
			loaded[m] = true
			// A twin that does not load fails its workloads, not the round.
			p.Steps = append(p.Steps, guest.Step{Name: "insmod " + m, Kind: "insmod", Path: o.Modules[m]})
		}
		if s.w.Name == "blk" {
			p.Steps = append(p.Steps,
				guest.Step{Name: "insmod null_blk", Kind: "insmod", Path: o.BlkModules[0], Params: NullBlkParams},
				guest.Step{Name: "insmod rnull_mod", Kind: "insmod", Path: o.BlkModules[1]})
		}
	}
	for _, s := range run {
		argv := append([]string{driverGuestPath, "-w", s.w.Name, "-reps", strconv.Itoa(s.nextRep), "-warmup", strconv.Itoa(s.w.Warmup)}, s.w.Args...)
		p.Steps = append(p.Steps, guest.Step{Name: stepName(s.w.Name), Kind: "exec", Argv: argv, TimeoutSec: 600})
	}
	return p
}

// twinSteps are the plan steps that load w's twins.
func (s *state) twinSteps() []string {
	var out []string
	for _, m := range s.w.Modules {
		out = append(out, "insmod "+m)
	}
	if s.w.Name == "blk" {
		out = append(out, "insmod null_blk", "insmod rnull_mod")
	}
	return out
}

// lastLine is the last line a step printed, else its error.
func lastLine(st guest.StepResult) string {
	for i := len(st.Output) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(st.Output[i]); l != "" && !strings.HasPrefix(l, "BENCH ") {
			return l
		}
	}
	if st.Error != "" {
		return st.Error
	}
	return "no output"
}

func prefixed(sep, s string) string {
	if s == "" {
		return ""
	}
	return sep + s
}

// driverGuestPath is where the driver is put in the guest.
const driverGuestPath = "/rko/bench/benchdrv"

// collect reads the BENCH lines of each workload's step (converted to
// instructions per operation when count is CountInstructions) and records
// the step's VM time per repetition.
func collect(console []byte, plan *guest.Plan, run []*state, count string) error {
	sess := guest.ReadSession(console, plan)
	if !sess.Booted {
		return fmt.Errorf("the guest did not start rko's init")
	}
	byName := map[string]guest.StepResult{}
	for _, st := range sess.Steps {
		byName[st.Name] = st
	}
	for _, s := range run {
		// Its twins first: one that does not load fails the workload.
		for _, m := range s.twinSteps() {
			if st, ok := byName[m]; ok && st.Status != "passed" {
				s.failed = fmt.Sprintf("%s %s: %s", m, st.Status, lastLine(st))
				break
			}
		}
		if s.failed != "" {
			continue
		}
		st, ok := byName[stepName(s.w.Name)]
		if !ok || st.Status != "passed" {
			// The driver says why (a checksum that differs, a device that
			// does not answer) on its last line.
			s.failed = fmt.Sprintf("driver %s (rc %d%s): %s", st.Status, st.RC, prefixed(" ", st.Signal), lastLine(st))
			continue
		}
		got := 0
		for _, line := range st.Output {
			f := strings.Fields(line)
			if len(f) != 4 || f[0] != "BENCH" || f[1] != s.w.Name {
				continue
			}
			v, err := strconv.ParseFloat(f[3], 64)
			if err != nil || !(v > 0) {
				return fmt.Errorf("workload %s: bad sample %q", s.w.Name, line)
			}
			if count == CountInstructions {
				v = instructionsPerOp(s.w, v)
			}
			switch f[2] {
			case "c":
				s.c = append(s.c, v)
			case "rust":
				s.rust = append(s.rust, v)
			default:
				return fmt.Errorf("workload %s: bad side in %q", s.w.Name, line)
			}
			got++
		}
		if got != 2*s.nextRep {
			s.failed = fmt.Sprintf("the driver printed %d samples, want %d", got, 2*s.nextRep)
			continue
		}
		s.perRep = time.Duration(st.Ms) * time.Millisecond / time.Duration(s.nextRep+s.w.Warmup)
	}
	return nil
}
