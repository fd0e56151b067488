package bench

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	benchsrc "github.com/rkodev/rko/examples/bench"
	"github.com/rkodev/rko/internal/guest"
	"github.com/rkodev/rko/internal/initramfs"
	"github.com/rkodev/rko/internal/kbuild"
	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/target"
	"github.com/rkodev/rko/internal/toolchain"
	"github.com/rkodev/rko/internal/vm"
)

// QEMUParams configure the QEMU booter.
type QEMUParams struct {
	Kernel    *kernel.Kernel
	Toolchain *toolchain.Toolchain
	Workloads []Workload
	// Accel is the accelerator policy: auto, kvm or tcg (vm.Boot). The
	// first round decides, and the later rounds keep what it ran under.
	Accel string
	// WorkDir holds the module builds, initramfs and console logs of
	// each round.
	WorkDir string
	// MemoryMB of the guest; 0 means 1024.
	MemoryMB int
	Progress func(format string, args ...any)
}

// QEMUBooter boots the bench kernel under QEMU, one boot per round, with
// one vCPU so that both twins run on the same (virtual) core.
type QEMUBooter struct {
	p      QEMUParams
	base   *initramfs.Archive
	rounds int
	accel  string // what the rounds run under, once the first decided
	note   string // why KVM was not used
}

// Accel returns the accelerator the rounds ran under and, when it is not
// KVM, why.
func (b *QEMUBooter) Accel() (string, string) { return b.accel, b.note }

// PrepareQEMU builds the twins against the kernel, the guest driver and
// init, gathers fio when the blk workload is selected, and returns the
// booter and the Options fields that name the modules in the guest.
func PrepareQEMU(ctx context.Context, p QEMUParams) (*QEMUBooter, map[string]string, [2]string, error) {
	var blk [2]string
	if p.Progress == nil {
		p.Progress = func(string, ...any) {}
	}
	if p.MemoryMB == 0 {
		p.MemoryMB = 1024
	}
	a, err := guest.NewImage(ctx, p.Kernel.Target())
	if err != nil {
		return nil, nil, blk, err
	}
	drv, err := buildDriver(ctx, p.Kernel.Target())
	if err != nil {
		return nil, nil, blk, err
	}
	if err := a.AddHostFile(driverGuestPath, drv); err != nil {
		return nil, nil, blk, err
	}
	mods := map[string]string{}
	for _, w := range p.Workloads {
		for _, m := range w.Modules {
			if _, ok := mods[m]; ok {
				continue // kv and kvi share their modules
			}
			ko, err := buildTwin(ctx, p, m)
			if err != nil {
				return nil, nil, blk, err
			}
			guestPath := "/rko/modules/" + filepath.Base(ko)
			if err := a.AddHostFile(guestPath, ko); err != nil {
				return nil, nil, blk, err
			}
			mods[m] = guestPath
		}
		if w.Name == "blk" {
			for i, rel := range []string{"drivers/block/null_blk/null_blk.ko", "drivers/block/rnull/rnull_mod.ko"} {
				host := filepath.Join(p.Kernel.BuildDir, rel)
				if _, err := os.Stat(host); err != nil {
					return nil, nil, blk, fmt.Errorf("blk workload: %s is missing from kernel %s: build the kernel with the bench profile (BLK_DEV_NULL_BLK=m, BLK_DEV_RUST_NULL=m)", rel, p.Kernel.Key)
				}
				blk[i] = "/rko/modules/" + filepath.Base(rel)
				if err := a.AddHostFile(blk[i], host); err != nil {
					return nil, nil, blk, err
				}
			}
			if err := addFio(ctx, p, a); err != nil {
				return nil, nil, blk, err
			}
		}
	}
	return &QEMUBooter{p: p, base: a}, mods, blk, nil
}

// buildTwin writes the embedded sources of module directory m to the work
// directory and builds them against the kernel.
func buildTwin(ctx context.Context, p QEMUParams, m string) (string, error) {
	dir := filepath.Join(p.WorkDir, "src", m)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	ents, err := fs.ReadDir(benchsrc.FS, m)
	if err != nil {
		return "", err
	}
	for _, e := range ents {
		data, _ := fs.ReadFile(benchsrc.FS, m+"/"+e.Name())
		if err := os.WriteFile(filepath.Join(dir, e.Name()), data, 0o644); err != nil {
			return "", err
		}
	}
	p.Progress("building %s", m)
	res, err := kbuild.Build(ctx, p.Toolchain, p.Kernel, dir, nil)
	if err != nil {
		return "", fmt.Errorf("building bench twin %s: %+v", m, err)
	}
	return res.Modules[0], nil
}

// buildDriver builds the guest driver from its embedded source
// (guest.BuildStatic: static, cached).
func buildDriver(ctx context.Context, t *target.Target) (string, error) {
	return guest.BuildStatic(ctx, t, "benchdrv", benchsrc.FS, "driver")
}

// Boot runs one round.
func (b *QEMUBooter) Boot(ctx context.Context, plan *guest.Plan) ([]byte, time.Duration, error) {
	b.rounds++
	b.base.AddFile("/rko/plan.json", plan.JSON(), 0o644)
	initrd := filepath.Join(b.p.WorkDir, "initramfs.cpio")
	var buf bytes.Buffer
	if _, err := b.base.WriteTo(&buf); err != nil {
		return nil, 0, err
	}
	if err := os.WriteFile(initrd, buf.Bytes(), 0o644); err != nil {
		return nil, 0, err
	}
	logPath := filepath.Join(b.p.WorkDir, fmt.Sprintf("console-round%d.log", b.rounds))
	want := b.accel
	if want == "" {
		want = b.p.Accel
	}
	res, err := vm.Boot(ctx, vm.Config{
		Target: b.p.Kernel.Target(), Kernel: b.p.Kernel.BootImage(), Initrd: initrd,
		MemoryMB: b.p.MemoryMB, CPUs: 1, Timeout: 20 * time.Minute, ConsoleLog: logPath, Ready: guest.IsFrame,
	}, want)
	if res != nil && b.accel == "" {
		b.accel, b.note = res.Accel, res.AccelNote
		for _, a := range res.Attempts {
			b.p.Progress("round %d: %s boot failed after %.1fs: %s (console: %s); the rounds run under %s", b.rounds, a.Accel, a.Seconds, a.Error, a.ConsoleLog, res.Accel)
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
