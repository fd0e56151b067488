package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func header() *Report {
	return &Report{Arch: "x86_64", Kernel: "7.3.4", KernelKey: "9c380229a3f24789", Count: CountInstructions,
		Toolchain:    "rootfs 1 (Debian trixie, rustc 1.85.1)",
		KernelConfig: map[string]string{"CC_OPTIMIZE_FOR_PERFORMANCE": "y", "RUST_INLINE_HELPERS": "n"}}
}

// TestComparable: a baseline of another count, architecture, kernel build,
// kernel configuration or toolchain is refused, saying which and how.
func TestComparable(t *testing.T) {
	tests := []struct {
		name   string
		change func(r *Report)
		want   string
	}{
		{"same", func(*Report) {}, ""},
		{"count", func(r *Report) { r.Count = CountTime }, "counted time and this run counts instructions"},
		{"report from before --count", func(r *Report) { r.Count = "" }, "counted time"},
		{"arch", func(r *Report) { r.Arch = "arm64" }, "ran on arm64 and this run on x86_64"},
		{"kernel", func(r *Report) { r.Kernel = "7.2.1" }, "kernel 7.2.1"},
		{"kernel build", func(r *Report) { r.KernelKey = "aaaa" }, "another build of kernel 7.3.4 (key aaaa"},
		{"config", func(r *Report) { r.KernelConfig = map[string]string{"RUST_INLINE_HELPERS": "y"} }, "RUST_INLINE_HELPERS=y (now n)"},
		{"toolchain", func(r *Report) { r.Toolchain = "host" }, "another toolchain (host"},
	}
	for _, tt := range tests {
		base := header()
		tt.change(base)
		err := Comparable(base, header())
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: %v, want comparable", tt.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}

// TestCompare: a ratio that moved beyond the threshold fails the gate and
// is named with both values; one within passes; workloads missing from
// the baseline or failed are listed, not judged.
func TestCompare(t *testing.T) {
	base := header()
	base.Workloads = []WorkloadResult{{Name: "kv", Ratio: 1.195}, {Name: "rbt", Ratio: 1.370}, {Name: "kvi", Error: "insmod kv_c failed"}}
	cur := header()
	cur.Workloads = []WorkloadResult{{Name: "kv", Ratio: 1.1962}, {Name: "rbt", Ratio: 1.41}, {Name: "kvi", Ratio: 1.05}, {Name: "blk", Ratio: 1}}
	b := Compare("base.json", base, cur, 0.01)
	moved := b.Moved()
	if len(moved) != 1 || !strings.Contains(moved[0], "rbt's Rust/C ratio moved from 1.3700 to 1.4100 (+2.92 %)") {
		t.Errorf("Moved() = %q, want rbt's move alone", moved)
	}
	notes := map[string]string{}
	for _, w := range b.Workloads {
		notes[w.Name] = w.Note
	}
	if notes["blk"] != "not in the baseline" || notes["kvi"] != "failed in the baseline" || notes["kv"] != "" {
		t.Errorf("notes %v", notes)
	}
	var sb strings.Builder
	b.WriteText(&sb)
	if !strings.Contains(sb.String(), "rbt: 1.3700 -> 1.4100 (+2.92 %) MOVED") || !strings.Contains(sb.String(), "kv: 1.1950 -> 1.1962 (+0.10 %) ok") {
		t.Errorf("text:\n%s", sb.String())
	}
	if got := Compare("base.json", base, cur, 0.05).Moved(); len(got) != 0 {
		t.Errorf("threshold 5 %%: %q moved", got)
	}
}

func TestLoadReport(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"kernel": "7.3.4"}`), 0o644)
	if _, err := LoadReport(bad); err == nil || !strings.Contains(err.Error(), "no workloads") {
		t.Errorf("LoadReport(no workloads) = %v", err)
	}
	os.WriteFile(bad, []byte(`not json`), 0o644)
	if _, err := LoadReport(bad); err == nil || !strings.Contains(err.Error(), "not an rko bench --json report") {
		t.Errorf("LoadReport(not json) = %v", err)
	}
	if _, err := LoadReport(filepath.Join(dir, "none.json")); err == nil {
		t.Error("LoadReport(missing file) = nil")
	}
}

// TestReportsTogether: reports of several architectures render as one
// table and one chart, each row named with its architecture.
func TestReportsTogether(t *testing.T) {
	x86, arm := header(), header()
	arm.Arch, arm.VMSeconds = "arm64", 24
	x86.Workloads = []WorkloadResult{{Name: "rbt", Unit: InstructionUnit, C: 690, Rust: 948, Ratio: 1.375, CILow: 1.369, CIHigh: 1.376}}
	arm.Workloads = []WorkloadResult{{Name: "rbt", Unit: InstructionUnit, C: 690.6, Rust: 914.5, Ratio: 1.325, CILow: 1.322, CIHigh: 1.329},
		{Name: "kv", Unit: InstructionUnit, Error: "insmod kv_c failed"}}
	var b strings.Builder
	if err := WriteReportsMarkdown(&b, []*Report{x86, arm}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| rbt | x86_64 | instructions | 690.0 | 948.0 |", "| rbt | arm64 | instructions | 690.6 | 914.5 | instructions/op | 1.325 | [1.322, 1.329] | 24 s |", "| kv | arm64 | instructions | failed: insmod kv_c failed"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	svg := filepath.Join(t.TempDir(), "arch.svg")
	if err := WriteCharts([]*Report{x86, arm}, svg); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(svg)
	if !strings.Contains(string(data), "rbt arm64") || !strings.Contains(string(data), "rbt x86_64") {
		t.Errorf("chart rows are not named with their architectures")
	}
}
