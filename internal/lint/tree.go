package lint

import (
	"bytes"
	"fmt"
	"sort"
	"sync"

	sitter "github.com/tree-sitter/go-tree-sitter"
	rust "github.com/tree-sitter/tree-sitter-rust/bindings/go"
)

// Node is one node of a Rust syntax tree, copied out of tree-sitter into
// Go memory once per file so that rules can walk parents and siblings
// without a cgo call per step.
type Node struct {
	// Kind is the tree-sitter node kind ("unsafe_block", "identifier",
	// "{" for anonymous tokens, "ERROR" for a parse error).
	Kind string
	// Field is the field name under which the parent holds this node, or "".
	Field string
	// Named is false for anonymous tokens such as "unsafe" or "::".
	Named bool
	// Start and End are byte offsets into the file.
	Start, End uint32

	Parent, FirstChild, LastChild, Next, Prev *Node
}

// ChildByField returns the first child held under field, or nil.
func (n *Node) ChildByField(field string) *Node {
	for c := n.FirstChild; c != nil; c = c.Next {
		if c.Field == field {
			return c
		}
	}
	return nil
}

// ChildOfKind returns the first child of the given kind, or nil.
func (n *Node) ChildOfKind(kind string) *Node {
	for c := n.FirstChild; c != nil; c = c.Next {
		if c.Kind == kind {
			return c
		}
	}
	return nil
}

func isComment(n *Node) bool { return n.Kind == "line_comment" || n.Kind == "block_comment" }

// File is a parsed Rust source file.
type File struct {
	// Path is the path as given to the linter (used in findings).
	Path string
	// Src is the file content.
	Src []byte
	// Root is the source_file node; never nil after a successful parse.
	Root *Node
	// HasError reports whether tree-sitter recovered from a syntax error
	// somewhere in the file; rules still run on the partial tree.
	HasError bool

	lineStarts []uint32
	nodes      []Node
}

// Text returns the source text of n.
func (f *File) Text(n *Node) string { return string(f.Src[n.Start:n.End]) }

// Pos returns the 1-based line and column (in bytes) of a byte offset.
func (f *File) Pos(off uint32) (line, col int) {
	i := sort.Search(len(f.lineStarts), func(i int) bool { return f.lineStarts[i] > off }) - 1
	if i < 0 {
		i = 0
	}
	return i + 1, int(off-f.lineStarts[i]) + 1
}

// Line returns the text of 1-based line n without its newline.
func (f *File) Line(n int) string {
	if n < 1 || n > len(f.lineStarts) {
		return ""
	}
	s := f.lineStarts[n-1]
	e := uint32(len(f.Src))
	if n < len(f.lineStarts) {
		e = f.lineStarts[n]
	}
	return string(bytes.TrimRight(f.Src[s:e], "\r\n"))
}

// NumLines returns the number of lines in the file.
func (f *File) NumLines() int { return len(f.lineStarts) }

// LineStart returns the byte offset of the start of 1-based line n.
func (f *File) LineStart(n int) uint32 {
	if n < 1 {
		return 0
	}
	if n > len(f.lineStarts) {
		return uint32(len(f.Src))
	}
	return f.lineStarts[n-1]
}

// Walk calls fn for n and every descendant in source order; when fn
// returns false the children of that node are skipped.
func Walk(n *Node, fn func(*Node) bool) {
	if !fn(n) {
		return
	}
	for c := n.FirstChild; c != nil; c = c.Next {
		Walk(c, fn)
	}
}

var (
	langOnce  sync.Once
	lang      *sitter.Language
	kindNames []string
	kindNamed []bool
	fieldName []string
)

func language() *sitter.Language {
	langOnce.Do(func() {
		useLibcAllocator()
		lang = sitter.NewLanguage(rust.Language())
		n := int(lang.NodeKindCount())
		kindNames = make([]string, n)
		kindNamed = make([]bool, n)
		for i := 0; i < n; i++ {
			kindNames[i] = lang.NodeKindForId(uint16(i))
			kindNamed[i] = lang.NodeKindIsNamed(uint16(i))
		}
		fc := int(lang.FieldCount())
		fieldName = make([]string, fc+1)
		for i := 1; i <= fc; i++ {
			fieldName[i] = lang.FieldNameForId(uint16(i))
		}
	})
	return lang
}

var parserPool = sync.Pool{New: func() any { return newParser() }}

type parserOrErr struct {
	p   *sitter.Parser
	err error
}

func newParser() any {
	p := sitter.NewParser()
	if err := p.SetLanguage(language()); err != nil {
		p.Close()
		return parserOrErr{err: fmt.Errorf("load the tree-sitter Rust grammar (ABI %d): %w", language().AbiVersion(), err)}
	}
	return parserOrErr{p: p}
}

// Parse parses Rust source into a File. It fails only when tree-sitter
// cannot run at all; syntax errors give a partial tree with HasError set.
func Parse(path string, src []byte) (*File, error) {
	po := parserPool.Get().(parserOrErr)
	if po.err != nil {
		parserPool.Put(po)
		return nil, po.err
	}
	f := &File{Path: path, Src: src}
	err := f.parseInto(po.p)
	parserPool.Put(po)
	if err != nil {
		return nil, err
	}
	f.lineStarts = append(f.lineStarts, 0)
	for i, b := range src {
		if b == '\n' && i+1 < len(src) {
			f.lineStarts = append(f.lineStarts, uint32(i+1))
		}
	}
	return f, nil
}

// errorKindID is the symbol tree-sitter gives ERROR nodes (ts_builtin_sym_error).
const errorKindID = 65535
