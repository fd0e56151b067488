package kdoc

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"
)

// itemTypes are rustdoc's item kinds, indexed by the letter of the "t"
// string minus 'A'. The table is rustdoc 1.85's (librustdoc's ItemType
// discriminants, mirrored in static.files/search-*.js); rko checks the
// search script it reads against it (checkItemTypes).
var itemTypes = []string{"keyword", "primitive", "mod", "externcrate", "import", "struct", "enum", "fn",
	"type", "static", "trait", "impl", "tymethod", "method", "structfield", "variant", "macro",
	"associatedtype", "constant", "associatedconstant", "union", "foreigntype", "existential",
	"attr", "derive", "traitalias", "generic"}

// Item is one entry of rustdoc's search index.
type Item struct {
	Crate string
	Name  string
	Kind  string // rustdoc's short kind: struct, fn, method, mod...
	// Module is the module path the item is in (kernel::sync).
	Module string
	// Parent is the type or trait an associated item belongs to (its
	// kind and name), empty for a free item.
	ParentKind, Parent string
	// Doc is the first paragraph of the item's documentation, as HTML.
	Doc string
	// Href is the item's page (and anchor) relative to the doc root.
	Href       string
	Deprecated bool
}

// Path is the item's full path: module, parent, name.
func (it *Item) Path() string {
	switch {
	case it.Kind == "mod" && it.Module == "":
		return it.Name
	case it.Parent != "":
		return it.Module + "::" + it.Parent + "::" + it.Name
	case it.Module == "":
		return it.Name
	}
	return it.Module + "::" + it.Name
}

// Index is the search data of one rustdoc output directory.
type Index struct {
	Root  string
	Items []Item

	pages map[string]string // pages read by Details
}

// rawCrate is one crate of search-index.js (rustdoc 1.85's field names:
// librustdoc/html/render/search_index.rs).
type rawCrate struct {
	T string   // "t": item kinds, one letter each
	N []string // "n": names ("" repeats the last)
	Q [][2]any // "q": [item index, module path], sparse
	I string   // "i": parent indexes into p, VLQ hex
	P [][]any  // "p": parent types: [kind, name, path index?, ...]
	B [][2]any // "b": impl disambiguators: [item index, anchor prefix]
	C string   // "c": deprecated items, roaring bitmap
	E string   // "e": items with no description, roaring bitmap
	D string   // "D": description shard lengths, VLQ hex
}

var searchIndexRE = regexp.MustCompile(`(?s)var searchIndex = new Map\(JSON\.parse\('(.*)'\)\);`)

// LoadIndex reads root/search-index.js and the description shards in
// root/search.desc.
func LoadIndex(root string) (*Index, error) {
	data, err := os.ReadFile(filepath.Join(root, "search-index.js"))
	if err != nil {
		return nil, err
	}
	m := searchIndexRE.FindSubmatch(data)
	if m == nil {
		return nil, fmt.Errorf("%s is not in rustdoc 1.85's format (no searchIndex map): rebuild the docs with rko doc --rebuild", filepath.Join(root, "search-index.js"))
	}
	js, err := unescapeJSString(m[1])
	if err != nil {
		return nil, fmt.Errorf("search-index.js: %w", err)
	}
	var crates [][2]json.RawMessage
	if err := json.Unmarshal(js, &crates); err != nil {
		return nil, fmt.Errorf("search-index.js: %w", err)
	}
	if err := checkItemTypes(root); err != nil {
		return nil, err
	}
	ix := &Index{Root: root}
	for _, c := range crates {
		var name string
		var rc rawCrate
		if err := json.Unmarshal(c[0], &name); err != nil {
			return nil, fmt.Errorf("search-index.js: %w", err)
		}
		if err := decodeExact(c[1], &rc); err != nil {
			return nil, fmt.Errorf("search-index.js, crate %s: %w", name, err)
		}
		items, err := decodeCrate(root, name, &rc)
		if err != nil {
			return nil, fmt.Errorf("search-index.js, crate %s: %w", name, err)
		}
		ix.Items = append(ix.Items, items...)
	}
	return ix, nil
}

// decodeExact decodes a crate's object into rc by exact key: its keys
// differ only in case ("p" parents, "P" parameter names), which
// encoding/json would match to the same field.
func decodeExact(data []byte, rc *rawCrate) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	fields := map[string]any{"t": &rc.T, "n": &rc.N, "q": &rc.Q, "i": &rc.I, "p": &rc.P, "b": &rc.B,
		"c": &rc.C, "e": &rc.E, "D": &rc.D}
	for k, dst := range fields {
		if raw, ok := m[k]; ok {
			if err := json.Unmarshal(raw, dst); err != nil {
				return fmt.Errorf("field %q: %w", k, err)
			}
		}
	}
	return nil
}

