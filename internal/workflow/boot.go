package workflow

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rkodev/rko/internal/cache"
	"github.com/rkodev/rko/internal/device"
	"github.com/rkodev/rko/internal/guest"
	"github.com/rkodev/rko/internal/job"
	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/target"
	"github.com/rkodev/rko/internal/vm"
)

// bootConfig is the one boot path: it turns a plan for k, the modules
// and o into the guest's initramfs (written to dir) and the vm.Config
// every command boots with (test, run, shell, watch, bench, doctor's KVM
// proof). It gives the plan this boot's token, skips the kernel's own
// KUnit suites when their results are recorded, adds what kmemleak needs
// to the command line, and bounds the console and the time. The caller
// adds its console callbacks (OnLine, Tap, Stdin); vm decides KVM or TCG.
func (e *Env) bootConfig(ctx context.Context, k *kernel.Kernel, plan *guest.Plan, mods []ModuleRun, o BootOpts, dir string) (vm.Config, error) {
	t := k.Target()
	plan.Token = guest.NewToken()
	// The kernel's own KUnit suites ran at an earlier boot of this kernel
	// (and were recorded then): skip them, run only the modules'.
	skipArgs, filter := selfCheckBoot(k)
	if filter != "" && plan.KUnitFilter == "" {
		plan.KUnitFilter = filter
	} else {
		skipArgs = nil
	}
	a, err := e.Initramfs(ctx, t, plan, mods, o)
	if err != nil {
		return vm.Config{}, err
	}
	initrd := filepath.Join(dir, "initramfs.cpio")
	var buf bytes.Buffer
	if _, err := a.WriteTo(&buf); err != nil {
		return vm.Config{}, err
	}
	if err := cache.WriteFileAtomic(initrd, buf.Bytes(), 0o644); err != nil {
		return vm.Config{}, err
	}
	cache.WriteFileAtomic(filepath.Join(dir, "plan.json"), plan.JSON(), 0o644)
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 180 * time.Second
	}
	var cmdline []string
	cmdline = append(cmdline, skipArgs...)
	cmdline = append(cmdline, kmemleakCmdline(k, o.Kmemleak)...)
	cmdline = append(cmdline, o.Cmdline...)
	token := plan.Token
	cfg := vm.Config{Target: t, Kernel: k.BootImage(), Initrd: initrd, MemoryMB: o.MemoryMB, CPUs: o.CPUs,
		Timeout: timeout, ConsoleLog: filepath.Join(dir, "console.log"), Cmdline: cmdline,
		Ready:      guest.IsFrameFor(token),
		MaxConsole: o.ConsoleLimitMB << 20, BIOS: e.Firmware(t), Wrap: e.umlWrap(k, dir),
		ICount: o.ICount, Plugins: o.Plugins}
	if len(o.Devices) > 0 {
		extra, err := deviceArgs(ctx, k, cfg, o.Devices, dir)
		if err != nil {
			return vm.Config{}, err
		}
		cfg.Extra = append(cfg.Extra, extra...)
	}
	return cfg, nil
}

// deviceArgs are the QEMU arguments that attach devs to the guest of cfg,
// booted from k: each device checked against the kernel's architecture
// (a debian or dir kernel's is known only now) and its options, and its
// tables and trees compiled into the run's directory (device.Build).
func deviceArgs(ctx context.Context, k *kernel.Kernel, cfg vm.Config, devs []job.Device, dir string) ([]string, error) {
	t := k.Target()
	cfgFile, cfgErr := k.Config()
	for _, d := range devs {
		f, err := d.Form(t)
		if err != nil {
			return nil, &job.Error{Field: "--device (devices)", Msg: err.Error()}
		}
		if cfgErr != nil {
			continue
		}
		var missing []string
		for _, n := range f.Needs {
			if v := cfgFile.Get(n); v != "y" && v != "m" {
				missing = append(missing, "CONFIG_"+n)
			}
		}
		if len(missing) > 0 {
			return nil, &job.Error{Field: "--device (devices)", Msg: fmt.Sprintf("device %s needs %s, which kernel %s lacks: use rko's own kernel (its profiles have them) or enable them in yours", d, strings.Join(missing, ", "), k.Describe())}
		}
	}
	// The machine as it boots, under TCG (the device tree QEMU makes
	// does not depend on the accelerator for the guests that have one:
	// arm64 and riscv64 are never KVM guests on an x86_64 host).
	m := cfg
	m.Accel, m.Plugins = vm.TCG, nil
	return device.Build(ctx, device.BuildOpts{Target: t, Specs: devs, Dir: dir, MachineArgs: m.Args()})
}

// Boot runs plan with mods in a guest booted from k, to its end.
func (e *Env) Boot(ctx context.Context, k *kernel.Kernel, mods []ModuleRun, plan *guest.Plan, o BootOpts, name string) (*TestRun, error) {
	tr := &TestRun{}
	dir, err := NewRunDir(name)
	if err != nil {
		return nil, err
	}
	tr.RunDir = dir
	cfg, err := e.bootConfig(ctx, k, plan, mods, o, dir)
	if err != nil {
		return nil, err
	}
	tr.ConsoleLog = cfg.ConsoleLog
	var stub *gdbStub
	if o.GDB != "" || o.KeepOnCrash {
		if stub, err = e.openStub(ctx, k, &cfg, o, dir); err != nil {
			return nil, err
		}
	}
	steps := 0
	cfg.Stdin, cfg.Tap = o.Stdin, o.Tap
	frames := &guest.FrameReader{Token: plan.Token}
	cfg.OnLine = func(line string) {
		f, ok, _ := frames.Read(line)
		if !ok {
			if stub != nil {
				stub.watch(line)
			}
			return
		}
		if o.OnFrame != nil {
			o.OnFrame(f)
		}
		if f.Ev == "end" {
			steps++
			e.UI.Logf("step %d/%d: %s: %s", steps, len(plan.Steps), f.Step, describeEnd(f))
		}
	}
	var res *vm.Result
	if stub != nil {
		res, err = stub.run(ctx, cfg)
	} else {
		res, err = vm.Boot(ctx, cfg, o.Accel)
	}
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
	tr.Session, tr.Token = guest.ReadSession(res.Console, plan), plan.Token
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
