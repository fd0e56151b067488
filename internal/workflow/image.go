package workflow

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/rkodev/rko/internal/guest"
	"github.com/rkodev/rko/internal/initramfs"
	"github.com/rkodev/rko/internal/target"
)

// Initramfs builds the guest image for plan and mods, for guests of t.
func (e *Env) Initramfs(ctx context.Context, t *target.Target, plan *guest.Plan, mods []ModuleRun, o BootOpts) (*initramfs.Archive, error) {
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
	if len(o.Binaries) > 0 && t.DebianArch != toolchainArch && len(o.BinaryRoots) == 0 {
		return nil, fmt.Errorf("%s guests cannot run %s: the programs come from the %s toolchain (use --arch x86_64)", t.Name, strings.Join(o.Binaries, ", "), toolchainArch)
	}
	for _, b := range o.Binaries {
		if err := a.AddBinary(append(append([]string(nil), o.BinaryRoots...), root), b); err != nil {
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
