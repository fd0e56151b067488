package bench

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	benchsrc "github.com/rkodev/rko/examples/bench"
	"github.com/rkodev/rko/internal/guest"
	"github.com/rkodev/rko/internal/kbuild"
	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/target"
	"github.com/rkodev/rko/internal/toolchain"
)

// GuestParams configure Prepare.
type GuestParams struct {
	Kernel    *kernel.Kernel
	Toolchain *toolchain.Toolchain
	Workloads []Workload
	// WorkDir holds the module builds.
	WorkDir  string
	Progress func(format string, args ...any)
}

// Guest is what the bench guest holds beyond rko's init: the files to
// put in its image (guest path -> host path), the programs to copy with
// their libraries (fio, from BinaryRoots first), and the guest paths of
// the twins (Options.Modules, Options.BlkModules). The boot itself is
// rko's one boot path (workflow.BenchBooter).
type Guest struct {
	Files       map[string]string
	Binaries    []string
	BinaryRoots []string
	Modules     map[string]string
	Blk         [2]string
}

// Prepare builds the twins against the kernel and the guest driver, and
// gathers fio when the blk workload is selected.
func Prepare(ctx context.Context, p GuestParams) (*Guest, error) {
	if p.Progress == nil {
		p.Progress = func(string, ...any) {}
	}
	g := &Guest{Files: map[string]string{}, Modules: map[string]string{}}
	drv, err := buildDriver(ctx, p.Kernel.Target())
	if err != nil {
		return nil, err
	}
	g.Files[driverGuestPath] = drv
	for _, w := range p.Workloads {
		for _, m := range w.Modules {
			if _, ok := g.Modules[m]; ok {
				continue // kv and kvi share their modules
			}
			ko, err := buildTwin(ctx, p, m)
			if err != nil {
				return nil, err
			}
			guestPath := "/rko/modules/" + filepath.Base(ko)
			g.Files[guestPath] = ko
			g.Modules[m] = guestPath
		}
		if w.Name == "blk" {
			for i, rel := range []string{"drivers/block/null_blk/null_blk.ko", "drivers/block/rnull/rnull_mod.ko"} {
				host := filepath.Join(p.Kernel.BuildDir, rel)
				if _, err := os.Stat(host); err != nil {
					return nil, fmt.Errorf("blk workload: %s is missing from kernel %s: build the kernel with the bench profile (BLK_DEV_NULL_BLK=m, BLK_DEV_RUST_NULL=m)", rel, p.Kernel.Key)
				}
				g.Blk[i] = "/rko/modules/" + filepath.Base(rel)
				g.Files[g.Blk[i]] = host
			}
			roots, err := fioRoots(ctx, p)
			if err != nil {
				return nil, err
			}
			g.Binaries, g.BinaryRoots = []string{"/usr/bin/fio"}, roots
		}
	}
	return g, nil
}

// buildTwin writes the embedded sources of module directory m to the work
// directory and builds them against the kernel.
func buildTwin(ctx context.Context, p GuestParams, m string) (string, error) {
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
