package debian

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Package is one paragraph of a Debian Packages index.
type Package struct {
	Name     string
	Version  string
	Filename string
	Size     int64
}

// ParsePackages reads a Packages index (deb822 paragraphs) and returns
// its packages; only the fields rko uses are kept.
func ParsePackages(r io.Reader) ([]Package, error) {
	var out []Package
	var cur Package
	flush := func() {
		if cur.Name != "" {
			out = append(out, cur)
		}
		cur = Package{}
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			flush()
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue // a continuation line (descriptions)
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "Package":
			cur.Name = v
		case "Version":
			cur.Version = v
		case "Filename":
			cur.Filename = v
		case "Size":
			cur.Size, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	flush()
	return out, sc.Err()
}

// Release is one Debian kernel build rko can consider: the packages of
// one kernel release (uname -r) of Debian's architecture arch (amd64).
type Release struct {
	// Name is the kernel release, e.g. "7.3.4+deb13-amd64".
	Name string `json:"release"`
	// Version is the Debian package version, e.g. "7.3.4-1~bpo13+1".
	Version string `json:"version"`
	Binary  string `json:"binary"`  // package with the vmlinuz
	Headers string `json:"headers"` // package with .config and Module.symvers
	// Source is the linux-source package of the same Debian version, or
	// "" when the mirror has no source of that version (rko then cannot
	// regenerate the Rust metadata).
	Source string `json:"source,omitempty"`
	// SourceHave is the version of Source's package the mirror has when it
	// differs from Version.
	SourceHave string `json:"source_have,omitempty"`
}

// binaryRE matches Debian's image package of a release: since 6.19
// "linux-binary-RELEASE" (the vmlinuz; linux-image-RELEASE is a meta
// package over it), "linux-image-RELEASE" before.
var binaryRE = regexp.MustCompile(`^linux-(?:binary|image)-(\d+\.\d+(?:\.\d+)?\+deb\d+-[a-z0-9-]+)$`)

// Releases lists the kernel releases in pkgs that have both an image and
// a headers package, newest first, with the linux-source package of the
// same version when the index has it. Unsigned and debug image packages
// are not releases of their own.
func Releases(pkgs []Package) []Release {
	byName := map[string][]Package{}
	for _, p := range pkgs {
		byName[p.Name] = append(byName[p.Name], p)
	}
	newest := func(name string) (Package, bool) {
		ps := byName[name]
		if len(ps) == 0 {
			return Package{}, false
		}
		best := ps[0]
		for _, p := range ps[1:] {
			if CompareVersions(p.Version, best.Version) > 0 {
				best = p
			}
		}
		return best, true
	}
	seen := map[string]bool{}
	var out []Release
	for _, p := range pkgs {
		m := binaryRE.FindStringSubmatch(p.Name)
		if m == nil || strings.HasSuffix(m[1], "-dbg") || strings.HasSuffix(m[1], "-unsigned") || seen[m[1]] {
			continue
		}
		rel := m[1]
		bin, _ := newest(p.Name)
		if strings.HasPrefix(p.Name, "linux-image-") {
			if _, ok := newest("linux-binary-" + rel); ok {
				continue // the meta package of a linux-binary release
			}
		}
		hdr, ok := newest("linux-headers-" + rel)
		if !ok {
			continue
		}
		seen[rel] = true
		r := Release{Name: rel, Version: bin.Version, Binary: bin.Name, Headers: hdr.Name}
		srcName := "linux-source-" + majorMinor(rel)
		for _, s := range byName[srcName] {
			if s.Version == bin.Version {
				r.Source = srcName
			}
		}
		if r.Source == "" {
			if s, ok := newest(srcName); ok {
				r.SourceHave = s.Version
			}
		}
		out = append(out, r)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if c := CompareVersions(out[i].Version, out[j].Version); c != 0 {
			return c > 0
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// majorMinor is "7.3" of "7.3.4+deb13-amd64".
func majorMinor(rel string) string {
	parts := strings.SplitN(rel, ".", 3)
	if len(parts) < 2 {
		return rel
	}
	minor := parts[1]
	if i := strings.IndexAny(minor, "+-"); i >= 0 {
		minor = minor[:i]
	}
	return parts[0] + "." + minor
}

// Flavour is the release's kernel flavour, e.g. "amd64", "cloud-amd64".
func (r Release) Flavour() string {
	_, f, _ := strings.Cut(r.Name, "-")
	return f
}

// CompareVersions orders Debian versions well enough for kernel packages:
// runs of digits compare as numbers, other characters by byte, and "~"
// sorts before everything, even the end (so 7.3.4-1~bpo13+1 < 7.3.4-1).
func CompareVersions(a, b string) int {
	for a != "" || b != "" {
		// Non-digit prefix.
		for a != "" || b != "" {
			ca, cb := charAt(a), charAt(b)
			if isDigit(ca) && isDigit(cb) {
				break
			}
			if ca == cb {
				if ca == 0 {
					return 0
				}
				a, b = a[1:], b[1:]
				continue
			}
			return order(ca) - order(cb)
		}
		// Digit run.
		na, ra := digits(a)
		nb, rb := digits(b)
		if na != nb {
			if na < nb {
				return -1
			}
			return 1
		}
		a, b = ra, rb
	}
	return 0
}

func charAt(s string) byte {
	if s == "" {
		return 0
	}
	return s[0]
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// order is dpkg's: "~" first, then the end of the string, then letters,
// then everything else.
func order(c byte) int {
	switch {
	case c == '~':
		return -1
	case c == 0:
		return 0
	case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		return int(c)
	default:
		return int(c) + 256
	}
}

func digits(s string) (int64, string) {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	n, _ := strconv.ParseInt(s[:i], 10, 64)
	return n, s[i:]
}

// Describe lists releases for a message, e.g. "7.3.4+deb13-amd64
// (7.3.4-1~bpo13+1)".
func Describe(rs []Release) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("%s (%s)", r.Name, r.Version))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
