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
// the bzImage, Module.symvers and the Rust metadata (rust/libkernel.rmeta
// and rust/libmacros.so). Whether the config has what rko's boot needs is
// CheckNeeds' job.
func FromDir(dir string) (*Kernel, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("--kernel %s: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("--kernel %s is not a directory: pass a kernel build tree (the O= directory, or a source tree built in place), debian[:RELEASE], or nothing for rko's own kernel", dir)
	}
	has := func(rel string) bool { _, err := os.Stat(filepath.Join(abs, rel)); return err == nil }
	if !has(".config") {
		return nil, fmt.Errorf("--kernel %s is not a kernel build tree: it has no .config (pass the O= directory the kernel was built in, or the source tree if it was built in place)", abs)
	}
	if !has("include/config/kernel.release") {
		return nil, fmt.Errorf("--kernel %s is configured but was never built: it has no include/config/kernel.release (build it: make LLVM=1 -j$(nproc) bzImage modules)", abs)
	}
	k := &Kernel{Dir: abs, BuildDir: abs, Origin: "dir:" + abs}
	rel, _ := os.ReadFile(filepath.Join(abs, "include/config/kernel.release"))
	k.Release = strings.TrimSpace(string(rel))
	cfg, err := k.Config()
	if err != nil {
		return nil, fmt.Errorf("--kernel %s: %w", abs, err)
	}
	if cfg.Get("RUST") != "y" {
		// The full list, with reasons, comes from CheckNeeds; this one
		// is first because nothing else matters without it.
		unmet, _ := k.CheckNeeds([]Need{{"RUST", "y", "Rust modules are built against the kernel's Rust metadata"}})
		msg := "CONFIG_RUST is not set"
		if len(unmet) > 0 {
			msg = unmet[0].String()
		}
		return nil, fmt.Errorf("--kernel %s was built without Rust: %s (enable it: scripts/config --file %s/.config --enable RUST, make olddefconfig, rebuild; make rustavailable says what the toolchain lacks)", abs, msg, abs)
	}
	k.Image = filepath.Join(abs, "arch/x86/boot/bzImage")
	if !has("arch/x86/boot/bzImage") {
		return nil, fmt.Errorf("--kernel %s has no arch/x86/boot/bzImage: build the image too (make LLVM=1 bzImage)", abs)
	}
	if img, err := ImageRelease(k.Image); err != nil {
		return nil, fmt.Errorf("--kernel %s: %w", abs, err)
	} else if img != k.Release {
		return nil, fmt.Errorf("--kernel %s: its bzImage is release %s but the tree says %s (include/config/kernel.release): the image is stale, rebuild it (make bzImage)", abs, img, k.Release)
	}
	if !has("Module.symvers") {
		return nil, fmt.Errorf("--kernel %s has no Module.symvers: build the modules too (make LLVM=1 modules); Kbuild needs it to resolve a module's symbols", abs)
	}
	for _, f := range []string{"rust/libkernel.rmeta", "rust/libmacros.so"} {
		if !has(f) {
			return nil, fmt.Errorf("--kernel %s has CONFIG_RUST but no %s: its Rust metadata was not built (run make LLVM=1 prepare, or a full build, in the tree)", abs, f)
		}
	}
	if src := k.SourceDir(); src != "" {
		if s, err := sourceFromDir(src, "dir:"+src); err == nil {
			k.Source = s
		}
	}
	if k.Source == nil {
		return nil, fmt.Errorf("--kernel %s: cannot find its source tree (an O= tree has a \"source\" link to it; an in-place tree has the Kconfig files)", abs)
	}
	img, _ := os.Stat(k.Image)
	k.Key = "dir-" + cache.Key([]byte(abs), []byte(k.Release), []byte(fmt.Sprint(img.Size(), img.ModTime().UnixNano())))
	k.Built = img.ModTime().UTC()
	return k, nil
}
