package lint

import (
	"regexp"
	"strings"
)

// ---- finding SAFETY comments ------------------------------------------------
//
// The scan follows clippy's text_has_safety_comment (undocumented_unsafe_blocks):
// from the line above a position, skip blank lines; if the first non-blank
// line is a // comment, walk the run of // lines upwards (blank lines
// skipped) and accept when one contains "SAFETY:" in any case, outside a
// ``` code block of a doc comment; otherwise accept a /* */ comment that
// contains "SAFETY:" and is followed by nothing but whitespace. The scan
// never goes above floor (the line where the enclosing function body or
// macro starts), like clippy's search span.

func hasSafetyText(s string) bool {
	return strings.Contains(strings.ToUpper(s), "SAFETY:")
}

// safetyAboveLine reports whether a safety comment sits directly above
// 1-based line, scanning no higher than line floor+1.
func (c *checker) safetyAboveLine(line, floor int) bool {
	return c.commentAbove(line, floor, hasSafetyText)
}

// commentAbove is safetyAboveLine for any keyword test.
func (c *checker) commentAbove(line, floor int, hasKey func(string) bool) bool {
	i := line - 1
	next := func() (string, int, bool) {
		for i > floor && i >= 1 {
			t := strings.TrimSpace(c.f.Line(i))
			i--
			if t != "" {
				return t, i + 1, true
			}
		}
		return "", 0, false
	}
	first, firstLine, ok := next()
	// Attributes between the comment and the code (#[cfg(..)] on a
	// field or statement) are skipped, as clippy's
	// accept-comment-above-attributes does.
	for ok && strings.HasPrefix(first, "#[") && strings.HasSuffix(first, "]") {
		first, firstLine, ok = next()
	}
	if !ok {
		return false
	}
	if strings.HasPrefix(first, "//") {
		inCode := false
		for l := first; ; {
			if strings.HasPrefix(strings.TrimSpace(strings.TrimLeft(l, "/!")), "```") {
				inCode = !inCode
			}
			if hasKey(l) && !inCode {
				return true
			}
			var ok bool
			l, _, ok = next()
			if !ok || !strings.HasPrefix(l, "//") {
				return false
			}
		}
	}
	// A block comment that ends the line right above.
	if strings.HasSuffix(first, "*/") {
		if bc := c.commentEndingOnLine(firstLine); bc != nil && bc.Kind == "block_comment" {
			sl, _ := c.f.Pos(bc.Start)
			return sl > floor && hasKey(c.f.Text(bc))
		}
	}
	return false
}

// commentEndingOnLine returns the last comment node that ends on line.
func (c *checker) commentEndingOnLine(line int) *Node {
	var found *Node
	for _, cm := range c.comments {
		el, _ := c.f.Pos(cm.End - 1)
		if el == line {
			found = cm
		}
		if el > line {
			break
		}
	}
	return found
}

// safetySameLine accepts a comment holding "SAFETY:" that ends before off
// on the same line with only whitespace between (`/* SAFETY: .. */ unsafe {`).
// Clippy rejects this form; rko accepts it because the reason is as close
// to the block as it can be.
func (c *checker) safetySameLine(off uint32) bool {
	line, _ := c.f.Pos(off)
	for _, cm := range c.comments {
		if cm.End > off {
			break
		}
		if cm.Kind != "block_comment" {
			continue
		}
		if l, _ := c.f.Pos(cm.End - 1); l == line && strings.TrimSpace(string(c.f.Src[cm.End:off])) == "" {
			return hasSafetyText(c.f.Text(cm))
		}
	}
	return false
}

// floorFor returns the line above which no comment can document n: the
// line where the enclosing function body, closure or macro starts.
func (c *checker) floorFor(n *Node) int {
	for p := n.Parent; p != nil; p = p.Parent {
		switch p.Kind {
		case "function_item":
			if b := p.ChildByField("body"); b != nil && b.Start <= n.Start {
				l, _ := c.f.Pos(b.Start)
				return l
			}
		case "macro_definition":
			l, _ := c.f.Pos(p.Start)
			return l
		}
	}
	return 0
}

func (c *checker) lineOf(off uint32) int { l, _ := c.f.Pos(off); return l }

// ---- unsafe blocks -----------------------------------------------------------

var branchy = map[string]bool{"if_expression": true, "match_expression": true, "loop_expression": true,
	"while_expression": true, "for_expression": true}

// climbs lists the parents through which an unsafe block's enclosing
// statement is searched, like clippy's find_unsafe_block_parent_in_expr:
// expressions and the syntax that only exists inside an expression.
func climbs(kind string) bool {
	if strings.HasSuffix(kind, "_expression") {
		return true
	}
	switch kind {
	case "arguments", "field_initializer_list", "field_initializer", "base_field_initializer",
		"let_condition", "let_chain", "macro_invocation", "unsafe_block", "async_block",
		"generic_function", "type_arguments":
		return true
	}
	return false
}

