package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rkodev/rko/internal/device"
	"github.com/rkodev/rko/internal/job"
	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/target"
	"github.com/rkodev/rko/internal/ui"
	"github.com/rkodev/rko/internal/workflow"
)

// IOStreams are a command's input, output and diagnostics (gh's
// iostreams): results go to Out, progress and warnings to ErrOut. Tests
// replace them with buffers.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// Printer is the progress printer on ErrOut (silent when quiet).
func (s *IOStreams) Printer(quiet bool) *ui.Printer { return ui.New(s.ErrOut, quiet) }

// Factory is what every command is made with: its streams. Commands are
// made by NewCmdX(f, runF): runF, when not nil, replaces the command's
// work, so that a test checks the flags-to-options path alone.
type Factory struct {
	IO *IOStreams
}

// NewFactory is the Factory of the rko process: the standard streams.
func NewFactory() *Factory {
	return &Factory{IO: &IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}}
}

// kernelFlags are the flags that choose the toolchain and the kernel,
// declared once (add) for every command that builds or boots: --kernel,
// --arch, --profile, --fragment, --source, --toolchain, --quiet.
type kernelFlags struct {
	toolchain string
	source    string
	profile   string
	fragments []string
	quiet     bool
	kernel    string
	arch      string
	rustc     string
	store     string
	// defaultProfile is --profile's default on this command; a kernel not
	// of rko's own takes no profile unless one was asked for.
	defaultProfile string
}

// kernelFlagUsage is --kernel's help.
const kernelFlagUsage = "kernel to build against and boot: rko's own (default, see --profile), debian[:RELEASE] for Debian's own Rust-enabled kernel (default release: the newest on the mirror; docs/kernels.md), or the DIR of a kernel you built (an O= tree or a source tree built in place)"

// add declares the kernel flags on c; profile is --profile's default.
func (f *kernelFlags) add(c *cobra.Command, profile string) {
	fl := c.Flags()
	f.defaultProfile = profile
	fl.StringVar(&f.kernel, "kernel", "", kernelFlagUsage)
	fl.StringVar(&f.arch, "arch", "", "guest architecture: "+strings.Join(target.Names(), ", ")+" (default: the host's, "+target.Host().Name+", or the --kernel's own)")
	fl.StringVar(&f.profile, "profile", profile, "rko's kernel profile: "+strings.Join(kernel.ProfileNames(), ", ")+" (debug: KASAN, lockdep, kmemleak...)")
	fl.StringArrayVar(&f.fragments, "fragment", nil, "extra kernel config fragment file (repeatable), applied after the profile's")
	fl.StringVar(&f.source, "source", "", "kernel source for rko's kernel: a tree or a linux-source tarball (default: $RKO_LINUX_SRC, /usr/src/linux-source-*, the rootfs's)")
	fl.StringVar(&f.toolchain, "toolchain", "auto", "toolchain: auto (host if rko doctor passes, else the pinned rootfs), host or rootfs")
	fl.StringVar(&f.rustc, "rustc", "", "the compiler of the rootfs toolchain: 1.85 (the pinned one, default) or 1.98 (the newest of trixie-backports); kernel and modules are built with it (docs/toolchain.md#two-compilers)")
	fl.StringVar(&f.store, "kernel-store", "", "OCI registry repository of built kernels (HOST/REPOSITORY): pull rko's kernel from it when it is there, push it after building it (docs/scale.md#kernels-in-an-oci-registry)")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "print no progress")
}

// kernelRequest is the job's kernel the flags name (unchecked).
func (f *kernelFlags) kernelRequest() job.Kernel {
	return job.Request{Spec: f.kernel, Arch: f.arch, Profile: f.profile, DefaultProfile: f.defaultProfile,
		Source: f.source, Fragments: f.fragments, Rustc: f.rustc, Store: f.store}.Kernel()
}

