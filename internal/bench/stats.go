package bench

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Median returns the median of xs (the mean of the two middle values for an
// even count). It does not modify xs. It returns NaN for an empty slice.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return sortedMedian(s)
}

func sortedMedian(s []float64) float64 {
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// quantile returns the q-quantile (0 <= q <= 1) of sorted s by linear
// interpolation between order statistics (type 7 in Hyndman and Fan, the
// default of R and numpy).
func quantile(s []float64, q float64) float64 {
	if len(s) == 1 {
		return s[0]
	}
	h := q * float64(len(s)-1)
	lo := math.Floor(h)
	i := int(lo)
	if i >= len(s)-1 {
		return s[len(s)-1]
	}
	return s[i] + (h-lo)*(s[i+1]-s[i])
}

// Ratio is the Rust/C cost ratio of one workload with its bootstrap
// confidence interval. Cost means "more is worse": time per operation as
// measured, or the inverse of a throughput. Value above 1 means Rust is slower.
type Ratio struct {
	// Value is the ratio of the two sides' medians, as a cost.
	Value float64
	// Low and High bound the percentile bootstrap confidence interval.
	Low, High float64
	// Level is the confidence level of [Low, High], e.g. 0.95.
	Level float64
	// Resamples is the number of bootstrap resamples behind the interval.
	Resamples int
}

// HalfWidth is half the width of the interval relative to the ratio
// ((High-Low)/2/Value): 0.03 means "±3 %".
func (r Ratio) HalfWidth() float64 { return (r.High - r.Low) / 2 / r.Value }

// Excludes1 reports whether the interval lies wholly above or below 1, that
// is whether the two languages differ at the interval's confidence level.
func (r Ratio) Excludes1() bool { return r.Low > 1 || r.High < 1 }

// CIOpts tunes the bootstrap.
type CIOpts struct {
	// Resamples is the number of bootstrap resamples; 0 means 10000.
	Resamples int
	// Level is the confidence level; 0 means 0.95.
	Level float64
	// Seed seeds the resampling RNG so that the same samples always give
	// the same interval (and tests are deterministic).
	Seed uint64
}

// ErrTooFewSamples is returned when a side has fewer than two samples, too
// few to say anything about its spread.
var ErrTooFewSamples = errors.New("too few samples")

// checkSamples validates the two sides' samples.
func checkSamples(c, rust []float64) error {
	if len(c) < 2 || len(rust) < 2 {
		return fmt.Errorf("%w: c has %d, rust has %d, want at least 2 each", ErrTooFewSamples, len(c), len(rust))
	}
	for _, xs := range [][]float64{c, rust} {
		for _, x := range xs {
			if !(x > 0) || math.IsInf(x, 0) {
				return fmt.Errorf("invalid sample %v, want a positive finite number", x)
			}
		}
	}
	return nil
}

// defaults fills the zero fields of opts and checks the level.
func (opts *CIOpts) defaults() error {
	if opts.Resamples == 0 {
		opts.Resamples = 10000
	}
	if opts.Level == 0 {
		opts.Level = 0.95
	}
	if opts.Level <= 0 || opts.Level >= 1 {
		return fmt.Errorf("invalid confidence level %v, want (0, 1)", opts.Level)
	}
	return nil
}

// CostRatio estimates the Rust/C cost ratio from the samples of both sides.
// If higherIsBetter, the samples are throughputs (operations per second,
// IOPS) and the cost ratio is median(c)/median(rust); otherwise they are
// costs (ns per operation) and it is median(rust)/median(c).
//
// The interval is the percentile bootstrap of the ratio of medians: each
// resample draws len(c) values from c and len(rust) values from rust with
// replacement, independently (the two sides are independent runs), and
// computes the same ratio; Low and High are the (1-Level)/2 and (1+Level)/2
// quantiles of the resampled ratios.
func CostRatio(c, rust []float64, higherIsBetter bool, opts CIOpts) (Ratio, error) {
	if err := checkSamples(c, rust); err != nil {
		return Ratio{}, err
	}
	if err := opts.defaults(); err != nil {
		return Ratio{}, err
	}
	ratio := func(mc, mr float64) float64 {
		if higherIsBetter {
			return mc / mr
		}
		return mr / mc
	}
	bc := make([]float64, len(c))
	br := make([]float64, len(rust))
	return bootstrap(ratio(Median(c), Median(rust)), opts, func(rng *rand.Rand) float64 {
		resample(rng, c, bc)
		resample(rng, rust, br)
		slices.Sort(bc)
		slices.Sort(br)
		return ratio(sortedMedian(bc), sortedMedian(br))
	}), nil
}

// bootstrap is the percentile bootstrap interval at opts.Level around
// value: opts.Resamples draws of the statistic from one generator seeded
// with opts.Seed, so that a run can be reproduced.
func bootstrap(value float64, opts CIOpts, draw func(rng *rand.Rand) float64) Ratio {
	rng := rand.New(rand.NewPCG(opts.Seed, 0x9e3779b97f4a7c15))
	rs := make([]float64, opts.Resamples)
	for i := range rs {
		rs[i] = draw(rng)
	}
	slices.Sort(rs)
	alpha := (1 - opts.Level) / 2
	return Ratio{
		Value:     value,
		Low:       quantile(rs, alpha),
		High:      quantile(rs, 1-alpha),
		Level:     opts.Level,
		Resamples: opts.Resamples,
	}
}

// PairedCostRatio estimates the Rust/C cost ratio from paired samples:
// c[i] and rust[i] were measured back to back (one interleaved repetition),
// so slow drifts of the machine's speed (host load under emulation) hit
// both alike and cancel in their ratio. The estimate is the median of the
// per-pair cost ratios (rust[i]/c[i] for costs, c[i]/rust[i] for
// throughputs), and the interval is the percentile bootstrap of that
// median, resampling whole pairs. It needs len(c) == len(rust).
func PairedCostRatio(c, rust []float64, higherIsBetter bool, opts CIOpts) (Ratio, error) {
	if err := checkSamples(c, rust); err != nil {
		return Ratio{}, err
	}
	if len(c) != len(rust) {
		return Ratio{}, fmt.Errorf("paired samples: c has %d, rust has %d", len(c), len(rust))
	}
	if err := opts.defaults(); err != nil {
		return Ratio{}, err
	}
	pr := make([]float64, len(c))
	for i := range c {
		if higherIsBetter {
			pr[i] = c[i] / rust[i]
		} else {
			pr[i] = rust[i] / c[i]
		}
	}
	b := make([]float64, len(pr))
	return bootstrap(Median(pr), opts, func(rng *rand.Rand) float64 {
		resample(rng, pr, b)
		slices.Sort(b)
		return sortedMedian(b)
	}), nil
}

// resample fills dst with len(dst) draws from src with replacement.
func resample(rng *rand.Rand, src, dst []float64) {
	for i := range dst {
		dst[i] = src[rng.IntN(len(src))]
	}
}