// statementStart returns the start of the statement, let, assignment,
// const or static that holds expression n, with its attributes, or
// ok=false when clippy would only look above the block itself.
func statementStart(n *Node) (uint32, bool) {
	cur := n
	for p := cur.Parent; p != nil; cur, p = p, p.Parent {
		switch p.Kind {
		case "let_declaration", "const_item", "static_item":
			return firstAttributeStart(p), true
		case "assignment_expression", "compound_assignment_expr":
			return stmtStartOf(p), true
		case "expression_statement":
			if branchy[cur.Kind] {
				return 0, false
			}
			return firstAttributeStart(p), true
		}
		if !climbs(p.Kind) {
			if branchy[cur.Kind] {
				return 0, false
			}
			return firstAttributeStart(cur), true
		}
	}
	return 0, false
}

func stmtStartOf(n *Node) uint32 {
	if p := n.Parent; p != nil && p.Kind == "expression_statement" {
		return firstAttributeStart(p)
	}
	return n.Start
}

// blockDocumented applies clippy's checks to an unsafe block (or the
// `unsafe` token of one written inside a macro) starting at off, held by
// expression holder (nil inside a token tree).
func (c *checker) blockDocumented(n *Node, off uint32, holder *Node) bool {
	floor := c.floorFor(n)
	if c.safetyAboveLine(c.lineOf(off), floor) || c.safetySameLine(off) {
		return true
	}
	if holder != nil {
		if s, ok := statementStart(holder); ok && c.lineOf(s) < c.lineOf(off) {
			return c.safetyAboveLine(c.lineOf(s), floor)
		}
	}
	return false
}

func checkUnsafeBlocks(c *checker) {
	Walk(c.f.Root, func(n *Node) bool {
		if n.Kind == "unsafe_block" && !c.blockDocumented(n, n.Start, n) && !c.lintAllowed(n, c.rule.ID) {
			c.reportSpan(n.Start, n.Start+uint32(len("unsafe")), "unsafe block has no // SAFETY: comment right before it")
		}
		return true
	})
	for _, tt := range c.tokenTrees {
		toks := tokenLeaves(tt)
		for i, t := range toks {
			if t.Kind != "unsafe" || c.tokText(toks, i+1) != "{" {
				continue
			}
			if c.blockDocumented(t, t.Start, nil) || c.tokenStatementDocumented(toks, i) || c.macroHolderDocumented(tt, t) || c.lintAllowed(t, c.rule.ID) {
				continue
			}
			c.reportSpan(t.Start, t.End, "unsafe block (inside a macro) has no // SAFETY: comment right before it")
		}
	}
}

// tokenStatementDocumented looks above the start of the token "statement"
// that holds toks[i]: tokens back to the previous ; { } or =>.
func (c *checker) tokenStatementDocumented(toks []*Node, i int) bool {
	floor := c.floorFor(toks[i])
	line := c.lineOf(toks[i].Start)
	stop := false
	for j := i - 1; j >= 0 && !stop; j-- {
		switch c.f.Text(toks[j]) {
		case ";", "}", "=>":
			stop = true
			if j+1 < i && c.lineOf(toks[j+1].Start) < line {
				return c.safetyAboveLine(c.lineOf(toks[j+1].Start), floor)
			}
		case "{":
			stop = true
			if j+1 < i && c.lineOf(toks[j+1].Start) < line && c.safetyAboveLine(c.lineOf(toks[j+1].Start), floor) {
				return true
			}
		case "let", "static", "const":
			// the statement that holds the block, even across $( ... )
			if c.lineOf(toks[j].Start) < line && c.safetyAboveLine(c.lineOf(toks[j].Start), floor) {
				return true
			}
		}
	}
	return false
}

// macroHolderDocumented: `// SAFETY: ...` above a statement whose
// expression is a macro invocation taking the unsafe block as argument.
func (c *checker) macroHolderDocumented(tt, t *Node) bool {
	inv := tt.Parent
	if inv == nil || inv.Kind != "macro_invocation" {
		return false
	}
	s, ok := statementStart(inv)
	if !ok || c.lineOf(s) >= c.lineOf(t.Start) {
		return false
	}
	floor := 0
	for p := inv.Parent; p != nil; p = p.Parent {
		if p.Kind == "function_item" {
			floor = c.lineOf(p.Start)
			break
		}
	}
	return c.safetyAboveLine(c.lineOf(s), floor)
}

// ---- unsafe impls -------------------------------------------------------------

// itemFloor is the line of the end of the previous item at the same level
// (or the start of the parent), above which no comment can document n.
func (c *checker) itemFloor(n *Node) int {
	for p := n.Prev; p != nil; p = p.Prev {
		if isComment(p) || p.Kind == "attribute_item" {
			continue
		}
		return c.lineOf(p.End - 1)
	}
	if n.Parent != nil && n.Parent.Kind != "source_file" {
		return c.lineOf(n.Parent.Start)
	}
	return 0
}

