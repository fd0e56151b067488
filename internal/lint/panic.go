package lint

import (
	"regexp"
	"strings"
)

var panicMacros = map[string]bool{"panic": true, "todo": true, "unimplemented": true, "unreachable": true}

// lastSegment returns the last path segment of a macro name or function.
func lastSegment(c *checker, n *Node) string {
	if n == nil {
		return ""
	}
	if nm := n.ChildByField("name"); nm != nil && (n.Kind == "scoped_identifier") {
		return c.f.Text(nm)
	}
	return c.f.Text(n)
}

func checkPanics(c *checker) {
	Walk(c.f.Root, func(n *Node) bool {
		switch n.Kind {
		case "macro_invocation":
			name := lastSegment(c, n.ChildByField("macro"))
			if panicMacros[name] && !c.inTest(n) && !inConstContext(n) && !c.stdOnly(n) && !c.panicDocumented(n) {
				c.report(n.ChildByField("macro"), "%s! panics; kernel code returns an error (or uses build_assert!/build_error! for compile-time checks)", name)
			}
		case "call_expression":
			fe := n.ChildByField("function")
			if fe == nil || fe.Kind != "field_expression" {
				return true
			}
			fld := fe.ChildByField("field")
			if fld == nil {
				return true
			}
			switch m := c.f.Text(fld); m {
			case "unwrap", "expect":
				if args := n.ChildByField("arguments"); args != nil && argCount(args) == map[string]int{"unwrap": 0, "expect": 1}[m] &&
					!c.inTest(n) && !inConstContext(n) && !c.stdOnly(n) && !c.panicDocumented(n) {
					c.reportSpan(fld.Start, n.End, ".%s() panics on None/Err; propagate the error with ? or handle it", m)
				}
			}
		}
		return true
	})
	for _, tt := range c.tokenTrees {
		if c.inTest(tt) || inConstContext(tt) || c.stdOnly(tt) {
			continue
		}
		toks := tokenLeaves(tt)
		for i, t := range toks {
			name := c.f.Text(t)
			switch {
			case (t.Kind == "identifier" && panicMacros[name] || name == "unwrap" || name == "expect") && (c.tokenInConst(toks, i) || c.panicDocumented(t)):
				continue
			case t.Kind == "identifier" && panicMacros[name] && c.tokText(toks, i+1) == "!" && c.tokText(toks, i-1) != ".":
				c.reportSpan(t.Start, t.End, "%s! (inside a macro) panics; kernel code returns an error", name)
			case (name == "unwrap" || name == "expect") && c.tokText(toks, i-1) == "." && c.tokText(toks, i+1) == "(":
				if name == "unwrap" && c.tokText(toks, i+2) != ")" {
					continue
				}
				c.reportSpan(t.Start, t.End, ".%s() (inside a macro) panics on None/Err; propagate the error with ?", name)
			}
		}
	}
}

func argCount(args *Node) int {
	n := 0
	for ch := args.FirstChild; ch != nil; ch = ch.Next {
		if ch.Named && !isComment(ch) && ch.Kind != "attribute_item" {
			n++
		}
	}
	return n
}

// ---- missing-spdx ---------------------------------------------------------------

var spdxLine = regexp.MustCompile(`^\s*(//|/\*|#).*SPDX-License-Identifier:\s*\S`)

// checkSPDX wants the SPDX line on line 1, or line 2 after a #! line,
// as the kernel's checkpatch.pl does.
func checkSPDX(c *checker) {
	for i := 1; i <= 2 && i <= c.f.NumLines(); i++ {
		l := c.f.Line(i)
		if spdxLine.MatchString(l) {
			return
		}
		if i == 1 && !strings.HasPrefix(l, "#!/") {
			break
		}
	}
	c.reportSpan(0, 0, "no SPDX-License-Identifier line at the top of the file; add `// SPDX-License-Identifier: GPL-2.0` (or the file's licence) as line 1")
}

// panicDocumented accepts the kernel's `// PANIC: <why this cannot
// happen>` comment right above the panicking expression or its statement,
// read like a SAFETY comment.
func (c *checker) panicDocumented(n *Node) bool {
	has := func(s string) bool { return strings.Contains(strings.ToUpper(s), "PANIC:") }
	floor := c.floorFor(n)
	if c.commentAbove(c.lineOf(n.Start), floor, has) {
		return true
	}
	if s, ok := statementStart(n); ok && c.lineOf(s) < c.lineOf(n.Start) {
		return c.commentAbove(c.lineOf(s), floor, has)
	}
	return false
}
