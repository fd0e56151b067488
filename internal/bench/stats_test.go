package bench

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{5, 5, 1, 9, 7}, 5},
	}
	for _, tt := range tests {
		in := append([]float64(nil), tt.in...)
		if got := Median(tt.in); got != tt.want {
			t.Errorf("Median(%v) = %v, want %v", in, got, tt.want)
		}
		for i := range in {
			if in[i] != tt.in[i] {
				t.Fatalf("Median modified its input: %v", tt.in)
			}
		}
	}
	if !math.IsNaN(Median(nil)) {
		t.Error("Median(nil) is not NaN")
	}
}

func TestQuantile(t *testing.T) {
	s := []float64{1, 2, 3, 4, 5}
	for _, tt := range []struct{ q, want float64 }{{0, 1}, {0.25, 2}, {0.5, 3}, {0.875, 4.5}, {1, 5}} {
		if got := quantile(s, tt.q); got != tt.want {
			t.Errorf("quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
}

// normals draws n samples from a normal distribution with the given mean and
// relative standard deviation, from a fixed seed.
func normals(seed uint64, n int, mean, relSD float64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 1))
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = mean * (1 + relSD*rng.NormFloat64())
	}
	return xs
}

// lognormals draws n samples whose median is median, with a right tail like
// that of timings disturbed by interrupts.
func lognormals(seed uint64, n int, median, sigma float64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 2))
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = median * math.Exp(sigma*rng.NormFloat64())
	}
	return xs
}

func TestCostRatioKnownDistributions(t *testing.T) {
	tests := []struct {
		name           string
		c, rust        []float64
		higherIsBetter bool
		trueRatio      float64
		wantExcludes1  bool
		wantSlower     bool
	}{
		{
			name:      "identical normals contain 1",
			c:         normals(1, 40, 1000, 0.05),
			rust:      normals(2, 40, 1000, 0.05),
			trueRatio: 1,
		},
		{
			name:      "normals with known ratio 1.04",
			c:         normals(3, 60, 1000, 0.03),
			rust:      normals(4, 60, 1040, 0.03),
			trueRatio: 1.04, wantExcludes1: true, wantSlower: true,
		},
		{
			name:      "twin slowed by 10 % (ns/op)",
			c:         lognormals(5, 30, 500, 0.05),
			rust:      lognormals(6, 30, 550, 0.05),
			trueRatio: 1.10, wantExcludes1: true, wantSlower: true,
		},
		{
			name:           "twin slowed by 10 % (throughput)",
			c:              normals(7, 30, 20000, 0.04),
			rust:           normals(8, 30, 20000/1.10, 0.04),
			higherIsBetter: true,
			trueRatio:      1.10, wantExcludes1: true, wantSlower: true,
		},
		{
			name:           "rust faster by 8 % (throughput)",
			c:              normals(9, 30, 10000, 0.03),
			rust:           normals(10, 30, 10000*1.08, 0.03),
			higherIsBetter: true,
			trueRatio:      1 / 1.08, wantExcludes1: true,
		},
		{
			name:      "heavy tail, equal medians contain 1",
			c:         lognormals(11, 50, 100, 0.3),
			rust:      lognormals(12, 50, 100, 0.3),
			trueRatio: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := CostRatio(tt.c, tt.rust, tt.higherIsBetter, CIOpts{Seed: 42})
			if err != nil {
				t.Fatal(err)
			}
			if !(r.Low <= r.Value && r.Value <= r.High) {
				t.Errorf("ratio %v outside its interval [%v, %v]", r.Value, r.Low, r.High)
			}
			if !(r.Low <= tt.trueRatio && tt.trueRatio <= r.High) {
				t.Errorf("interval [%.4f, %.4f] misses the true ratio %v", r.Low, r.High, tt.trueRatio)
			}
			if got := r.Excludes1(); got != tt.wantExcludes1 {
				t.Errorf("Excludes1() = %v for [%.4f, %.4f], want %v", got, r.Low, r.High, tt.wantExcludes1)
			}
			if got := r.Value > 1 && r.Low > 1; got != tt.wantSlower {
				t.Errorf("reported slower = %v (ratio %.4f, low %.4f), want %v", got, r.Value, r.Low, tt.wantSlower)
			}
		})
	}
}

