// Package initramfs writes reproducible initramfs images: newc cpio
// archives whose entries are sorted, owned by root and dated 1970, so that
// the same inputs always give the same bytes.
//
// The newc writer is our own (newc.go, forty lines): the cpio libraries on
// the Go proxy either cannot write device numbers (cavaliergopher/cpio),
// which /dev/console needs, or pull in much more than a writer (u-root).
package initramfs

import (
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

type entry struct {
	mode   uint32
	data   []byte
	link   string
	major  int
	minor  int
	isDev  bool
	isDir  bool
	isLink bool
}

// Archive collects entries; parent directories are added implicitly.
type Archive struct {
	entries map[string]*entry
	libDirs []string
}

// New returns an empty archive whose AddBinary searches x86_64's library
// directories (SetMultiarch changes them).
func New() *Archive {
	return &Archive{entries: map[string]*entry{}, libDirs: LibDirs("x86_64-linux-gnu")}
}

// SetMultiarch sets the Debian multiarch directory (aarch64-linux-gnu,
// ...) of the guest's libraries, which AddBinary searches first.
func (a *Archive) SetMultiarch(dir string) { a.libDirs = LibDirs(dir) }

// LibDirs is the default search path of Debian's dynamic loader for the
// multiarch directory dir (x86_64-linux-gnu, aarch64-linux-gnu, ...).
func LibDirs(dir string) []string {
	return []string{"/lib/" + dir, "/usr/lib/" + dir, "/lib64", "/lib", "/usr/lib"}
}

func clean(p string) string { return strings.TrimPrefix(path.Clean("/"+p), "/") }

// AddFile adds a regular file with the given permission bits.
func (a *Archive) AddFile(name string, data []byte, perm os.FileMode) {
	a.entries[clean(name)] = &entry{mode: uint32(perm.Perm()) | modeReg, data: data}
}

// AddHostFile copies a file from the host, keeping its permission bits.
func (a *Archive) AddHostFile(name, hostPath string) error {
	st, err := os.Stat(hostPath)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(hostPath)
	if err != nil {
		return err
	}
	a.AddFile(name, data, st.Mode().Perm())
	return nil
}

// AddDir adds a directory.
func (a *Archive) AddDir(name string) {
	a.entries[clean(name)] = &entry{mode: 0o755 | modeDir, isDir: true}
}

// AddSymlink adds a symbolic link.
func (a *Archive) AddSymlink(name, target string) {
	a.entries[clean(name)] = &entry{mode: 0o777 | modeLink, link: target, isLink: true}
}

// AddCharDev adds a character device node (no privileges needed: the
// node is only described in the archive).
func (a *Archive) AddCharDev(name string, major, minor int, perm os.FileMode) {
	a.entries[clean(name)] = &entry{mode: uint32(perm.Perm()) | modeChar, major: major, minor: minor, isDev: true}
}

// Has reports whether name is in the archive.
func (a *Archive) Has(name string) bool { _, ok := a.entries[clean(name)]; return ok }

// AddBinary copies the program at prog (an absolute path inside the first
// of roots that has it; a root is a directory such as a toolchain rootfs,
// or "/") to the same path in the archive, with its ELF interpreter and
// every shared library it needs (DT_NEEDED, searched in the object's
// RUNPATH/RPATH and then the default directories, in every root),
// recursively. Symlinks are followed as the guest would follow them.
func (a *Archive) AddBinary(roots []string, prog string) error {
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
			return fmt.Errorf("%s is not in %s", p, strings.Join(roots, " or "))
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
		search = append(search, a.libDirs...)
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
				return fmt.Errorf("%s needs %s, which is not in %s", p, lib, strings.Join(roots, " or "))
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

// WriteTo writes the archive as newc cpio: parents first, entries sorted,
// zero mtimes, uid and gid 0, inode numbers in order.
func (a *Archive) WriteTo(w io.Writer) (int64, error) {
	all := map[string]*entry{}
	for name, e := range a.entries {
		all[name] = e
		for d := path.Dir(name); d != "." && d != "/"; d = path.Dir(d) {
			if _, ok := a.entries[d]; !ok {
				all[d] = &entry{mode: 0o755 | modeDir, isDir: true}
			}
		}
	}
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	nw := &newcWriter{w: w}
	for i, n := range names {
		e := all[n]
		h := newcHeader{ino: uint32(i + 1), mode: uint32(e.mode), nlink: 1, name: n}
		var body []byte
		switch {
		case e.isDir:
			h.nlink = 2
		case e.isLink:
			body = []byte(e.link)
		case e.isDev:
			h.rmajor, h.rminor = uint32(e.major), uint32(e.minor)
		default:
			body = e.data
		}
		if err := nw.write(h, body); err != nil {
			return nw.n, err
		}
	}
	return nw.n, nw.trailer()
}