func checkUnsafeImpls(c *checker) {
	Walk(c.f.Root, func(n *Node) bool {
		if n.Kind == "impl_item" && n.FirstChild != nil && n.FirstChild.Kind == "unsafe" {
			floor := c.itemFloor(n)
			// Like clippy, the comment goes right above the impl; rko also
			// accepts it above the impl's attributes.
			if !c.safetyAboveLine(c.lineOf(n.Start), floor) && !c.safetyAboveLine(c.lineOf(firstAttributeStart(n)), floor) &&
				!c.safetySameLine(n.Start) && !c.lintAllowed(n, c.rule.ID) {
				c.reportSpan(n.Start, n.Start+uint32(len("unsafe")), "unsafe impl has no // SAFETY: comment right before it")
			}
		}
		return true
	})
	for _, tt := range c.tokenTrees {
		toks := tokenLeaves(tt)
		for i, t := range toks {
			if t.Kind != "unsafe" || c.tokText(toks, i+1) != "impl" {
				continue
			}
			// Allow attributes (#[...]) between the comment and the impl.
			j := i
			for j >= 2 && c.tokText(toks, j-1) == "]" {
				k := j - 1
				for k > 0 && c.tokText(toks, k) != "#" {
					k--
				}
				j = k
			}
			if c.blockDocumented(t, t.Start, nil) || c.safetyAboveLine(c.lineOf(toks[j].Start), c.floorFor(t)) || c.lintAllowed(t, c.rule.ID) {
				continue
			}
			c.reportSpan(t.Start, t.End, "unsafe impl (inside a macro) has no // SAFETY: comment right before it")
		}
	}
}

// ---- unsafe fn / trait docs --------------------------------------------------

var safetyHeading = regexp.MustCompile(`(?im)^\s*#+\s*safety\s*$`)

// docText returns the doc comments and #[doc = "..."] attributes of item n.
func (c *checker) docText(n *Node) string {
	var sb strings.Builder
	for _, a := range attributes(n) {
		switch {
		case isDocComment(a):
			t := c.f.Text(a)
			t = strings.TrimPrefix(t, "///")
			t = strings.TrimPrefix(t, "/**")
			t = strings.TrimSuffix(t, "*/")
			sb.WriteString(t)
			sb.WriteString("\n")
		case a.Kind == "attribute_item" && strings.Contains(c.f.Text(a), "doc"):
			sb.WriteString(c.f.Text(a))
			sb.WriteString("\n")
		}
	}
	return sb.String()
}

func isPub(c *checker, n *Node) bool {
	v := n.ChildOfKind("visibility_modifier")
	return v != nil && strings.TrimSpace(c.f.Text(v)) == "pub"
}

func hasUnsafeModifier(n *Node) bool {
	if m := n.ChildOfKind("function_modifiers"); m != nil {
		return m.ChildOfKind("unsafe") != nil
	}
	return false
}

// inPubTrait reports whether n is an item of a `pub trait`.
func inPubTrait(c *checker, n *Node) bool {
	p := n.Parent
	if p == nil || p.Kind != "declaration_list" || p.Parent == nil || p.Parent.Kind != "trait_item" {
		return false
	}
	return isPub(c, p.Parent)
}

func inForeignOrTraitImpl(n *Node) bool {
	p := n.Parent
	if p == nil || p.Parent == nil {
		return false
	}
	switch p.Parent.Kind {
	case "foreign_mod_item":
		return true
	case "impl_item":
		return p.Parent.ChildByField("trait") != nil
	}
	return false
}

func checkUnsafeFnDocs(c *checker) {
	Walk(c.f.Root, func(n *Node) bool {
		switch n.Kind {
		case "function_item", "function_signature_item":
			if !hasUnsafeModifier(n) || inForeignOrTraitImpl(n) || !(isPub(c, n) || inPubTrait(c, n)) {
				return true
			}
			if !safetyHeading.MatchString(c.docText(n)) && !c.lintAllowed(n, c.rule.ID) {
				id, name := nameOf(c, n)
				c.report(id, "public unsafe fn %s has no # Safety section in its doc comment", name)
			}
		case "trait_item":
			if n.ChildOfKind("unsafe") != nil && isPub(c, n) && !safetyHeading.MatchString(c.docText(n)) && !c.lintAllowed(n, c.rule.ID) {
				id, name := nameOf(c, n)
				c.report(id, "public unsafe trait %s has no # Safety section in its doc comment", name)
			}
		}
		return true
	})
}

// nameOf returns the name node of an item (the item itself when the
// parser lost the name) and its text.
func nameOf(c *checker, n *Node) (*Node, string) {
	if id := n.ChildByField("name"); id != nil {
		return id, c.f.Text(id)
	}
	return n, "?"
}
