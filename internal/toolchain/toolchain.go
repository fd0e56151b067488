// Package toolchain finds, checks and provisions the tools a Rust-enabled
// kernel build needs (rustc, rust-src, bindgen, libclang, clang, lld, make
// and friends), and runs commands with them.
//
// Two kinds exist. The host toolchain runs programs from the host's PATH.
// The rootfs toolchain is a Debian trixie root file system built by
// mmdebstrap under rko's cache, pinned by a lock file, and entered with
// bubblewrap: its mounts live in a private mount namespace that the kernel
// tears down when the command ends, so nothing is left mounted on the host
// after a failure or Ctrl-C.
package toolchain

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rkodev/rko/internal/run"
)

// Kind says where a toolchain's programs come from.
type Kind string

// Toolchain kinds.
const (
	Host   Kind = "host"
	Rootfs Kind = "rootfs"
)

// Toolchain runs build commands with one set of tools.
type Toolchain struct {
	Kind Kind
	// Root is the rootfs directory (Rootfs kind only).
	Root string
	// Lock describes the pinned packages (Rootfs kind only).
	Lock *Lock
	// ID identifies the toolchain in cache keys: the hash of the lock file
	// for a rootfs, the tool versions for the host.
	ID string
	// Runner runs its commands; nil means run.OS (the host's
	// processes). Tests give a stub that matches argv.
	Runner run.Runner
}

// rootfsPath is the PATH inside the rootfs.
const rootfsPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Command returns the argv that runs argv with this toolchain, with the
// host directories binds visible at the same paths inside (Rootfs kind).
func (t *Toolchain) Command(binds []string, dir string, argv ...string) []string {
	if t.Kind != Rootfs {
		return argv
	}
	w := []string{"bwrap", "--bind", t.Root, "/", "--dev", "/dev", "--proc", "/proc",
		"--tmpfs", "/tmp", "--unshare-pid", "--die-with-parent",
		"--setenv", "PATH", rootfsPath, "--setenv", "HOME", "/tmp", "--setenv", "LC_ALL", "C.UTF-8"}
	if os.Geteuid() != 0 {
		// An unprivileged user gets a user namespace of its own.
		w = append(w, "--unshare-user", "--uid", fmt.Sprint(os.Geteuid()), "--gid", fmt.Sprint(os.Getegid()))
	}
	seen := map[string]bool{}
	bs := append([]string(nil), binds...)
	sort.Strings(bs)
	for _, b := range bs {
		if b == "" || seen[b] {
			continue
		}
		seen[b] = true
		w = append(w, "--bind", b, b)
	}
	if dir != "" {
		w = append(w, "--chdir", dir)
	}
	return append(append(w, "--"), argv...)
}

// Mount binds host directory Host at At inside the toolchain (Rootfs
// kind): for a directory whose real path a tool cannot take (Kbuild
// refuses M= paths with spaces).
type Mount struct{ Host, At string }

// RunMounted is Run with mounts at other paths than their own.
func (t *Toolchain) RunMounted(ctx context.Context, opts run.Opts, binds []string, mounts []Mount, argv ...string) (*run.Result, error) {
	if t.Kind != Rootfs {
		if len(mounts) > 0 {
			return nil, fmt.Errorf("the host toolchain cannot mount %s at %s (use the rootfs toolchain)", mounts[0].Host, mounts[0].At)
		}
		return t.Run(ctx, opts, binds, argv...)
	}
	full := t.Command(binds, "", argv...)
	var extra []string
	for _, m := range mounts {
		extra = append(extra, "--bind", m.Host, m.At)
	}
	if opts.Dir != "" {
		extra = append(extra, "--chdir", opts.Dir)
		opts.Dir = ""
	}
	i := indexOf(full, "--")
	full = append(append(append([]string(nil), full[:i]...), extra...), full[i:]...)
	return run.Or(t.Runner).Run(ctx, opts, full...)
}

func indexOf(argv []string, s string) int {
	for i, a := range argv {
		if a == s {
			return i
		}
	}
	return len(argv)
}

// Run runs argv with this toolchain. binds are host directories the
// command needs (source, build tree, module); opts.Dir is honoured inside.
func (t *Toolchain) Run(ctx context.Context, opts run.Opts, binds []string, argv ...string) (*run.Result, error) {
	full := t.Command(binds, opts.Dir, argv...)
	if t.Kind == Rootfs {
		opts.Dir = ""
	}
	return run.Or(t.Runner).Run(ctx, opts, full...)
}

// Describe is a short human description, e.g. "rootfs (trixie, rustc 1.85.1)".
func (t *Toolchain) Describe() string {
	if t.Kind == Rootfs && t.Lock != nil {
		return fmt.Sprintf("rootfs %s (Debian %s, rustc %s, bindgen %s, clang %s)", t.Root, t.Lock.Suite,
			t.Lock.Packages["rustc"], t.Lock.Packages["bindgen"], t.Lock.Packages["clang-19"])
	}
	return string(t.Kind)
}