// prepare checks the kernel flags, then selects the toolchain and finds
// the source for them (installing the toolchain when install is set).
func (f *kernelFlags) prepare(ctx context.Context, p *ui.Printer, install bool) (*workflow.Env, job.Kernel, error) {
	jk, err := f.checkedKernel(f.toolchain)
	if err != nil {
		return nil, jk, err
	}
	env, err := workflow.PrepareFor(ctx, f.toolchain, jk, install, p)
	return env, jk, err
}

// checkedKernel is the kernel request of the flags, checked with the
// toolchain mode tc (job.CheckKernel): what the commands without modules
// (kernel build, doctor, doc, new, rust-analyzer) work from.
func (f *kernelFlags) checkedKernel(tc string) (job.Kernel, error) {
	j := &job.Job{Kernel: f.kernelRequest(), Toolchain: tc}
	j.Defaults()
	_, err := j.CheckKernel()
	return j.Kernel, err
}

// cachedKernel is the toolchain and the kernel the flags name, built
// already (rko's own) or resolved from --kernel: what rko doc, rko
// rust-analyzer and rko new work against, never starting a kernel build.
func (f *kernelFlags) cachedKernel(ctx context.Context, p *ui.Printer) (*workflow.Env, *kernel.Kernel, error) {
	env, jk, err := f.prepare(ctx, p, false)
	if err != nil {
		return nil, nil, err
	}
	k, err := env.CachedKernel(ctx, jk)
	return env, k, err
}

// bootFlags are the guest's boot options, declared once (add) for every
// command that boots: --accel, --timeout, --memory, --cpus, --append,
// --param, --kmemleak, --console-limit.
type bootFlags struct {
	accel     string
	timeout   time.Duration
	memory    int
	cpus      int
	cmdline   []string
	params    []string
	kmemleak  string
	consoleMB int
	gdb       string
	keep      bool
}

// bootDefaults are the defaults of the boot flags that differ by command.
type bootDefaults struct {
	timeout     time.Duration
	timeoutHelp string
	kmemleak    string
	// profile is --profile's default ("" means default).
	profile string
	// gdb adds --gdb (test, run, shell) and keep adds --keep-on-crash
	// (test).
	gdb, keep bool
}

func (b *bootFlags) add(c *cobra.Command, d bootDefaults) {
	fl := c.Flags()
	if d.timeoutHelp == "" {
		d.timeoutHelp = "stop a guest that has not finished after this long (default 3m, 10m for the debug profile)"
	}
	if d.kmemleak == "" {
		d.kmemleak = "auto"
	}
	fl.StringVar(&b.accel, "accel", job.AccelAuto, "accelerator: auto (KVM if it really works, else TCG), kvm or tcg")
	fl.DurationVar(&b.timeout, "timeout", d.timeout, d.timeoutHelp)
	fl.IntVar(&b.memory, "memory", 0, "guest memory in MiB (default 512, 1024 for debug)")
	fl.IntVar(&b.cpus, "cpus", 0, "guest CPUs (default 1, 2 for debug)")
	fl.StringArrayVar(&b.cmdline, "append", nil, "extra kernel command-line argument, e.g. dyndbg=+p (repeatable; each value is one argument)")
	fl.StringArrayVar(&b.params, "param", nil, "module parameter for insmod, MODULE.NAME=VALUE as on the kernel command line (repeatable), e.g. --param hello.count=3")
	fl.StringVar(&b.kmemleak, "kmemleak", d.kmemleak, "scan for leaks after unloading: auto (on with the debug profile), on, off")
	fl.IntVar(&b.consoleMB, "console-limit", 256, "stop a guest that prints more than this many MiB on its console")
	if d.gdb {
		fl.StringVar(&b.gdb, "gdb", "", "open QEMU's gdb stub at HOST:PORT and print how to attach (a kernel with debug info: --profile debug; docs/debug.md)")
	}
	if d.keep {
		fl.BoolVar(&b.keep, "keep-on-crash", false, "after a crash keep the guest stopped at it, its gdb stub open, until Ctrl-C (docs/debug.md)")
	}
}

