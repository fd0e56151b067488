package bench

import (
	"context"
	"debug/elf"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/rkodev/rko/internal/cache"
	"github.com/rkodev/rko/internal/initramfs"
	"github.com/rkodev/rko/internal/run"
)

// addFio puts Debian's fio, its ELF interpreter and every shared library it
// needs into the archive. fio comes from the toolchain rootfs when it is
// installed there; otherwise its packages (and the libraries the rootfs
// lacks) are downloaded with the rootfs's own apt, without changing the
// rootfs, and unpacked into rko's cache.
func addFio(ctx context.Context, p QEMUParams, a *initramfs.Archive) error {
	tc := p.Toolchain
	if tc == nil || tc.Root == "" {
		return fmt.Errorf("the blk workload needs fio from a Debian toolchain rootfs (rko toolchain install)")
	}
	roots := []string{tc.Root}
	if _, err := os.Stat(filepath.Join(tc.Root, "usr/bin/fio")); err != nil {
		extra, err := downloadFio(ctx, p)
		if err != nil {
			return err
		}
		roots = []string{extra, tc.Root}
	}
	return addELF(a, roots, "/usr/bin/fio")
}

// downloadFio fetches fio's packages with apt-get inside the toolchain
// (lists and caches on the sandbox's tmpfs, so the rootfs is not touched)
// and unpacks them into a cache directory keyed by the toolchain.
func downloadFio(ctx context.Context, p QEMUParams) (string, error) {
	dir, err := cache.Sub("bench", "fio-"+p.Toolchain.ID)
	if err != nil {
		return "", err
	}
	root := filepath.Join(dir, "root")
	if _, err := os.Stat(filepath.Join(root, "usr/bin/fio")); err == nil {
		return root, nil
	}
	unlock, err := cache.Lock(ctx, root, func() { p.Progress("waiting for another rko fetching fio") })
	if err != nil {
		return "", err
	}
	defer unlock()
	debs := filepath.Join(dir, "debs")
	tmpRoot := root + ".tmp"
	os.RemoveAll(tmpRoot)
	for _, d := range []string{filepath.Join(debs, "partial"), tmpRoot} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
	}
	p.Progress("fetching fio and its libraries with apt (not installed in the toolchain rootfs)")
	apt := "-o APT::Sandbox::User=root -o Debug::NoLocking=1 -o Dir::State::Lists=/tmp/lists -o Dir::Cache=/tmp/aptcache -o Dir::Cache::archives=" + debs
	script := strings.Join([]string{
		"set -e",
		"mkdir -p /tmp/lists/partial /tmp/aptcache",
		"apt-get " + apt + " -qq update",
		"DEBIAN_FRONTEND=noninteractive apt-get " + apt + " -y -qq --no-install-recommends --download-only install fio",
		"for d in " + debs + "/*.deb; do dpkg-deb -x \"$d\" " + tmpRoot + "; done",
	}, "\n")
	if _, err := p.Toolchain.Run(ctx, run.Opts{}, []string{dir}, "sh", "-c", script); err != nil {
		return "", fmt.Errorf("fetching fio: %+v", err)
	}
	if err := os.Rename(tmpRoot, root); err != nil {
		return "", err
	}
	return root, nil
}

// libDirs are the default search path of Debian's dynamic loader.
var libDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/lib", "/usr/lib"}

// addELF adds prog, found in the first of roots that has it, with its
// interpreter and its shared libraries (DT_NEEDED, searched in the object's
// RUNPATH/RPATH and then the default directories, in every root), at their
// paths in the guest.
func addELF(a *initramfs.Archive, roots []string, prog string) error {
	seen := map[string]bool{}
	find := func(p string) (string, bool) {
		for _, r := range roots {
			if real, err := evalIn(r, p); err == nil {
				return real, true
			}
		}
		return "", false
	}
	var add func(p string) error
	add = func(p string) error {
		if seen[p] {
			return nil
		}
		seen[p] = true
		host, ok := find(p)
		if !ok {
			return fmt.Errorf("%s not found in %s", p, strings.Join(roots, ", "))
		}
		if err := a.AddHostFile(p, host); err != nil {
			return err
		}
		f, err := elf.Open(host)
		if err != nil {
			return nil
		}
		defer f.Close()
		for _, ph := range f.Progs {
			if ph.Type == elf.PT_INTERP {
				b := make([]byte, ph.Filesz)
				if _, err := ph.ReadAt(b, 0); err == nil {
					if err := add(strings.TrimRight(string(b), "\x00")); err != nil {
						return err
					}
				}
			}
		}
		var search []string
		for _, tag := range []elf.DynTag{elf.DT_RUNPATH, elf.DT_RPATH} {
			vals, _ := f.DynString(tag)
			for _, v := range vals {
				for _, d := range strings.Split(v, ":") {
					search = append(search, strings.ReplaceAll(d, "$ORIGIN", path.Dir(p)))
				}
			}
		}
		search = append(search, libDirs...)
		libs, _ := f.ImportedLibraries()
		for _, lib := range libs {
			found := ""
			for _, d := range search {
				if _, ok := find(path.Join(d, lib)); ok {
					found = path.Join(d, lib)
					break
				}
			}
			if found == "" {
				return fmt.Errorf("%s needs %s, which is in none of %s", p, lib, strings.Join(roots, ", "))
			}
			if err := add(found); err != nil {
				return err
			}
		}
		return nil
	}
	return add(prog)
}

// evalIn resolves p inside root, following symlinks as the guest would
// (absolute targets are relative to root), and returns the host path of
// the final regular file.
func evalIn(root, p string) (string, error) {
	cur := "/"
	parts := strings.Split(strings.Trim(path.Clean(p), "/"), "/")
	for hops := 0; len(parts) > 0; {
		next := path.Join(cur, parts[0])
		parts = parts[1:]
		fi, err := os.Lstat(filepath.Join(root, next))
		if err != nil {
			return "", err
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > 40 {
			return "", fmt.Errorf("%s: too many symlinks", p)
		}
		target, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			return "", err
		}
		if !path.IsAbs(target) {
			target = path.Join(path.Dir(next), target)
		}
		parts = append(strings.Split(strings.Trim(path.Clean(target), "/"), "/"), parts...)
		cur = "/"
	}
	host := filepath.Join(root, cur)
	fi, err := os.Stat(host)
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", p)
	}
	return host, nil
}
