// Package kapi answers, from kernel source trees alone, which items of
// the kernel crate a module's Rust code names and which kernel versions
// have them: the drift hint of a module that builds on one kernel and
// not on another ("kernel::miscdevice::MiscDevice: not in 6.12; in 7.2.12,
// 7.3.4"). It reads the sources (rust/kernel, its modules and their pub
// items, the crate's exported macros), not rustdoc, so that the hint costs
// nothing on a failed build; rko doc --diff compares the rustdoc of two
// kernels for the full picture.
package kapi

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Uses lists the kernel-crate paths the Rust sources in dir name, each
// once, sorted: what `use kernel::{...}` trees and inline `kernel::a::B`
// paths give (globs and self dropped).
func Uses(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.rs"))
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for _, p := range usesIn(stripComments(string(data))) {
			seen[p] = true
		}
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out, nil
}

var (
	lineCommentRE  = regexp.MustCompile(`//[^\n]*`)
	blockCommentRE = regexp.MustCompile(`(?s)/\*.*?\*/`)
	stringRE       = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	useRE          = regexp.MustCompile(`(?s)\buse\s+(?:::)?kernel\s*::\s*([^;]*);`)
	renameRE       = regexp.MustCompile(`\s+as\s+[A-Za-z_][A-Za-z0-9_]*`)
	inlinePathRE   = regexp.MustCompile(`\bkernel((?:\s*::\s*[A-Za-z_][A-Za-z0-9_]*)+)`)
)

func stripComments(s string) string {
	s = blockCommentRE.ReplaceAllString(s, "")
	s = lineCommentRE.ReplaceAllString(s, "")
	return stringRE.ReplaceAllString(s, `""`)
}

// usesIn are the kernel paths of one file's code.
func usesIn(code string) []string {
	var out []string
	for _, m := range useRE.FindAllStringSubmatch(code, -1) {
		out = append(out, expandUseTree("kernel", m[1])...)
	}
	rest := useRE.ReplaceAllString(code, "")
	for _, m := range inlinePathRE.FindAllStringSubmatch(rest, -1) {
		p := "kernel" + strings.Join(strings.Fields(m[1]), "")
		out = append(out, p)
	}
	return clean(out)
}

// expandUseTree expands the tree of a use declaration after prefix::
// ("{a::{B, C}, d}" gives prefix::a::B, prefix::a::C, prefix::d).
func expandUseTree(prefix, tree string) []string {
	tree = renameRE.ReplaceAllString(tree, "") // `B as C` names B
	tree = strings.Join(strings.Fields(tree), "")
	var out []string
	for _, part := range splitTop(tree) {
		if part == "" {
			continue
		}
		if i := strings.Index(part, "{"); i >= 0 && strings.HasSuffix(part, "}") {
			head := strings.TrimSuffix(part[:i], "::")
			p := prefix
			if head != "" {
				p += "::" + head
			}
			out = append(out, expandUseTree(p, part[i+1:len(part)-1])...)
			continue
		}
		out = append(out, prefix+"::"+part)
	}
	return out
}

// splitTop splits s at the commas outside braces.
func splitTop(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '{':
			depth++
		case '}':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// clean drops globs, self and the prelude, trims a trailing self, and
// removes duplicates.
func clean(ps []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range ps {
		p = strings.TrimSuffix(p, "::self")
		p = strings.TrimSuffix(p, "::*")
		if p == "kernel" || strings.HasPrefix(p, "kernel::prelude") || seen[p] {
			continue
		}
		seen[p] = true
		out = append(out, p)
	}
	return out
}

// Tree is a kernel source tree's kernel crate.
type Tree struct {
	// Version is the tree's kernel version ("6.12.117").
	Version string
	// Dir is the source tree.
	Dir string

	macros map[string]bool // #[macro_export] macros, at the crate root
}

var (
	exportedMacroRE = regexp.MustCompile(`#\[macro_export\]\s*(?:#\[[^\]]*\]\s*)*macro_rules!\s*([A-Za-z_][A-Za-z0-9_]*)`)
)

// NewTree reads what Has needs of the source tree dir once.
func NewTree(version, dir string) *Tree {
	t := &Tree{Version: version, Dir: dir, macros: map[string]bool{}}
	filepath.WalkDir(filepath.Join(dir, "rust/kernel"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".rs") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err == nil {
			for _, m := range exportedMacroRE.FindAllSubmatch(data, -1) {
				t.macros[string(m[1])] = true
			}
		}
		return nil
	})
	return t
}

