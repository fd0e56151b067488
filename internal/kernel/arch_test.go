package kernel

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rkodev/rko/internal/testutil"
)

// The uncompressed images (arm64's and riscv's Image, UML's linux) hold
// the kernel's banner; a printk format "Linux version %s" is not it, and a
// banner cut by a read chunk's end is found whole.
func TestImageReleaseBanner(t *testing.T) {
	pad := strings.Repeat("\x00", 1<<20-len(banner)-3)
	dir := testutil.WriteTree(t, map[string]string{
		"Image":    "\x4d\x5aarm64 header" + "\x00Linux version %s (%s)\x00" + "\x00Linux version 7.3.4-arm (me@host) #1 SMP\x00",
		"straddle": pad + "\x00Linux version 7.3.4-um (me@host) #2\x00" + strings.Repeat("x", 100),
		"none":     "\x7fELF no banner here",
	})
	for name, want := range map[string]string{"Image": "7.3.4-arm", "straddle": "7.3.4-um"} {
		if got, err := ImageRelease(filepath.Join(dir, name)); err != nil || got != want {
			t.Errorf("ImageRelease(%s) = %q, %v; want %s", name, got, err, want)
		}
	}
	if _, err := ImageRelease(filepath.Join(dir, "none")); err == nil || !strings.Contains(err.Error(), "is not a kernel image") {
		t.Errorf("ImageRelease(none) = %v, want not a kernel image", err)
	}
}

// FromDir takes the architecture from the tree's .config and looks for
// that architecture's image.
func TestFromDirArm64(t *testing.T) {
	files := map[string]string{".config": "CONFIG_RUST=y\nCONFIG_ARM64=y\nCONFIG_64BIT=y\n", "include/config/kernel.release": "7.3.4\n",
		"arch/arm64/boot/Image": "MZ\x00Linux version 7.3.4 (me@host) #1\x00", "Module.symvers": "", "rust/libkernel.rmeta": "", "rust/libmacros.so": ""}
	for k, v := range kconfigTree {
		files[k] = v
	}
	dir := testutil.WriteTree(t, files)
	k, err := FromDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if k.Arch != "arm64" || k.Target().Name != "arm64" || k.Image != filepath.Join(dir, "arch/arm64/boot/Image") {
		t.Errorf("FromDir = arch %q, image %s; want arm64's Image", k.Arch, k.Image)
	}
	os.Remove(filepath.Join(dir, "include/config/kernel.release"))
	if _, err := FromDir(dir); err == nil || !strings.Contains(err.Error(), "make LLVM=1 ARCH=arm64 -j$(nproc) Image modules") {
		t.Errorf("FromDir of an unbuilt arm64 tree = %v, want how to build it for arm64", err)
	}
}

func TestFromBuildDir(t *testing.T) {
	dir := testutil.WriteTree(t, map[string]string{".config": "CONFIG_UML=y\nCONFIG_X86_64=y\nCONFIG_64BIT=y\n",
		"include/config/kernel.release": "7.3.4\n"})
	if _, err := FromBuildDir(dir, nil); err == nil || !strings.Contains(err.Error(), "is configured for um but has no linux") {
		t.Errorf("FromBuildDir without an image = %v, want the missing linux named", err)
	}
	os.WriteFile(filepath.Join(dir, "linux"), []byte("\x7fELF"), 0o755)
	k, err := FromBuildDir(dir, nil)
	if err != nil || k.Arch != "um" || k.Release != "7.3.4" || k.Image != filepath.Join(dir, "linux") {
		t.Errorf("FromBuildDir = %+v, %v; want UML's linux", k, err)
	}
}

// "" in an old cache entry means x86_64; an architecture the table does not
// know is refused when the entry is loaded, not turned into x86_64.
func TestLoadArch(t *testing.T) {
	for arch, want := range map[string]string{"": "x86_64", "arm64": "arm64", "sparc": ""} {
		dir := t.TempDir()
		img := filepath.Join(dir, "image")
		os.WriteFile(img, nil, 0o644)
		data, _ := json.Marshal(&Kernel{Key: "dir", Dir: dir, BuildDir: dir, Image: img, Arch: arch})
		os.WriteFile(filepath.Join(dir, "kernel.json"), data, 0o644)
		k, err := Load(dir)
		switch {
		case want == "":
			if err == nil || !strings.Contains(err.Error(), `unknown architecture "sparc"`) {
				t.Errorf("Load of arch %q = %v, want unknown architecture", arch, err)
			}
		case err != nil || k.Target().Name != want:
			t.Errorf("Load of arch %q = %v; want target %s", arch, err, want)
		}
	}
}
