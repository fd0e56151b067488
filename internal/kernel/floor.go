package kernel

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/rkodev/rko/internal/kbuilddecl"
)

// Floor is the oldest kernel series a module directory builds on, as its
// Kbuild declares it with a "# rko-kernel: >=X.Y" line: a driver written
// against an API that older kernel crates lack (kernel::pci came in 6.15)
// says so, and rko refuses an older kernel before building anything
// instead of failing in rustc.
type Floor struct {
	Major, Minor int
	// Where is the declaring line, PATH:LINE.
	Where string
}

// floorWord starts the Kbuild comment that declares a Floor.
const floorWord = "rko-kernel"

var floorRE = regexp.MustCompile(`^>=\s*(\d+)\.(\d+)$`)

// DeclaredFloor reads dir's Kbuild for a "# rko-kernel: >=X.Y" line; nil
// when there is none (or no Kbuild). A malformed line is an error naming
// it.
func DeclaredFloor(dir string) (*Floor, error) {
	decls, err := kbuilddecl.Read(dir, floorWord, "# rko-kernel: >=X.Y")
	if err != nil || len(decls) == 0 {
		return nil, err
	}
	d := decls[0]
	m := floorRE.FindStringSubmatch(d.Value)
	if m == nil || d.Qualifier != "" || len(decls) > 1 {
		return nil, fmt.Errorf("%s: want one # rko-kernel: >=X.Y (the oldest kernel series the module builds on, e.g. >=7.2), not %q", d.Where, d.Value)
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	return &Floor{Major: major, Minor: minor, Where: d.Where}, nil
}

// Admits returns an error when a kernel of version (a release or
// version: "6.12", "6.12.117", "7.3.4+deb13-amd64") is older than f; a
// version that cannot be read is admitted (the build will tell).
func (f *Floor) Admits(module, version string) error {
	if f == nil {
		return nil
	}
	major, minor, err := Series(version)
	if err != nil || major > f.Major || major == f.Major && minor >= f.Minor {
		return nil
	}
	return fmt.Errorf("module %s needs Linux %d.%d or newer (%s), and the kernel is %s: use --kernel %d.%d or newer, or build the module for it and drop that line", module, f.Major, f.Minor, f.Where, version, f.Major, f.Minor)
}

// CheckFloors refuses a kernel of version older than what any of the
// module directories declare (DeclaredFloor).
func CheckFloors(dirs []string, version string) error {
	for _, d := range dirs {
		f, err := DeclaredFloor(d)
		if err != nil {
			return err
		}
		if err := f.Admits(filepath.Base(d), version); err != nil {
			return err
		}
	}
	return nil
}

// Version is the kernel's version as its source's Makefile says
// ("6.12.117"), else its release; "" when neither is known.
func (k *Kernel) Version() string {
	if k.Source != nil && k.Source.Version != "" {
		return k.Source.Version
	}
	if src := k.SourceDir(); src != "" {
		if v, err := MakefileVersion(filepath.Join(src, "Makefile")); err == nil {
			return v
		}
	}
	return k.Release
}
