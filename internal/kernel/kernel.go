// Package kernel builds small Rust-enabled kernels for QEMU (x86_64, arm64,
// riscv64) and User-Mode Linux from tinyconfig plus config fragments, cross
// compiled with LLVM=1 ARCH=..., checks that every requested option
// survived olddefconfig, and caches the result keyed by (architecture,
// source, fragments, toolchain).
package kernel

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rkodev/rko/internal/kconfig"
	"github.com/rkodev/rko/internal/target"
)

// Kernel is a built kernel: what to boot and what to build modules against.
// It comes from one of several sources (rko's own build, a tree the user
// built, a distribution's packages); the module build and the boot take
// it as it is, whatever its source.
type Kernel struct {
	Key string `json:"key"`
	// Origin says where the kernel came from: "rko" (built by rko from a
	// profile), "dir:PATH" (a tree the user built), "debian:RELEASE
	// (VERSION)" (Debian's packages, with Rust metadata rko regenerated).
	Origin   string `json:"origin,omitempty"`
	Dir      string `json:"dir"`
	BuildDir string `json:"build_dir"` // the O= tree; KDIR for modules
	Image    string `json:"image"`     // bzImage, Image, or UML's linux
	// Arch is the target's name (package target); "" in entries written
	// before rko knew other architectures means x86_64. Load refuses a
	// name the table does not know.
	Arch      string    `json:"arch,omitempty"`
	Source    *Source   `json:"source"`
	Release   string    `json:"release"`
	Profile   string    `json:"profile"`
	Fragments []string  `json:"fragments"`
	Toolchain string    `json:"toolchain"`
	Built     time.Time `json:"built"`
	BuildSecs float64   `json:"build_seconds"`
	Objects   int       `json:"objects"`
	// Skipped are options of rko's profiles this kernel's version does
	// not define (CONFIG_NAME), left out of its configuration.
	Skipped []string `json:"skipped_options,omitempty"`

	config struct { // the parsed .config, read once
		sync.Once
		cfg kconfig.Config
		err error
	}
}

// Target is the architecture the kernel was built for. Load, FromDir and
// FromBuildDir refuse a kernel whose Arch the target table does not know,
// so Target does not fail for the kernels they return; a Kernel made by
// hand with an unknown Arch is a programming error, and panics.
func (k *Kernel) Target() *target.Target {
	t, err := archTarget(k.Arch)
	if err != nil {
		panic(err)
	}
	return t
}

// archTarget returns the target called arch, a Kernel's Arch: "" means
// x86_64, in cache entries written before rko knew other architectures.
func archTarget(arch string) (*target.Target, error) {
	if arch == "" {
		arch = "x86_64"
	}
	if t := target.Known(arch); t != nil {
		return t, nil
	}
	return nil, fmt.Errorf("unknown architecture %q, want one of %s", arch, strings.Join(target.Names(), ", "))
}

// configTarget returns the target the kernel's .config was made for.
func (k *Kernel) configTarget() (*target.Target, error) {
	cfg, err := k.Config()
	if err != nil {
		return nil, err
	}
	return target.ForConfig(func(sym string) bool { return cfg.Get(sym) == "y" })
}

// BootImage is what QEMU's -kernel should load: vmlinux itself when the
// kernel has the PVH entry point (CONFIG_PVH; QEMU then skips the
// decompressor and real-mode setup, which under TCG saves about half a
// second), else its Image (the bzImage, on x86_64).
//
// The vmlinux must carry the PVH note itself: a distro's build tree may
// hold a BTF-only vmlinux (for module BTF) that cannot boot.
func (k *Kernel) BootImage() string {
	vmlinux := filepath.Join(k.BuildDir, "vmlinux")
	if cfg, err := k.Config(); err == nil && cfg.Get("PVH") == "y" && hasPVHNote(vmlinux) {
		return vmlinux
	}
	return k.Image
}

// InCache reports whether the kernel's Dir is an entry of rko's cache
// (rko's own build, Debian's), where rko may keep files of its own; a
// tree the user built is theirs and is never written to.
func (k *Kernel) InCache() bool {
	return k.Dir != "" && !strings.HasPrefix(k.Origin, "dir:") && k.Key != "dir"
}

// Describe names the kernel for people: its release and where it came
// from, e.g. "7.3.4 (rko, profile default)".
func (k *Kernel) Describe() string {
	switch {
	case k.Origin == "" || k.Origin == "rko":
		return fmt.Sprintf("%s (rko, profile %s)", k.Release, k.Profile)
	default:
		return fmt.Sprintf("%s (%s)", k.Release, k.Origin)
	}
}

// MakeVars are the make variables a module build against this kernel
// needs to use the compilers its config was made with (see MakeVars).
func (k *Kernel) MakeVars() ([]string, error) {
	cfg, err := k.Config()
	if err != nil {
		return nil, fmt.Errorf("kernel %s: %w", k.BuildDir, err)
	}
	return MakeVars(cfg)
}

// Dirs are the directories a module build against this kernel must see:
// the cache entry holding it, the build tree and the source tree.
func (k *Kernel) Dirs() []string {
	var out []string
	for _, d := range []string{k.Dir, k.BuildDir, k.SourceDir()} {
		if d != "" {
			out = append(out, d)
		}
	}
	return out
}

// SourceDir is the kernel's source tree: its Source, else the tree an O=
// build tree's "source" link names, else the build tree itself when it
// was built in place; "" if none is found.
func (k *Kernel) SourceDir() string {
	if k.Source != nil {
		return k.Source.Dir
	}
	if src, err := filepath.EvalSymlinks(filepath.Join(k.BuildDir, "source")); err == nil {
		return src
	}
	if _, err := os.Stat(filepath.Join(k.BuildDir, "Kconfig")); err == nil {
		return k.BuildDir
	}
	return ""
}

// FromBuildDir describes a kernel built elsewhere, by hand or by another
// tool, from its O= build tree dir and the source it was built from. The
// tree's .config says its architecture (target.ForConfig), whose image
// (arch/x86/boot/bzImage, arch/arm64/boot/Image, ...) must be built.
func FromBuildDir(dir string, src *Source) (*Kernel, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	k := &Kernel{Key: "dir", Origin: "dir:" + abs, Dir: abs, BuildDir: abs, Source: src}
	t, err := k.configTarget()
	if err != nil {
		return nil, fmt.Errorf("kernel build tree %s: %w", abs, err)
	}
	k.Arch = t.Name
	k.Image = filepath.Join(abs, t.Image)
	if st, err := os.Stat(k.Image); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("kernel build tree %s is configured for %s but has no %s: build it (make LLVM=1 %s %s)", abs, t.Name, t.Image, strings.Join(t.MakeArgs(), " "), filepath.Base(t.Image))
	}
	rel, _ := os.ReadFile(filepath.Join(abs, "include/config/kernel.release"))
	k.Release = strings.TrimSpace(string(rel))
	return k, nil
}

// Config reads the kernel's final .config (once: a test run and every
// bench round ask for it).
func (k *Kernel) Config() (kconfig.Config, error) {
	k.config.Do(func() { k.config.cfg, k.config.err = kconfig.ParseFile(filepath.Join(k.BuildDir, ".config")) })
	return k.config.cfg, k.config.err
}
