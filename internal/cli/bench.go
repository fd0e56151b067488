package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rkodev/rko/internal/bench"
	"github.com/rkodev/rko/internal/job"
	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/workflow"
)

// BenchOptions are rko bench's options.
type BenchOptions struct {
	jobOptions
	Workloads []string
	Target    float64
	Budget    time.Duration
	JSON      bool
	Chart     string
	Markdown  string
	Seed      uint64
	// Count is --count: instructions, time, or "" (instructions unless
	// the rounds run under KVM).
	Count string
	// Baseline is a saved --json report to compare with; Threshold the
	// largest relative move of a ratio that passes (0: the count's
	// default, bench.DefaultThreshold).
	Baseline  string
	Threshold float64
	// From are saved --json reports to render (table, --markdown,
	// --chart) instead of running.
	From []string
	// Functions is --functions: the top functions per side to attribute
	// each workload's instructions to (0: no attribution run).
	Functions int
}

// NewCmdBench makes rko bench; runF, when not nil, runs instead of
// runBench.
func NewCmdBench(f *Factory, runF func(context.Context, *BenchOptions) error) *cobra.Command {
	o := &BenchOptions{jobOptions: jobOptions{IO: f.IO}}
	var fl jobFlags
	c := &cobra.Command{
		Use:   "bench",
		Short: "Measure Rust against C: twin modules, one kernel, one VM, interleaved",
		Long: `rko bench builds C and Rust twins of the same workloads against one kernel
(the bench profile), boots it under QEMU with one vCPU and runs the twins
interleaved (C, Rust, Rust, C...), in rounds, until the 95 % bootstrap
interval of every Rust/C cost ratio is within --target or --budget of VM
time is spent. A ratio above 1 means Rust is slower. Without KVM it counts
instructions (QEMU -icount: the guest's clock ticks once per instruction,
so the host's load does not move the figures); --count time measures wall
time instead. Workloads:
  kv   misc device key-value store driven from user space (ops/s)
  kvi  the same, the C device on read_iter/write_iter like Rust's (ops/s)
  rbt  rbtree inserts, lookups and removals timed in the kernel (ns/op)
  blk  null_blk against rnull under fio, 4 KiB random reads (IOPS)
The kernel is chosen like rko test's (--kernel, --arch x86_64|arm64|riscv64,
--profile, default bench; built when missing); --timeout bounds each
round. See docs/bench.md for the method and the JSON schema.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if len(o.From) > 0 {
				return renderFrom(o)
			}
			if c.Flags().Changed("cpus") && fl.cpus != 1 {
				return &job.Error{Field: "--cpus (boot.cpus)", Msg: "rko bench runs both twins on one vCPU: drop --cpus"}
			}
			if len(fl.params) > 0 || fl.kmemleak == "on" {
				return &job.Error{Field: "--param/--kmemleak", Msg: "rko bench loads its own twins with their own parameters and scans no leaks: drop them"}
			}
			ws, err := bench.SelectWorkloads(o.Workloads)
			if err != nil {
				return &job.Error{Field: "--workload (plan.bench)", Msg: err.Error()}
			}
			if fl.jobFile == "" {
				for _, w := range ws {
					fl.bench = append(fl.bench, w.Name)
				}
			}
			j, err := fl.toJob(c, nil, o.IO.In)
			if err != nil {
				return err
			}
			o.set(j, &fl)
			if o.Count != "" && o.Count != bench.CountInstructions && o.Count != bench.CountTime {
				return &job.Error{Field: "--count", Msg: fmt.Sprintf("invalid %q, want %s or %s", o.Count, bench.CountInstructions, bench.CountTime)}
			}
			if o.Count == bench.CountInstructions && fl.accel == "kvm" {
				return &job.Error{Field: "--count", Msg: "instructions are counted by QEMU's TCG, and --accel kvm runs the guest on the CPU: use --accel tcg (or auto), or --count time"}
			}
			if o.Functions < 0 || o.Functions > 1000 {
				return &job.Error{Field: "--functions", Msg: fmt.Sprintf("invalid %d, want 1 to 1000 functions per side (0: none)", o.Functions)}
			}
			if o.Functions > 0 && fl.accel == "kvm" {
				return &job.Error{Field: "--functions", Msg: "the attribution counts instructions with a QEMU TCG plugin, and --accel kvm runs the guest on the CPU: use --accel tcg or auto"}
			}
			if o.Threshold < 0 || o.Threshold >= 1 {
				return &job.Error{Field: "--threshold", Msg: fmt.Sprintf("invalid %v, want a fraction in (0, 1), e.g. 0.01", o.Threshold)}
			}
			if c.Flags().Changed("threshold") && o.Baseline == "" {
				return &job.Error{Field: "--threshold", Msg: "it bounds the moves from a --baseline: give --baseline FILE"}
			}
			if o.Target <= 0 || o.Target >= 1 {
				return &job.Error{Field: "--target", Msg: fmt.Sprintf("invalid %v, want a fraction in (0, 1), e.g. 0.03", o.Target)}
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return runBench(c.Context(), o)
		},
	}
	fl.kernelFlags.add(c, "bench")
	fl.bootFlags.add(c, bootDefaults{timeoutHelp: "stop a round that has not finished after this long (default 20m)", kmemleak: "off"})
	c.Flags().StringVar(&fl.jobFile, "job", "", "take the kernel and boot options from this job file (docs/schemas.md#the-job)")
	c.Flags().BoolVar(&fl.printJob, "print-job", false, "print the job as JSON and run nothing")
	c.Flags().StringSliceVarP(&o.Workloads, "workload", "w", nil, "workloads to run (kv, kvi, rbt, blk; default all)")
	c.Flags().Float64Var(&o.Target, "target", 0.03, "wanted 95 % interval half-width, relative to the ratio")
	c.Flags().DurationVar(&o.Budget, "budget", 5*time.Minute, "VM-time budget of all rounds")
	c.Flags().BoolVar(&o.JSON, "json", false, "print the report as JSON")
	c.Flags().StringVar(&o.Chart, "chart", "", "write the ratio chart here (.svg or .png)")
	c.Flags().StringVar(&o.Markdown, "markdown", "", "also write the table as Markdown here")
	c.Flags().Uint64Var(&o.Seed, "seed", 1, "bootstrap seed")
	c.Flags().StringVar(&o.Baseline, "baseline", "", "compare with this saved rko bench --json report and fail when a Rust/C ratio moved more than --threshold")
	c.Flags().Float64Var(&o.Threshold, "threshold", 0, "largest relative move of a ratio that --baseline passes (default 0.01 when counting instructions, 0.05 for time)")
	c.Flags().StringArrayVar(&o.From, "from", nil, "run nothing: render these saved --json reports (repeatable, e.g. one per architecture) as one table, --markdown and --chart")
	c.Flags().IntVar(&o.Functions, "functions", 0, "after the rounds, one more boot (TCG) counting every instruction per address with rko's QEMU plugin: list the top N functions of each side of kv, kvi and rbt")
	c.Flags().StringVar(&o.Count, "count", "", "what to measure: instructions (QEMU TCG's -icount: instructions per operation, unmoved by the host's load) or time (wall time in the guest); default instructions unless the guest runs under KVM")
	return c
}

func runBench(ctx context.Context, o *BenchOptions) error {
	p := o.IO.Printer(o.Quiet)
	ws, err := bench.SelectWorkloads(o.Job.Plan.Bench)
	if err != nil {
		return err
	}
	r, done, err := resolve(ctx, o.IO, o.Job, o.PrintJob, p)
	if done || err != nil {
		return err
	}
	k, env := r.Kernel, r.Env
	count, countNote, err := r.BenchCount(ctx, o.Count)
	if err != nil {
		return err
	}
	if countNote != "" {
		p.Logf("counting %s: %s", count, countNote)
	}
	head := benchHeader(k, env, count)
	var base *bench.Report
	if o.Baseline != "" {
		if base, err = bench.LoadReport(o.Baseline); err != nil {
			return fmt.Errorf("--baseline: %w", err)
		}
		if err := bench.Comparable(base, head); err != nil {
			return fmt.Errorf("--baseline %s refused: %w", o.Baseline, err)
		}
		if o.Threshold == 0 {
			o.Threshold = bench.DefaultThreshold(count)
		}
	}
	runDir, err := workflow.NewRunDir("bench")
	if err != nil {
		return err
	}
	phase := p.Phase("build twins")
	g, err := bench.Prepare(ctx, bench.GuestParams{
		Kernel: k, Toolchain: env.Toolchain, Workloads: ws, WorkDir: runDir, Progress: p.Logf,
	})
	if err != nil {
		return err
	}
	phase()
	booter := r.BenchBooter(g, runDir, count)
	phase = p.Phase("bench")
	rep, err := bench.Run(ctx, bench.Options{
		Workloads: ws, Target: o.Target, Budget: o.Budget, Seed: o.Seed,
		Booter: booter, Modules: g.Modules, BlkModules: g.Blk, Progress: p.Logf, Count: count,
	})
	if err != nil {
		return fmt.Errorf("%w (run directory: %s)", err, runDir)
	}
	phase()
	rep.Arch, rep.Kernel, rep.KernelKey, rep.KernelDir = head.Arch, head.Kernel, head.KernelKey, head.KernelDir
	rep.KernelConfig, rep.Toolchain = head.KernelConfig, head.Toolchain
	rep.Accel, rep.AccelNote = booter.Accel()
	rep.CountNote = countNote
	if o.Functions > 0 {
		phase = p.Phase("attribute instructions to functions")
		if err := attribute(ctx, r, booter, g, ws, rep, runDir, o.Functions); err != nil {
			return fmt.Errorf("--functions: %w (run directory: %s)", err, runDir)
		}
		phase()
	}
	if base != nil {
		rep.Baseline = bench.Compare(o.Baseline, base, rep, o.Threshold)
		if !o.JSON {
			rep.Baseline.WriteText(o.IO.ErrOut)
		}
	}
	if f, err := os.Create(filepath.Join(runDir, "bench.json")); err == nil {
		rep.WriteJSON(f)
		f.Close()
	}
	if o.Chart != "" {
		if err := bench.WriteChart(rep, o.Chart); err != nil {
			return err
		}
		p.Logf("chart: %s", o.Chart)
	}
	if o.Markdown != "" {
		f, err := os.Create(o.Markdown)
		if err != nil {
			return err
		}
		rep.WriteMarkdown(f)
		f.Close()
	}
	p.Logf("run directory: %s", runDir)
	if o.JSON {
		err = rep.WriteJSON(o.IO.Out)
	} else if err = rep.WriteTable(o.IO.Out); err == nil {
		err = rep.WriteFunctions(o.IO.Out)
	}
	if err != nil {
		return err
	}
	if failed := rep.Failed(); len(failed) > 0 {
		return fmt.Errorf("%d workload(s) failed: %s (run directory: %s)", len(failed), strings.Join(failed, "; "), runDir)
	}
	if rep.Baseline != nil {
		if moved := rep.Baseline.Moved(); len(moved) > 0 {
			return fmt.Errorf("against the baseline %s: %s: more than --threshold %.2f %%", o.Baseline, strings.Join(moved, "; "), 100*o.Threshold)
		}
	}
	return nil
}

// benchHeader is what a bench report says of its kernel and toolchain,
// known before the rounds (--baseline is checked against it).
func benchHeader(k *kernel.Kernel, env *workflow.Env, count string) *bench.Report {
	rep := &bench.Report{Arch: k.Target().Name, Kernel: k.Release, KernelKey: k.Key, KernelDir: k.BuildDir,
		Toolchain: env.Toolchain.Describe(), Count: count}
	if rep.Kernel == "" {
		rep.Kernel = k.BuildDir
	}
	if cfg, err := k.Config(); err == nil {
		rep.KernelConfig = map[string]string{}
		for _, opt := range bench.PerfOptions {
			v := cfg.Get(opt)
			if v == "" {
				v = "n"
			}
			rep.KernelConfig[opt] = v
		}
	}
	return rep
}

// attribute runs rko bench --functions' boot and adds each workload's
// attribution to rep.
func attribute(ctx context.Context, r *workflow.Resolved, booter *workflow.BenchBooter, g *bench.Guest, ws []bench.Workload, rep *bench.Report, runDir string, top int) error {
	so, err := bench.BuildPlugin(ctx, r.Env.Toolchain)
	if err != nil {
		return err
	}
	sysmap := filepath.Join(r.Kernel.BuildDir, "System.map")
	mark, err := bench.MarkAddress(sysmap)
	if err != nil {
		return err
	}
	dir := filepath.Join(runDir, "functions")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	counts := filepath.Join(dir, "counts.txt")
	failed := map[string]bool{}
	for _, w := range rep.Workloads {
		failed[w.Name] = w.Error != ""
	}
	var ok []bench.Workload
	for _, w := range ws {
		if !failed[w.Name] {
			ok = append(ok, w)
		}
	}
	attr, err := bench.Attribute(ctx, bench.AttribOptions{
		Booter: booter.Attribution(dir, bench.PluginArg(so, counts, mark)), Counts: counts,
		SystemMap: sysmap, Workloads: ok, Modules: g.Modules, Top: top,
	})
	if err != nil {
		return err
	}
	for i := range rep.Workloads {
		rep.Workloads[i].Functions = attr[rep.Workloads[i].Name]
	}
	return nil
}

// renderFrom renders saved reports: rko bench --from.
func renderFrom(o *BenchOptions) error {
	var reps []*bench.Report
	for _, f := range o.From {
		r, err := bench.LoadReport(f)
		if err != nil {
			return &job.Error{Field: "--from", Msg: err.Error()}
		}
		reps = append(reps, r)
	}
	if o.Chart != "" {
		if err := bench.WriteCharts(reps, o.Chart); err != nil {
			return err
		}
	}
	if o.Markdown != "" {
		var b strings.Builder
		bench.WriteReportsMarkdown(&b, reps)
		if err := os.WriteFile(o.Markdown, []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	if o.JSON {
		return json.NewEncoder(o.IO.Out).Encode(reps)
	}
	return bench.WriteReportsMarkdown(o.IO.Out, reps)
}
