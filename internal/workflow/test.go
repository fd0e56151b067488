package workflow

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/rkodev/rko/internal/cache"
	"github.com/rkodev/rko/internal/guest"
	"github.com/rkodev/rko/internal/initramfs"
	"github.com/rkodev/rko/internal/kbuild"
	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/target"
	"github.com/rkodev/rko/internal/vm"
)

// TestOpts configures Test.
type TestOpts struct {
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
	// the guest with their shared libraries (e.g. /usr/bin/fio).
	Binaries []string
}

// ProfileDefaults fills in what the kernel profile decides and the user
// left unset: the debug kernel (KASAN, lockdep, kmemleak) is several times
// slower and needs more memory, so it gets 10 minutes, 1 GiB and 2 CPUs,
// and, when kmemleakAuto, the kmemleak scan.
func (o *TestOpts) ProfileDefaults(k *kernel.Kernel, kmemleakAuto bool) {
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

// ModuleRun is one module directory of a test run.
type ModuleRun struct {
	Dir     string   `json:"dir"`
	Modules []string `json:"modules"` // module names
	KoPaths []string `json:"ko"`
	// BuildPath is where the compilers saw Dir, if not at Dir.
	BuildPath string   `json:"build_path,omitempty"`
	Tests     []string `json:"tests,omitempty"`
	// KUnit says the module's source declares KUnit suites.
	KUnit bool `json:"kunit,omitempty"`
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
}

// ModuleName is the kernel's name for a .ko file (dashes become
// underscores).
func ModuleName(ko string) string {
	return strings.ReplaceAll(strings.TrimSuffix(filepath.Base(ko), ".ko"), "-", "_")
}

// BuildModules builds every directory against k.
func (e *Env) BuildModules(ctx context.Context, k *kernel.Kernel, dirs []string) ([]ModuleRun, error) {
	var mods []ModuleRun
	for _, d := range dirs {
		abs, err := kbuild.CheckDir(d)
		if err != nil {
			return nil, err
		}
		unlock, err := e.lockModuleDir(ctx, abs, "building")
		if err != nil {
			return nil, err
		}
		logPath, logf := LogFile("kbuild")
		r, err := kbuild.Build(ctx, e.Toolchain, k, abs, logf)
		logf.Close()
		unlock()
		if err != nil {
			return nil, fmt.Errorf("%w\nfull make output: %s", err, logPath)
		}
		os.Remove(logPath)
		for _, dg := range r.Diagnostics {
			if dg.Severity == "warning" {
				e.UI.Warnf("%s", dg)
			}
		}
		mr := ModuleRun{Dir: r.Dir, KoPaths: r.Modules, BuildPath: r.BuildPath}
		for _, ko := range r.Modules {
			mr.Modules = append(mr.Modules, ModuleName(ko))
		}
		mr.Tests = findTests(r.Dir)
		mr.KUnit = hasKUnitSuites(r.Dir)
		mods = append(mods, mr)
	}
	return mods, nil
}

// kunitMarkers declare KUnit suites: the kernel crate's attribute in
// Rust, the C macro.
var kunitMarkers = [][]byte{[]byte("#[kunit_tests("), []byte("kunit_test_suite(")}

// hasKUnitSuites reports whether a module's sources declare KUnit suites.
func hasKUnitSuites(dir string) bool {
	for _, pat := range []string{"*.rs", "*.c"} {
		files, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			for _, m := range kunitMarkers {
				if bytes.Contains(data, m) {
					return true
				}
			}
		}
	}
	return false
}

// KernelNotes says what the kernel lacks that the modules' tests would
// use, and so was not run: the KUnit suites of a module on a kernel
// without CONFIG_KUNIT (Debian's has none), explained like a dropped
// option. Everything else still runs; the notes go into the verdict.
func KernelNotes(k *kernel.Kernel, mods []ModuleRun) []string {
	var with []string
	for _, m := range mods {
		if m.KUnit {
			with = append(with, strings.Join(m.Modules, ", "))
		}
	}
	if len(with) == 0 {
		return nil
	}
	unmet, err := k.CheckNeeds([]kernel.Need{kernel.KUnitNeed})
	if err != nil || len(unmet) == 0 {
		return nil
	}
	return []string{fmt.Sprintf("the KUnit suites of %s were not run: %s", strings.Join(with, ", "), unmet[0])}
}

