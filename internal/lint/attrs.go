package lint

import (
	"path/filepath"
	"regexp"
	"strings"
)

// Lint attributes: rko honours #[allow(..)] and #[expect(..)] of the clippy
// lints that match its rules, on any enclosing item, statement or module,
// including the `mod x;` declaration in the parent file and the inner
// attributes (#![allow(..)]) of the module's files. That is what clippy
// does, so code the kernel has deliberately exempted (bindgen output, for
// example) is not reported twice.

// clippyLints maps rko rules to the lint names whose allow silences them.
var clippyLints = map[string][]string{
	"unsafe-block-without-safety-comment": {"clippy::undocumented_unsafe_blocks", "warnings"},
	"unsafe-impl-without-safety-comment":  {"clippy::undocumented_unsafe_blocks", "warnings"},
	"unsafe-fn-without-safety-doc":        {"clippy::missing_safety_doc", "clippy::all", "clippy::style", "warnings"},
}

var allowAttr = regexp.MustCompile(`^#!?\[\s*(allow|expect)\s*\(`)

// attrTexts returns the text of every attribute that applies to n: outer
// attributes of n and of its ancestors, inner attributes of enclosing
// modules and blocks, and those inherited from the parent file's `mod`.
func (c *checker) attrTexts(n *Node) []string {
	var out []string
	for p := n; p != nil; p = p.Parent {
		for a := p.Prev; a != nil && (a.Kind == "attribute_item" || isComment(a)); a = a.Prev {
			if a.Kind == "attribute_item" {
				out = append(out, c.f.Text(a))
			}
		}
		switch p.Kind {
		case "source_file", "declaration_list", "block":
			for ch := p.FirstChild; ch != nil; ch = ch.Next {
				if ch.Kind == "inner_attribute_item" {
					out = append(out, c.f.Text(ch))
				}
			}
		}
	}
	return append(out, c.inherited...)
}

// lintAllowed reports whether an allow/expect attribute silences rule at n.
func (c *checker) lintAllowed(n *Node, rule string) bool {
	names := clippyLints[rule]
	if len(names) == 0 {
		return false
	}
	for _, a := range c.attrTexts(n) {
		if !allowAttr.MatchString(a) {
			continue
		}
		t := strings.Join(strings.Fields(a), "")
		for _, nm := range names {
			if strings.Contains(t, "("+nm+")") || strings.Contains(t, "("+nm+",") || strings.Contains(t, ","+nm+")") || strings.Contains(t, ","+nm+",") {
				return true
			}
		}
	}
	return false
}

// stdOnly reports whether n is compiled only with a "std" feature (dual
// userspace/kernel crates such as pin-init), so not in the kernel.
func (c *checker) stdOnly(n *Node) bool {
	for _, a := range c.attrTexts(n) {
		t := strings.Join(strings.Fields(a), "")
		if strings.HasPrefix(t, "#[cfg(") || strings.HasPrefix(t, "#![cfg(") {
			if strings.Contains(t, `feature="std"`) && !strings.Contains(t, `not(feature="std")`) && !strings.Contains(t, "any(") {
				return true
			}
		}
	}
	return false
}

// inheritedAttrs computes, for every file, the attributes its parent
// files put on it: `#[allow(..)] mod x;` plus everything above that
// declaration. It follows `mod x;` to dir/x.rs and dir/x/mod.rs (or
// dir/<stem>/x.rs for a non-root file) and #[path = ".."].
func inheritedAttrs(ts []target, files []*File) map[string][]string {
	byPath := map[string]int{}
	for i, t := range ts {
		byPath[t.abs] = i
	}
	// decl[child] = attributes written at the declaration, by parent index
	type decl struct {
		parent int
		attrs  []string
	}
	decls := map[int]decl{}
	for i, f := range files {
		if f == nil {
			continue
		}
		c := &checker{f: f}
		dir := filepath.Dir(ts[i].abs)
		base := filepath.Base(ts[i].abs)
		stem := strings.TrimSuffix(base, ".rs")
		Walk(f.Root, func(n *Node) bool {
			if n.Kind == "token_tree" {
				return false
			}
			if n.Kind == "macro_invocation" {
				// include!("file.rs") pastes a file in with the
				// attributes in force at the invocation.
				if m := n.ChildByField("macro"); m != nil && lastSegment(c, m) == "include" {
					if tt := n.ChildOfKind("token_tree"); tt != nil {
						if lit := tt.ChildOfKind("string_literal"); lit != nil {
							p := filepath.Clean(filepath.Join(dir, strings.Trim(f.Text(lit), `"`)))
							if j, ok := byPath[p]; ok && j != i {
								if _, seen := decls[j]; !seen {
									decls[j] = decl{parent: i, attrs: c.attrTexts(n)}
								}
							}
						}
					}
				}
				return false
			}
			if n.Kind != "mod_item" || n.ChildByField("body") != nil {
				return true
			}
			nm := n.ChildByField("name")
			if nm == nil {
				return true
			}
			name := f.Text(nm)
			attrs := c.attrTexts(n)
			var cands []string
			for _, a := range attrs {
				if m := pathAttr.FindStringSubmatch(a); m != nil {
					cands = append(cands, filepath.Join(dir, m[1]))
				}
			}
			modDir := filepath.Join(dir, stem)
			if base == "mod.rs" || base == "lib.rs" || base == "main.rs" {
				modDir = dir
			}
			cands = append(cands, filepath.Join(modDir, name+".rs"), filepath.Join(modDir, name, "mod.rs"),
				filepath.Join(dir, name+".rs"), filepath.Join(dir, name, "mod.rs"))
			for _, p := range cands {
				if j, ok := byPath[filepath.Clean(p)]; ok && j != i {
					if _, seen := decls[j]; !seen {
						decls[j] = decl{parent: i, attrs: attrs}
					}
					break
				}
			}
			return true
		})
	}
	out := map[string][]string{}
	var resolve func(i, depth int) []string
	resolve = func(i, depth int) []string {
		d, ok := decls[i]
		if !ok || depth > 32 {
			return nil
		}
		// the parent's own file-level inner attributes are already in
		// d.attrs (attrTexts walks up to source_file)
		return append(append([]string{}, d.attrs...), resolve(d.parent, depth+1)...)
	}
	for i := range files {
		if a := resolve(i, 0); len(a) > 0 {
			out[ts[i].abs] = a
		}
	}
	return out
}

var pathAttr = regexp.MustCompile(`^#\[\s*path\s*=\s*"([^"]+)"\s*\]$`)
