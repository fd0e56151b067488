package toolchain

import (
	"fmt"
	"regexp"
	"strconv"
)

// Version is a three-part tool version such as 1.85.1.
type Version struct{ Major, Minor, Patch int }

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// Less reports whether v is older than w.
func (v Version) Less(w Version) bool {
	if v.Major != w.Major {
		return v.Major < w.Major
	}
	if v.Minor != w.Minor {
		return v.Minor < w.Minor
	}
	return v.Patch < w.Patch
}

// IsZero reports whether v was never set.
func (v Version) IsZero() bool { return v == Version{} }

var versionRE = regexp.MustCompile(`(\d+)\.(\d+)\.(\d+)`)

// ParseVersion finds the first x.y.z in s, as the kernel's scripts do
// with sed on the tool's --version output.
func ParseVersion(s string) (Version, error) {
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		return Version{}, fmt.Errorf("no version number (x.y.z) in %q", firstLine(s))
	}
	a, _ := strconv.Atoi(m[1])
	b, _ := strconv.Atoi(m[2])
	c, _ := strconv.Atoi(m[3])
	return Version{a, b, c}, nil
}

// MustVersion parses s and panics on error; for constants only.
func MustVersion(s string) Version {
	v, err := ParseVersion(s)
	if err != nil {
		panic(err)
	}
	return v
}

var clangVersionRE = regexp.MustCompile(`clang version (\d+\.\d+\.\d+)`)

// ParseLibclangVersion reads the libclang version from what bindgen prints
// for scripts/rust_is_available_bindgen_libclang.h (a #pragma message with
// __clang_version__), as scripts/rust_is_available.sh does.
func ParseLibclangVersion(out string) (Version, error) {
	m := clangVersionRE.FindStringSubmatch(out)
	if m == nil {
		return Version{}, fmt.Errorf("bindgen did not print a libclang version (%q)", firstLine(out))
	}
	return ParseVersion(m[1])
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	if len(s) > 200 {
		return s[:200]
	}
	return s
}