// TestCostRatioCoverage checks the interval's frequentist promise: over many
// independent experiments with a known true ratio, a 95 % interval covers it
// in roughly 95 % of them (percentile bootstraps of medians run a little
// narrow at small n, so the bound is loose).
func TestCostRatioCoverage(t *testing.T) {
	const experiments = 200
	covered := 0
	for i := range experiments {
		c := normals(uint64(1000+2*i), 25, 800, 0.05)
		rust := normals(uint64(1001+2*i), 25, 800*1.05, 0.05)
		r, err := CostRatio(c, rust, false, CIOpts{Seed: uint64(i), Resamples: 2000})
		if err != nil {
			t.Fatal(err)
		}
		if r.Low <= 1.05 && 1.05 <= r.High {
			covered++
		}
	}
	if rate := float64(covered) / experiments; rate < 0.88 || rate > 0.995 {
		t.Errorf("coverage %.3f, want about 0.95", rate)
	}
}

func TestCostRatioDeterministic(t *testing.T) {
	c := normals(1, 20, 10, 0.1)
	rust := normals(2, 20, 10, 0.1)
	a, _ := CostRatio(c, rust, false, CIOpts{Seed: 7})
	b, _ := CostRatio(c, rust, false, CIOpts{Seed: 7})
	if a != b {
		t.Errorf("same seed, different intervals: %+v and %+v", a, b)
	}
}

func TestCostRatioErrors(t *testing.T) {
	tests := []struct {
		name    string
		c, rust []float64
		opts    CIOpts
	}{
		{"one sample", []float64{1}, []float64{1, 2}, CIOpts{}},
		{"zero sample", []float64{1, 0}, []float64{1, 2}, CIOpts{}},
		{"NaN sample", []float64{1, math.NaN()}, []float64{1, 2}, CIOpts{}},
		{"bad level", []float64{1, 2}, []float64{1, 2}, CIOpts{Level: 1.5}},
	}
	for _, tt := range tests {
		if _, err := CostRatio(tt.c, tt.rust, false, tt.opts); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
	if _, err := CostRatio([]float64{1}, []float64{1}, false, CIOpts{}); !errors.Is(err, ErrTooFewSamples) {
		t.Errorf("err = %v, want ErrTooFewSamples", err)
	}
}

// TestPairedCostRatioCancelsDrift: when the machine's speed drifts a lot
// between repetitions but little within one C/Rust pair (host load under
// emulation), the paired estimate recovers a 3 % difference that the
// independent one cannot resolve.
func TestPairedCostRatioCancelsDrift(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n, trueRatio = 60, 1.03
	var c, rust []float64
	for range n {
		speed := math.Exp(0.25 * rng.NormFloat64()) // shared by the pair
		c = append(c, 50000*speed*math.Exp(0.01*rng.NormFloat64()))
		rust = append(rust, 50000/trueRatio*speed*math.Exp(0.01*rng.NormFloat64()))
	}
	p, err := PairedCostRatio(c, rust, true, CIOpts{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	u, err := CostRatio(c, rust, true, CIOpts{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !(p.Low <= p.Value && p.Value <= p.High) {
		t.Errorf("ratio %v outside its interval [%v, %v]", p.Value, p.Low, p.High)
	}
	if !(p.Low <= trueRatio && trueRatio <= p.High) || !p.Excludes1() {
		t.Errorf("paired interval [%.4f, %.4f]: want it to hold %v and exclude 1", p.Low, p.High, trueRatio)
	}
	if p.HalfWidth() > 0.01 || u.HalfWidth() < 3*p.HalfWidth() {
		t.Errorf("half-widths: paired %.4f, independent %.4f; want paired < 1 %% and far narrower", p.HalfWidth(), u.HalfWidth())
	}
	// The cost orientation: the same pairs as ns/op.
	q, _ := PairedCostRatio(rust, c, false, CIOpts{Seed: 1})
	if math.Abs(q.Value-p.Value) > 1e-12 {
		t.Errorf("cost orientation: %v, throughput orientation: %v", q.Value, p.Value)
	}
}

func TestPairedCostRatioErrors(t *testing.T) {
	if _, err := PairedCostRatio([]float64{1, 2, 3}, []float64{1, 2}, false, CIOpts{}); err == nil {
		t.Error("unequal lengths: no error")
	}
	if _, err := PairedCostRatio([]float64{1}, []float64{1}, false, CIOpts{}); !errors.Is(err, ErrTooFewSamples) {
		t.Errorf("err = %v, want ErrTooFewSamples", err)
	}
	if _, err := PairedCostRatio([]float64{1, -1}, []float64{1, 2}, false, CIOpts{}); err == nil {
		t.Error("negative sample: no error")
	}
}
