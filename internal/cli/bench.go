package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/rkodev/rko/internal/bench"
	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/target"
	"github.com/rkodev/rko/internal/vm"
	"github.com/rkodev/rko/internal/workflow"
)

func init() { register(newBenchCmd) }

type benchOpts struct {
	env       envFlags
	workloads []string
	target    float64
	budget    time.Duration
	accel     string
	json      bool
	chart     string
	markdown  string
	seed      uint64
	kernelDir string
}

func newBenchCmd() *cobra.Command {
	o := &benchOpts{}
	c := &cobra.Command{
		Use:   "bench",
		Short: "Measure Rust against C: twin modules, one kernel, one VM, interleaved",
		Long: `rko bench builds C and Rust twins of the same workloads against one kernel
(the bench profile), boots it under QEMU with one vCPU and runs the twins
interleaved (C, Rust, Rust, C...), in rounds, until the 95 % bootstrap
interval of every Rust/C cost ratio is within --target or --budget of VM
time is spent. A ratio above 1 means Rust is slower. Workloads:
  kv   misc device key-value store driven from user space (ops/s)
  kvi  the same, the C device on read_iter/write_iter like Rust's (ops/s)
  rbt  rbtree inserts, lookups and removals timed in the kernel (ns/op)
  blk  null_blk against rnull under fio, 4 KiB random reads (IOPS)
See docs/bench.md for the method and the JSON schema.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBench(cmd, o) },
	}
	o.env.add(c, false)
	addArchFlag(c, &o.env.arch)
	c.Flags().StringSliceVarP(&o.workloads, "workload", "w", nil, "workloads to run (kv, kvi, rbt, blk; default all)")
	c.Flags().Float64Var(&o.target, "target", 0.03, "wanted 95 % interval half-width, relative to the ratio")
	c.Flags().DurationVar(&o.budget, "budget", 5*time.Minute, "VM-time budget of all rounds")
	c.Flags().StringVar(&o.accel, "accel", "auto", "accelerator: auto, kvm or tcg")
	c.Flags().BoolVar(&o.json, "json", false, "print the report as JSON")
	c.Flags().StringVar(&o.chart, "chart", "bench-ratio.svg", "write the ratio chart here (.svg or .png; empty for none)")
	c.Flags().StringVar(&o.markdown, "markdown", "", "also write the table as Markdown here")
	c.Flags().Uint64Var(&o.seed, "seed", 1, "bootstrap seed")
	c.Flags().StringVar(&o.kernelDir, "kernel-dir", "", "use this already built kernel tree (O= dir with arch/x86/boot/bzImage) instead of building the bench profile")
	return c
}

func runBench(cmd *cobra.Command, o *benchOpts) error {
	ctx := cmd.Context()
	p := printer(o.env.quiet)
	ws, err := bench.SelectWorkloads(o.workloads)
	if err != nil {
		return err
	}
	if o.target <= 0 || o.target >= 1 {
		return fmt.Errorf("invalid --target %v, want (0, 1)", o.target)
	}
	t, err := target.Lookup(o.env.arch)
	if err != nil {
		return err
	}
	if err := t.ProfileError("bench"); err != nil {
		return err
	}
	env, err := workflow.Prepare(ctx, o.env.toolchain, o.env.source, true, p)
	if err != nil {
		return err
	}
	var k *kernel.Kernel
	if o.kernelDir != "" {
		k, err = kernelFromDir(o.kernelDir, env.Source)
	} else {
		done := p.Phase("kernel (bench)")
		k, err = env.Kernel(ctx, workflow.KernelOpts{Target: t, Profile: "bench"})
		done()
	}
	if err != nil {
		return err
	}
	switch o.accel {
	case "auto", vm.KVM, vm.TCG:
	default:
		return fmt.Errorf("unknown --accel %q, want auto, kvm or tcg", o.accel)
	}
	runDir, err := workflow.NewRunDir("bench")
	if err != nil {
		return err
	}
	done := p.Phase("build twins")
	booter, mods, blk, err := bench.PrepareQEMU(ctx, bench.QEMUParams{
		Kernel: k, Toolchain: env.Toolchain, Workloads: ws, Accel: o.accel, WorkDir: runDir, Progress: p.Logf,
	})
	if err != nil {
		return err
	}
	done()
	done = p.Phase("bench")
	rep, err := bench.Run(ctx, bench.Options{
		Workloads: ws, Target: o.target, Budget: o.budget, Seed: o.seed,
		Booter: booter, Modules: mods, BlkModules: blk, Progress: p.Logf,
	})
	if err != nil {
		return fmt.Errorf("%w (run directory: %s)", err, runDir)
	}
	done()
	rep.Kernel = k.Release
	if rep.Kernel == "" {
		rep.Kernel = k.BuildDir
	}
	rep.KernelDir = k.BuildDir
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
	rep.Toolchain = env.Toolchain.Describe()
	rep.Accel, rep.AccelNote = booter.Accel()
	if f, err := os.Create(filepath.Join(runDir, "bench.json")); err == nil {
		rep.WriteJSON(f)
		f.Close()
	}
	if o.chart != "" {
		if err := bench.WriteChart(rep, o.chart); err != nil {
			return err
		}
		p.Logf("chart: %s", o.chart)
	}
	if o.markdown != "" {
		f, err := os.Create(o.markdown)
		if err != nil {
			return err
		}
		rep.WriteMarkdown(f)
		f.Close()
	}
	p.Logf("run directory: %s", runDir)
	if o.json {
		return rep.WriteJSON(cmd.OutOrStdout())
	}
	return rep.WriteTable(cmd.OutOrStdout())
}

// kernelFromDir describes an already built O= tree as a kernel.
func kernelFromDir(dir string, src *kernel.Source) (*kernel.Kernel, error) {
	if src == nil {
		return nil, fmt.Errorf("--kernel-dir needs the kernel source (--source)")
	}
	k, err := kernel.FromBuildDir(dir, src)
	if err != nil {
		return nil, fmt.Errorf("--kernel-dir %s: %w", dir, err)
	}
	k.Profile = "bench"
	return k, nil
}
