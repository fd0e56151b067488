package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WorkloadResult is the outcome of one workload: the JSON entries of the
// top-level "workloads" list.
type WorkloadResult struct {
	Name string `json:"name"`
	// Unit of C and Rust: "ops/s", "ns/op" or "IOPS".
	Unit string `json:"unit"`
	// HigherIsBetter is true for throughputs.
	HigherIsBetter bool `json:"higher_is_better"`
	// C and Rust are the medians of each side's samples.
	C    float64 `json:"c"`
	Rust float64 `json:"rust"`
	// Paired says Ratio is the median of the per-repetition ratios
	// (PairedCostRatio) rather than the ratio of C and Rust.
	Paired bool `json:"paired"`
	// Ratio is the Rust/C cost ratio: above 1 means Rust is slower.
	Ratio  float64 `json:"ratio"`
	CILow  float64 `json:"ci_low"`
	CIHigh float64 `json:"ci_high"`
	// HalfWidth is (ci_high-ci_low)/2/ratio.
	HalfWidth float64 `json:"half_width"`
	// Level is the confidence level of the interval.
	Level float64 `json:"level"`
	// Converged says the half-width reached the target.
	Converged bool `json:"converged"`
	// Samples per side, and the raw samples.
	N           int       `json:"n"`
	SamplesC    []float64 `json:"samples_c"`
	SamplesRust []float64 `json:"samples_rust"`
	// Verdict is "rust slower", "rust faster" or "no difference" at the
	// interval's level, or "failed".
	Verdict string `json:"verdict"`
	// Functions is where each side's instructions go (rko bench
	// --functions).
	Functions *Attribution `json:"functions,omitempty"`
	// Error says why the workload failed (a twin that did not load, a
	// checksum that differs); the other fields but name and unit are
	// then empty.
	Error string `json:"error,omitempty"`
}

// Failed lists the workloads that failed, each with why.
func (r *Report) Failed() []string {
	var out []string
	for _, w := range r.Workloads {
		if w.Error != "" {
			out = append(out, w.Name+": "+w.Error)
		}
	}
	return out
}

// Report is the result of a bench run (the --json document).
type Report struct {
	// Arch is the guest architecture (x86_64, arm64, riscv64).
	Arch   string `json:"arch"`
	Kernel string `json:"kernel"`
	// KernelKey is rko's cache key of the kernel (its fragments, source
	// and toolchain), empty for a kernel tree given with --kernel DIR.
	KernelKey string `json:"kernel_key,omitempty"`
	// KernelDir is the kernel's build tree (KDIR).
	KernelDir string `json:"kernel_dir,omitempty"`
	// KernelConfig holds the kernel options that change what is measured
	// (optimisation level, Rust helpers and overflow checks, allocator,
	// preemption, debugging), as in the kernel's .config; an option that
	// is not set is "n".
	KernelConfig map[string]string `json:"kernel_config,omitempty"`
	Toolchain    string            `json:"toolchain"`
	Accel        string            `json:"accel"`
	AccelNote    string            `json:"accel_note,omitempty"`
	// Count is what was measured: "instructions" (QEMU -icount: every
	// workload in instructions per operation) or "time" (wall time in the
	// guest, under Accel).
	Count string `json:"count"`
	// CountNote says why Count was chosen when the user did not.
	CountNote string           `json:"count_note,omitempty"`
	Target    float64          `json:"target_half_width"`
	Rounds    int              `json:"rounds"`
	VMSeconds float64          `json:"vm_seconds"`
	Workloads []WorkloadResult `json:"workloads"`
	Started   time.Time        `json:"started"`
	// Baseline is the comparison with --baseline's saved report.
	Baseline *Baseline `json:"baseline,omitempty"`
}

// PerfOptions are the kernel options Report.KernelConfig records.
var PerfOptions = []string{
	"CC_OPTIMIZE_FOR_PERFORMANCE", "CC_OPTIMIZE_FOR_SIZE", "RUST_INLINE_HELPERS", "RUST_OVERFLOW_CHECKS",
	"RUST_DEBUG_ASSERTIONS", "SLUB_TINY", "PREEMPT_NONE", "PREEMPT_VOLUNTARY", "PREEMPT", "KASAN",
	"PROVE_LOCKING", "DEBUG_KMEMLEAK", "DEBUG_ATOMIC_SLEEP", "MITIGATION_RETPOLINE", "MITIGATION_RETHUNK",
}

