package toolchain

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rkodev/rko/internal/cache"
	"github.com/rkodev/rko/internal/run"
)

// ForeignBusybox returns a static busybox for the Debian architecture
// arch (arm64, riscv64, ...) for guests of another architecture than the
// rootfs's own: Debian's busybox-static:ARCH, fetched with apt-get
// download from the toolchain's suite and mirror (APT::Architecture=ARCH,
// with package lists of its own in a scratch directory, so the pinned
// rootfs is never changed), unpacked with dpkg-deb, and cached by
// architecture, suite and mirror. The result is a host path.
func (t *Toolchain) ForeignBusybox(ctx context.Context, arch string, progress func(string, ...any)) (string, error) {
	if progress == nil {
		progress = func(string, ...any) {}
	}
	suite, mirror := DefaultSuite, DefaultMirror
	if t.Lock != nil {
		suite, mirror = t.Lock.Suite, t.Lock.Mirror
	}
	dir, err := cache.Sub("busybox", arch+"-"+cache.Key([]byte(arch), []byte(suite), []byte(mirror)))
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "busybox")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	unlock, err := cache.Lock(ctx, out, func() { progress("waiting for another rko fetching busybox-static:%s", arch) })
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	work, err := os.MkdirTemp(dir, "fetch-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	for _, d := range []string{"lists/partial", "cache/archives/partial", "etc", "x"} {
		if err := os.MkdirAll(filepath.Join(work, d), 0o755); err != nil {
			return "", err
		}
	}
	list := filepath.Join(work, "etc", "sources.list")
	if err := os.WriteFile(list, []byte(fmt.Sprintf("deb %s %s main\n", mirror, suite)), 0o644); err != nil {
		return "", err
	}
	apt := []string{"apt-get", "-q",
		"-o", "APT::Architecture=" + arch, "-o", "APT::Architectures=" + arch,
		"-o", "Dir::Etc::SourceList=" + list, "-o", "Dir::Etc::SourceParts=" + filepath.Join(work, "etc"),
		"-o", "Dir::State::Lists=" + filepath.Join(work, "lists"), "-o", "Dir::Cache=" + filepath.Join(work, "cache"),
		"-o", "Acquire::Languages=none", "-o", "Debug::NoLocking=1",
		// apt's download sandbox user cannot write the scratch directory.
		"-o", "APT::Sandbox::User=root"}
	progress("fetching busybox-static:%s from %s %s", arch, mirror, suite)
	runIn := func(argv ...string) error {
		_, err := t.Run(ctx, run.Opts{Dir: work}, []string{work}, argv...)
		return err
	}
	if err := runIn(append(apt, "update")...); err != nil {
		return "", fmt.Errorf("busybox-static:%s: apt-get update: %w", arch, err)
	}
	if err := runIn(append(apt, "download", "busybox-static:"+arch)...); err != nil {
		return "", fmt.Errorf("busybox-static:%s: apt-get download: %w", arch, err)
	}
	debs, _ := filepath.Glob(filepath.Join(work, "busybox-static_*_"+arch+".deb"))
	if len(debs) != 1 {
		return "", fmt.Errorf("busybox-static:%s: apt-get download left %d .deb files in %s, want 1", arch, len(debs), work)
	}
	if err := runIn("dpkg-deb", "-x", debs[0], filepath.Join(work, "x")); err != nil {
		return "", fmt.Errorf("busybox-static:%s: unpacking %s: %w", arch, filepath.Base(debs[0]), err)
	}
	var bin string
	for _, p := range []string{"usr/bin/busybox", "bin/busybox"} {
		if st, err := os.Lstat(filepath.Join(work, "x", p)); err == nil && st.Mode().IsRegular() {
			bin = filepath.Join(work, "x", p)
			break
		}
	}
	if bin == "" {
		return "", fmt.Errorf("busybox-static:%s: %s has no bin/busybox", arch, filepath.Base(debs[0]))
	}
	// The .deb's name records the version fetched.
	version := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(debs[0]), "busybox-static_"), "_"+arch+".deb")
	os.WriteFile(filepath.Join(dir, "version"), []byte(strings.ReplaceAll(version, "%3a", ":")+"\n"), 0o644)
	return out, os.Rename(bin, out)
}