// jobFlags are the flags of a command that runs a job: the kernel and
// boot flags, and --job/--print-job.
type jobFlags struct {
	kernelFlags
	bootFlags
	jobFile  string
	printJob bool
	// bench are the workloads of a bench job (plan.bench).
	bench []string
	// devices are --device's values (devices).
	devices []string
	// failNth is rko test --fail-nth (plan.fail_nth).
	failNth bool
}

func (f *jobFlags) add(c *cobra.Command, d bootDefaults) {
	if d.profile == "" {
		d.profile = "default"
	}
	f.kernelFlags.add(c, d.profile)
	f.bootFlags.add(c, d)
	c.Flags().StringVar(&f.jobFile, "job", "", "run the job in this JSON file (- for stdin; docs/schemas.md#the-job) instead of one made from flags and arguments")
	c.Flags().BoolVar(&f.printJob, "print-job", false, "print the job as JSON (docs/schemas.md#the-job) and run nothing")
	c.Flags().StringArrayVar(&f.devices, "device", nil, "attach a device to the guest (repeatable): "+strings.Join(device.Names(), ", ")+"; NAME=FILE for acpi-ssdt and dt-node (docs/devices.md). A module's Kbuild can declare its own: # rko-device: NAME")
}

// jobOptions are what the options of every command that runs a job
// hold: its streams, the job, and whether to print it (--print-job) or
// run it quietly (-q).
type jobOptions struct {
	IO       *IOStreams
	Job      *job.Job
	PrintJob bool
	Quiet    bool
}

// set records the job the flags made.
func (o *jobOptions) set(j *job.Job, fl *jobFlags) {
	o.Job, o.PrintJob, o.Quiet = j, fl.printJob, fl.quiet
}

// jobOnly are the flags that may go with --job: they change how the
// result is shown or how long a session lasts, not what runs.
var jobOnly = map[string]bool{"job": true, "print-job": true, "quiet": true, "json": true, "junit": true,
	"cycles": true, "debounce": true, // rko watch's session
	"target": true, "budget": true, "seed": true, "chart": true, "markdown": true, // rko bench's statistics and output
}

// toJob is the one place flags and arguments become a job: from --job's
// file (no flag that changes the job may go with it) or from the flags,
// with rko's defaults filled in and checked (job.Check), so that a bad
// combination is refused before anything is built.
func (f *jobFlags) toJob(c *cobra.Command, dirs []string, in io.Reader) (*job.Job, error) {
	if err := f.oneKernel(); err != nil {
		return nil, err
	}
	if f.jobFile != "" {
		var set []string
		c.Flags().Visit(func(fl *pflag.Flag) {
			if !jobOnly[fl.Name] {
				set = append(set, "--"+fl.Name)
			}
		})
		if len(set) > 0 || len(dirs) > 0 {
			what := strings.Join(set, ", ")
			if len(dirs) > 0 {
				what = strings.TrimPrefix(what+", module directories", ", ")
			}
			return nil, &job.Error{Field: "--job", Msg: fmt.Sprintf("the job file holds the whole job: drop %s, or edit the file (rko test --print-job ... writes one)", what)}
		}
		j, err := job.ReadFile(f.jobFile, in)
		if err != nil {
			return nil, err
		}
		j.Defaults()
		return j, j.Check()
	}
	params, err := moduleParams(f.params)
	if err != nil {
		return nil, err
	}
	if f.consoleMB < 1 {
		return nil, &job.Error{Field: "--console-limit (boot.console_limit_mb)", Msg: fmt.Sprintf("invalid limit %d, want at least 1 (MiB)", f.consoleMB)}
	}
	j := &job.Job{Kernel: f.kernelRequest(), Toolchain: f.toolchain,
		Boot: job.Boot{Accel: f.accel, Timeout: job.Duration(f.timeout), MemoryMB: f.memory, CPUs: f.cpus,
			Append: f.cmdline, ConsoleLimitMB: f.consoleMB, Kmemleak: f.kmemleak, GDB: f.gdb, KeepOnCrash: f.keep},
		Plan: job.Plan{Params: params, Bench: f.bench, FailNth: f.failNth}}
	for _, d := range dirs {
		j.Modules = append(j.Modules, job.AbsPath(d))
	}
	devices, err := job.ParseDevices(f.devices)
	if err != nil {
		return nil, err
	}
	j.Devices = devices
	j.Defaults()
	return j, j.Check()
}

