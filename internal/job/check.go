package job

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/rkodev/rko/internal/device"
	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/target"
)

// fields names each checked field as a flag and as its JSON path, so one
// message serves a job from flags and one from a file.
var fields = map[string]string{
	"kernel":    "--kernel (kernel.kind)",
	"arch":      "--arch (kernel.arch)",
	"profile":   "--profile (kernel.profile)",
	"fragment":  "--fragment (kernel.fragments)",
	"source":    "--source (kernel.source)",
	"rustc":     "--rustc (kernel.rustc)",
	"store":     "--kernel-store (kernel.store)",
	"toolchain": "--toolchain (toolchain)",
	"modules":   "module directory (modules)",
	"devices":   "--device (devices)",
	"accel":     "--accel (boot.accel)",
	"timeout":   "--timeout (boot.timeout)",
	"memory":    "--memory (boot.memory_mb)",
	"cpus":      "--cpus (boot.cpus)",
	"append":    "--append (boot.append)",
	"console":   "--console-limit (boot.console_limit_mb)",
	"kmemleak":  "--kmemleak (boot.kmemleak)",
	"param":     "--param (plan.params)",
	"plan":      "plan",
	"gdb":       "--gdb/--keep-on-crash (boot.gdb, boot.keep_on_crash)",
}

func bad(field, format string, args ...any) *Error {
	return &Error{Field: fields[field], Msg: fmt.Sprintf(format, args...)}
}

// Defaults fills what a job left unset with rko's defaults: rko's own
// kernel of the host's architecture and the default profile, the auto
// toolchain and accelerator, kmemleak auto, a 256 MiB console bound.
func (j *Job) Defaults() {
	if j.Schema == 0 {
		j.Schema = Schema
	}
	if j.Kernel.Kind == "" {
		j.Kernel.Kind = KindRko
	}
	if j.Kernel.Kind == KindRko {
		if j.Kernel.Arch == "" {
			j.Kernel.Arch = target.Host().Name
		}
		if j.Kernel.Profile == "" {
			j.Kernel.Profile = "default"
		}
	}
	if j.Toolchain == "" {
		j.Toolchain = "auto"
	}
	if j.Boot.Accel == "" {
		j.Boot.Accel = AccelAuto
	}
	if j.Boot.Kmemleak == "" {
		j.Boot.Kmemleak = "auto"
	}
	if j.Boot.ConsoleLimitMB == 0 {
		j.Boot.ConsoleLimitMB = 256
	}
}

// Check refuses a job that cannot work, before anything is built: an
// unknown value, a missing directory or file, a combination of kernel
// and architecture that cannot boot. The error names the field and the
// fix. A kernel tree's own architecture is checked when it is resolved
// (workflow.Resolve), since that needs its .config.
func (j *Job) Check() error {
	t, err := j.CheckKernel()
	if err != nil {
		return err
	}
	if len(j.Modules) == 0 && len(j.Plan.Bench) == 0 {
		return bad("modules", "no module directory: name one (rko test DIR)")
	}
	if len(j.Modules) > 0 && len(j.Plan.Bench) > 0 {
		return bad("modules", "a bench job (plan.bench) runs its own twins: drop the module directories")
	}
	for _, m := range j.Modules {
		if err := checkModuleDir(m); err != nil {
			return err
		}
	}
	for _, m := range j.Modules {
		// A module's "# rko-kernel: >=X.Y" is read (and a malformed one
		// refused) before anything is built; a version is compared now
		// (its build takes minutes), other kernels when a module is built.
		f, err := kernel.DeclaredFloor(m)
		if err != nil {
			return bad("modules", "%v", err)
		}
		if j.Kernel.Kind == KindRko && j.Kernel.Version != "" {
			if err := f.Admits(filepath.Base(m), j.Kernel.Version); err != nil {
				return bad("kernel", "%v", err)
			}
		}
	}
	if err := j.checkDevices(t); err != nil {
		return err
	}
	if err := j.Boot.check(t); err != nil {
		return err
	}
	for mod, p := range j.Plan.Params {
		if !moduleName.MatchString(mod) {
			return bad("param", "%q is not a module name (letters, digits and _)", mod)
		}
		if strings.ContainsAny(p, "\t\n") {
			return bad("param", "the parameters of %s hold a tab or a newline: give NAME=VALUE pairs separated by spaces", mod)
		}
	}
	if j.Plan.FailNth && (j.Plan.NoTests() || len(j.Plan.Bench) > 0) {
		return bad("plan", "--fail-nth (plan.fail_nth) is a test plan: it goes with rko test, not with a command (plan.run), a shell (plan.shell) or a bench")
	}
	if len(j.Plan.Run) > 0 && j.Plan.Shell {
		return bad("plan", "a job runs a command (plan.run) or a shell (plan.shell), not both")
	}
	return nil
}