// findTests lists the executable files in dir/tests, sorted.
func findTests(dir string) []string {
	ents, err := os.ReadDir(filepath.Join(dir, "tests"))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 {
			continue
		}
		out = append(out, filepath.Join(dir, "tests", e.Name()))
	}
	sort.Strings(out)
	return out
}

// MakePlan turns modules into guest steps: load every module, run every
// test, then the extra steps (while the modules are loaded), unload in
// reverse order, and scan with kmemleak last.
func MakePlan(mods []ModuleRun, o TestOpts) *guest.Plan {
	p := &guest.Plan{}
	var loaded []string
	for _, m := range mods {
		for i, ko := range m.KoPaths {
			name := m.Modules[i]
			p.Steps = append(p.Steps, guest.Step{Name: "insmod " + name, Kind: "insmod",
				Path: "/rko/modules/" + filepath.Base(ko), Params: o.Params[name], Module: name})
			loaded = append(loaded, name)
		}
	}
	for _, m := range mods {
		if o.NoTests {
			break
		}
		for _, t := range m.Tests {
			rel := "/rko/tests/" + filepath.Base(m.Dir) + "/" + filepath.Base(t)
			p.Steps = append(p.Steps, guest.Step{Name: "test " + filepath.Base(m.Dir) + "/" + filepath.Base(t),
				Kind: "exec", Argv: []string{rel}, Dir: "/rko/tests/" + filepath.Base(m.Dir), TimeoutSec: 60})
		}
	}
	p.Steps = append(p.Steps, o.ExtraSteps...)
	for i := len(loaded) - 1; i >= 0; i-- {
		p.Steps = append(p.Steps, guest.Step{Name: "rmmod " + loaded[i], Kind: "rmmod", Module: loaded[i]})
	}
	if o.Kmemleak {
		p.Steps = append(p.Steps, guest.Step{Name: "kmemleak", Kind: "kmemleak", TimeoutSec: 60})
	}
	return p
}

// Initramfs builds the guest image for plan and mods, for guests of t.
func (e *Env) Initramfs(ctx context.Context, t *target.Target, plan *guest.Plan, mods []ModuleRun, o TestOpts) (*initramfs.Archive, error) {
	a, err := guest.NewImage(ctx, t)
	if err != nil {
		return nil, err
	}
	a.AddFile("rko/plan.json", plan.JSON(), 0o644)
	for _, m := range mods {
		for _, ko := range m.KoPaths {
			if err := a.AddHostFile("rko/modules/"+filepath.Base(ko), ko); err != nil {
				return nil, err
			}
		}
		for _, t := range m.Tests {
			if err := a.AddHostFile("rko/tests/"+filepath.Base(m.Dir)+"/"+filepath.Base(t), t); err != nil {
				return nil, err
			}
		}
	}
	for guestPath, host := range o.ExtraFiles {
		if err := a.AddHostFile(guestPath, host); err != nil {
			return nil, err
		}
	}
	root := "/"
	if e.Toolchain.Root != "" {
		root = e.Toolchain.Root
	}
	// A shell and the usual commands for test scripts: busybox when the
	// toolchain has it, else the toolchain's /bin/sh and its libraries;
	// for a guest of another architecture, Debian's busybox-static for it.
	busybox := filepath.Join(root, "bin/busybox")
	if t.DebianArch != toolchainArch {
		if busybox, err = e.Toolchain.ForeignBusybox(ctx, t.DebianArch, e.UI.Logf); err != nil {
			return nil, fmt.Errorf("a shell for %s guests: %w", t.Name, err)
		}
	}
	if _, err := os.Stat(busybox); err == nil {
		if err := a.AddHostFile("bin/busybox", busybox); err != nil {
			return nil, err
		}
		for _, app := range busyboxApplets {
			a.AddSymlink("bin/"+app, "busybox")
		}
	} else if err := a.AddBinary([]string{root}, "/bin/sh"); err != nil {
		e.UI.Warnf("no shell for test scripts in the guest: %v", err)
	}
	if len(o.Binaries) > 0 && t.DebianArch != toolchainArch {
		return nil, fmt.Errorf("%s guests cannot run %s: the programs come from the %s toolchain (use --arch x86_64)", t.Name, strings.Join(o.Binaries, ", "), toolchainArch)
	}
	for _, b := range o.Binaries {
		if err := a.AddBinary([]string{root}, b); err != nil {
			return nil, fmt.Errorf("adding %s to the guest: %w", b, err)
		}
	}
	return a, nil
}

