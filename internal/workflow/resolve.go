package workflow

import (
	"context"
	"time"

	"github.com/rkodev/rko/internal/job"
	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/ui"
)

// Resolved is a job with its toolchain and kernel found: what every
// command that builds or boots works from.
type Resolved struct {
	Job    *job.Job
	Env    *Env
	Kernel *kernel.Kernel
	// KernelTime is how long finding (or building) the kernel took.
	KernelTime time.Duration
}

// Resolve checks j (job.Check: a job that cannot work is refused before
// anything is installed or built), selects its toolchain (installing the
// pinned rootfs when install is set and the job needs it) and finds or
// builds its kernel, which must be of the job's architecture.
func Resolve(ctx context.Context, j *job.Job, p *ui.Printer, install bool) (*Resolved, error) {
	if err := j.Check(); err != nil {
		return nil, err
	}
	env, err := PrepareFor(ctx, j.Toolchain, j.Kernel, install, p)
	if err != nil {
		return nil, err
	}
	done := p.Phase("kernel (" + j.Kernel.Describe() + ")")
	k, err := env.Kernel(ctx, j.Kernel)
	if err != nil {
		return nil, err
	}
	return &Resolved{Job: j, Env: env, Kernel: k, KernelTime: done()}, nil
}

// BootOpts are the job's boot options and plan parameters with the
// kernel profile's defaults filled in (ProfileDefaults).
func (r *Resolved) BootOpts() BootOpts {
	b := r.Job.Boot
	o := BootOpts{Accel: b.Accel, Timeout: time.Duration(b.Timeout), MemoryMB: b.MemoryMB, CPUs: b.CPUs,
		Kmemleak: b.Kmemleak == "on", Cmdline: b.Append, Params: r.Job.Plan.Params,
		ConsoleLimitMB: b.ConsoleLimitMB, NoTests: r.Job.Plan.NoTests(),
		GDB: b.GDB, KeepOnCrash: b.KeepOnCrash, ModuleDirs: r.Job.Modules, FailNth: r.Job.Plan.FailNth}
	o.ProfileDefaults(r.Kernel, b.Kmemleak == "auto")
	if r.Job.Plan.FailNth && b.Timeout == 0 {
		// A sweep is hundreds of loads: one of a PCI driver with its
		// probe took 7 min on the debug kernel under TCG, and the scan
		// after it 2 more (seen here), past the profile's 10 minutes.
		o.Timeout = time.Hour
	}
	// Check refused a job whose devices cannot be read.
	o.Devices, _ = r.Job.AllDevices(r.Kernel.Target().Name)
	return o
}

// BuildModules builds the job's module directories against its kernel.
func (r *Resolved) BuildModules(ctx context.Context) ([]ModuleRun, error) {
	return r.Env.BuildModules(ctx, r.Kernel, r.Job.Modules)
}
