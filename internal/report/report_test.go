package report

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the headers of golden files from the current output")

// goldenHeader renders what Parse found the way golden files hold it:
// one block of KEY: value lines per report, the primary first.
func goldenHeader(reps []*Report) string {
	if len(reps) == 0 {
		return "NO REPORTS\n"
	}
	var b strings.Builder
	for _, r := range reps {
		fmt.Fprintf(&b, "TITLE: %s\n", r.Title)
		fmt.Fprintf(&b, "TYPE: %s\n", r.Type)
		if r.Frame != "" {
			fmt.Fprintf(&b, "FRAME: %s\n", r.Frame)
		}
		if r.Module != "" {
			fmt.Fprintf(&b, "MODULE: %s\n", r.Module)
		}
		if r.Location != "" {
			fmt.Fprintf(&b, "LOCATION: %s\n", r.Location)
		}
		if r.Corrupted {
			b.WriteString("CORRUPTED: Y\n")
		}
		fmt.Fprintf(&b, "LINES: %d-%d\n", r.StartLine, r.EndLine)
	}
	return b.String()
}

// splitGolden separates a golden file's header from the console after
// the first blank line.
func splitGolden(data []byte) (header string, console []byte) {
	i := bytes.Index(data, []byte("\n\n"))
	if bytes.HasPrefix(data, []byte("\n")) {
		return "", data[1:]
	}
	if i < 0 {
		return string(data), nil
	}
	return string(data[:i+1]), data[i+2:]
}

func goldenFiles(t *testing.T, dir string) []string {
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		if st, err := os.Stat(f); err == nil && !st.IsDir() && !strings.HasSuffix(f, ".md") {
			out = append(out, f)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, _ := strconv.Atoi(filepath.Base(out[i]))
		b, _ := strconv.Atoi(filepath.Base(out[j]))
		if a != b {
			return a < b
		}
		return out[i] < out[j]
	})
	return out
}

// TestGolden runs Parse over every testdata/*/N file: a header of
// expected reports, a blank line, the console. -update rewrites headers.
func TestGolden(t *testing.T) {
	for _, dir := range []string{"testdata/report", "testdata/syzkaller", "testdata/real"} {
		for _, path := range goldenFiles(t, dir) {
			t.Run(path, func(t *testing.T) { checkGolden(t, path) })
		}
	}
}

