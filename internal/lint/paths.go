package lint

import "strings"

// ---- bindings-outside-abstractions and std-in-kernel ---------------------------

// pathRoot returns the first segment of a path node (identifier, crate,
// self, super, metavariable) and whether the path is absolute (`::x`).
func pathSegments(c *checker, n *Node) []string {
	switch n.Kind {
	case "scoped_identifier", "scoped_type_identifier", "scoped_use_list":
		var segs []string
		if p := n.ChildByField("path"); p != nil {
			segs = pathSegments(c, p)
		} else if n.FirstChild != nil && n.FirstChild.Kind == "::" {
			segs = []string{""}
		}
		if nm := n.ChildByField("name"); nm != nil {
			segs = append(segs, c.f.Text(nm))
		}
		return segs
	case "generic_type", "generic_type_with_turbofish":
		if t := n.ChildByField("type"); t != nil {
			return pathSegments(c, t)
		}
	case "identifier", "type_identifier", "crate", "self", "super", "metavariable":
		return []string{c.f.Text(n)}
	}
	return nil
}

// useImports walks a use tree and calls fn with the full path of each
// imported name and its alias ("" when not renamed).
func useImports(c *checker, n *Node, prefix []string, fn func(path []string, alias string, at *Node)) {
	switch n.Kind {
	case "use_as_clause":
		p := append(append([]string{}, prefix...), pathSegments(c, n.ChildByField("path"))...)
		alias := ""
		if a := n.ChildByField("alias"); a != nil {
			alias = c.f.Text(a)
		}
		fn(p, alias, n)
	case "scoped_use_list":
		p := prefix
		if pp := n.ChildByField("path"); pp != nil {
			p = append(append([]string{}, prefix...), pathSegments(c, pp)...)
		}
		if l := n.ChildByField("list"); l != nil {
			useImports(c, l, p, fn)
		}
	case "use_list":
		for ch := n.FirstChild; ch != nil; ch = ch.Next {
			if ch.Named && !isComment(ch) {
				useImports(c, ch, prefix, fn)
			}
		}
	case "use_wildcard":
		var p []string
		for ch := n.FirstChild; ch != nil; ch = ch.Next {
			if ch.Named {
				p = pathSegments(c, ch)
			}
		}
		fn(append(append(append([]string{}, prefix...), p...), "*"), "", n)
	default:
		if segs := pathSegments(c, n); segs != nil {
			fn(append(append([]string{}, prefix...), segs...), "", n)
		}
	}
}

// rawBindingsPath reports whether a path names the raw bindings crate:
// bindings::..., ::bindings::..., kernel::bindings..., crate::bindings
// is not (that is a module of the current crate).
func rawBindingsPath(segs []string, aliases map[string]bool) bool {
	if len(segs) == 0 {
		return false
	}
	i := 0
	if segs[0] == "" || segs[0] == "$crate" {
		i = 1
	}
	if i < len(segs) && (segs[i] == "kernel" || segs[i] == "$crate") && i+1 < len(segs) && segs[i+1] == "bindings" {
		return true
	}
	return i < len(segs) && (segs[i] == "bindings" || (i == 0 && aliases[segs[i]])) && len(segs) > i+1
}