// dirsJob is toJob for a command whose arguments are module directories
// (default: the current one, unless --job gives the job).
func (f *jobFlags) dirsJob(c *cobra.Command, dirs []string, in io.Reader) (*job.Job, error) {
	if len(dirs) == 0 && f.jobFile == "" {
		dirs = []string{"."}
	}
	return f.toJob(c, dirs, in)
}

// dirsJobs is dirsJob for a command that takes a list of kernels
// (--kernel 6.12,7.3: rko test): one job per kernel, the same otherwise.
func (f *jobFlags) dirsJobs(c *cobra.Command, dirs []string, in io.Reader) ([]*job.Job, error) {
	specs := strings.Split(f.kernel, ",")
	if len(specs) == 1 {
		j, err := f.dirsJob(c, dirs, in)
		if err != nil {
			return nil, err
		}
		return []*job.Job{j}, nil
	}
	if f.jobFile != "" {
		return nil, &job.Error{Field: "--job", Msg: "the job file holds the whole job: drop --kernel, or edit the file"}
	}
	var jobs []*job.Job
	seen := map[string]bool{}
	for _, spec := range specs {
		if spec == "" || seen[spec] {
			return nil, &job.Error{Field: "--kernel", Msg: fmt.Sprintf("%q: give a comma-separated list of distinct kernels, e.g. --kernel 6.12,7.2,7.3", f.kernel)}
		}
		seen[spec] = true
		one := *f
		one.kernel = spec
		j, err := one.dirsJob(c, dirs, in)
		if err != nil {
			return nil, fmt.Errorf("--kernel %s: %w", spec, err)
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// oneKernel refuses a list of kernels on a command that runs one.
func (f *jobFlags) oneKernel() error {
	if strings.Contains(f.kernel, ",") {
		return &job.Error{Field: "--kernel", Msg: fmt.Sprintf("%q: this command runs one kernel; rko test takes a list", f.kernel)}
	}
	return nil
}

// moduleParams reads --param MODULE.NAME=VALUE flags into the insmod
// parameters of each module ("NAME=VALUE NAME2=VALUE2").
func moduleParams(flags []string) (map[string]string, error) {
	params := map[string]string{}
	for _, f := range flags {
		mod, nv, ok := strings.Cut(f, ".")
		name, _, hasValue := strings.Cut(nv, "=")
		if !ok || mod == "" || name == "" || !hasValue || strings.ContainsAny(f, " \t\n") {
			return nil, &job.Error{Field: "--param (plan.params)", Msg: fmt.Sprintf("invalid %q, want MODULE.NAME=VALUE with no spaces (e.g. --param hello.count=3)", f)}
		}
		mod = strings.ReplaceAll(mod, "-", "_")
		if params[mod] != "" {
			params[mod] += " "
		}
		params[mod] += nv
	}
	if len(params) == 0 {
		return nil, nil
	}
	return params, nil
}

// resolve prints the job (--print-job) and reports done, or resolves it.
func resolve(ctx context.Context, io *IOStreams, j *job.Job, printJob bool, p *ui.Printer) (*workflow.Resolved, bool, error) {
	if printJob {
		_, err := io.Out.Write(j.JSON())
		return nil, true, err
	}
	r, err := workflow.Resolve(ctx, j, p, true)
	return r, false, err
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// isTerminal reports whether w is a terminal (for colour).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && ui.IsTerminal(f) && os.Getenv("NO_COLOR") == ""
}
