package kdoc

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rkodev/rko/internal/cache"
	"github.com/rkodev/rko/internal/kernel"
)

func loadTest(t *testing.T) *Index {
	t.Helper()
	ix, err := LoadIndex("testdata/doc")
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

func TestLoadIndex(t *testing.T) {
	ix := loadTest(t)
	byPath := map[string]*Item{}
	for i := range ix.Items {
		byPath[ix.Items[i].Path()] = &ix.Items[i]
	}
	tests := []struct {
		path, kind, href, doc string
		deprecated            bool
	}{
		{"kernel", "mod", "kernel/index.html", "kern: a crate shaped like the kernel crate, for rko’s …", false},
		{"kernel::alloc::kvec::KVec", "type", "kernel/alloc/kvec/type.KVec.html", "A <code>Vec</code> on kmalloc.", false},
		{"kernel::alloc::kvec::Vec::push", "method", "kernel/alloc/kvec/struct.Vec.html#method.push", "Appends <code>v</code>, growing with <code>flags</code>.", false},
		{"kernel::sync::Mutex::data", "structfield", "kernel/sync/struct.Mutex.html#structfield.data", "The protected data.", false},
		{"kernel::sync::Backend::lock", "tymethod", "kernel/sync/trait.Backend.html#tymethod.lock", "Takes the lock.", false},
		{"kernel::sync::old_lock", "fn", "kernel/sync/fn.old_lock.html", "An old thing.", true},
		{"kernel::Error::ENOMEM", "variant", "kernel/enum.Error.html#variant.ENOMEM", "Out of memory.", false},
		{"kernel::pr_info", "macro", "kernel/macro.pr_info.html", "Prints at info level.", false},
		{"kernel::miscdevice", "mod", "kernel/miscdevice/index.html", "Miscellaneous devices.", false},
	}
	for _, tt := range tests {
		it := byPath[tt.path]
		if it == nil {
			t.Errorf("no item %s in the index", tt.path)
			continue
		}
		if it.Kind != tt.kind || it.Href != tt.href || it.Doc != tt.doc || it.Deprecated != tt.deprecated {
			t.Errorf("%s = kind %q href %q doc %q deprecated %v\nwant kind %q href %q doc %q deprecated %v",
				tt.path, it.Kind, it.Href, it.Doc, it.Deprecated, tt.kind, tt.href, tt.doc, tt.deprecated)
		}
	}
}

func TestQuery(t *testing.T) {
	ix := loadTest(t)
	src, _ := filepath.Abs("testdata/crate")
	opts := QueryOpts{Crates: []string{"kernel"}}
	roots := map[string][]string{"kernel": {src}}
	tests := []struct {
		query, first, sig string
		line              int
	}{
		// KVec is an alias of Vec: its push is Vec's.
		{"KVec::push", "kernel::alloc::kvec::Vec::push", "pub fn push(&mut self, v: T, flags: u32) -> Result<(), ()>", 17},
		{"miscdevice", "kernel::miscdevice", "mod miscdevice", 45},
		{"mutex", "kernel::sync::Mutex", "pub struct Mutex<T> { pub data: T, }", 24},
		{"kvec", "kernel::alloc::kvec", "mod kvec", 5},
		{"Mutex::data", "kernel::sync::Mutex::data", "data: T", 0}, // rustdoc links no source for a field
		{"kernel::sync::lock", "kernel::sync::Backend::lock", "fn lock(&self)", 31},
		{"pr_info", "kernel::pr_info", "macro_rules! pr_info { () => { ... }; }", 44},
	}
	for _, tt := range tests {
		ms := ix.Search(tt.query, opts.Crates, ix.AliasTarget, 5)
		if len(ms) == 0 {
			t.Errorf("%s: no match", tt.query)
			continue
		}
		if got := ms[0].Path(); got != tt.first {
			var all []string
			for _, m := range ms {
				all = append(all, fmt.Sprintf("%s(%d)", m.Path(), m.Score))
			}
			t.Errorf("%s: first match %s, want %s (all: %s)", tt.query, got, tt.first, strings.Join(all, " "))
			continue
		}
		d := ix.Details(ms[0].Item, roots)
		file := filepath.Join(src, "lib.rs")
		if tt.line == 0 {
			file = ""
		}
		if d.Signature != tt.sig || d.File != file || d.Line != tt.line {
			t.Errorf("%s: details %+v, want signature %q at lib.rs:%d", tt.query, d, tt.sig, tt.line)
		}
	}
	// Deprecated items come after others of the same quality.
	if ms := ix.Search("lock", opts.Crates, nil, 0); len(ms) < 2 || ms[len(ms)-1].Name != "old_lock" {
		t.Errorf("lock: deprecated old_lock is not last: %v", ms)
	}
	// No match: the closest names.
	a := ix.Query("Mutx", opts)
	if len(a.Results) != 0 || len(a.Closest) == 0 || a.Closest[0] != "kernel::sync::Mutex" {
		t.Errorf("Mutx: results %v, closest %v; want the closest to be kernel::sync::Mutex", a.Results, a.Closest)
	}
	if a := ix.Query("zzzzzzzzzz", opts); len(a.Results) != 0 || len(a.Closest) != 0 {
		t.Errorf("nonsense query: %+v", a)
	}
	// The default crates do not include core's neighbours.
	if ms := ix.Search("Mutex", []string{"pin_init"}, nil, 0); len(ms) != 0 {
		t.Errorf("search of another crate found %v", ms)
	}
}

func TestFindAbsent(t *testing.T) {
	src, cfg := "testdata/absent", "testdata/absent/build/include/generated/rustc_cfg"
	tests := []struct {
		query   string
		path    string // "" = nothing absent
		options string
	}{
		{"GenDisk", "kernel::block::mq::GenDisk", "CONFIG_BLOCK"},
		{"kernel::block", "kernel::block", "CONFIG_BLOCK"},
		{"lockdep_assert_held", "kernel::sync::lockdep_assert_held", "CONFIG_PROVE_LOCKING"},
		{"I2cClient", "kernel::i2c::I2cClient", "CONFIG_I2C=y"}, // it is m
		{"PhyDevice", "", ""}, // NET on, TINY off: present
		{"maybe", "", ""},     // target_arch is not decided
		{"Mutex", "", ""},
		{"net::GenDisk", "", ""}, // the path does not fit
	}
	for _, tt := range tests {
		got := FindAbsent(src, cfg, tt.query)
		if tt.path == "" {
			if len(got) != 0 {
				t.Errorf("%s: absent %+v, want nothing", tt.query, got)
			}
			continue
		}
		if len(got) == 0 || got[0].Path != tt.path || strings.Join(got[0].Options, ",") != tt.options {
			t.Errorf("%s: absent %+v, want %s needing %s", tt.query, got, tt.path, tt.options)
		}
	}
}

func TestParseCfg(t *testing.T) {
	cfg := rustcCfg{"CONFIG_A": nil, "CONFIG_M": {"m"}}
	tests := []struct {
		in   string
		want tri
	}{
		{"CONFIG_A", cfgTrue},
		{"CONFIG_B", cfgFalse},
		{`CONFIG_M = "m"`, cfgTrue},
		{`CONFIG_M="y"`, cfgFalse},
		{"not(CONFIG_B)", cfgTrue},
		{"all(CONFIG_A, CONFIG_B)", cfgFalse},
		{"any(CONFIG_A, CONFIG_B)", cfgTrue},
		{`any(target_arch = "x86", CONFIG_B)`, cfgUnknown},
		{`all(target_arch = "x86", CONFIG_B)`, cfgFalse},
		{"not(doc)", cfgUnknown},
	}
	for _, tt := range tests {
		e, err := parseCfg(tt.in)
		if err != nil {
			t.Errorf("parseCfg(%q): %v", tt.in, err)
			continue
		}
		if got := e.eval(cfg); got != tt.want {
			t.Errorf("eval(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	for _, bad := range []string{"", "all(", "x = y", "not(A, B)", ")"} {
		if _, err := parseCfg(bad); err == nil {
			t.Errorf("parseCfg(%q) accepted", bad)
		}
	}
}

func TestVLQ(t *testing.T) {
	// From a real index: "``f0000`000`n000`000" is the parents of 20
	// items (0, 0, 3, then backreferences to 3, ...).
	d := &vlqDecoder{s: "``f0000`000`n000`000"}
	var got []int
	for i := 0; i < 20; i++ {
		v, err := d.next()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	want := "[0 0 3 3 3 3 3 0 3 3 3 0 7 7 7 7 0 7 7 7]"
	if fmt.Sprint(got) != want {
		t.Errorf("decoded %v, want %s", got, want)
	}
	if _, err := d.next(); err == nil {
		t.Error("decoding past the end did not fail")
	}
}

func TestServe(t *testing.T) {
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- Serve(ctx, ln, "testdata/doc") }()
	resp, err := http.Get(URL(ln))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "kernel") {
		t.Errorf("GET %s: %d", URL(ln), resp.StatusCode)
	}
	// The same port again is in use, said so.
	if _, err := Listen(ln.Addr().String()); err == nil || !strings.Contains(err.Error(), "is in use") {
		t.Errorf("Listen on a port in use: %v", err)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not stop")
	}
	// A bare port means loopback.
	l2, err := Listen("0")
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if h, _, _ := net.SplitHostPort(l2.Addr().String()); h != "127.0.0.1" {
		t.Errorf("Listen(\"0\") is on %s, want 127.0.0.1", h)
	}
	if _, err := Listen("not an address:x:y"); err == nil {
		t.Error("a bad address was accepted")
	}
}

func TestDir(t *testing.T) {
	t.Setenv("RKO_CACHE", t.TempDir())
	root, _ := cache.Sub("kernels")
	in := &kernel.Kernel{Dir: filepath.Join(root, "abc"), BuildDir: filepath.Join(root, "abc", "build")}
	if got := Dir(in); got != filepath.Join(root, "abc", "rustdoc") {
		t.Errorf("Dir of a cached kernel = %s", got)
	}
	user := &kernel.Kernel{Dir: "/home/u/linux/build", BuildDir: "/home/u/linux/build"}
	if got := Dir(user); strings.HasPrefix(got, "/home/u") {
		t.Errorf("Dir of the user's kernel tree = %s: inside their tree", got)
	}
}
