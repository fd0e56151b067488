package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
)

// Baseline is a run compared with a saved one (rko bench --baseline):
// the Report's "baseline" object.
type Baseline struct {
	// File is the saved report.
	File string `json:"file"`
	// Threshold is the largest relative move of a ratio that passes.
	Threshold float64            `json:"threshold"`
	Workloads []BaselineWorkload `json:"workloads"`
}

// BaselineWorkload is one workload's comparison.
type BaselineWorkload struct {
	Name string `json:"name"`
	// BaseRatio and Ratio are the saved and the new Rust/C cost ratios.
	BaseRatio float64 `json:"base_ratio"`
	Ratio     float64 `json:"ratio"`
	// Change is Ratio/BaseRatio - 1.
	Change float64 `json:"change"`
	// Moved says |Change| is above the threshold: the gate fails.
	Moved bool `json:"moved"`
	// Note says why a workload was not compared (not in the baseline,
	// failed in either run).
	Note string `json:"note,omitempty"`
}

// DefaultThreshold is the --threshold of a count: instructions are
// repeatable to about 0.2 % (docs/bench.md), so 1 % is a real move; time
// under emulation moves by several percent from one boot to the next.
func DefaultThreshold(count string) float64 {
	if count == CountInstructions {
		return 0.01
	}
	return 0.05
}

// LoadReport reads a report saved by rko bench --json.
func LoadReport(path string) (*Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s is not an rko bench --json report: %v", path, err)
	}
	if len(r.Workloads) == 0 {
		return nil, fmt.Errorf("%s is not an rko bench --json report: no workloads", path)
	}
	return &r, nil
}

// count is r's count; reports from before --count were timed.
func (r *Report) count() string {
	if r.Count == "" {
		return CountTime
	}
	return r.Count
}

// arch is r's architecture; reports from before --arch were x86_64.
func (r *Report) arch() string {
	if r.Arch == "" {
		return "x86_64"
	}
	return r.Arch
}

// Comparable says why the ratios of base cannot be compared with those of
// a run described by cur (its header: count, architecture, kernel,
// toolchain), or nil: another count measures another thing, and another
// kernel or toolchain is another pair of twins.
func Comparable(base, cur *Report) error {
	if base.count() != cur.count() {
		return fmt.Errorf("the baseline counted %s and this run counts %s: make the baseline with --count %s, or run with --count %s", base.count(), cur.count(), cur.count(), base.count())
	}
	if base.arch() != cur.arch() {
		return fmt.Errorf("the baseline ran on %s and this run on %s", base.arch(), cur.arch())
	}
	if base.Kernel != cur.Kernel {
		return fmt.Errorf("the baseline ran on kernel %s and this run on %s", base.Kernel, cur.Kernel)
	}
	if base.KernelKey != "" && cur.KernelKey != "" && base.KernelKey != cur.KernelKey {
		return fmt.Errorf("the baseline ran on another build of kernel %s (key %s, this run %s: other fragments, source or toolchain)", cur.Kernel, base.KernelKey, cur.KernelKey)
	}
	var diff []string
	for k, v := range base.KernelConfig {
		if w, ok := cur.KernelConfig[k]; ok && w != v {
			diff = append(diff, fmt.Sprintf("%s=%s (now %s)", k, v, w))
		}
	}
	if len(diff) > 0 {
		sort.Strings(diff)
		return fmt.Errorf("the baseline's kernel was configured otherwise: %s", strings.Join(diff, ", "))
	}
	if base.Toolchain != cur.Toolchain {
		return fmt.Errorf("the baseline was built with another toolchain (%s; this run %s)", base.Toolchain, cur.Toolchain)
	}
	return nil
}

// Compare compares cur's ratios with base's: a workload whose ratio moved
// by more than threshold (relative) is Moved. Workloads that either run
// lacks or failed are listed with a note and not judged.
func Compare(file string, base, cur *Report, threshold float64) *Baseline {
	b := &Baseline{File: file, Threshold: threshold}
	saved := map[string]WorkloadResult{}
	for _, w := range base.Workloads {
		saved[w.Name] = w
	}
	for _, w := range cur.Workloads {
		bw := BaselineWorkload{Name: w.Name, Ratio: w.Ratio}
		s, ok := saved[w.Name]
		switch {
		case !ok:
			bw.Note = "not in the baseline"
		case s.Error != "" || !(s.Ratio > 0):
			bw.Note = "failed in the baseline"
		case w.Error != "":
			bw.Note = "failed in this run"
			bw.BaseRatio = s.Ratio
		default:
			bw.BaseRatio = s.Ratio
			bw.Change = w.Ratio/s.Ratio - 1
			bw.Moved = math.Abs(bw.Change) > threshold
		}
		b.Workloads = append(b.Workloads, bw)
	}
	return b
}

// Moved describes the workloads whose ratio moved beyond the threshold.
func (b *Baseline) Moved() []string {
	var out []string
	for _, w := range b.Workloads {
		if w.Moved {
			out = append(out, fmt.Sprintf("%s's Rust/C ratio moved from %.4f to %.4f (%+.2f %%)", w.Name, w.BaseRatio, w.Ratio, 100*w.Change))
		}
	}
	return out
}

// WriteText writes the comparison, one line per workload.
func (b *Baseline) WriteText(w io.Writer) {
	fmt.Fprintf(w, "baseline %s (threshold %.2f %%):\n", b.File, 100*b.Threshold)
	for _, x := range b.Workloads {
		switch {
		case x.Note != "":
			fmt.Fprintf(w, "  %s: %s\n", x.Name, x.Note)
		default:
			mark := "ok"
			if x.Moved {
				mark = "MOVED"
			}
			fmt.Fprintf(w, "  %s: %.4f -> %.4f (%+.2f %%) %s\n", x.Name, x.BaseRatio, x.Ratio, 100*x.Change, mark)
		}
	}
}
