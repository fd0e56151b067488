package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rkodev/rko/internal/cache"
	"github.com/rkodev/rko/internal/run"
	"github.com/rkodev/rko/internal/target"
)

// fioRoots are the file systems Debian's fio, its ELF interpreter and its
// shared libraries are copied from into the guest. fio comes from the
// toolchain rootfs when it is installed there and the guest is of the
// rootfs's architecture; otherwise its packages (and the libraries the
// rootfs lacks, or all of them for another architecture) are downloaded
// with the rootfs's own apt for the guest's Debian architecture, without
// changing the rootfs, and unpacked into rko's cache.
func fioRoots(ctx context.Context, p GuestParams) ([]string, error) {
	tc := p.Toolchain
	if tc == nil || tc.Root == "" {
		return nil, fmt.Errorf("the blk workload needs fio from a Debian toolchain rootfs (rko toolchain install)")
	}
	arch := p.Kernel.Target().DebianArch
	if _, err := os.Stat(filepath.Join(tc.Root, "usr/bin/fio")); err != nil || arch != target.Host().DebianArch {
		extra, err := downloadFio(ctx, p, arch)
		if err != nil {
			return nil, err
		}
		return []string{extra}, nil
	}
	return nil, nil
}

// downloadFio fetches fio's packages with apt-get inside the toolchain
// (lists and caches on the sandbox's tmpfs, so the rootfs is not touched)
// and unpacks them into a cache directory keyed by the toolchain.
func downloadFio(ctx context.Context, p GuestParams, arch string) (string, error) {
	name := "fio-" + p.Toolchain.ID
	if arch != target.Host().DebianArch {
		name += "-" + arch
	}
	dir, err := cache.Sub("bench", name)
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
	p.Progress("fetching fio (%s) and its libraries with apt (not installed in the toolchain rootfs)", arch)
	apt := "-o APT::Sandbox::User=root -o Debug::NoLocking=1 -o Dir::State::Lists=/tmp/lists -o Dir::Cache=/tmp/aptcache -o Dir::Cache::archives=" + debs +
		" -o APT::Architecture=" + arch + " -o APT::Architectures=" + arch
	if arch != target.Host().DebianArch {
		// Nothing of the guest's architecture is installed: an empty
		// package status makes apt fetch fio's whole dependency closure.
		apt += " -o Dir::State::status=/tmp/status"
	}
	script := strings.Join([]string{
		"set -e",
		"mkdir -p /tmp/lists/partial /tmp/aptcache",
		": > /tmp/status",
		"apt-get " + apt + " -qq update",
		"DEBIAN_FRONTEND=noninteractive apt-get " + apt + " -y -qq --no-install-recommends --download-only install fio",
		"for d in " + debs + "/*.deb; do dpkg-deb -x \"$d\" " + tmpRoot + "; done",
		// Debian's merged /usr: the ELF interpreter is /lib/ld-*.so.1, and
		// /lib is a symlink that base-files, not fio's closure, provides.
		"for d in bin sbin lib lib64; do [ -e " + tmpRoot + "/$d ] || ln -s usr/$d " + tmpRoot + "/$d; done",
	}, "\n")
	if _, err := p.Toolchain.Run(ctx, run.Opts{}, []string{dir}, "sh", "-c", script); err != nil {
		return "", fmt.Errorf("fetching fio: %+v", err)
	}
	if err := os.Rename(tmpRoot, root); err != nil {
		return "", err
	}
	return root, nil
}
