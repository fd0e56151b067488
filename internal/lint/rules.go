package lint

import (
	"fmt"
	"sort"
	"strings"
)

// Rule is one Rust-for-Linux policy check.
type Rule struct {
	// ID names the rule in output, rko-allow comments and config files.
	ID string
	// Severity is the default severity.
	Severity Severity
	// Summary is a one-line description.
	Summary string
	// KernelOnly rules skip host code (proc macros, build tools).
	KernelOnly bool
	check      func(*checker)
}

// DocURL returns the path of the rule's documentation page in the rko
// repository.
func (r *Rule) DocURL() string { return "docs/lint/" + r.ID + ".md" }

// Rules lists every rule in a stable order.
var Rules = []*Rule{
	{ID: "bindings-outside-abstractions", Severity: SeverityError, KernelOnly: true,
		Summary: "code outside the abstraction layer uses the raw C bindings", check: checkBindings},
	{ID: "unsafe-block-without-safety-comment", Severity: SeverityError,
		Summary: "unsafe block without a // SAFETY: comment right before it", check: checkUnsafeBlocks},
	{ID: "unsafe-fn-without-safety-doc", Severity: SeverityWarning,
		Summary: "public unsafe fn or unsafe trait whose doc comment has no # Safety section", check: checkUnsafeFnDocs},
	{ID: "unsafe-impl-without-safety-comment", Severity: SeverityError,
		Summary: "unsafe impl without a // SAFETY: comment", check: checkUnsafeImpls},
	{ID: "panic-in-kernel", Severity: SeverityWarning, KernelOnly: true,
		Summary: "kernel code that can panic (unwrap, expect, panic!, todo!, unimplemented!, unreachable!)", check: checkPanics},
	{ID: "std-in-kernel", Severity: SeverityError, KernelOnly: true,
		Summary: "kernel code that names the std crate", check: checkStd},
	{ID: "sleep-in-atomic", Severity: SeverityWarning, KernelOnly: true,
		Summary: "a call that may sleep while a spinlock guard is alive or interrupts are disabled", check: checkSleepInAtomic},
	{ID: "missing-spdx", Severity: SeverityWarning,
		Summary: "file without an SPDX-License-Identifier line at the top", check: checkSPDX},
}