// checkGolden parses the console of the golden file at path and compares
// the reports with its header; -update rewrites the header instead.
func checkGolden(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, console := splitGolden(data)
	got := goldenHeader(Parse(console))
	if *update {
		if got != want {
			if err := os.WriteFile(path, append([]byte(got+"\n"), console...), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	if got != want {
		t.Errorf("reports differ (run with -update if on purpose):\n--- got\n%s--- want\n%s", got, want)
	}
}

func TestParseFrame(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{" do_one_initcall+0x5c/0x240", "do_one_initcall+0x5c/0x240", true},
		{" ring_pop+0x4a/0x80 [uaf]", "ring_pop+0x4a/0x80 [uaf]", true},
		{"RIP: 0010:nullderef_init+0x15/0x30 [nullderef]", "nullderef_init+0x15/0x30 [nullderef]", true},
		{" [<ffffffff81000000>] foo.isra.0+0x1/0x2", "foo.isra.0+0x1/0x2", true},
		{" ? __die+0x23/0x70", "", false},
		{" <TASK>", "", false},
		{"Code: 90 90", "", false},
		{" _RNvNtCs1234_4core9panicking9panic_fmt+0x32/0x40", "core::panicking::panic_fmt+0x32/0x40", true},
	}
	for _, tt := range tests {
		f, ok := ParseFrame(tt.in)
		if ok != tt.ok || (ok && f.String() != tt.want) {
			t.Errorf("ParseFrame(%q) = %q, %v; want %q, %v", tt.in, f.String(), ok, tt.want, tt.ok)
		}
	}
}

// TestNameFrames: a kmemleak backtrace whose module frames are bare
// addresses (the module was unloaded) has no guilty frame until they are
// named; naming one chooses the guilty frame and the title again.
func TestNameFrames(t *testing.T) {
	console := `BUG: memory leak
unreferenced object 0xffff88800559b300 (size 128):
  comm "init", pid 757, jiffies 4294894493
  backtrace (crc 0):
    __kmalloc_cache_noprof+0x233/0x3c0
    0xffffffffa0001010
    do_one_initcall+0x13a/0x2d0
    do_init_module+0x1fe/0x580
`
	reps := ParseString(console)
	if len(reps) != 1 {
		t.Fatalf("reports = %d, want 1", len(reps))
	}
	r := reps[0]
	if r.Title != "memory leak" || r.PID != 757 || len(r.Frames) != 4 || r.Frames[1].Addr != 0xffffffffa0001010 {
		t.Fatalf("before naming: title %q pid %d frames %+v; want no guilty frame past the bare address", r.Title, r.PID, r.Frames)
	}
	r.NameFrames(func(f *Frame) bool { return false })
	if r.Title != "memory leak" {
		t.Errorf("title %q after naming nothing", r.Title)
	}
	r.NameFrames(func(f *Frame) bool {
		f.Func, f.Offset, f.Size, f.Module = "leak_init", 0x10, 0x34, "leak"
		return true
	})
	if r.Title != "memory leak in leak_init" || r.Module != "leak" || r.Guilty().String() != "leak_init+0x10/0x34 [leak]" {
		t.Errorf("after naming: title %q module %q guilty %v", r.Title, r.Module, r.Guilty())
	}
}

// TestBadInput: consoles that are damaged or huge give a report or none,
// never a panic or a hang, and damage around a report does not change
// its verdict.
func TestBadInput(t *testing.T) {
	data, err := os.ReadFile("testdata/report/2") // a KASAN report
	if err != nil {
		t.Fatal(err)
	}
	_, kasan := splitGolden(data)
	want := "KASAN: slab-use-after-free Read in ring_pop"
	lines := strings.SplitAfter(string(kasan), "\n")
	interleaved := ""
	for i, l := range lines {
		interleaved += l
		if i%3 == 1 {
			interleaved += "[    2.100500][    C1] e1000: eth0 NIC Link is Up 1000 Mbps Full Duplex\n"
		}
	}
	tests := []struct {
		name    string
		console string
		title   string // "" for no report
	}{
		{"NUL bytes", "\x00\x00" + strings.ReplaceAll(string(kasan), "Read of size", "\x00Read of size"), want},
		{"invalid UTF-8", "\xff\xfe\x80 junk\n" + string(kasan) + "\xc3\x28\n", want},
		{"CRLF", strings.ReplaceAll(string(kasan), "\n", "\r\n"), want},
		{"megabyte line", strings.Repeat("x", 1<<20) + "\n" + string(kasan) + strings.Repeat("y", 1<<20), want},
		{"megabyte header", "BUG: KASAN: slab-use-after-free in " + strings.Repeat("f", 1<<20) + "\n", "KASAN: slab-use-after-free in " + strings.Repeat("f", 90)},
		{"interleaved CPUs", interleaved, want},
		{"cut off mid-stack", strings.Join(lines[:12], ""), want},
		{"cut off after the header", lines[0] + lines[1], "KASAN: slab-use-after-free in ring_pop [uaf]"}, // syzkaller's title of a damaged KASAN report
		{"a million lines, no crash", strings.Repeat("[    0.123456] virtio_blk virtio1: [vda] 2097152 512-byte logical blocks\n", 1_000_000), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reps := ParseString(tt.console)
			if tt.title == "" {
				if len(reps) != 0 {
					t.Fatalf("got %d reports (%q), want none", len(reps), reps[0].Title)
				}
				return
			}
			if len(reps) == 0 {
				t.Fatalf("no report, want %q", tt.title)
			}
			if reps[0].Title != tt.title {
				t.Errorf("title %q, want %q", reps[0].Title, tt.title)
			}
		})
	}
}

// TestCallerContexts: two reports printed at once by two tasks
// (CONFIG_PRINTK_CALLER) interleave line by line; each report takes only
// the lines of its own context, as syzkaller's do.
func TestCallerContexts(t *testing.T) {
	read := func(p string) []string {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		_, c := splitGolden(data)
		var out []string
		for _, l := range strings.Split(strings.TrimRight(string(c), "\n"), "\n") {
			if i := strings.Index(l, "] "); strings.HasPrefix(l, "[") && i > 0 {
				l = l[i+2:]
			}
			if !strings.HasPrefix(l, "@@rko") {
				out = append(out, l)
			}
		}
		return out
	}
	a, b := read("testdata/report/2"), read("testdata/report/1")
	var sb strings.Builder
	for i := 0; i < len(a) || i < len(b); i++ {
		if i < len(a) {
			fmt.Fprintf(&sb, "[    2.%06d][   T80] %s\n", i, a[i])
		}
		if i < len(b) {
			fmt.Fprintf(&sb, "[    2.%06d][   T81] %s\n", i, b[i])
		}
	}
	reps := ParseString(sb.String())
	var titles []string
	for _, r := range reps {
		titles = append(titles, r.Title)
	}
	// In console order: the NULL dereference's header comes first.
	want := []string{"BUG: unable to handle kernel NULL pointer dereference in nullderef_init", "KASAN: slab-use-after-free Read in ring_pop"}
	if !reflect.DeepEqual(titles, want) {
		t.Errorf("titles %q, want %q", titles, want)
	}
}