func verdict(r Ratio) string {
	switch {
	case r.Low > 1:
		return "rust slower"
	case r.High < 1:
		return "rust faster"
	}
	return "no difference"
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes a human table of the report.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "workload\tunit\tC (median)\tRust (median)\tRust/C cost\t95% CI\t±\tn\tverdict")
	for _, x := range r.Workloads {
		if x.Error != "" {
			fmt.Fprintf(tw, "%s\t%s\t\t\t\t\t\t\tFAILED: %s\n", x.Name, x.Unit, x.Error)
			continue
		}
		mark := ""
		if !x.Converged {
			mark = " (target not reached)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.3f\t[%.3f, %.3f]\t%.1f%%\t%d\t%s%s\n", x.Name, x.Unit,
			num(x.C), num(x.Rust), x.Ratio, x.CILow, x.CIHigh, 100*x.HalfWidth, x.N, x.Verdict, mark)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\nkernel %s, %s, %s, %s; %d rounds, %.0f s of VM time\n", r.Kernel, r.Toolchain, r.Accel, r.countDesc(), r.Rounds, r.VMSeconds)
	return err
}

// countDesc says what was measured, for the table's last line.
func (r *Report) countDesc() string {
	if r.Count == CountInstructions {
		return "counted instructions (QEMU -icount shift=0,sleep=off)"
	}
	return "timed (wall time in the guest)"
}

// WriteMarkdown writes the report as a Markdown table, for docs.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("| workload | unit | C (median) | Rust (median) | Rust/C cost | 95 % CI | ± | n per side |\n")
	b.WriteString("| --- | --- | ---: | ---: | ---: | --- | ---: | ---: |\n")
	for _, x := range r.Workloads {
		if x.Error != "" {
			fmt.Fprintf(&b, "| %s | %s | failed: %s | | | | | |\n", x.Name, x.Unit, x.Error)
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %.3f | [%.3f, %.3f] | %.1f %% | %d |\n", x.Name, x.Unit,
			num(x.C), num(x.Rust), x.Ratio, x.CILow, x.CIHigh, 100*x.HalfWidth, x.N)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func num(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.3f", v)
}

// WriteFunctions writes each attributed workload's top functions, C and
// Rust side by side, in instructions per operation.
func (r *Report) WriteFunctions(w io.Writer) error {
	for _, x := range r.Workloads {
		a := x.Functions
		if a == nil {
			continue
		}
		fmt.Fprintf(w, "\n%s: instructions per operation by function (%d operations per side; C %.0f, Rust %.0f in all)\n", x.Name, a.Ops, a.C.PerOp, a.Rust.PerOp)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "C function\twhere\tinsns/op\t\tRust function\twhere\tinsns/op")
		for i := 0; i < max(len(a.C.Top), len(a.Rust.Top)); i++ {
			var c, rs FunctionCost
			if i < len(a.C.Top) {
				c = a.C.Top[i]
			}
			if i < len(a.Rust.Top) {
				rs = a.Rust.Top[i]
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t\t%s\t%s\t%s\n", short(c.Function, 48), c.Where, perOp(c.PerOp), short(rs.Function, 60), rs.Where, perOp(rs.PerOp))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(w, "\n%s: where the sides differ (Rust minus C, instructions per operation)\n", x.Name)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "function\twhere\tC\tRust\tRust-C")
		for _, d := range a.Diff {
			fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.1f\t%+.1f\n", short(d.Function, 72), d.Where, d.C, d.Rust, d.Diff)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func perOp(v float64) string {
	if v == 0 {
		return ""
	}
	return fmt.Sprintf("%.1f", v)
}

// short cuts s to n runes, keeping its end (a Rust path's last segments
// say the most).
func short(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return "…" + string(r[len(r)-n+1:])
}

// WriteReportsMarkdown writes several reports (one per architecture, say)
// as one Markdown table: per workload and report, each side's median,
// the ratio with its interval, and the run's VM time.
func WriteReportsMarkdown(w io.Writer, reports []*Report) error {
	var b strings.Builder
	b.WriteString("| workload | arch | count | C | Rust | unit | Rust/C | 95 % CI | run's VM time |\n")
	b.WriteString("| --- | --- | --- | ---: | ---: | --- | ---: | --- | ---: |\n")
	for _, r := range reports {
		for _, x := range r.Workloads {
			if x.Error != "" {
				fmt.Fprintf(&b, "| %s | %s | %s | failed: %s | | | | | |\n", x.Name, r.arch(), r.count(), x.Error)
				continue
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %.3f | [%.3f, %.3f] | %.0f s |\n", x.Name, r.arch(), r.count(),
				num(x.C), num(x.Rust), x.Unit, x.Ratio, x.CILow, x.CIHigh, r.VMSeconds)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