// RuleByID returns the rule with the given ID, or nil.
func RuleByID(id string) *Rule {
	for _, r := range Rules {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// RuleIDs returns every rule ID, sorted.
func RuleIDs() []string {
	var ids []string
	for _, r := range Rules {
		ids = append(ids, r.ID)
	}
	sort.Strings(ids)
	return ids
}

// checker holds the state of one rule run over one file.
type checker struct {
	f           *File
	t           target
	facts       *lockFacts
	abstraction bool
	host        bool
	rule        *Rule
	out         []Finding
	comments    []*Node  // every comment node, in order
	tokenTrees  []*Node  // outermost token trees of macro invocations and definitions
	inherited   []string // attributes put on this file by its parent's `mod` declaration
}

func (c *checker) report(n *Node, format string, args ...any) {
	c.reportSpan(n.Start, n.End, format, args...)
}

// reportIn reports a token tok inside the statement stmt: the finding is on
// the token, and rko-allow comments above the statement apply to it too.
func (c *checker) reportIn(stmt, tok *Node, format string, args ...any) {
	c.reportSpan(tok.Start, tok.End, format, args...)
	c.out[len(c.out)-1].stmtLine, _ = c.f.Pos(stmt.Start)
}

func (c *checker) reportSpan(start, end uint32, format string, args ...any) {
	l, col := c.f.Pos(start)
	el, ecol := c.f.Pos(end)
	c.out = append(c.out, Finding{
		Rule: c.rule.ID, Severity: c.t.cfg.severity[c.rule.ID], Path: c.t.path,
		Line: l, Column: col, EndLine: el, EndColumn: ecol,
		Message: fmt.Sprintf(format, args...), Source: c.f.Line(l),
	})
}

// lintFile runs every enabled rule on f and applies rko-allow comments. It
// returns the findings and the number suppressed.
func lintFile(f *File, t target, facts *lockFacts, inherited []string) ([]Finding, int) {
	c := &checker{f: f, t: t, facts: facts, inherited: inherited,
		abstraction: t.cfg.isAbstraction(t.abs), host: t.cfg.isHost(t.abs)}
	Walk(f.Root, func(n *Node) bool {
		switch n.Kind {
		case "line_comment", "block_comment":
			c.comments = append(c.comments, n)
			return false
		case "token_tree":
			if p := n.Parent; p != nil && (p.Kind == "macro_invocation" || p.Kind == "macro_rule") {
				c.tokenTrees = append(c.tokenTrees, n)
			}
		}
		return true
	})
	for _, r := range Rules {
		if t.cfg.severity[r.ID] == SeverityOff || (r.KernelOnly && c.host) {
			continue
		}
		c.rule = r
		r.check(c)
	}
	return applySuppressions(c)
}

// ---- helpers over the tree -------------------------------------------------

// attributes returns the outer attributes and doc comments written
// directly before item n (nearest last), stopping at any other node.
func attributes(n *Node) []*Node {
	var out []*Node
	for p := n.Prev; p != nil; p = p.Prev {
		if p.Kind == "attribute_item" || isComment(p) {
			out = append(out, p)
			continue
		}
		break
	}
	return out
}

// firstAttributeStart returns where n starts once its outer attributes
// (not doc comments, not plain comments) are included.
func firstAttributeStart(n *Node) uint32 {
	start := n.Start
	for p := n.Prev; p != nil && p.Kind == "attribute_item"; p = p.Prev {
		start = p.Start
	}
	return start
}

func isDocComment(n *Node) bool {
	if !isComment(n) {
		return false
	}
	return n.ChildByField("outer") != nil || n.ChildByField("inner") != nil || n.ChildOfKind("doc_comment") != nil
}

// isTestAttr reports whether an attribute marks test-only code.
func (c *checker) isTestAttr(a *Node) bool {
	if a.Kind != "attribute_item" {
		return false
	}
	t := strings.Join(strings.Fields(c.f.Text(a)), "")
	switch {
	case t == "#[test]", strings.HasPrefix(t, "#[cfg(test)"), strings.Contains(t, "kunit_tests("),
		strings.HasPrefix(t, "#[cfg(all(test"), strings.HasPrefix(t, "#[test_case"):
		return true
	}
	return false
}

// inTest reports whether n is inside a #[test] function or a
// #[cfg(test)] / #[kunit_tests] module or impl.
func (c *checker) inTest(n *Node) bool {
	for p := n; p != nil; p = p.Parent {
		switch p.Kind {
		case "function_item", "mod_item", "impl_item", "const_item", "static_item", "use_declaration", "macro_invocation":
			for _, a := range attributes(p) {
				if c.isTestAttr(a) {
					return true
				}
			}
		case "source_file":
			// #![cfg(test)] at the top of a file
			for ch := p.FirstChild; ch != nil; ch = ch.Next {
				if ch.Kind == "inner_attribute_item" {
					t := strings.Join(strings.Fields(c.f.Text(ch)), "")
					if strings.HasPrefix(t, "#![cfg(test)") {
						return true
					}
				}
			}
		}
	}
	return false
}

// inConstContext reports whether n is evaluated at compile time (a const
// or static initialiser, a const block or generic argument) or sits in a
// const fn, where a panic is how Rust spells a build error.
func inConstContext(n *Node) bool {
	for p := n.Parent; p != nil; p = p.Parent {
		switch p.Kind {
		case "const_item", "static_item", "const_block", "type_arguments":
			return true
		case "function_item":
			if m := p.ChildOfKind("function_modifiers"); m != nil && m.ChildOfKind("const") != nil {
				return true
			}
			return false
		case "closure_expression":
			return false
		}
	}
	return false
}

// tokenInConst reports whether toks[i] sits in the initialiser of a
// `const NAME: T = ...;` or `static` written inside a macro, or in the
// body of a `const fn` there.
func (c *checker) tokenInConst(toks []*Node, i int) bool {
	depth := 0
	for j := i - 1; j >= 0; j-- {
		switch t := c.f.Text(toks[j]); t {
		case ")", "]", "}":
			depth++
		case "(", "[", "{":
			if depth > 0 {
				depth--
			}
		case ";":
			if depth == 0 {
				// skip to the start of the enclosing group
				for d := 0; j >= 0; j-- {
					switch c.f.Text(toks[j]) {
					case ")", "]", "}":
						d++
					case "(", "[", "{":
						if d == 0 {
							goto next
						}
						d--
					}
				}
				return false
			next:
			}
		case "const", "static":
			if depth == 0 {
				return true
			}
		case "fn":
			if depth == 0 {
				return c.tokText(toks, j-1) == "const"
			}
		}
	}
	return false
}

// tokenLeaves returns the tokens of a token tree in order, nested trees
// flattened (their delimiters included), comments dropped and string-like
// literals kept whole.
func tokenLeaves(tt *Node) []*Node {
	var out []*Node
	var rec func(n *Node)
	rec = func(n *Node) {
		for ch := n.FirstChild; ch != nil; ch = ch.Next {
			switch {
			case isComment(ch):
			case ch.Kind == "string_literal" || ch.Kind == "raw_string_literal" || ch.Kind == "char_literal":
				out = append(out, ch)
			case ch.FirstChild == nil:
				out = append(out, ch)
			default:
				rec(ch)
			}
		}
	}
	rec(tt)
	return out
}

func (c *checker) tokText(toks []*Node, i int) string {
	if i < 0 || i >= len(toks) {
		return ""
	}
	return c.f.Text(toks[i])
}
