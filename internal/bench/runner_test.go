package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rkodev/rko/internal/guest"
)

// fakeBooter answers a round as the guest would, drawing each workload's
// samples from log-normal distributions: C around base, Rust around base times
// slow (as a cost).
type fakeBooter struct {
	rng    *rand.Rand
	slow   map[string]float64
	relSD  float64
	rounds int
	// fail maps a step name to the last line it prints before failing.
	fail map[string]string
}

func (f *fakeBooter) Boot(ctx context.Context, plan *guest.Plan) ([]byte, time.Duration, error) {
	f.rounds++
	var b bytes.Buffer
	frame := func(v map[string]any) {
		j, _ := json.Marshal(v)
		fmt.Fprintf(&b, "[    1.000000] @@rko %s\n", j)
	}
	frame(map[string]any{"ev": "boot", "version": "1"})
	for _, st := range plan.Steps {
		frame(map[string]any{"ev": "start", "step": st.Name})
		if msg, ok := f.fail[st.Name]; ok {
			frame(map[string]any{"ev": "out", "step": st.Name, "stream": "stderr", "line": msg})
			frame(map[string]any{"ev": "end", "step": st.Name, "rc": 1, "ms": 10})
			continue
		}
		if st.Kind == "exec" {
			var w Workload
			for _, x := range Workloads {
				if x.Name == st.Argv[2] {
					w = x
				}
			}
			reps, _ := strconv.Atoi(st.Argv[4])
			for i := 0; i < reps; i++ {
				for _, side := range []string{"c", "rust"} {
					cost := 1000 * math.Exp(f.relSD*f.rng.NormFloat64())
					if side == "rust" {
						cost *= f.slow[w.Name]
					}
					v := cost
					if w.HigherIsBetter {
						v = 1e9 / cost
					}
					frame(map[string]any{"ev": "out", "step": st.Name, "stream": "stdout", "line": fmt.Sprintf("BENCH %s %s %.3f", w.Name, side, v)})
				}
			}
		}
		frame(map[string]any{"ev": "end", "step": st.Name, "rc": 0, "ms": 1000})
	}
	frame(map[string]any{"ev": "done"})
	return b.Bytes(), 5 * time.Second, nil
}

// TestRoundPlanLoadsModulesOnce: kv and kvi share kv_c and kv_rust, which
// can be loaded only once.
func TestRoundPlanLoadsModulesOnce(t *testing.T) {
	var run []*state
	for _, w := range Workloads {
		run = append(run, &state{w: w, nextRep: 4})
	}
	plan := roundPlan(run, Options{Modules: map[string]string{"kv_c": "/a", "kv_rust": "/b", "rbt_c": "/c", "rbt_rust": "/d"}})
	seen := map[string]int{}
	execs := 0
	for _, st := range plan.Steps {
		if st.Kind == "insmod" {
			seen[st.Name]++
		} else {
			execs++
		}
	}
	for name, n := range seen {
		if n != 1 {
			t.Errorf("%s %d times", name, n)
		}
	}
	if len(seen) != 6 || execs != len(Workloads) {
		t.Errorf("plan: %d modules (want 6), %d driver runs (want %d): %+v", len(seen), execs, len(Workloads), plan.Steps)
	}
}

