package kernel

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rkodev/rko/internal/cache"
)

// FromDir describes a kernel the user built themselves from its tree dir:
// an O= build tree (with its "source" link) or a source tree built in
// place. It checks that the tree was configured and built, with Rust, and
// that what rko builds modules against is there: .config, the release,
// the boot image of the architecture the .config is for (package
// target's table: arch/x86/boot/bzImage, arch/arm64/boot/Image, ...),
// Module.symvers and the Rust metadata (rust/libkernel.rmeta and
// rust/libmacros.so). Whether the config has what rko's boot needs is
// CheckNeeds' job. The errors name the tree, not how it was given: the
// caller adds that.
func FromDir(dir string) (*Kernel, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("kernel tree %s: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("kernel tree %s is not a directory: pass a kernel build tree (the O= directory, or a source tree built in place), debian[:RELEASE], or nothing for rko's own kernel", dir)
	}
	has := func(rel string) bool { _, err := os.Stat(filepath.Join(abs, rel)); return err == nil }
	if !has(".config") {
		return nil, fmt.Errorf("%s is not a kernel build tree: it has no .config (pass the O= directory the kernel was built in, or the source tree if it was built in place)", abs)
	}
	k := &Kernel{Dir: abs, BuildDir: abs, Origin: "dir:" + abs}
	cfg, err := k.Config()
	if err != nil {
		return nil, fmt.Errorf("kernel tree %s: %w", abs, err)
	}
	// The architecture is checked after Rust: a tree without either is
	// first of all one without Rust.
	t, archErr := k.configTarget()
	if !has("include/config/kernel.release") {
		how := "make LLVM=1 -j$(nproc), the boot image and modules"
		if archErr == nil {
			how = fmt.Sprintf("make LLVM=1 %s -j$(nproc) %s modules", strings.Join(t.MakeArgs(), " "), filepath.Base(t.Image))
		}
		return nil, fmt.Errorf("kernel tree %s is configured but was never built: it has no include/config/kernel.release (build it: %s)", abs, how)
	}
	rel, _ := os.ReadFile(filepath.Join(abs, "include/config/kernel.release"))
	k.Release = strings.TrimSpace(string(rel))
	if cfg.Get("RUST") != "y" {
		// The full list, with reasons, comes from CheckNeeds; this one
		// is first because nothing else matters without it.
		unmet, _ := k.CheckNeeds([]Need{{"RUST", "y", "Rust modules are built against the kernel's Rust metadata"}})
		msg := "CONFIG_RUST is not set"
		if len(unmet) > 0 {
			msg = unmet[0].String()
		}
		return nil, fmt.Errorf("kernel tree %s was built without Rust: %s (enable it: scripts/config --file %s/.config --enable RUST, make olddefconfig, rebuild; make rustavailable says what the toolchain lacks)", abs, msg, abs)
	}
	if archErr != nil {
		return nil, fmt.Errorf("kernel tree %s: %w", abs, archErr)
	}
	k.Arch = t.Name
	k.Image = filepath.Join(abs, t.Image)
	image := filepath.Base(t.Image)
	mk := "make LLVM=1 " + strings.Join(t.MakeArgs(), " ") // the make of this tree's architecture
	if !has(t.Image) {
		return nil, fmt.Errorf("kernel tree %s (%s) has no %s: build the image too (%s %s)", abs, t.Name, t.Image, mk, image)
	}
	if img, err := ImageRelease(k.Image); err != nil {
		return nil, fmt.Errorf("kernel tree %s: %w", abs, err)
	} else if img != k.Release {
		return nil, fmt.Errorf("kernel tree %s: its %s is release %s but the tree says %s (include/config/kernel.release): the image is stale, rebuild it (%s %s)", abs, image, img, k.Release, mk, image)
	}
	if !has("Module.symvers") {
		return nil, fmt.Errorf("kernel tree %s has no Module.symvers: build the modules too (%s modules); Kbuild needs it to resolve a module's symbols", abs, mk)
	}
	for _, f := range []string{"rust/libkernel.rmeta", "rust/libmacros.so"} {
		if !has(f) {
			return nil, fmt.Errorf("kernel tree %s has CONFIG_RUST but no %s: its Rust metadata was not built (run %s prepare, or a full build, in the tree)", abs, f, mk)
		}
	}
	if src := k.SourceDir(); src != "" {
		if s, err := sourceFromDir(src, "dir:"+src); err == nil {
			k.Source = s
		}
	}
	if k.Source == nil {
		return nil, fmt.Errorf("kernel tree %s: cannot find its source tree (an O= tree has a \"source\" link to it; an in-place tree has the Kconfig files)", abs)
	}
	img, _ := os.Stat(k.Image)
	k.Key = "dir-" + cache.Key([]byte(abs), []byte(k.Release), []byte(fmt.Sprint(img.Size(), img.ModTime().UnixNano())))
	k.Built = img.ModTime().UTC()
	return k, nil
}
