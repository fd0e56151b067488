package kdoc

import (
	"reflect"
	"testing"
)

// index makes an Index of items whose pages hold the given signatures.
func index(items map[string][2]string) *Index {
	ix := &Index{pages: map[string]string{}}
	for path, v := range items {
		kind, sig := v[0], v[1]
		mod, name := path[:len(path)-len(lastSeg(path))-2], lastSeg(path)
		page := mod + "/" + kind + "." + name + ".html"
		ix.Items = append(ix.Items, Item{Crate: "kernel", Name: name, Kind: kind, Module: mod, Href: page})
		ix.pages[page] = `<pre class="rust item-decl"><code>` + sig + `</code></pre>`
	}
	return ix
}

func lastSeg(p string) string {
	for i := len(p) - 1; i > 0; i-- {
		if p[i] == ':' {
			return p[i+1:]
		}
	}
	return p
}

func TestDiffIndexes(t *testing.T) {
	old := index(map[string][2]string{
		"kernel::sync::Arc":     {"struct", "pub struct Arc&lt;T&gt; { /* private fields */ }"},
		"kernel::sync::new_arc": {"fn", "pub fn new_arc(x: u32) -&gt; Arc"},
		"kernel::old::Gone":     {"struct", "pub struct Gone;"},
	})
	new := index(map[string][2]string{
		"kernel::sync::Arc":              {"struct", "pub struct Arc&lt;T&gt; { /* private fields */ }"},
		"kernel::sync::new_arc":          {"fn", "pub fn new_arc(x: u64) -&gt; Arc"},
		"kernel::miscdevice::MiscDevice": {"trait", "pub trait MiscDevice { }"},
	})
	d := DiffIndexes(old, new, "kernel", "")
	if got := paths(d.Added); !reflect.DeepEqual(got, []string{"kernel::miscdevice::MiscDevice"}) {
		t.Errorf("added = %q", got)
	}
	if got := paths(d.Removed); !reflect.DeepEqual(got, []string{"kernel::old::Gone"}) {
		t.Errorf("removed = %q", got)
	}
	if len(d.Changed) != 1 || d.Changed[0].Path != "kernel::sync::new_arc" || d.Changed[0].Old != "pub fn new_arc(x: u32) -> Arc" || d.Changed[0].New != "pub fn new_arc(x: u64) -> Arc" {
		t.Errorf("changed = %+v", d.Changed)
	}
	d = DiffIndexes(old, new, "kernel", "kernel::sync")
	if len(d.Added)+len(d.Removed) != 0 || len(d.Changed) != 1 {
		t.Errorf("under kernel::sync: %+v", d)
	}
}

func paths(items []DiffItem) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.Path)
	}
	return out
}

func TestSignature(t *testing.T) {
	ix := index(map[string][2]string{"kernel::sync::new_arc": {"fn", "pub fn new_arc(x: u32) -&gt; Arc"}})
	if sig, ok := ix.Signature("kernel", "kernel::sync::new_arc"); !ok || sig != "pub fn new_arc(x: u32) -> Arc" {
		t.Errorf("Signature = %q, %v", sig, ok)
	}
	if _, ok := ix.Signature("kernel", "kernel::sync::gone"); ok {
		t.Error("Signature of an item that is not there")
	}
}