// unescapeJSString undoes the escaping of a single-quoted JavaScript
// string literal as rustdoc writes it (backslash escapes only).
func unescapeJSString(s []byte) ([]byte, error) {
	var b bytes.Buffer
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		i++
		if i == len(s) {
			return nil, fmt.Errorf("truncated escape")
		}
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 'u':
			if i+4 >= len(s) {
				return nil, fmt.Errorf("truncated \\u escape")
			}
			r, err := strconv.ParseUint(string(s[i+1:i+5]), 16, 32)
			if err != nil {
				return nil, err
			}
			b.WriteRune(rune(r))
			i += 4
		default: // \\, \', \"
			b.WriteByte(s[i])
		}
	}
	return b.Bytes(), nil
}

// decodeCrate expands one crate's compact data as search.js's buildIndex
// does: the crate itself is item 0 (bit 0 of the bitmaps), its items
// follow.
func decodeCrate(root, crate string, rc *rawCrate) ([]Item, error) {
	empty, err := bitmap(rc.E)
	if err != nil {
		return nil, fmt.Errorf(`"e": %w`, err)
	}
	deprecated, err := bitmap(rc.C)
	if err != nil {
		return nil, fmt.Errorf(`"c": %w`, err)
	}
	descs, err := loadDescs(root, crate)
	if err != nil {
		return nil, err
	}
	desc := 0 // next description
	take := func(bit int) string {
		if empty.Contains(uint32(bit)) {
			return ""
		}
		d := ""
		if desc < len(descs) {
			d = descs[desc]
		}
		desc++
		return d
	}
	paths := map[int]string{}
	for _, q := range rc.Q {
		i, ok1 := q[0].(float64)
		p, ok2 := q[1].(string)
		if ok1 && ok2 {
			paths[int(i)] = p
		}
	}
	type parent struct{ kind, name string }
	var parents []parent
	for _, p := range rc.P {
		var pp parent
		if len(p) >= 2 {
			if k, ok := p[0].(float64); ok && int(k) < len(itemTypes) {
				pp.kind = itemTypes[int(k)]
			}
			pp.name, _ = p[1].(string)
		}
		parents = append(parents, pp)
	}
	disamb := map[int]string{}
	for _, b := range rc.B {
		i, ok1 := b[0].(float64)
		s, ok2 := b[1].(string)
		if ok1 && ok2 {
			disamb[int(i)] = s
		}
	}
	items := []Item{{Crate: crate, Name: crate, Kind: "mod", Href: crate + "/index.html", Doc: take(0)}}
	parentIdx := &vlqDecoder{s: rc.I}
	if len(rc.N) != len(rc.T) {
		return nil, fmt.Errorf("%d names for %d items", len(rc.N), len(rc.T))
	}
	lastName, lastPath := "", ""
	for i := 0; i < len(rc.T); i++ {
		k := int(rc.T[i]) - 'A'
		if k < 0 || k >= len(itemTypes) {
			return nil, fmt.Errorf("item %d has an unknown kind %q", i, rc.T[i])
		}
		name := rc.N[i]
		if name == "" {
			name = lastName
		}
		path, ok := paths[i]
		if !ok {
			path = lastPath
		}
		pi, err := parentIdx.next()
		if err != nil {
			return nil, fmt.Errorf(`"i": %w`, err)
		}
		it := Item{Crate: crate, Name: name, Kind: itemTypes[k], Module: path, Doc: take(i + 1), Deprecated: deprecated.Contains(uint32(i + 1))}
		if pi > 0 && pi-1 < len(parents) {
			it.ParentKind, it.Parent = parents[pi-1].kind, parents[pi-1].name
		}
		it.Href = href(&it, disamb[i])
		items = append(items, it)
		lastName, lastPath = name, path
	}
	return items, nil
}

// href is search.js's buildHrefAndPath, for the kinds rko shows.
func href(it *Item, disambiguator string) string {
	dir := strings.ReplaceAll(it.Module, "::", "/")
	switch {
	case it.Kind == "mod":
		return dir + "/" + it.Name + "/index.html"
	case it.Kind == "import":
		return dir + "/index.html#reexport." + it.Name
	case it.Kind == "primitive" || it.Kind == "keyword":
		return dir + "/" + it.Kind + "." + it.Name + ".html"
	case it.Kind == "externcrate":
		return it.Name + "/index.html"
	case it.Parent != "":
		anchor := it.Kind + "." + it.Name
		pageKind, pageName := it.ParentKind, it.Parent
		if it.Kind == "structfield" && it.ParentKind == "variant" {
			i := strings.LastIndex(it.Module, "::")
			enum := it.Module[i+2:]
			dir = strings.ReplaceAll(it.Module[:i], "::", "/")
			anchor = "variant." + it.Parent + ".field." + it.Name
			pageKind, pageName = "enum", enum
		}
		if disambiguator != "" {
			anchor = disambiguator + "/" + anchor
		}
		return dir + "/" + pageKind + "." + pageName + ".html#" + anchor
	}
	return dir + "/" + it.Kind + "." + it.Name + ".html"
}