func TestRunSlowedTwin(t *testing.T) {
	tests := []struct {
		name     string
		slow     map[string]float64
		relSD    float64
		wantSlow map[string]bool
	}{
		{
			name:     "rust slowed by 10 % on purpose",
			slow:     map[string]float64{"kv": 1.10, "kvi": 1.10, "rbt": 1.10, "blk": 1.10},
			relSD:    0.05,
			wantSlow: map[string]bool{"kv": true, "kvi": true, "rbt": true, "blk": true},
		},
		{
			name:     "identical twins",
			slow:     map[string]float64{"kv": 1, "kvi": 1, "rbt": 1, "blk": 1},
			relSD:    0.05,
			wantSlow: map[string]bool{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fb := &fakeBooter{rng: rand.New(rand.NewPCG(1, 2)), slow: tt.slow, relSD: tt.relSD}
			rep, err := Run(context.Background(), Options{Booter: fb, Seed: 1, Target: 0.03,
				Modules: map[string]string{}})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Workloads) != len(Workloads) {
				t.Fatalf("%d workloads reported, want %d", len(rep.Workloads), len(Workloads))
			}
			for _, w := range rep.Workloads {
				if !w.Converged || w.HalfWidth > 0.03 {
					t.Errorf("%s: half-width %.3f after %d rounds, want <= 0.03", w.Name, w.HalfWidth, rep.Rounds)
				}
				if math.Abs(w.Ratio-tt.slow[w.Name]) > 0.04 {
					t.Errorf("%s: ratio %.3f, want about %.2f", w.Name, w.Ratio, tt.slow[w.Name])
				}
				slower := w.Verdict == "rust slower"
				if slower != tt.wantSlow[w.Name] {
					t.Errorf("%s: verdict %q for [%.3f, %.3f], want slower=%v", w.Name, w.Verdict, w.CILow, w.CIHigh, tt.wantSlow[w.Name])
				}
				if tt.wantSlow[w.Name] && !(w.CILow > 1) {
					t.Errorf("%s: interval [%.3f, %.3f] does not exclude 1", w.Name, w.CILow, w.CIHigh)
				}
			}
		})
	}
}