// CheckKernel is the part of Check that the commands without modules or
// a boot (kernel build, doctor, doc, new, rust-analyzer) need: the kernel
// request and the toolchain. It returns the named architecture's target
// (nil when the kernel's own is to be used).
func (j *Job) CheckKernel() (*target.Target, error) {
	t, err := j.checkKernel()
	if err != nil {
		return nil, err
	}
	switch j.Toolchain {
	case "auto", "host", "rootfs":
	default:
		return nil, bad("toolchain", "unknown toolchain %q, want auto, host or rootfs", j.Toolchain)
	}
	if j.Kernel.Rustc != "" && j.Toolchain == "host" {
		return nil, bad("rustc", "--rustc picks one of rko's rootfs compilers, and --toolchain host is the host's own: drop one of them")
	}
	return t, nil
}

func (j *Job) checkKernel() (*target.Target, error) {
	k := j.Kernel
	switch k.Kind {
	case KindRko, KindDebian, KindDir:
	default:
		return nil, bad("kernel", "unknown kernel kind %q, want rko, debian or dir", k.Kind)
	}
	var t *target.Target
	if k.Arch != "" {
		if _, err := target.Lookup(k.Arch); err != nil {
			return nil, bad("arch", "%v", err)
		}
		t = k.Target()
	}
	if k.Rustc != "" && !rustcRE.MatchString(k.Rustc) {
		return nil, bad("rustc", "%q is not a compiler version: give one such as 1.98", k.Rustc)
	}
	if k.Rustc != "" && k.Kind == KindDebian {
		return nil, bad("rustc", "Debian's kernel was built with Debian's rustc 1.85, and modules must be built with the kernel's compiler: drop --rustc, or use rko's own kernel (drop --kernel debian)")
	}
	if k.Store != "" {
		if k.Kind != KindRko {
			return nil, bad("store", "a registry holds the kernels rko builds; --kernel %s is not one: drop --kernel-store", k.Spec())
		}
		if !storeRef.MatchString(k.Store) {
			return nil, bad("store", "%q is not a registry repository: want HOST[:PORT]/REPOSITORY, e.g. ghcr.io/you/rko-kernels (the kernel key is the tag), or REPOSITORY@sha256:DIGEST for one pinned kernel", k.Store)
		}
	}
	if k.Kind != KindRko {
		if k.Profile != "" && k.Profile != "default" || len(k.Fragments) > 0 {
			return nil, bad("profile", "--profile and --fragment configure rko's own kernel; --kernel %s is built already: drop them, or drop --kernel", k.Spec())
		}
		if k.Version != "" {
			return nil, bad("kernel", "a version (%s) names rko's own build of that linux-source, not a %s kernel: drop one of them", k.Version, k.Kind)
		}
		if k.Source != "" && k.Kind == KindDir {
			return nil, bad("source", "a kernel tree brings its own source: drop --source, or drop --kernel %s", k.Spec())
		}
	}
	switch k.Kind {
	case KindRko:
		if t == nil {
			return nil, bad("arch", "no architecture: want one of %s", strings.Join(target.Names(), ", "))
		}
		if names := kernel.ProfileNames(); !contains(names, k.Profile) {
			return nil, bad("profile", "unknown profile %q, want %s", k.Profile, strings.Join(names, ", "))
		}
		if err := t.ProfileError(k.Profile); err != nil {
			return nil, bad("profile", "%v", err)
		}
		for _, f := range k.Fragments {
			if st, err := os.Stat(f); err != nil || st.IsDir() {
				return nil, bad("fragment", "%s is not a config fragment file: give the path of a file of CONFIG_ lines", f)
			}
		}
		if k.Version != "" && !IsVersion(k.Version) {
			return nil, bad("kernel", "%q is not a kernel version: give a series such as 6.12 or a full version such as 6.12.117 (rko kernel versions lists them)", k.Version)
		}
		if k.Version != "" && k.Source != "" {
			return nil, bad("source", "--kernel %s builds Debian's linux-source of that version, and --source names another tree: drop one of them", k.Version)
		}
		if k.Source != "" {
			if _, err := os.Stat(k.Source); err != nil {
				return nil, bad("source", "%s does not exist: give a kernel source tree or a linux-source tarball, or drop --source", k.Source)
			}
		}
	case KindDebian:
		if t != nil && t.Name != "x86_64" {
			return nil, bad("arch", "Debian's Rust-enabled kernel is rko's for x86_64 (amd64) only, not %s: use --arch x86_64, or rko's own kernel for %s (drop --kernel debian)", t.Name, t.Name)
		}
	case KindDir:
		st, err := os.Stat(k.Dir)
		if err != nil {
			return nil, bad("kernel", "%s does not exist: give the O= directory of a kernel you built, debian[:RELEASE], or nothing for rko's own kernel", k.Dir)
		}
		if !st.IsDir() {
			return nil, bad("kernel", "%s is not a directory: give the O= directory of a kernel you built, debian[:RELEASE], or nothing for rko's own kernel", k.Dir)
		}
	}
	if t != nil && t.UML() && runtime.GOARCH != "amd64" {
		return nil, bad("arch", "UML runs as a host process and rko's UML kernels are x86_64: this host is %s; use --arch %s", runtime.GOARCH, target.Host().Name)
	}
	return t, nil
}

