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
type Archive struct{ entries map[string]*entry }

// New returns an empty archive.
func New() *Archive { return &Archive{entries: map[string]*entry{}} }

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

// libDirs are searched, under a root, for shared libraries.
var libDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/lib", "/usr/lib"}

// AddBinary copies the program at prog (an absolute path inside root,
// a directory such as a toolchain rootfs or "/") to the same path in the
// archive, with its ELF interpreter and every shared library it needs,
// found recursively in root's library directories.
func (a *Archive) AddBinary(root, prog string) error {
	seen := map[string]bool{}
	var add func(p string) error
	add = func(p string) error {
		if seen[p] {
			return nil
		}
		seen[p] = true
		host := filepath.Join(root, p)
		real, err := filepath.EvalSymlinks(host)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if err := a.AddHostFile(p, real); err != nil {
			return err
		}
		f, err := elf.Open(real)
		if err != nil {
			return nil // a script, not ELF
		}
		defer f.Close()
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				buf := make([]byte, prog.Filesz)
				if _, err := prog.ReadAt(buf, 0); err == nil {
					interp := strings.TrimRight(string(buf), "\x00")
					if err := add(interp); err != nil {
						return err
					}
				}
			}
		}
		libs, _ := f.ImportedLibraries()
		for _, lib := range libs {
			found := ""
			for _, d := range libDirs {
				if _, err := os.Stat(filepath.Join(root, d, lib)); err == nil {
					found = path.Join(d, lib)
					break
				}
			}
			if found == "" {
				return fmt.Errorf("%s needs %s, which is not in %s", p, lib, root)
			}
			if err := add(found); err != nil {
				return err
			}
		}
		return nil
	}
	return add(prog)
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