func TestRunBudget(t *testing.T) {
	// Noisy twins and a budget of three rounds: Run stops, and says the
	// target was not reached.
	fb := &fakeBooter{rng: rand.New(rand.NewPCG(3, 4)), slow: map[string]float64{"kv": 1, "kvi": 1, "rbt": 1, "blk": 1}, relSD: 0.4}
	rep, err := Run(context.Background(), Options{Booter: fb, Budget: 15 * time.Second, Target: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	if fb.rounds > 3 {
		t.Errorf("%d rounds within a 15 s budget of 5 s rounds", fb.rounds)
	}
	for _, w := range rep.Workloads {
		if w.Converged {
			t.Errorf("%s converged at ±%.3f with a 0.01 target", w.Name, w.HalfWidth)
		}
	}
}

func TestReportOutputs(t *testing.T) {
	rep := &Report{Kernel: "7.3", Accel: "tcg", Workloads: []WorkloadResult{
		{Name: "kv", Unit: "ops/s", C: 1e5, Rust: 9.5e4, Ratio: 1.05, CILow: 1.02, CIHigh: 1.08, HalfWidth: 0.03, N: 20, Verdict: "rust slower", Converged: true},
		{Name: "rbt", Unit: "ns/op", C: 500, Rust: 495, Ratio: 0.99, CILow: 0.97, CIHigh: 1.01, HalfWidth: 0.02, N: 20, Verdict: "no difference", Converged: true},
	}}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Workloads []map[string]any `json:"workloads"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"name", "unit", "c", "rust", "ratio", "ci_low", "ci_high"} {
		if _, ok := doc.Workloads[0][key]; !ok {
			t.Errorf("JSON workload entry lacks %q", key)
		}
	}
	var tab bytes.Buffer
	rep.WriteTable(&tab)
	if !strings.Contains(tab.String(), "[1.020, 1.080]") {
		t.Errorf("table lacks the interval:\n%s", tab.String())
	}
	for _, ext := range []string{"svg", "png"} {
		if err := WriteChart(rep, filepath.Join(t.TempDir(), "ratio."+ext)); err != nil {
			t.Errorf("chart %s: %v", ext, err)
		}
	}
}

// TestRunInstructions: under CountInstructions every workload is a cost in
// instructions per operation (a throughput v read on a clock of one ns per
// instruction is 1e9/v), the ratio is Rust/C of those, and the same
// samples give the same report (the computation adds no noise of its own).
func TestRunInstructions(t *testing.T) {
	run := func() *Report {
		fb := &fakeBooter{rng: rand.New(rand.NewPCG(5, 6)), slow: map[string]float64{"kv": 1.2, "kvi": 1.05, "rbt": 1.37, "blk": 0.98}, relSD: 0.002}
		rep, err := Run(context.Background(), Options{Booter: fb, Seed: 1, Count: CountInstructions, Modules: map[string]string{}})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	rep := run()
	if rep.Count != CountInstructions || rep.Rounds != 1 {
		t.Errorf("count %q after %d rounds, want instructions in one round", rep.Count, rep.Rounds)
	}
	want := map[string]float64{"kv": 1.2, "kvi": 1.05, "rbt": 1.37, "blk": 0.98}
	for _, w := range rep.Workloads {
		if w.Unit != InstructionUnit || w.HigherIsBetter {
			t.Errorf("%s: unit %q higher_is_better %v, want %s, a cost", w.Name, w.Unit, w.HigherIsBetter, InstructionUnit)
		}
		if math.Abs(w.C-1000) > 10 || math.Abs(w.Rust/w.C-want[w.Name]) > 0.01 {
			t.Errorf("%s: C %.1f Rust %.1f instructions/op, want 1000 and %.0f", w.Name, w.C, w.Rust, 1000*want[w.Name])
		}
		if math.Abs(w.Ratio-want[w.Name]) > 0.005 || w.HalfWidth > 0.005 {
			t.Errorf("%s: ratio %.4f ±%.4f, want %.2f within 0.5 %%", w.Name, w.Ratio, w.HalfWidth, want[w.Name])
		}
	}
	again := run()
	var a, b bytes.Buffer
	rep.Started, again.Started = time.Time{}, time.Time{}
	rep.WriteJSON(&a)
	again.WriteJSON(&b)
	if a.String() != b.String() {
		t.Errorf("the same samples gave two reports:\n%s\n%s", a.String(), b.String())
	}
	var tab bytes.Buffer
	rep.WriteTable(&tab)
	if !strings.Contains(tab.String(), "counted instructions") {
		t.Errorf("the table does not say what was measured:\n%s", tab.String())
	}
	if _, err := Run(context.Background(), Options{Booter: &fakeBooter{}, Count: "cycles"}); err == nil || !strings.Contains(err.Error(), `"cycles"`) {
		t.Errorf("Count cycles: %v, want an error naming it", err)
	}
}

// TestRunWorkloadFails: a twin that does not load, or a driver that stops
// on a checksum that differs, fails its own workload, named with why, and
// the others still run to their result.
func TestRunWorkloadFails(t *testing.T) {
	fb := &fakeBooter{rng: rand.New(rand.NewPCG(7, 8)), slow: map[string]float64{"kv": 1, "kvi": 1, "rbt": 1, "blk": 1}, relSD: 0.01,
		fail: map[string]string{
			"insmod rbt_rust": "insmod: ERROR: could not insert module rko_rbt_rust.ko: Invalid module format",
			"bench kvi":       "benchdrv: rust: checksum 12, want 13: the twins do not do the same work",
		}}
	rep, err := Run(context.Background(), Options{Booter: fb, Seed: 1, Modules: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]WorkloadResult{}
	for _, w := range rep.Workloads {
		got[w.Name] = w
	}
	if w := got["rbt"]; w.Verdict != "failed" || !strings.Contains(w.Error, "insmod rbt_rust failed") || !strings.Contains(w.Error, "Invalid module format") {
		t.Errorf("rbt: verdict %q error %q, want failed naming the twin and why", w.Verdict, w.Error)
	}
	if w := got["kvi"]; w.Verdict != "failed" || !strings.Contains(w.Error, "checksum 12, want 13") {
		t.Errorf("kvi: verdict %q error %q, want failed with the driver's reason", w.Verdict, w.Error)
	}
	for _, name := range []string{"kv", "blk"} {
		if w := got[name]; w.Error != "" || !w.Converged || w.N < minSamples {
			t.Errorf("%s: %+v, want a result despite the others' failures", name, w)
		}
	}
	if f := rep.Failed(); len(f) != 2 {
		t.Errorf("Failed() = %q, want kvi and rbt", f)
	}
	var tab bytes.Buffer
	rep.WriteTable(&tab)
	if !strings.Contains(tab.String(), "FAILED: insmod rbt_rust") {
		t.Errorf("table does not name the failure:\n%s", tab.String())
	}
	if err := WriteChart(rep, filepath.Join(t.TempDir(), "r.svg")); err != nil {
		t.Errorf("chart with failed workloads: %v", err)
	}
}
