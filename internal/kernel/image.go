package kernel

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/rkodev/rko/internal/kconfig"
)

// ImageRelease reads the kernel release (uname -r) from a boot image,
// whatever its architecture. An x86 bzImage is compressed, but its boot
// protocol setup header (magic "HdrS" at 0x202) points, at 0x20e, to the
// version string "7.3.4+deb13-amd64 (builder) #1 SMP ...", whose first
// word is the release (Documentation/arch/x86/boot.rst). The uncompressed
// images (arm64's and riscv's Image, UML's linux, a vmlinux) hold the
// kernel's banner, "Linux version 7.3.4 (builder) ..." (linux_banner,
// init/version-timestamp.c), whose third word is the release.
func ImageRelease(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	hdr := make([]byte, 0x210)
	if n, _ := io.ReadFull(f, hdr); n == len(hdr) && string(hdr[0x202:0x206]) == "HdrS" {
		return setupRelease(f, path, int64(binary.LittleEndian.Uint16(hdr[0x20e:]))+0x200)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	rel, err := bannerRelease(f)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if rel == "" {
		return "", fmt.Errorf("%s is not a kernel image: it has neither a bzImage setup header (HdrS) nor a %q banner", path, banner)
	}
	return rel, nil
}

// setupRelease reads the release from the version string at off in a
// bzImage.
func setupRelease(f *os.File, path string, off int64) (string, error) {
	buf := make([]byte, 256)
	n, err := f.ReadAt(buf, off)
	if n == 0 {
		return "", fmt.Errorf("%s: reading the version string: %w", path, err)
	}
	s, _, _ := bytes.Cut(buf[:n], []byte{0})
	rel, _, _ := strings.Cut(string(s), " ")
	if rel == "" {
		return "", fmt.Errorf("%s has an empty version string", path)
	}
	return rel, nil
}

// banner starts the kernel's linux_banner.
const banner = "Linux version "

// bannerRelease finds the first banner followed by a release (a digit:
// not a format string) in r and returns the release, or "" if there is
// none.
func bannerRelease(r io.Reader) (string, error) {
	const chunk = 1 << 20
	// keep is the tail carried to the next chunk: a banner and a release
	// cut at the chunk's end are found whole in the next.
	const keep = len(banner) + 256
	buf := make([]byte, 0, chunk+keep)
	for {
		n, err := io.ReadFull(r, buf[len(buf):len(buf)+chunk])
		buf = buf[:len(buf)+n]
		eof := err == io.EOF || err == io.ErrUnexpectedEOF
		if err != nil && !eof {
			return "", err
		}
		for rest := buf; ; {
			i := bytes.Index(rest, []byte(banner))
			if i < 0 {
				break
			}
			after := rest[i+len(banner):]
			if len(after) < 256 && !eof {
				break // the release may be cut: look again with more
			}
			if len(after) > 0 && after[0] >= '0' && after[0] <= '9' {
				end := bytes.IndexAny(after, " \x00\n")
				if end < 0 {
					end = len(after)
				}
				return string(after[:end]), nil
			}
			rest = after
		}
		if eof {
			return "", nil
		}
		if len(buf) > keep {
			buf = append(buf[:0], buf[len(buf)-keep:]...)
		}
	}
}

// xenPhys32Entry is XEN_ELFNOTE_PHYS32_ENTRY, the ELF note that marks a
// vmlinux with the PVH entry point QEMU's -kernel can start directly
// (include/xen/interface/elfnote.h).
const xenPhys32Entry = 18

// hasPVHNote reports whether the ELF file at path carries the PVH entry
// note. A vmlinux with CONFIG_PVH has it; the BTF-only vmlinux a distro
// ships in its headers package (for module BTF) does not, and must not be
// booted.
func hasPVHNote(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		data, err := io.ReadAll(p.Open())
		if err != nil {
			continue
		}
		for len(data) >= 12 {
			namesz := binary.LittleEndian.Uint32(data[0:])
			descsz := binary.LittleEndian.Uint32(data[4:])
			typ := binary.LittleEndian.Uint32(data[8:])
			pad := func(n uint32) int { return int((n + 3) &^ 3) }
			end := 12 + pad(namesz) + pad(descsz)
			if end > len(data) || namesz > 64 {
				break
			}
			name := strings.TrimRight(string(data[12:12+namesz]), "\x00")
			if name == "Xen" && typ == xenPhys32Entry {
				return true
			}
			data = data[end:]
		}
	}
	return false
}

// Vermagic is the vermagic string a module built for this kernel must
// carry, as include/linux/vermagic.h composes it from the release and the
// config; the kernel refuses a module whose string differs
// (kernel/module/version.c, same_magic). A RANDSTRUCT kernel appends its
// seed, which only the build tree knows; that suffix is not predicted.
// arch is the target's MODULE_ARCH_VERMAGIC ("" on x86_64 and UML).
func Vermagic(release string, cfg kconfig.Config, arch string) string {
	var b strings.Builder
	b.WriteString(release + " ")
	if cfg.Get("SMP") == "y" {
		b.WriteString("SMP ")
	}
	switch {
	case cfg.Get("PREEMPT_RT") == "y":
		b.WriteString("preempt_rt ")
	case cfg.Get("PREEMPT_BUILD") == "y":
		b.WriteString("preempt ")
	}
	if cfg.Get("MODULE_UNLOAD") == "y" {
		b.WriteString("mod_unload ")
	}
	if cfg.Get("MODVERSIONS") == "y" {
		b.WriteString("modversions ")
	}
	b.WriteString(arch)
	return b.String()
}

// crossGCC matches a GCC name with an optional target prefix and version
// suffix, e.g. "x86_64-linux-gnu-gcc-14".
var crossGCC = regexp.MustCompile(`^(.*-)?gcc(-[0-9.]+)?$`)

// MakeVars are the make variables that select the compilers a kernel's
// .config was made with, so that a module is built with the same ones:
// LLVM=1 for a clang + lld kernel (rko's own), CC= (and CROSS_COMPILE=
// for a prefixed name) for a GCC kernel such as Debian's, whose
// CONFIG_CC_VERSION_TEXT names the compiler, e.g. "x86_64-linux-gnu-gcc-14
// (Debian 14.2.0-19) 14.2.0". Kbuild reruns Kconfig when the compiler
// differs from the config's, which would change the config under the
// module.
func MakeVars(cfg kconfig.Config) ([]string, error) {
	switch {
	case cfg.Get("CC_IS_CLANG") == "y" && cfg.Get("LD_IS_LLD") == "y":
		return []string{"LLVM=1"}, nil
	case cfg.Get("CC_IS_CLANG") == "y":
		return []string{"CC=clang"}, nil
	case cfg.Get("CC_IS_GCC") == "y":
		cc, _, _ := strings.Cut(strings.Trim(cfg.Get("CC_VERSION_TEXT"), `"`), " ")
		m := crossGCC.FindStringSubmatch(cc)
		if m == nil {
			return []string{"CC=gcc"}, nil
		}
		vars := []string{"CC=" + cc}
		if m[1] != "" {
			vars = append([]string{"CROSS_COMPILE=" + m[1]}, vars...)
		}
		return vars, nil
	}
	return nil, errors.New("the kernel's .config names no compiler (neither CONFIG_CC_IS_CLANG nor CONFIG_CC_IS_GCC): is it a configured tree?")
}
