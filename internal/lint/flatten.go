package lint

/*
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

// The few declarations of tree-sitter's api.h (v0.25) this file needs. The
// definitions come from github.com/tree-sitter/go-tree-sitter's C library,
// linked into the same binary.
typedef struct TSTree TSTree;
typedef struct TSParser TSParser;
typedef struct { uint32_t context[4]; const void *id; const TSTree *tree; } TSNode;
typedef struct { const void *tree; const void *id; uint32_t context[3]; } TSTreeCursor;
TSNode ts_tree_root_node(const TSTree *self);
uint32_t ts_node_descendant_count(TSNode self);
uint16_t ts_node_symbol(TSNode self);
uint32_t ts_node_start_byte(TSNode self);
uint32_t ts_node_end_byte(TSNode self);
TSTreeCursor ts_tree_cursor_new(TSNode node);
void ts_tree_cursor_delete(TSTreeCursor *self);
TSNode ts_tree_cursor_current_node(const TSTreeCursor *self);
uint16_t ts_tree_cursor_current_field_id(const TSTreeCursor *self);
bool ts_tree_cursor_goto_first_child(TSTreeCursor *self);
bool ts_tree_cursor_goto_next_sibling(TSTreeCursor *self);
bool ts_tree_cursor_goto_parent(TSTreeCursor *self);
TSTree *ts_parser_parse_string(TSParser *self, const TSTree *old_tree, const char *string, uint32_t length);
void ts_tree_delete(TSTree *self);
bool ts_node_has_error(TSNode self);
void ts_set_allocator(void *(*new_malloc)(size_t), void *(*new_calloc)(size_t, size_t),
	void *(*new_realloc)(void *, size_t), void (*new_free)(void *));

// go-tree-sitter routes every allocation of the C library through Go
// callbacks (C -> Go -> C.malloc); libc's allocator directly is the same
// memory without the round trip, which was a sixth of lint's time.
static void rko_use_libc_allocator(void) { ts_set_allocator(malloc, calloc, realloc, free); }

// rko_parse parses a whole buffer at once; go-tree-sitter's Parse reads
// it through a Go callback per chunk.
static TSTree *rko_parse(TSParser *p, const char *src, uint32_t n) {
	return ts_parser_parse_string(p, NULL, src, n);
}

static bool rko_has_error(const TSTree *t) { return ts_node_has_error(ts_tree_root_node(t)); }

typedef struct {
	uint16_t kind, field;
	uint32_t start, end;
	int32_t parent;
} rko_flat;

// rko_flatten writes the tree in pre-order into out (cap entries) and
// returns the number written, or -1 when cap is too small. One cgo call
// per file instead of several per node.
static int32_t rko_flatten(const TSTree *tree, rko_flat *out, int32_t cap) {
	TSNode root = ts_tree_root_node(tree);
	TSTreeCursor c = ts_tree_cursor_new(root);
	int32_t n = 0, parent = -1;
	int32_t stack_parent[4096];
	int depth = 0;
	for (;;) {
		if (n >= cap) { ts_tree_cursor_delete(&c); return -1; }
		TSNode nd = ts_tree_cursor_current_node(&c);
		out[n].kind = ts_node_symbol(nd);
		out[n].field = ts_tree_cursor_current_field_id(&c);
		out[n].start = ts_node_start_byte(nd);
		out[n].end = ts_node_end_byte(nd);
		out[n].parent = parent;
		int32_t me = n++;
		if (depth < 4096 && ts_tree_cursor_goto_first_child(&c)) {
			stack_parent[depth++] = parent;
			parent = me;
			continue;
		}
		while (!ts_tree_cursor_goto_next_sibling(&c)) {
			if (depth == 0 || !ts_tree_cursor_goto_parent(&c)) {
				ts_tree_cursor_delete(&c);
				return n;
			}
			parent = stack_parent[--depth];
		}
	}
}

static uint32_t rko_descendants(const TSTree *tree) {
	return ts_node_descendant_count(ts_tree_root_node(tree));
}
*/
import "C"

import (
	"fmt"
	"unsafe"

	sitter "github.com/tree-sitter/go-tree-sitter"
)

// rawParser returns the C TSParser behind a go-tree-sitter Parser, whose
// only field is that pointer.
func rawParser(p *sitter.Parser) *C.TSParser {
	return (*C.TSParser)(*(*unsafe.Pointer)(unsafe.Pointer(p)))
}

func useLibcAllocator() { C.rko_use_libc_allocator() }

// parseInto parses f.Src with p (whose language is set) and copies the
// tree into f.
func (f *File) parseInto(p *sitter.Parser) error {
	src := f.Src
	if len(src) == 0 {
		src = []byte{0}
	}
	raw := C.rko_parse(rawParser(p), (*C.char)(unsafe.Pointer(&src[0])), C.uint32_t(len(f.Src)))
	if raw == nil {
		return fmt.Errorf("parse %s: tree-sitter returned no tree", f.Path)
	}
	defer C.ts_tree_delete(raw)
	f.HasError = bool(C.rko_has_error(raw))
	return f.flatten(raw)
}

// flatten copies the syntax tree into f.nodes with one cgo call.
func (f *File) flatten(raw *C.TSTree) error {
	n := int(C.rko_descendants(raw))
	buf := make([]C.rko_flat, n+1)
	got := int(C.rko_flatten(raw, &buf[0], C.int32_t(len(buf))))
	if got < 0 {
		return fmt.Errorf("parse %s: syntax tree has more than %d nodes", f.Path, n)
	}
	f.nodes = make([]Node, got)
	for i := 0; i < got; i++ {
		r := &buf[i]
		nd := &f.nodes[i]
		k := uint16(r.kind)
		switch {
		case k == errorKindID:
			nd.Kind, nd.Named = "ERROR", true
		case int(k) < len(kindNames):
			nd.Kind, nd.Named = kindNames[k], kindNamed[k]
		default:
			nd.Kind = fmt.Sprintf("kind%d", k)
		}
		if fid := int(r.field); fid != 0 && fid < len(fieldName) {
			nd.Field = fieldName[fid]
		}
		nd.Start, nd.End = uint32(r.start), uint32(r.end)
		if p := int(r.parent); p >= 0 {
			par := &f.nodes[p]
			nd.Parent = par
			if par.LastChild != nil {
				par.LastChild.Next = nd
				nd.Prev = par.LastChild
			} else {
				par.FirstChild = nd
			}
			par.LastChild = nd
		}
	}
	if got == 0 {
		return fmt.Errorf("parse %s: empty syntax tree", f.Path)
	}
	f.Root = &f.nodes[0]
	return nil
}
