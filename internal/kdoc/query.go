package kdoc

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Result is one item of a query's answer (the schema of rko doc --json,
// docs/schemas.md).
type Result struct {
	Path      string `json:"path"`
	Kind      string `json:"kind"`
	Crate     string `json:"crate"`
	Signature string `json:"signature,omitempty"`
	Doc       string `json:"doc,omitempty"`
	File      string `json:"file,omitempty"`
	Line      int    `json:"line,omitempty"`
	// URL is the item's page relative to the doc root.
	URL        string `json:"url"`
	Deprecated bool   `json:"deprecated,omitempty"`
	// AlsoAt are other paths of the same item (re-exports, a macro at
	// the crate root and in its module).
	AlsoAt []string `json:"also_at,omitempty"`
}

// Answer is everything rko doc says about one query.
type Answer struct {
	Query   string   `json:"query"`
	Kernel  string   `json:"kernel"`
	DocRoot string   `json:"doc_root"`
	Results []Result `json:"results"`
	// Absent are items of that name the kernel's config leaves out.
	Absent []Absence `json:"absent,omitempty"`
	// Closest are the nearest names when nothing matched.
	Closest []string `json:"closest,omitempty"`
}

// QueryOpts configures Query.
type QueryOpts struct {
	Crates []string // nil: DefaultCrates
	Limit  int
	// SourceDir and BuildDir are the kernel's trees; SysrootLib is the
	// toolchain's library directory on the host (for core's sources).
	SourceDir, BuildDir, SysrootLib string
}

// Query answers q from ix: the matches with their details, else the
// items the config leaves out (with the options that would bring them
// in), else the closest names.
func (ix *Index) Query(q string, o QueryOpts) *Answer {
	if o.Limit == 0 {
		o.Limit = 10
	}
	a := &Answer{Query: q, DocRoot: ix.Root, Results: []Result{}}
	crates := map[string]bool{}
	for _, it := range ix.Items {
		crates[it.Crate] = true
	}
	var names []string
	for c := range crates {
		names = append(names, c)
	}
	roots := SourceRoots(o.SourceDir, o.BuildDir, o.SysrootLib, names)
	// A re-export (pub use) or a #[macro_export] macro appears at two
	// paths; show the item once, at the first path found, with the other
	// paths as aliases.
	seen := map[string]int{}     // file:line -> result index
	defined := map[string]bool{} // names of the non-import matches
	ms := ix.Search(q, o.Crates, ix.AliasTarget, 0)
	for _, m := range ms {
		if m.Kind != "import" {
			defined[m.Name] = true
		}
	}
	for _, m := range ms {
		if len(a.Results) == o.Limit {
			break
		}
		if m.Kind == "import" && defined[m.Name] {
			continue // the item itself is among the matches
		}
		d := ix.Details(m.Item, roots)
		if d.File != "" {
			key := fmt.Sprintf("%s:%d", d.File, d.Line)
			if i, ok := seen[key]; ok {
				a.Results[i].AlsoAt = append(a.Results[i].AlsoAt, m.Path())
				continue
			}
			seen[key] = len(a.Results)
		}
		doc := d.Doc
		if doc == "" {
			doc = Text(m.Doc)
		}
		a.Results = append(a.Results, Result{
			Path: m.Path(), Kind: m.Kind, Crate: m.Crate, Signature: d.Signature, Doc: doc,
			File: d.File, Line: d.Line, URL: m.Href, Deprecated: m.Deprecated,
		})
	}
	if len(a.Results) == 0 && o.SourceDir != "" {
		a.Absent = FindAbsent(o.SourceDir, filepath.Join(o.BuildDir, "include/generated/rustc_cfg"), q)
	}
	if len(a.Results) == 0 && len(a.Absent) == 0 {
		a.Closest = ix.Closest(q, o.Crates, 8)
	}
	return a
}

// Kinds are the long names of rustdoc's kinds, for people.
var Kinds = map[string]string{
	"mod": "module", "fn": "function", "type": "type alias", "tymethod": "trait method",
	"structfield": "field", "variant": "enum variant", "associatedtype": "associated type",
	"constant": "constant", "associatedconstant": "associated constant", "attr": "attribute macro",
	"derive": "derive macro", "traitalias": "trait alias", "primitive": "primitive type",
}

// LongKind is the kind as a person says it.
func LongKind(k string) string {
	if l, ok := Kinds[k]; ok {
		return l
	}
	return strings.TrimSpace(k)
}