// toolchainArch is the Debian architecture of the toolchain's own
// programs: the rootfs is built for the host's architecture.
var toolchainArch = target.Host().DebianArch

var busyboxApplets = []string{"sh", "cat", "echo", "ls", "dd", "grep", "head", "tail", "sleep", "test", "[", "printf",
	"mkdir", "rm", "cp", "mv", "wc", "sed", "awk", "cmp", "diff", "true", "false", "dmesg", "mknod", "stat", "od", "hexdump", "tr", "cut", "sort", "seq", "timeout", "env"}

// NewRunDir makes a directory for one run's artefacts under the cache,
// keeping the newest 30.
func NewRunDir(name string) (string, error) {
	root, err := cache.Sub("runs")
	if err != nil {
		return "", err
	}
	pruneRuns(root, 30)
	return os.MkdirTemp(root, time.Now().Format("20060102-150405")+"-"+name+"-")
}

func pruneRuns(root string, keep int) {
	ents, _ := os.ReadDir(root)
	if len(ents) <= keep {
		return
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	for _, e := range ents[:len(ents)-keep] {
		os.RemoveAll(filepath.Join(root, e.Name()))
	}
}

// Boot runs plan with mods in a guest booted from k.
func (e *Env) Boot(ctx context.Context, k *kernel.Kernel, mods []ModuleRun, plan *guest.Plan, o TestOpts, name string) (*TestRun, error) {
	tr := &TestRun{}
	dir, err := NewRunDir(name)
	if err != nil {
		return nil, err
	}
	tr.RunDir = dir
	// The kernel's own KUnit suites ran at an earlier boot of this kernel
	// (and were recorded then): skip them, run only the modules'.
	skipArgs, filter := selfCheckBoot(k)
	if filter != "" && plan.KUnitFilter == "" {
		plan.KUnitFilter = filter
	} else {
		skipArgs = nil
	}
	t := k.Target()
	arch, err := e.Initramfs(ctx, t, plan, mods, o)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := arch.WriteTo(&buf); err != nil {
		return nil, err
	}
	initrd := filepath.Join(dir, "initramfs.cpio")
	if err := os.WriteFile(initrd, buf.Bytes(), 0o644); err != nil {
		return nil, err
	}
	os.WriteFile(filepath.Join(dir, "plan.json"), plan.JSON(), 0o644)
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 180 * time.Second
	}
	tr.ConsoleLog = filepath.Join(dir, "console.log")
	steps := 0
	cfg := vm.Config{Target: k.Target(), Kernel: k.BootImage(), Initrd: initrd, MemoryMB: o.MemoryMB, CPUs: o.CPUs,
		Timeout: timeout, ConsoleLog: tr.ConsoleLog, Cmdline: append(append(skipArgs, kmemleakCmdline(k, o.Kmemleak)...), o.Cmdline...),
		Ready: guest.IsFrame, MaxConsole: o.ConsoleLimitMB << 20, BIOS: e.Firmware(t),
		Stdin: o.Stdin, Tap: o.Tap,
		OnLine: func(line string) {
			f, ok := guest.ParseFrame(line)
			if !ok {
				return
			}
			if o.OnFrame != nil {
				o.OnFrame(f)
			}
			if f.Ev == "end" {
				steps++
				e.UI.Logf("step %d/%d: %s: %s", steps, len(plan.Steps), f.Step, describeEnd(f))
			}
		}}
	cfg.Wrap = e.umlWrap(k, dir)
	res, err := vm.Boot(ctx, cfg, o.Accel)
	if res != nil {
		tr.Boot = res
		tr.Accel, tr.AccelNote = res.Accel, res.AccelNote
		for _, a := range res.Attempts {
			e.UI.Warnf("%s boot failed after %.1fs: %s (console: %s); retried under %s", a.Accel, a.Seconds, a.Error, a.ConsoleLog, res.Accel)
		}
	}
	if err != nil {
		return tr, err
	}
	tr.Session = guest.ReadSession(res.Console, plan)
	return tr, nil
}

