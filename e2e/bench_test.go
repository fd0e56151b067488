package e2e

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
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
		Functions   *struct {
			Ops int `json:"ops"`
			C   struct {
				PerOp float64 `json:"instructions_per_op"`
				Top   []struct {
					Function string  `json:"function"`
					Where    string  `json:"where"`
					PerOp    float64 `json:"instructions_per_op"`
				} `json:"top"`
			} `json:"c"`
			Rust struct {
				PerOp float64 `json:"instructions_per_op"`
			} `json:"rust"`
			Diff []struct {
				Function string  `json:"function"`
				Where    string  `json:"where"`
				Diff     float64 `json:"diff"`
			} `json:"diff"`
		} `json:"functions"`
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
		"--budget", "90s", "--target", "0.5", "--chart", "", "--functions", "8")
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
		// --functions: the plugin's exact counts add up to what the
		// guest's instruction clock measured (within 2 %: other seeds,
		// the marks' own read), and the difference names the twins.
		f := w.Functions
		if f == nil || f.Ops <= 0 || len(f.C.Top) == 0 || len(f.Diff) == 0 {
			t.Errorf("%s: no attribution: %+v", w.Name, f)
			continue
		}
		if math.Abs(f.C.PerOp / *w.C - 1) > 0.02 || math.Abs(f.Rust.PerOp / *w.Rust - 1) > 0.02 {
			t.Errorf("%s: attributed C %.0f Rust %.0f instructions/op, measured %.0f and %.0f", w.Name, f.C.PerOp, f.Rust.PerOp, *w.C, *w.Rust)
		}
		twins := map[string]bool{}
		for _, d := range f.Diff {
			twins[d.Where] = true
		}
		mod := map[string]string{"kv": "rko_kv", "rbt": "rko_rbt"}[w.Name]
		if !twins[mod+"_c"] || !twins[mod+"_rust"] {
			t.Errorf("%s: the functions that differ %+v name neither twin module", w.Name, f.Diff)
		}
	}

	// The regression gate on the saved report: the same count again
	// passes at 1 % (instructions repeat to 0.4 %); a timed run is
	// refused before any round, saying why.
	base := filepath.Join(t.TempDir(), "base.json")
	if err := os.WriteFile(base, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	g := rko(t, coldTimeout, "bench", "-q", "--accel", "tcg", "-w", "kv", "--baseline", base, "--threshold", "0.01")
	if g.code != 0 || !strings.Contains(g.stderr, "kv: ") || !strings.Contains(g.stderr, " ok") {
		t.Errorf("bench --baseline (the same run again): exit %d\nstdout:\n%s\nstderr:\n%s", g.code, g.stdout, g.stderr)
	}
	g = rko(t, coldTimeout, "bench", "-q", "--accel", "tcg", "-w", "kv", "--count", "time", "--baseline", base)
	if g.code == 0 || !strings.Contains(g.stderr, "counted instructions and this run counts time") {
		t.Errorf("bench --count time --baseline (an instructions report): exit %d, stderr:\n%s\nwant a refusal", g.code, g.stderr)
	}
}

// TestBenchArches runs a short instruction-counted bench of kv, rbt and
// blk (fio fetched for the guest's architecture) on each foreign QEMU
// architecture selected by RKO_E2E_ARCHES (opt-in: each needs its own
// default kernel, which carries the bench options; docs/ci.md) and checks
// that the report names the architecture and the count.
func TestBenchArches(t *testing.T) {
	requireRealPath(t)
	for _, arch := range []string{"arm64", "riscv64"} {
		t.Run(arch, func(t *testing.T) {
			skipArch(t, arch)
			// blk on riscv64 takes some 10 minutes of VM time (its traps
			// are slow to emulate): arm64 covers the foreign fio.
			ws, want := "kv,rbt,blk", 3
			if arch == "riscv64" {
				ws, want = "kv,rbt", 2
			}
			r := rko(t, coldTimeout, "bench", "--json", "--arch", arch, "-w", ws, "--budget", "300s", "--target", "0.5")
			t.Logf("rko bench --arch %s took %s\n%s", arch, r.took, r.stderr)
			if r.code != 0 {
				t.Fatalf("rko bench --arch %s exited %d\nstdout:\n%s", arch, r.code, r.stdout)
			}
			var rep struct {
				benchReport
				Arch string `json:"arch"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
				t.Fatalf("no JSON (%v):\n%s", err, r.stdout)
			}
			if rep.Arch != arch || rep.Count != "instructions" || rep.Accel != "tcg" || len(rep.Workloads) != want {
				t.Errorf("arch %q count %q accel %q, %d workloads; want %s, instructions, tcg, %d", rep.Arch, rep.Count, rep.Accel, len(rep.Workloads), arch, want)
			}
			for _, w := range rep.Workloads {
				if w.Ratio == nil || !(*w.Ratio > 0) || w.C == nil || !(*w.C > 0) || w.Unit != "instructions/op" {
					t.Errorf("%s: %+v", w.Name, w)
					continue
				}
				t.Logf("%s %s: C %.0f Rust %.0f instructions/op, ratio %.3f [%.3f, %.3f]", arch, w.Name, *w.C, *w.Rust, *w.Ratio, *w.CILow, *w.CIHigh)
			}
		})
	}
}
