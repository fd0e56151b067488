package workflow

import (
	"context"
	"fmt"
	"github.com/rkodev/rko/internal/job"
	"io"
	"strings"
	"time"

	"github.com/rkodev/rko/internal/guest"
	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/vm"
)

// BootOpts are a boot's settings: the job's boot options with the
// kernel profile's defaults filled in (Resolved.BootOpts), and what a
// command adds to the plan, the image and the console.
type BootOpts struct {
	Accel    string // auto, kvm, tcg
	Timeout  time.Duration
	MemoryMB int
	CPUs     int
	// Params are module parameters by module name.
	Params map[string]string
	// Kmemleak adds a kmemleak scan after the unloads (debug kernels).
	Kmemleak bool
	// Cmdline are extra kernel command-line arguments, after rko's own.
	Cmdline []string
	// Extra steps and files for the plan and the image (tested hooks;
	// rko bench, which runs rounds of its own, does not use them).
	ExtraSteps []guest.Step
	// NoTests leaves the modules' tests/ executables out of the plan
	// (rko run and rko shell run only what the user asks).
	NoTests    bool
	ExtraFiles map[string]string // guest path -> host path
	// ConsoleLimitMB bounds the guest's console (0: vm.DefaultMaxConsole).
	ConsoleLimitMB int
	// Stdin is what the guest's console reads, Tap gets its raw bytes,
	// and OnFrame each frame as it comes (rko shell and rko run).
	Stdin   io.Reader
	Tap     io.Writer
	OnFrame func(guest.Frame)
	// Binaries are programs of the toolchain's file system to copy into
	// the guest with their shared libraries (e.g. /usr/bin/fio), looked
	// for in BinaryRoots first.
	Binaries    []string
	BinaryRoots []string
	// GDB, when set, opens QEMU's gdb stub at this HOST:PORT (the guest
	// does not wait for it); the run directory gets a gdb command file
	// and the printer says how to attach (rko test/run/shell --gdb).
	GDB string
	// KeepOnCrash: an oops panics the kernel (panic_on_oops=1) and the
	// guest stays stopped there, its gdb stub open, until ctx ends
	// (rko test --keep-on-crash); the verdict says how to attach.
	KeepOnCrash bool
	// ICount drives the guest's clock by instructions executed and
	// Plugins are TCG plugins (vm.Config's; rko bench --count
	// instructions and its profile).
	ICount  bool
	Plugins []string
	// ModuleDirs are where lx-symbols finds the modules' .ko (GDB and
	// KeepOnCrash).
	ModuleDirs []string
	// Devices are attached to the guest (the job's and those its modules
	// declare, job.AllDevices); the plan checks after the loads that
	// every driver the modules register bound a device.
	Devices []job.Device
	// FailNth sweeps every module's load (and probe) with its N-th
	// fault-injectable call failing before the clean load (rko test
	// --fail-nth, docs/fail-nth.md).
	FailNth bool
}

// ProfileDefaults fills in what the kernel profile decides and the user
// left unset: the debug kernel (KASAN, lockdep, kmemleak) is several times
// slower and needs more memory, so it gets 10 minutes, 1 GiB and 2 CPUs,
// and, when kmemleakAuto, the kmemleak scan.
func (o *BootOpts) ProfileDefaults(k *kernel.Kernel, kmemleakAuto bool) {
	if k.Profile != "debug" {
		return
	}
	if kmemleakAuto {
		// A debug kernel without kmemleak (UML's: configs/arch-um-debug.config)
		// gets no scan.
		cfg, err := k.Config()
		o.Kmemleak = err != nil || cfg.Get("DEBUG_KMEMLEAK") == "y"
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.MemoryMB == 0 {
		o.MemoryMB = 1024
	}
	if o.CPUs == 0 {
		o.CPUs = 2
	}
}

// TestRun is the outcome of Boot, before results are read from the
// console.
type TestRun struct {
	RunDir     string
	ConsoleLog string
	Accel      string
	AccelNote  string
	Session    *guest.Session
	Boot       *vm.Result // its Console is the guest's console
	// Token is the boot's frame token (proto.Plan.Token).
	Token string
}

// Test runs a resolved job as rko test does: build the modules, boot the
// kernel with the plan (load, KUnit, tests/, unload, kmemleak), read the
// console into the report, and keep the report in the run directory.
// Progress goes to the Env's printer.
func Test(ctx context.Context, r *Resolved) (*Report, error) {
	start := time.Now()
	p := r.Env.UI
	if r.Job.Plan.FailNth {
		if err := checkFailNth(r.Kernel); err != nil {
			return nil, err
		}
	}
	done := p.Phase("build")
	mods, err := r.BuildModules(ctx)
	if err != nil {
		return nil, err
	}
	buildTime := done()
	o := r.BootOpts()
	plan := MakePlan(mods, o)
	done = p.Phase(fmt.Sprintf("test (%d steps)", len(plan.Steps)))
	tr, err := r.Env.Boot(ctx, r.Kernel, mods, plan, o, mods[0].Modules[0])
	if err != nil {
		if tr != nil && tr.ConsoleLog != "" {
			return nil, fmt.Errorf("%w (console log: %s)", err, tr.ConsoleLog)
		}
		return nil, err
	}
	if tr.AccelNote != "" && tr.Accel == vm.TCG {
		p.Logf("KVM not used: %s", tr.AccelNote)
	}
	bootTime := done()
	rep := NewReport(ctx, r.Kernel, mods, tr)
	rep.Timings = Timings{Kernel: seconds(r.KernelTime), Build: seconds(buildTime), Boot: seconds(bootTime),
		Total: seconds(time.Since(start) + r.KernelTime)}
	if err := tr.WriteJSON("report.json", rep); err != nil {
		p.Warnf("saving the report: %v", err)
	}
	return rep, nil
}

// FailNthNeeds are the kernel options rko test --fail-nth needs.
var FailNthNeeds = []string{"FAULT_INJECTION", "FAILSLAB", "FAIL_PAGE_ALLOC", "FAULT_INJECTION_DEBUG_FS"}

// checkFailNth refuses --fail-nth on a kernel without fault injection,
// before anything is built or booted.
func checkFailNth(k *kernel.Kernel) error {
	cfg, err := k.Config()
	if err != nil {
		return err
	}
	var missing []string
	for _, n := range FailNthNeeds {
		if cfg.Get(n) != "y" {
			missing = append(missing, "CONFIG_"+n)
		}
	}
	if len(missing) > 0 {
		return &job.Error{Field: "--fail-nth (plan.fail_nth)", Msg: fmt.Sprintf("kernel %s lacks %s: use rko's debug profile (--profile debug), which has fault injection and kmemleak", k.Describe(), strings.Join(missing, ", "))}
	}
	return nil
}

// seconds is d in seconds, to the millisecond.
func seconds(d time.Duration) float64 {
	return float64(d.Round(time.Millisecond)) / float64(time.Second)
}