// umlWrap is vm.Config.Wrap for a guest of k booted from runDir: nil for
// QEMU guests; for UML, the linux binary links against the toolchain's C
// library, so it runs inside the toolchain, with its kernel tree and the
// run's directory (the initrd) visible.
func (e *Env) umlWrap(k *kernel.Kernel, runDir string) func([]string) []string {
	if !k.Target().UML() {
		return nil
	}
	return func(argv []string) []string { return e.Toolchain.Command([]string{k.Dir, runDir}, "", argv...) }
}

// Firmware is the QEMU firmware for guests of t: the target's firmware
// file inside the toolchain rootfs (riscv64's OpenSBI comes from the
// rootfs's opensbi package), else on the host, else "" (QEMU's default).
func (e *Env) Firmware(t *target.Target) string {
	for _, p := range t.Firmware {
		if e.Toolchain != nil && e.Toolchain.Root != "" {
			if _, err := os.Stat(filepath.Join(e.Toolchain.Root, p)); err == nil {
				return filepath.Join(e.Toolchain.Root, p)
			}
		}
	}
	return vm.DefaultBIOS(t)
}

// kmemleakCmdline is what the kernel command line needs for kmemleak to
// see a module's leaks. SLUB's per-CPU sheaves (Linux 6.18 and later) are
// arrays of free objects that are themselves kmalloc'ed, so kmemleak
// scans them whole, and a slot past the sheaf's fill level still holds the
// pointer of the object last allocated from it: a freshly leaked object
// stays "referenced" until the slot is reused, which in a short guest
// session is never. Caches with SLUB debug flags get no sheaves, so
// slab_debug=U (record each object's allocating and freeing stack, a cheap
// flag) makes the leaks visible; see docs/triage.md#kmemleak.
func kmemleakCmdline(k *kernel.Kernel, scan bool) []string {
	if !scan {
		return nil
	}
	if cfg, err := k.Config(); err == nil && cfg.Get("SLUB_DEBUG") == "y" {
		return []string{"slab_debug=U"}
	}
	return nil
}

func describeEnd(f guest.Frame) string {
	switch {
	case f.Signal != "":
		return "killed by " + f.Signal
	case f.Error != "":
		return f.Error
	case f.RC != 0:
		return fmt.Sprintf("exit status %d", f.RC)
	}
	return fmt.Sprintf("ok (%d ms)", f.Ms)
}

// WriteJSON saves v as name in the run directory.
func (t *TestRun) WriteJSON(name string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return cache.WriteFileAtomic(filepath.Join(t.RunDir, name), append(data, '\n'), 0o644)
}

// SourceFiles maps the files of each module directory (its sources, its
// tests/ and its .ko) to /rko/src/DIRNAME/ in the guest, for rko shell and
// rko run, which start there.
func SourceFiles(mods []ModuleRun) map[string]string {
	files := map[string]string{}
	for _, m := range mods {
		for _, sub := range []string{"", "tests"} {
			ents, err := os.ReadDir(filepath.Join(m.Dir, sub))
			if err != nil {
				continue
			}
			for _, e := range ents {
				name := e.Name()
				info, err := e.Info()
				if err != nil || !info.Mode().IsRegular() || strings.HasPrefix(name, ".") || info.Size() > 64<<20 {
					continue
				}
				if ext := filepath.Ext(name); ext == ".o" || ext == ".cmd" || ext == ".mod" || strings.HasSuffix(name, ".mod.c") {
					continue
				}
				files[path.Join("rko/src", filepath.Base(m.Dir), sub, name)] = filepath.Join(m.Dir, sub, name)
			}
		}
	}
	return files
}

// lockModuleDir takes the lock of one module directory: two rko processes
// must not run make (or write rust-project.json) in it at once. The lock
// lives in the cache, not in the user's directory; doing says what the
// holder is doing, for the waiting message.
func (e *Env) lockModuleDir(ctx context.Context, abs, doing string) (func(), error) {
	locks, err := cache.Sub("locks")
	if err != nil {
		return nil, err
	}
	return cache.Lock(ctx, filepath.Join(locks, "module-"+cache.Key([]byte(abs))),
		func() { e.UI.Logf("waiting for another rko %s %s", doing, abs) })
}
