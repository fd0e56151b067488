package e2e

import (
	"encoding/json"
	"testing"
)

// benchReport is the part of rko bench --json this test reads.
type benchReport struct {
	Kernel       string            `json:"kernel"`
	KernelConfig map[string]string `json:"kernel_config"`
	Toolchain    string            `json:"toolchain"`
	Accel        string            `json:"accel"`
	Count        string            `json:"count"`
	Rounds       int               `json:"rounds"`
	VMSeconds    float64           `json:"vm_seconds"`
	Workloads    []struct {
		Name        string    `json:"name"`
		Unit        string    `json:"unit"`
		C           *float64  `json:"c"`
		Rust        *float64  `json:"rust"`
		Ratio       *float64  `json:"ratio"`
		CILow       *float64  `json:"ci_low"`
		CIHigh      *float64  `json:"ci_high"`
		N           int       `json:"n"`
		SamplesC    []float64 `json:"samples_c"`
		SamplesRust []float64 `json:"samples_rust"`
		Verdict     string    `json:"verdict"`
	} `json:"workloads"`
}

// TestBench runs a short real bench of the two workloads that need no fio
// (the bench-profile kernel, the twins built against it, one TCG VM, so
// counted in instructions, the default without KVM) and checks the shape
// and the sanity of the JSON report. It asserts nothing about the figures
// themselves or about time: a loose target makes one round enough.
func TestBench(t *testing.T) {
	requireRealPath(t)
	r := rko(t, coldTimeout, "bench", "--json", "--accel", "tcg", "-w", "kv,rbt",
		"--budget", "90s", "--target", "0.5", "--chart", "")
	t.Logf("rko bench took %s\n%s", r.took, r.stderr)
	if r.code != 0 {
		t.Fatalf("rko bench exited %d\nstdout:\n%s", r.code, r.stdout)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("rko bench --json printed no JSON (%v)\nstdout:\n%s", err, r.stdout)
	}
	if rep.Count != "instructions" {
		t.Errorf("count %q under TCG, want instructions (the default without KVM)", rep.Count)
	}
	if rep.Accel != "tcg" || rep.Kernel == "" || rep.Toolchain == "" || rep.Rounds < 1 || rep.VMSeconds <= 0 {
		t.Errorf("report header: accel %q kernel %q toolchain %q rounds %d vm_seconds %v", rep.Accel, rep.Kernel, rep.Toolchain, rep.Rounds, rep.VMSeconds)
	}
	// The bench profile is -O2 with the helpers out of line; the report
	// must say so.
	if rep.KernelConfig["CC_OPTIMIZE_FOR_PERFORMANCE"] != "y" || rep.KernelConfig["RUST_INLINE_HELPERS"] != "n" {
		t.Errorf("kernel_config = %v, want CC_OPTIMIZE_FOR_PERFORMANCE=y and RUST_INLINE_HELPERS=n", rep.KernelConfig)
	}
	want := map[string]string{"kv": "instructions/op", "rbt": "instructions/op"}
	if len(rep.Workloads) != len(want) {
		t.Fatalf("workloads = %d entries, want kv and rbt:\n%s", len(rep.Workloads), r.stdout)
	}
	for _, w := range rep.Workloads {
		unit, ok := want[w.Name]
		if !ok {
			t.Errorf("unexpected workload %q", w.Name)
			continue
		}
		delete(want, w.Name)
		if w.Unit != unit {
			t.Errorf("%s: unit %q, want %q", w.Name, w.Unit, unit)
		}
		if w.C == nil || w.Rust == nil || w.Ratio == nil || w.CILow == nil || w.CIHigh == nil {
			t.Errorf("%s: missing c, rust, ratio, ci_low or ci_high", w.Name)
			continue
		}
		if !(*w.C > 0 && *w.Rust > 0) {
			t.Errorf("%s: medians c=%v rust=%v, want both > 0", w.Name, *w.C, *w.Rust)
		}
		if !(*w.Ratio > 0) {
			t.Errorf("%s: ratio %v, want > 0", w.Name, *w.Ratio)
		}
		if !(*w.CILow <= *w.Ratio && *w.Ratio <= *w.CIHigh) {
			t.Errorf("%s: ratio %v outside its interval [%v, %v]", w.Name, *w.Ratio, *w.CILow, *w.CIHigh)
		}
		if w.N < 2 || len(w.SamplesC) < w.N || len(w.SamplesRust) < w.N {
			t.Errorf("%s: n=%d with %d C and %d Rust samples", w.Name, w.N, len(w.SamplesC), len(w.SamplesRust))
		}
		if w.Verdict == "" {
			t.Errorf("%s: no verdict", w.Name)
		}
		t.Logf("%s: ratio %.3f [%.3f, %.3f], n=%d, %s", w.Name, *w.Ratio, *w.CILow, *w.CIHigh, w.N, w.Verdict)
	}
}
