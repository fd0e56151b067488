package kdoc

import (
	"sort"
	"strings"
)

// DefaultCrates are searched unless the caller names others: the crates
// a module is written against.
var DefaultCrates = []string{"kernel", "macros", "pin_init", "ffi"}

// Match is an item found by Search, with how well it matched (higher is
// better).
type Match struct {
	*Item
	Score int
}

// kindRank orders equally good matches: the things a module author looks
// up first.
var kindRank = map[string]int{
	"mod": 9, "struct": 9, "trait": 9, "enum": 9, "type": 8, "macro": 8, "fn": 8, "derive": 7, "attr": 7,
	"union": 7, "constant": 6, "static": 6, "method": 5, "tymethod": 5, "variant": 4, "associatedtype": 4,
	"associatedconstant": 4, "structfield": 3, "primitive": 2, "keyword": 1, "import": 1,
}

// Search finds the items whose path matches query, best first. A query is
// a name or a path ("KVec::push", "kernel::sync::Mutex", "miscdevice");
// the last segment is matched against item names (exactly, by prefix or
// as a substring, ignoring case and underscores as rustdoc does) and the
// ones before it must appear in order in the item's path. An alias in
// the path (KVec) is resolved through aliases, which maps a type alias's
// path to its target's (from the alias's page). crates limits the
// search (nil: DefaultCrates; "all": every crate).
func (ix *Index) Search(query string, crates []string, aliases func(*Item) string, limit int) []Match {
	segs := splitPath(query)
	if len(segs) == 0 {
		return nil
	}
	want := crateSet(crates)
	exact := segs[len(segs)-1]
	name := normalize(exact)
	parents := segs[:len(segs)-1]
	// An alias named in the path stands for its target too.
	altParents := [][]string{parents}
	if len(parents) > 0 && aliases != nil {
		last := normalize(parents[len(parents)-1])
		for i := range ix.Items {
			it := &ix.Items[i]
			if it.Kind == "type" && normalize(it.Name) == last && want(it.Crate) {
				if target := aliases(it); target != "" {
					alt := append(append([]string(nil), parents[:len(parents)-1]...), splitPath(target)...)
					altParents = append(altParents, alt)
				}
			}
		}
	}
	var out []Match
	for i := range ix.Items {
		it := &ix.Items[i]
		if !want(it.Crate) {
			continue
		}
		n := normalize(it.Name)
		var s int
		switch {
		case n == name:
			s = 300
		case strings.HasPrefix(n, name):
			s = 200
		case strings.Contains(n, name):
			s = 100
		default:
			continue
		}
		if it.Name == exact {
			s += 30 // the same case too: Mutex the type before mutex the module
		}
		pathOK := false
		for _, ps := range altParents {
			if inOrder(splitPath(it.Module+"::"+it.Parent), ps) {
				pathOK = true
				if len(ps) > 0 {
					s += 50 // the path said where, and it is there
				}
				break
			}
		}
		if !pathOK {
			continue
		}
		s += kindRank[it.Kind] * 5
		s -= strings.Count(it.Path(), "::") // shorter paths first
		if it.Deprecated {
			s -= 40
		}
		if it.Doc == "" && it.Parent != "" {
			s -= 20 // blanket-impl methods (borrow, into...) last
		}
		out = append(out, Match{Item: it, Score: s})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score > out[j].Score
		}
		return out[i].Path() < out[j].Path()
	})
	// One entry per path: a method implemented for several types in one
	// page shows once per type, not once per impl.
	seen := map[string]bool{}
	dedup := out[:0]
	for _, m := range out {
		if seen[m.Href] {
			continue
		}
		seen[m.Href] = true
		dedup = append(dedup, m)
	}
	if limit > 0 && len(dedup) > limit {
		dedup = dedup[:limit]
	}
	return dedup
}

// Closest returns up to n item names nearest to query's last segment by
// edit distance, for a query that matched nothing.
func (ix *Index) Closest(query string, crates []string, n int) []string {
	segs := splitPath(query)
	if len(segs) == 0 {
		return nil
	}
	q := normalize(segs[len(segs)-1])
	want := crateSet(crates)
	best := map[string]int{}
	for i := range ix.Items {
		it := &ix.Items[i]
		if !want(it.Crate) {
			continue
		}
		p := it.Path()
		if _, ok := best[p]; ok {
			continue
		}
		d := levenshtein(q, normalize(it.Name))
		if d <= max(2, len(q)/2) {
			best[p] = d*10 - kindRank[it.Kind]
		}
	}
	var names []string
	for p := range best {
		names = append(names, p)
	}
	sort.Slice(names, func(i, j int) bool {
		if best[names[i]] != best[names[j]] {
			return best[names[i]] < best[names[j]]
		}
		return names[i] < names[j]
	})
	if len(names) > n {
		names = names[:n]
	}
	return names
}

func crateSet(crates []string) func(string) bool {
	if len(crates) == 0 {
		crates = DefaultCrates
	}
	set := map[string]bool{}
	for _, c := range crates {
		if c == "all" {
			return func(string) bool { return true }
		}
		set[c] = true
	}
	return func(c string) bool { return set[c] }
}

// splitPath splits "a::b::c" (or "a.b", as typed in a hurry) into
// segments.
func splitPath(s string) []string {
	s = strings.ReplaceAll(strings.TrimSpace(s), ".", "::")
	var out []string
	for _, p := range strings.Split(s, "::") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// normalize folds case and underscores, as rustdoc's search does.
func normalize(s string) string { return strings.ReplaceAll(strings.ToLower(s), "_", "") }

// inOrder reports whether every segment of want appears in path, in
// order, each as a whole segment: ignoring case when the query's segment
// is all lower case, exactly when it has capitals (KVec is the type, not
// the module kvec).
func inOrder(path, want []string) bool {
	i := 0
	for _, p := range path {
		if i == len(want) {
			break
		}
		w := want[i]
		if w == p || (strings.ToLower(w) == w && normalize(p) == normalize(w)) {
			i++
		}
	}
	return i == len(want)
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
