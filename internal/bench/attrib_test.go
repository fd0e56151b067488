package bench

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The System.map lines below are from rko's x86_64 default kernel
// (7.3.4, key 9c380229a3f24789); the KSYM lines are the shape of the
// driver's /proc/kallsyms excerpt, with a mangled Rust name as the kernel
// lists it.
const testSystemMap = `ffffffff81000000 T _stext
ffffffff81000000 T _text
ffffffff81072810 T __x64_sys_getppid
ffffffff810728a0 T kfree
ffffffff81072a00 T krealloc_node_align_noprof
ffffffff811ed030 t version_proc_show
ffffffff81e00000 T _etext
ffffffff82000000 D some_data
`

func TestAttributionCounts(t *testing.T) {
	dir := t.TempDir()
	sysmap := filepath.Join(dir, "System.map")
	os.WriteFile(sysmap, []byte(testSystemMap), 0o644)
	syms, mark, err := readSystemMap(sysmap)
	if err != nil {
		t.Fatal(err)
	}
	if mark != 0xffffffff811ed030 {
		t.Errorf("mark %#x, want version_proc_show's", mark)
	}
	syms.addModule([]string{
		"ffffffffa0000000 t rbt_ioctl\t[rko_rbt_c]",
		"ffffffffa0000008 t $x\t[rko_rbt_c]", // arm64's mapping symbols are in kallsyms too
		"ffffffffa0002000 t _RNvXs_CsdXbUtjxdH8p_12rko_rbt_rustNtB4_9RbtDeviceNtNtCsbDqzXfLQacH_6kernel10miscdevice10MiscDevice5ioctl\t[rko_rbt_rust]",
		"ffffffffa0001000 d some_data\t[rko_rbt_c]",
	})
	syms.sort()
	counts := `S 0
ffffffff81000010 999
S 1
ffffffffa0000010 3000
ffffffffa0000014 1000
ffffffff810728a4 2000
401000 500
S 2
ffffffffa0002010 6000
ffffffff81072a08 1500
ffffffff810728a4 2000
401000 500
S 3
ffffffff81e00100 7
`
	segs, err := readCounts(strings.NewReader(counts))
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != 4 {
		t.Fatalf("%d segments, want 4", len(segs))
	}
	c, cAll := syms.profile(segs[1], 100, 10)
	r, rAll := syms.profile(segs[2], 100, 10)
	if c.PerOp != 65 || r.PerOp != 100 {
		t.Errorf("totals C %v Rust %v per op, want 65 and 100", c.PerOp, r.PerOp)
	}
	if c.Top[0].Function != "rbt_ioctl" || c.Top[0].Where != "rko_rbt_c" || c.Top[0].PerOp != 40 {
		t.Errorf("C top %+v, want rbt_ioctl in rko_rbt_c, 40 per op", c.Top[0])
	}
	if got := r.Top[0]; !strings.Contains(got.Function, "RbtDevice as kernel::miscdevice::MiscDevice>::ioctl") || got.Where != "rko_rbt_rust" || got.PerOp != 60 {
		t.Errorf("Rust top %+v, want the demangled ioctl in rko_rbt_rust, 60 per op", got)
	}
	if u := c.Top[len(c.Top)-1]; u.Where != "user" || u.PerOp != 5 {
		t.Errorf("user space: %+v", u)
	}
	d := diff(cAll, rAll, 10)
	want := map[string]float64{"rbt_ioctl": -40, "krealloc_node_align_noprof": 15}
	for _, x := range d {
		if strings.Contains(x.Function, "MiscDevice>::ioctl") {
			want[x.Function] = 60
		}
		if x.Function == "kfree" || x.Where == "user" {
			t.Errorf("%s differs by %v, want equal sides left out", x.Function, x.Diff)
		}
		if w, ok := want[x.Function]; !ok || math.Abs(w-x.Diff) > 1e-9 {
			t.Errorf("diff %s %v, want %v", x.Function, x.Diff, w)
		}
	}
	if len(d) != 3 || d[0].Diff != 60 {
		t.Errorf("diff %+v, want 3 functions, the Rust ioctl first", d)
	}
	if fn, _ := syms.lookup(0xffffffff81e00100); fn != "[other kernel code]" {
		t.Errorf("past _etext: %q", fn)
	}
	for _, bad := range []string{"S x\n", "zz 1\n", "S 0\n1 z\n", "10 1\n"} {
		if _, err := readCounts(strings.NewReader(bad)); err == nil {
			t.Errorf("readCounts(%q) = nil error", bad)
		}
	}
	os.WriteFile(sysmap, []byte("ffffffff81000000 T _stext\n"), 0o644)
	if _, _, err := readSystemMap(sysmap); err == nil || !strings.Contains(err.Error(), "version_proc_show") {
		t.Errorf("System.map without the mark: %v", err)
	}
}