// Checks probes t and runs every doctor check of it against min: the
// kernel's rust_is_available rules, then the build tools. hint phrases the
// fixes.
func (t *Toolchain) Checks(ctx context.Context, tree string, min Minima, hint Hint) (Facts, []Check) {
	f := t.Probe(ctx, tree)
	return f, append(RustAvailable(f, min, hint), BuildToolChecks(f, hint)...)
}

// Probe gathers Facts about this toolchain by running its tools. tree is a
// kernel source tree whose scripts/ are used for the libclang probe; when
// empty, a copy of the probe header is written to a temporary file.
func (t *Toolchain) Probe(ctx context.Context, tree string) Facts {
	f := Facts{Tools: map[string]string{}}
	out := func(argv ...string) (string, string) {
		r, err := t.Run(ctx, run.Opts{Env: []string{"LC_ALL=C"}}, nil, argv...)
		if err != nil {
			msg := err.Error()
			if r != nil && len(r.Stderr) > 0 {
				msg += ": " + strings.TrimSpace(string(r.Stderr))
			}
			return "", msg
		}
		return string(r.Stdout) + string(r.Stderr), ""
	}
	rustc, bindgen, clang := "rustc", "bindgen", "clang"
	if v := os.Getenv("RUSTC"); v != "" && t.Kind == Host {
		rustc = v
	}
	if v := os.Getenv("BINDGEN"); v != "" && t.Kind == Host {
		bindgen = v
	}
	f.Rustc, f.RustcErr = out(rustc, "--version")
	f.Bindgen, f.BindgenErr = out(bindgen, "--version")
	f.Clang, _ = out(clang, "--version")
	if f.Bindgen != "" {
		hdr, cleanup, err := libclangProbeHeader(tree)
		if err != nil {
			f.LibclangErr = err.Error()
		} else {
			r, err := t.Run(ctx, run.Opts{Env: []string{"LC_ALL=C"}}, []string{filepath.Dir(hdr)}, bindgen, hdr)
			cleanup()
			if err != nil {
				f.LibclangErr = err.Error()
				if r != nil {
					f.LibclangErr += ": " + strings.TrimSpace(string(r.Stderr))
				}
			} else {
				f.Libclang = string(r.Stderr) + string(r.Stdout)
			}
		}
	}
	if f.Rustc != "" {
		f.RustLibSrc = os.Getenv("RUST_LIB_SRC")
		sysroot, _ := out(rustc, "--print", "sysroot")
		lib := filepath.Join(strings.TrimSpace(sysroot), "lib/rustlib/src/rust/library")
		if f.RustLibSrc != "" && t.Kind == Host {
			lib = f.RustLibSrc
		}
		f.RustSrcCore = filepath.Join(lib, "core/src/lib.rs")
		f.RustSrcFound = t.exists(f.RustSrcCore)
	}
	for _, tool := range BuildTools {
		f.Tools[tool.Name] = t.lookPath(tool.Name)
	}
	f.LibelfHeader = t.exists("/usr/include/gelf.h") || t.exists("/usr/include/libelf/gelf.h")
	return f
}

// exists reports whether path exists in the toolchain's file system.
func (t *Toolchain) exists(path string) bool {
	if t.Kind == Rootfs {
		path = filepath.Join(t.Root, path)
	}
	_, err := os.Stat(path)
	return err == nil
}

// lookPath finds a program on the toolchain's PATH.
func (t *Toolchain) lookPath(name string) string {
	if t.Kind != Rootfs {
		p, _ := run.LookPath(name)
		return p
	}
	for _, d := range strings.Split(rootfsPath, ":") {
		p := filepath.Join(d, name)
		if st, err := os.Stat(filepath.Join(t.Root, p)); err == nil && !st.IsDir() {
			return p
		}
	}
	return ""
}

// libclangProbeHeader returns the kernel's probe header, or a copy of it
// in a temporary directory when no tree is given.
func libclangProbeHeader(tree string) (string, func(), error) {
	if tree != "" {
		p := filepath.Join(tree, "scripts/rust_is_available_bindgen_libclang.h")
		if _, err := os.Stat(p); err == nil {
			return p, func() {}, nil
		}
	}
	dir, err := os.MkdirTemp("", "rko-probe-")
	if err != nil {
		return "", nil, err
	}
	p := filepath.Join(dir, "rust_is_available_bindgen_libclang.h")
	err = os.WriteFile(p, []byte("#pragma message(\"clang version \" __clang_version__)\n"), 0o644)
	return p, func() { os.RemoveAll(dir) }, err
}

// LookPath returns the path of a program on the toolchain's PATH (inside
// the rootfs for the Rootfs kind), or "" when it has none.
func (t *Toolchain) LookPath(name string) string { return t.lookPath(name) }