// loadDescs reads a crate's description shards in order
// (search.desc/CRATE/CRATE-desc-N-.js, each a loadedDescShard call with
// the descriptions joined by newlines).
func loadDescs(root, crate string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(root, "search.desc", crate, crate+"-desc-*-.js"))
	if err != nil {
		return nil, err
	}
	shard := func(f string) int {
		s := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), crate+"-desc-"), "-.js")
		n, _ := strconv.Atoi(s)
		return n
	}
	sort.Slice(files, func(i, j int) bool { return shard(files[i]) < shard(files[j]) })
	var out []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		i := bytes.Index(data, []byte(`", `))
		if i < 0 {
			return nil, fmt.Errorf("%s: no loadedDescShard call", f)
		}
		// searchState.loadedDescShard("crate", N, "a\nb")
		rest := data[i+3:]
		j := bytes.IndexByte(rest, ',')
		if j < 0 {
			return nil, fmt.Errorf("%s: no description string", f)
		}
		lit := bytes.TrimSpace(rest[j+1:])
		lit = bytes.TrimSuffix(lit, []byte(")"))
		var s string
		if err := json.Unmarshal(lit, &s); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out = append(out, strings.Split(s, "\n")...)
	}
	return out, nil
}

// bitmap decodes one of the index's base64 roaring bitmaps (the portable
// serialization, as rustdoc writes it).
func bitmap(s string) (*roaring.Bitmap, error) {
	b := roaring.New()
	if s == "" {
		return b, nil
	}
	data, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	if _, err := b.FromUnsafeBytes(data); err != nil {
		return nil, err
	}
	return b, nil
}

// vlqDecoder reads search.js's VLQ hex encoding of integer lists: a
// number is hex digits with the high bit (0x40.. '@'..) meaning more, the
// last digit in '`'..'o'; '`' alone is zero; '0'..'?' repeat one of the
// last sixteen distinct values decoded (a backreference).
type vlqDecoder struct {
	s       string
	off     int
	backref []int
}

func (d *vlqDecoder) next() (int, error) {
	if d.off >= len(d.s) {
		return 0, fmt.Errorf("ran out of data at %d", d.off)
	}
	c := d.s[d.off]
	if c >= '0' && c < '@' {
		d.off++
		i := int(c - '0')
		if i >= len(d.backref) {
			return 0, fmt.Errorf("backreference %d of %d", i, len(d.backref))
		}
		return d.backref[i], nil
	}
	if c == '`' {
		d.off++
		return 0, nil
	}
	v, err := d.decode()
	if err != nil {
		return 0, err
	}
	d.backref = append([]int{v}, d.backref...)
	if len(d.backref) > 16 {
		d.backref = d.backref[:16]
	}
	return v, nil
}

func (d *vlqDecoder) decode() (int, error) {
	n := 0
	for d.off < len(d.s) {
		c := d.s[d.off]
		d.off++
		n = n<<4 | int(c&0xF)
		if c >= 96 {
			sign, v := n&1, n>>1
			if sign == 1 {
				return -v, nil
			}
			return v, nil
		}
	}
	return 0, fmt.Errorf("unterminated number")
}

var itemTypesRE = regexp.MustCompile(`const itemTypes=\[([^\]]*)\]`)

// checkItemTypes compares itemTypes with the table of the search script
// rustdoc wrote beside the index, so that a rustdoc whose kinds moved is
// an error rather than a list of wrong kinds.
func checkItemTypes(root string) error {
	scripts, _ := filepath.Glob(filepath.Join(root, "static.files", "search-*.js"))
	if len(scripts) == 0 {
		return fmt.Errorf("%s has no static.files/search-*.js: not a rustdoc output directory", root)
	}
	data, err := os.ReadFile(scripts[0])
	if err != nil {
		return err
	}
	m := itemTypesRE.FindSubmatch(data)
	if m == nil {
		return fmt.Errorf("%s: no itemTypes table: a rustdoc other than 1.85's format", scripts[0])
	}
	var got []string
	for _, f := range strings.Split(string(m[1]), ",") {
		if f = strings.Trim(strings.TrimSpace(f), `"`); f != "" {
			got = append(got, f)
		}
	}
	if strings.Join(got, ",") != strings.Join(itemTypes, ",") {
		return fmt.Errorf("%s: rustdoc's item kinds are %q, rko knows %q: a rustdoc other than 1.85's format", scripts[0], got, itemTypes)
	}
	return nil
}