// moduleFile is the file of module path segs (["sync", "lock"]) in the
// kernel crate, "" if there is none.
func (t *Tree) moduleFile(segs []string) string {
	base := filepath.Join(append([]string{t.Dir, "rust/kernel"}, segs...)...)
	if len(segs) == 0 {
		return filepath.Join(t.Dir, "rust/kernel/lib.rs")
	}
	for _, f := range []string{base + ".rs", filepath.Join(base, "mod.rs")} {
		if _, err := os.Stat(f); err == nil {
			return f
		}
	}
	return ""
}

// Has reports whether the kernel crate of t has path
// ("kernel::miscdevice::MiscDevice"): its modules down to the last one
// that exists as a file, then the item declared or re-exported there
// (items further down, such as a trait's methods, are not looked at).
func (t *Tree) Has(path string) bool {
	segs := strings.Split(strings.TrimPrefix(path, "kernel::"), "::")
	if len(segs) == 1 && t.macros[segs[0]] {
		return true
	}
	i := 0
	for i < len(segs) && t.moduleFile(segs[:i+1]) != "" {
		i++
	}
	if i == len(segs) {
		return true
	}
	f := t.moduleFile(segs[:i])
	if f == "" {
		return false
	}
	data, err := os.ReadFile(f)
	if err != nil {
		return false
	}
	return declares(string(data), segs[i])
}

// declares reports whether a module's source declares or re-exports
// name, or names it first in a macro call (declare_err!(ENOMEM, ...)).
func declares(src, name string) bool {
	q := regexp.QuoteMeta(name)
	re := regexp.MustCompile(`(?m)(\bpub(?:\([^)]*\))?\s+(?:unsafe\s+|const\s+|extern\s+"C"\s+)*(?:struct|enum|union|trait|fn|type|const|static|mod)\s+` + q + `\b)|(\bpub\s+use\s+[^;]*\b` + q + `\b[^;]*;)|(macro_rules!\s*` + q + `\b)|(\b[a-z_]+!\s*\(\s*` + q + `\b)`)
	return re.MatchString(src)
}

// Finding is one kernel-crate path a module uses that a kernel lacks, or
// has with another signature than another kernel.
type Finding struct {
	// Path is the item ("kernel::miscdevice::MiscDevice").
	Path string `json:"path"`
	// Missing is the version that lacks it (or, when Changed, that has
	// it as Signature).
	Missing string `json:"missing"`
	// In are the other versions rko has the source of that have it.
	In []string `json:"in,omitempty"`
	// Changed says the kernel has the item, with Signature, and the
	// version In[0] has it with Other (from the kernels' rustdoc).
	Changed   bool   `json:"changed,omitempty"`
	Signature string `json:"signature,omitempty"`
	Other     string `json:"other,omitempty"`
}

// String is the hint: "kernel::miscdevice::MiscDevice: not in 6.12.117;
// in 7.2.12, 7.3.4", or for a changed item "kernel::x::f: in 6.12.117 `fn
// f(a: u32)`; in 7.3.4 `fn f(a: u64)`".
func (f Finding) String() string {
	if f.Changed && len(f.In) > 0 {
		return fmt.Sprintf("%s: in %s `%s`; in %s `%s`", f.Path, f.Missing, f.Signature, f.In[0], f.Other)
	}
	if len(f.In) == 0 {
		return fmt.Sprintf("%s: not in %s; in none of the other kernels rko has the source of", f.Path, f.Missing)
	}
	return fmt.Sprintf("%s: not in %s; in %s", f.Path, f.Missing, strings.Join(f.In, ", "))
}

// Drift lists the paths of uses that kernel lacks, each with the others
// that have it. A path under one that is already missing is not listed
// again (kernel::miscdevice, then not kernel::miscdevice::MiscDevice).
func Drift(uses []string, kernel *Tree, others []*Tree) []Finding {
	var out []Finding
	var missingPrefixes []string
outer:
	for _, u := range uses {
		for _, m := range missingPrefixes {
			if strings.HasPrefix(u, m+"::") {
				continue outer
			}
		}
		if kernel.Has(u) {
			continue
		}
		// Report the shortest missing prefix: the module, when the
		// whole module is new.
		segs := strings.Split(u, "::")
		p := u
		for i := 2; i < len(segs); i++ {
			if pre := strings.Join(segs[:i], "::"); !kernel.Has(pre) {
				p = pre
				break
			}
		}
		missingPrefixes = append(missingPrefixes, p)
		f := Finding{Path: p, Missing: kernel.Version}
		for _, o := range others {
			if o.Version != kernel.Version && o.Has(p) {
				f.In = append(f.In, o.Version)
			}
		}
		if !containsFinding(out, p) {
			out = append(out, f)
		}
	}
	return out
}

func containsFinding(fs []Finding, p string) bool {
	for _, f := range fs {
		if f.Path == p {
			return true
		}
	}
	return false
}