var moduleName = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

var rustcRE = regexp.MustCompile(`^1\.[0-9]+(\.[0-9]+)?$`)

func (b Boot) check(t *target.Target) error {
	switch b.Accel {
	case AccelAuto, AccelTCG:
	case AccelKVM:
		if t != nil && !t.KVMEligible() {
			return bad("accel", "KVM cannot run %s guests on this %s host: use --accel tcg or auto", t.Name, target.Host().Name)
		}
	default:
		return bad("accel", "unknown accelerator %q, want auto, kvm or tcg", b.Accel)
	}
	switch b.Kmemleak {
	case "auto", "on", "off":
	default:
		return bad("kmemleak", "invalid value %q, want auto, on or off", b.Kmemleak)
	}
	if b.Timeout < 0 {
		return bad("timeout", "negative timeout %s: give a positive duration such as 5m", time.Duration(b.Timeout))
	}
	if b.MemoryMB < 0 || b.MemoryMB > 0 && b.MemoryMB < 64 {
		return bad("memory", "%d MiB is too little for a guest: want at least 64 (0: the default)", b.MemoryMB)
	}
	if b.CPUs < 0 || b.CPUs > 64 {
		return bad("cpus", "invalid CPU count %d, want 1 to 64 (0: the default)", b.CPUs)
	}
	if b.ConsoleLimitMB < 1 {
		return bad("console", "invalid limit %d, want at least 1 (MiB)", b.ConsoleLimitMB)
	}
	if b.GDB != "" {
		if _, _, err := net.SplitHostPort(b.GDB); err != nil {
			return bad("gdb", "%q is not HOST:PORT (e.g. 127.0.0.1:1234): %v", b.GDB, err)
		}
	}
	if (b.GDB != "" || b.KeepOnCrash) && t != nil && t.UML() {
		return bad("gdb", "a UML kernel is a host process, not a QEMU guest with a gdb stub: use --arch x86_64")
	}
	for _, a := range b.Append {
		if a == "" || strings.ContainsAny(a, " \t\n") {
			return bad("append", "%q: give one kernel argument per --append, with no spaces (e.g. --append dyndbg=+p --append loglevel=8)", a)
		}
	}
	return nil
}

// checkModuleDir refuses a module directory that is missing or has no
// Kbuild or Makefile (the same rule as kbuild.CheckDir, said as a job
// error).
func checkModuleDir(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return bad("modules", "%s does not exist: give the module's directory (rko new NAME makes one)", dir)
	}
	if !st.IsDir() {
		return bad("modules", "%s is not a directory: give the module's directory", dir)
	}
	for _, f := range []string{"Kbuild", "Makefile"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return nil
		}
	}
	return bad("modules", "%s has neither a Kbuild nor a Makefile: an out-of-tree module needs one with obj-m := NAME.o (rko new NAME creates a module with both)", dir)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// checkDevices refuses a device the table does not have, a file that is
// not there, or a device the job's architecture t cannot have (UML, a
// machine without the bus); with t nil (a debian or dir kernel, whose
// architecture is known once resolved) the boot checks that part.
func (j *Job) checkDevices(t *target.Target) error {
	arch := ""
	if t != nil {
		arch = t.Name
	}
	all, err := j.AllDevices(arch)
	if err != nil {
		return bad("devices", "%v", err)
	}
	if len(all) > 0 && len(j.Plan.Bench) > 0 {
		return bad("devices", "a bench job (plan.bench) runs its own twins and attaches no device: drop the devices")
	}
	for _, d := range all {
		if t == nil {
			_, err = device.Lookup(d.Name)
		} else {
			_, err = d.Form(t)
		}
		if err != nil {
			return bad("devices", "%v", err)
		}
	}
	return nil
}

// storeRef is a registry repository without a tag (the kernel key is the
// tag): HOST[:PORT]/PATH, lower case as the OCI distribution spec names
// repositories, or with a digest that pins one kernel.
var storeRef = regexp.MustCompile(`^[a-zA-Z0-9.-]+(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+(@sha256:[a-f0-9]{64})?$`)
