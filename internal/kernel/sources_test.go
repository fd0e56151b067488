package kernel

import (
	"encoding/binary"
	"github.com/rkodev/rko/internal/target"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rkodev/rko"
	"github.com/rkodev/rko/internal/kconfig"
	"github.com/rkodev/rko/internal/testutil"
)

// fakeBzImage is the start of a bzImage: the setup header's "HdrS" and
// kernel_version pointer, and the version string it points to.
func fakeBzImage(version string) string {
	b := make([]byte, 0x400)
	copy(b[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(b[0x20e:], 0x100) // string at 0x300
	copy(b[0x300:], version+"\x00")
	return string(b)
}

func TestImageRelease(t *testing.T) {
	dir := testutil.WriteTree(t, map[string]string{
		"bzImage": fakeBzImage("7.3.4+deb13-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 7.3.4-1~bpo13+1 (2026-11-15)"),
		"vmlinux": "\x7fELF not a bzImage, long enough to read a setup header from" + strings.Repeat(".", 0x300),
		"short":   "HdrS",
	})
	if got, err := ImageRelease(filepath.Join(dir, "bzImage")); err != nil || got != "7.3.4+deb13-amd64" {
		t.Errorf("ImageRelease = %q, %v; want 7.3.4+deb13-amd64", got, err)
	}
	for _, bad := range []string{"vmlinux", "short", "missing"} {
		if _, err := ImageRelease(filepath.Join(dir, bad)); err == nil {
			t.Errorf("ImageRelease(%s) succeeded, want an error", bad)
		}
	}
}

// Debian's 7.3.4+deb13-amd64 config (SMP, PREEMPT_DYNAMIC so
// PREEMPT_BUILD, MODULE_UNLOAD, no MODVERSIONS) gives the vermagic its
// own modules carry: "7.3.4+deb13-amd64 SMP preempt mod_unload ".
func TestVermagic(t *testing.T) {
	tests := []struct {
		cfg  kconfig.Config
		arch string
		want string
	}{
		{kconfig.Config{"SMP": "y", "PREEMPT_BUILD": "y", "MODULE_UNLOAD": "y"}, "", "7.3.4+deb13-amd64 SMP preempt mod_unload "},
		{kconfig.Config{"SMP": "y", "PREEMPT_RT": "y", "PREEMPT_BUILD": "y", "MODULE_UNLOAD": "y", "MODVERSIONS": "y"}, "", "7.3.4+deb13-amd64 SMP preempt_rt mod_unload modversions "},
		{kconfig.Config{}, "", "7.3.4+deb13-amd64 "},
		// As seen on rko's riscv64 kernel: "7.3.4 SMP preempt mod_unload riscv".
		{kconfig.Config{"SMP": "y", "PREEMPT_BUILD": "y", "MODULE_UNLOAD": "y"}, "riscv", "7.3.4+deb13-amd64 SMP preempt mod_unload riscv"},
	}
	for _, tt := range tests {
		if got := Vermagic("7.3.4+deb13-amd64", tt.cfg, tt.arch); got != tt.want {
			t.Errorf("Vermagic(%v) = %q, want %q", tt.cfg, got, tt.want)
		}
	}
}

func TestMakeVars(t *testing.T) {
	tests := []struct {
		cfg  kconfig.Config
		want string
	}{
		{kconfig.Config{"CC_IS_CLANG": "y", "LD_IS_LLD": "y", "CC_VERSION_TEXT": `"Debian clang version 19.1.7 (3+b1)"`}, "LLVM=1"},
		{kconfig.Config{"CC_IS_GCC": "y", "CC_VERSION_TEXT": `"x86_64-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0"`}, "CROSS_COMPILE=x86_64-linux-gnu- CC=x86_64-linux-gnu-gcc-14"},
		{kconfig.Config{"CC_IS_GCC": "y", "CC_VERSION_TEXT": `"gcc (GCC) 15.1.1 20250521"`}, "CC=gcc"},
		{kconfig.Config{"CC_IS_GCC": "y", "CC_VERSION_TEXT": `"gcc-14 (Debian 14.2.0-19) 14.2.0"`}, "CC=gcc-14"},
		{kconfig.Config{"CC_IS_CLANG": "y", "LD_IS_BFD": "y"}, "CC=clang"},
	}
	for _, tt := range tests {
		got, err := MakeVars(tt.cfg)
		if err != nil || strings.Join(got, " ") != tt.want {
			t.Errorf("MakeVars(%v) = %v, %v; want %s", tt.cfg, got, err, tt.want)
		}
	}
	if _, err := MakeVars(kconfig.Config{}); err == nil {
		t.Error("MakeVars of an empty config succeeded")
	}
}

// The boot needs must be what rko's own fragments ask for: a need that
// configs/base.config or configs/rust.config does not set would fail rko's
// own kernel.
func TestBootNeedsAreInTheFragments(t *testing.T) {
	for _, name := range target.Names() {
		tg, _ := target.Lookup(name)
		asked := kconfig.Config{}
		for _, n := range []string{"base", "rust", tg.Fragment} {
			data, err := rko.Configs.ReadFile("configs/" + n + ".config")
			if err != nil {
				t.Fatal(err)
			}
			c, _ := kconfig.Parse(strings.NewReader(string(data)))
			asked.Merge(c)
		}
		for _, n := range BootNeedsFor(tg) {
			// 64BIT on x86_64 and arm64/riscv64 comes from the
			// architecture's defaults, not a fragment.
			if n.Symbol == "64BIT" && name != "um" {
				continue
			}
			if asked.Get(n.Symbol) != n.Want {
				t.Errorf("%s: BootNeedsFor has CONFIG_%s=%s, which rko's fragments do not set (they have %q)", name, n.Symbol, n.Want, asked.Get(n.Symbol))
			}
		}
	}
}

// kconfigTree is a source tree with just enough Kconfig for the
// explanations.
var kconfigTree = map[string]string{
	"Makefile":           "VERSION = 7\nPATCHLEVEL = 3\nSUBLEVEL = 4\n",
	"Kconfig":            "config RUST\n\tbool \"Rust support\"\n\tdepends on HAVE_RUST && RUST_IS_AVAILABLE\n\nconfig MODULES\n\tbool \"Modules\"\n",
	"rust/kernel/lib.rs": "",
	"lib/kunit/Kconfig":  "menuconfig KUNIT\n\ttristate \"KUnit\"\n\tdepends on DEBUG_KERNEL\n",
}

func TestCheckNeedsExplains(t *testing.T) {
	src := testutil.WriteTree(t, kconfigTree)
	build := testutil.WriteTree(t, map[string]string{".config": "CONFIG_HAVE_RUST=y\n# CONFIG_RUST is not set\nCONFIG_MODULES=y\n"})
	if err := os.Symlink(src, filepath.Join(build, "source")); err != nil {
		t.Fatal(err)
	}
	k := &Kernel{Dir: build, BuildDir: build, Release: "7.3.4"}
	unmet, err := k.CheckNeeds([]Need{{"RUST", "y", "Rust modules"}, {"MODULES", "y", "loading"}, KUnitNeed})
	if err != nil {
		t.Fatal(err)
	}
	if len(unmet) != 2 {
		t.Fatalf("CheckNeeds = %v, want RUST and KUNIT", unmet)
	}
	want := []string{
		"CONFIG_KUNIT=y is needed (the module's KUnit suites run when it loads), but is not set: it depends on DEBUG_KERNEL, and DEBUG_KERNEL",
		"CONFIG_RUST=y is needed (Rust modules), but is not set: it depends on HAVE_RUST && RUST_IS_AVAILABLE, and RUST_IS_AVAILABLE",
	}
	for i, w := range want {
		if got := unmet[i].String(); !strings.HasPrefix(got, w) {
			t.Errorf("unmet[%d] = %q, want %q", i, got, w)
		}
	}
}

func TestFromDirBadInput(t *testing.T) {
	src := kconfigTree
	const x86 = "CONFIG_RUST=y\nCONFIG_X86=y\nCONFIG_X86_64=y\nCONFIG_64BIT=y\n"
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"not a build tree", map[string]string{"README": "x"}, "is not a kernel build tree: it has no .config"},
		{"never built", map[string]string{".config": "CONFIG_RUST=y\n"}, "was never built"},
		{"built without Rust", map[string]string{".config": "CONFIG_HAVE_RUST=y\n", "include/config/kernel.release": "7.3.4\n"},
			"was built without Rust: CONFIG_RUST=y is needed (Rust modules are built against the kernel's Rust metadata), but is not set: it depends on HAVE_RUST && RUST_IS_AVAILABLE, and RUST_IS_AVAILABLE"},
		{"no architecture", map[string]string{".config": "CONFIG_RUST=y\nCONFIG_PPC64=y\nCONFIG_64BIT=y\n", "include/config/kernel.release": "7.3.4\n"},
			"the config sets none of CONFIG_ARM64, CONFIG_RISCV, CONFIG_UML, CONFIG_X86"},
		{"32-bit", map[string]string{".config": "CONFIG_RUST=y\nCONFIG_X86=y\nCONFIG_X86_32=y\n", "include/config/kernel.release": "7.3.4\n"},
			"32-bit x86 kernel"},
		{"no arm64 image", map[string]string{".config": "CONFIG_RUST=y\nCONFIG_ARM64=y\nCONFIG_64BIT=y\n", "include/config/kernel.release": "7.3.4\n",
			"arch/x86/boot/bzImage": fakeBzImage("7.3.4 (me@host) #1")}, "(arm64) has no arch/arm64/boot/Image"},
		{"no image", map[string]string{".config": x86, "include/config/kernel.release": "7.3.4\n"}, "(x86_64) has no arch/x86/boot/bzImage: build the image too (make LLVM=1 ARCH=x86 bzImage)"},
		{"stale image", map[string]string{".config": x86, "include/config/kernel.release": "7.3.4\n",
			"arch/x86/boot/bzImage": fakeBzImage("7.3.3 (me@host) #1")}, "its bzImage is release 7.3.3 but the tree says 7.3.4"},
		{"no Module.symvers", map[string]string{".config": x86, "include/config/kernel.release": "7.3.4\n",
			"arch/x86/boot/bzImage": fakeBzImage("7.3.4 (me@host) #1")}, "has no Module.symvers"},
		{"no Rust metadata", map[string]string{".config": x86, "include/config/kernel.release": "7.3.4\n",
			"arch/x86/boot/bzImage": fakeBzImage("7.3.4 (me@host) #1"), "Module.symvers": ""}, "has CONFIG_RUST but no rust/libkernel.rmeta"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{}
			for k, v := range src {
				files[k] = v
			}
			for k, v := range tt.files {
				files[k] = v
			}
			dir := testutil.WriteTree(t, files) // built in place: the source is the tree
			_, err := FromDir(dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("FromDir = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if _, err := FromDir(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("FromDir of a missing directory succeeded")
	}
}

func TestFromDirInPlace(t *testing.T) {
	files := map[string]string{".config": "CONFIG_RUST=y\nCONFIG_X86=y\nCONFIG_64BIT=y\nCONFIG_CC_IS_CLANG=y\nCONFIG_LD_IS_LLD=y\n", "include/config/kernel.release": "7.3.4\n",
		"arch/x86/boot/bzImage": fakeBzImage("7.3.4 (me@host) #1"), "Module.symvers": "", "rust/libkernel.rmeta": "", "rust/libmacros.so": ""}
	for k, v := range kconfigTree {
		files[k] = v
	}
	dir := testutil.WriteTree(t, files)
	k, err := FromDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if k.Source == nil || k.Source.Dir != dir || k.Release != "7.3.4" || k.Origin != "dir:"+dir || !strings.HasPrefix(k.Key, "dir-") || k.Arch != "x86_64" {
		t.Errorf("FromDir = %+v", k)
	}
	if vars, _ := k.MakeVars(); strings.Join(vars, " ") != "LLVM=1" {
		t.Errorf("MakeVars = %v", vars)
	}
	if k.BootImage() != k.Image {
		t.Errorf("BootImage = %s, want the bzImage (no PVH vmlinux)", k.BootImage())
	}
}

// A vmlinux without the PVH note (Debian ships a BTF-only one in its
// headers) is never booted, even on a CONFIG_PVH kernel.
func TestBootImageNeedsThePVHNote(t *testing.T) {
	self, err := os.Executable() // an ELF file without Xen notes
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	dir := testutil.WriteTree(t, map[string]string{".config": "CONFIG_PVH=y\n", "vmlinux": string(data)})
	k := &Kernel{BuildDir: dir, Image: filepath.Join(dir, "bzImage")}
	if got := k.BootImage(); got != k.Image {
		t.Errorf("BootImage = %s, want the bzImage", got)
	}
}

// TestTarballIDIgnoresDirectory checks a linux-source's id (and so every
// kernel key) is the same under any cache root, and changes with the file.
func TestTarballIDIgnoresDirectory(t *testing.T) {
	mtime := time.Date(2026, 11, 15, 10, 0, 0, 0, time.UTC)
	write := func(dir, name, data string, at time.Time) (string, os.FileInfo) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return p, st
	}
	root := t.TempDir()
	base := TarballID(write(filepath.Join(root, "home/a/.cache/rko/rootfs/usr/src"), "linux-source-7.3.tar.xz", "tarball", mtime))
	for _, tc := range []struct {
		name, dir, file, data string
		at                    time.Time
		same                  bool
	}{
		{"another cache root", "tmp/ci-cache/apt/x", "linux-source-7.3.tar.xz", "tarball", mtime, true},
		{"another name", "home/a/.cache/rko/rootfs/usr/src2", "linux-source-7.2.tar.xz", "tarball", mtime, false},
		{"another size", "b", "linux-source-7.3.tar.xz", "tarball!", mtime, false},
		{"another mtime", "c", "linux-source-7.3.tar.xz", "tarball", mtime.Add(time.Second), false},
	} {
		got := TarballID(write(filepath.Join(root, tc.dir), tc.file, tc.data, tc.at))
		if (got == base) != tc.same {
			t.Errorf("%s: id %s vs %s, want same=%v", tc.name, got, base, tc.same)
		}
	}
}