func checkBindings(c *checker) {
	if c.abstraction {
		return
	}
	// A file that declares its own `mod bindings` means that module, not
	// the C bindings.
	localMod, inlineMod := false, false
	aliases := map[string]bool{}
	Walk(c.f.Root, func(n *Node) bool {
		if n.Kind == "mod_item" {
			if nm := n.ChildByField("name"); nm != nil && c.f.Text(nm) == "bindings" {
				// `mod bindings { ... }` written by hand is ordinary code;
				// `mod bindings;` is a file, typically bindgen output.
				if n.ChildByField("body") != nil {
					inlineMod = true
				} else {
					localMod = true
				}
			}
		}
		if n.Kind == "use_declaration" {
			if arg := n.ChildByField("argument"); arg != nil {
				useImports(c, arg, nil, func(p []string, alias string, _ *Node) {
					kernelBindings := len(p) >= 2 && p[len(p)-1] == "bindings" && (p[len(p)-2] == "kernel" || p[len(p)-2] == "$crate")
					if kernelBindings && alias != "" && alias != "_" {
						aliases[alias] = true
					}
					// `use r570_144 as bindings;` or `use super::bindings;`:
					// the name bindings is some other module here.
					if !kernelBindings && (alias == "bindings" || (alias == "" && len(p) >= 2 && p[len(p)-1] == "bindings")) {
						localMod = true
					}
				})
			}
			return false
		}
		return true
	})
	// A driver's own bindings module (nova-core's firmware interface,
	// bindgen output) is raw bindings too, unless the config says
	// local_bindings = false.
	what := "the raw C bindings"
	if inlineMod {
		return
	}
	if localMod {
		if !c.t.cfg.localBindings {
			return
		}
		what = "a driver-local raw bindings module (bindgen output; set local_bindings = false in .rko-lint.toml to accept it)"
	}
	Walk(c.f.Root, func(n *Node) bool {
		switch n.Kind {
		case "use_declaration":
			arg := n.ChildByField("argument")
			if arg == nil {
				return false
			}
			useImports(c, arg, nil, func(p []string, _ string, at *Node) {
				if !rawBindingsPath(p, aliases) {
					return
				}
				// Point at the offending token: the `bindings` (or its
				// alias) in `use kernel::{bindings, prelude::*}`.
				tok := bindingsToken(c, at, aliases)
				c.reportIn(n, tok, "use of %s outside the abstraction layer; use a safe abstraction from the kernel crate (or add one under rust/kernel)", what)
			})
			return false
		case "scoped_identifier", "scoped_type_identifier":
			p := n.ChildByField("path")
			if p == nil {
				return true
			}
			if p.Kind == "scoped_identifier" || p.Kind == "scoped_type_identifier" {
				return true // reported at the innermost path
			}
			segs := pathSegments(c, n)
			if rawBindingsPath(segs, aliases) {
				c.report(n, "%s uses %s outside the abstraction layer; use a safe abstraction from the kernel crate", strings.Join(segs, "::"), what)
				return false
			}
		case "extern_crate_declaration":
			if nm := n.ChildByField("name"); nm != nil && c.f.Text(nm) == "bindings" {
				c.report(n, "extern crate bindings outside the abstraction layer")
			}
		}
		return true
	})
	// Inside macros: the token sequence bindings :: (not after ::), or
	// kernel :: bindings.
	for _, tt := range c.tokenTrees {
		toks := tokenLeaves(tt)
		for i, t := range toks {
			if c.tokText(toks, i+1) != "::" {
				continue
			}
			name := c.f.Text(t)
			prev := c.tokText(toks, i-1)
			switch {
			case name == "bindings" && prev == "::" && (c.tokText(toks, i-2) == "kernel" || c.tokText(toks, i-2) == "$crate"):
				c.reportSpan(toks[i-2].Start, t.End, "kernel::bindings (inside a macro) uses the raw C bindings outside the abstraction layer")
			case (name == "bindings" || aliases[name]) && prev != "::" && prev != ".":
				c.reportSpan(t.Start, t.End, "%s:: (inside a macro) uses the raw C bindings outside the abstraction layer", name)
			}
		}
	}
}

// bindingsToken is the identifier naming the raw bindings in a use
// path: the first `bindings` (or alias of kernel::bindings) under at, else
// at itself.
func bindingsToken(c *checker, at *Node, aliases map[string]bool) *Node {
	var tok *Node
	Walk(at, func(x *Node) bool {
		if tok != nil {
			return false
		}
		if x.Kind == "identifier" {
			if t := c.f.Text(x); t == "bindings" || aliases[t] {
				tok = x
				return false
			}
		}
		return true
	})
	if tok == nil {
		return at
	}
	return tok
}

func checkStd(c *checker) {
	Walk(c.f.Root, func(n *Node) bool {
		switch n.Kind {
		case "extern_crate_declaration":
			if nm := n.ChildByField("name"); nm != nil && c.f.Text(nm) == "std" && !c.stdOnly(n) {
				c.report(n, "extern crate std in kernel code; the kernel has no std, use core, alloc-free kernel types or the kernel crate")
			}
			return false
		case "use_declaration":
			if arg := n.ChildByField("argument"); arg != nil {
				hit := false
				useImports(c, arg, nil, func(p []string, _ string, _ *Node) {
					if isStdPath(p) {
						hit = true
					}
				})
				if hit && !c.stdOnly(n) {
					c.report(n, "use of std in kernel code; the kernel has no std, use core or the kernel crate")
				}
			}
			return false
		case "scoped_identifier", "scoped_type_identifier":
			p := n.ChildByField("path")
			if p != nil && (p.Kind == "scoped_identifier" || p.Kind == "scoped_type_identifier") {
				return true
			}
			if segs := pathSegments(c, n); isStdPath(segs) && !c.stdOnly(n) {
				c.report(n, "%s names std in kernel code; the kernel has no std, use core or the kernel crate", strings.Join(segs, "::"))
				return false
			}
		}
		return true
	})
	for _, tt := range c.tokenTrees {
		toks := tokenLeaves(tt)
		for i, t := range toks {
			if c.f.Text(t) == "std" && c.tokText(toks, i+1) == "::" && (c.tokText(toks, i-1) != "::" || i < 2 || !isIdentLike(c.tokText(toks, i-2))) && c.tokText(toks, i-1) != "." {
				c.reportSpan(t.Start, t.End, "std:: (inside a macro) names std in kernel code")
			}
		}
	}
}

func isIdentLike(s string) bool {
	if s == "" {
		return false
	}
	b := s[0]
	return b == '_' || b == '$' || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z')
}

func isStdPath(segs []string) bool {
	if len(segs) < 1 {
		return false
	}
	if segs[0] == "" {
		segs = segs[1:]
	}
	return len(segs) >= 1 && segs[0] == "std"
}
