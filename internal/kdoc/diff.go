package kdoc

import (
	"sort"
	"strings"
)

// DiffItem is one item of a Diff: its path and kind, and its signature
// in the old and the new kernel (one of them empty for an added or a
// removed item). An item with several entries of the same path and kind
// (a method of several trait impls) has their signatures joined by " | ".
type DiffItem struct {
	Path string `json:"path"`
	Kind string `json:"kind"`
	Old  string `json:"old,omitempty"`
	New  string `json:"new,omitempty"`
}

// Diff is what changed in a crate's items between two kernels' rustdoc
// (rko doc --diff A B [PATH]; docs/schemas.md#rko-doc---diff---json).
type Diff struct {
	Old   string `json:"old"`
	New   string `json:"new"`
	Crate string `json:"crate"`
	// Prefix limits the items to a path and those under it
	// ("kernel::sync"); "" is the whole crate.
	Prefix  string     `json:"prefix,omitempty"`
	Added   []DiffItem `json:"added"`
	Removed []DiffItem `json:"removed"`
	Changed []DiffItem `json:"changed"`
	Seconds float64    `json:"seconds"`
}

// DiffIndexes compares the items of crate under prefix in old and new:
// added (only in new), removed (only in old), changed (in both, with
// another signature as rustdoc prints it), each sorted by path.
func DiffIndexes(old, new *Index, crate, prefix string) *Diff {
	d := &Diff{Crate: crate, Prefix: prefix, Added: []DiffItem{}, Removed: []DiffItem{}, Changed: []DiffItem{}}
	a, b := old.signatures(crate, prefix), new.signatures(crate, prefix)
	for k, sa := range a {
		sb, ok := b[k]
		switch {
		case !ok:
			d.Removed = append(d.Removed, DiffItem{Path: k.path, Kind: k.kind, Old: sa})
		case sa != sb:
			d.Changed = append(d.Changed, DiffItem{Path: k.path, Kind: k.kind, Old: sa, New: sb})
		}
	}
	for k, sb := range b {
		if _, ok := a[k]; !ok {
			d.Added = append(d.Added, DiffItem{Path: k.path, Kind: k.kind, New: sb})
		}
	}
	for _, l := range [][]DiffItem{d.Added, d.Removed, d.Changed} {
		sort.Slice(l, func(i, j int) bool {
			if l[i].Path != l[j].Path {
				return l[i].Path < l[j].Path
			}
			return l[i].Kind < l[j].Kind
		})
	}
	return d
}

type itemKey struct{ path, kind string }

// signatures are the items of crate under prefix by path and kind, each
// with its signature (several, sorted and joined, for a path that several
// impls share).
func (ix *Index) signatures(crate, prefix string) map[itemKey]string {
	many := map[itemKey][]string{}
	for i := range ix.Items {
		it := &ix.Items[i]
		if it.Crate != crate || it.Kind == "import" {
			continue
		}
		p := it.Path()
		if prefix != "" && p != prefix && !strings.HasPrefix(p, prefix+"::") {
			continue
		}
		k := itemKey{p, it.Kind}
		many[k] = append(many[k], ix.Details(it, nil).Signature)
	}
	out := make(map[itemKey]string, len(many))
	for k, sigs := range many {
		sort.Strings(sigs)
		out[k] = strings.Join(sigs, " | ")
	}
	return out
}

// Signature is the signature of the item at path in crate (several
// joined as in a Diff), and whether there is one.
func (ix *Index) Signature(crate, path string) (string, bool) {
	sigs := ix.signatures(crate, path)
	var out []string
	for k, sig := range sigs {
		if k.path == path {
			out = append(out, sig)
		}
	}
	sort.Strings(out)
	return strings.Join(out, " | "), len(out) > 0
}
