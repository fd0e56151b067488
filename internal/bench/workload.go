package bench

import (
	"fmt"
	"strings"
)

// Workload is one pair of twins and how the guest driver measures them.
type Workload struct {
	// Name is what the driver prints and the user selects ("kv").
	Name string
	// Unit of one sample.
	Unit string
	// HigherIsBetter marks throughputs.
	HigherIsBetter bool
	// Desc says what is measured.
	Desc string
	// Modules are the C and Rust module directories in examples/bench;
	// empty for workloads whose twins come with the kernel.
	Modules []string
	// Args are the driver's arguments besides -w, -reps and -warmup.
	Args []string
	// Reps is the number of measured repetitions per side in the first round.
	Reps int
	// Warmup is the number of unmeasured repetitions per side each round.
	Warmup int
	// Paired estimates the ratio from the per-repetition ratios
	// (PairedCostRatio) rather than from each side's median (CostRatio):
	// right when the machine's speed drifts between repetitions more than
	// within one back-to-back C/Rust pair, as under TCG on a loaded host,
	// where it narrowed the intervals of all bundled workloads 2 to 20 fold.
	Paired bool
}

// Workloads are the bundled twins, in report order.
var Workloads = []Workload{
	{
		Name: "kv", Unit: "ops/s", HigherIsBetter: true,
		Desc:    "misc device key-value store driven from user space: one op = ioctl(KV_SELECT) + write(32 B) + read",
		Modules: []string{"kv_c", "kv_rust"},
		Args:    []string{"-ops", "20000"},
		Reps:    12, Warmup: 1, Paired: true,
	},
	{
		Name: "kvi", Unit: "ops/s", HigherIsBetter: true,
		Desc:    "kv with the C device on read_iter/write_iter, the VFS path the Rust MiscDevice trait uses: what is left is the Rust code's own cost",
		Modules: []string{"kv_c", "kv_rust"},
		Args:    []string{"-ops", "20000"},
		Reps:    12, Warmup: 1, Paired: true,
	},
	{
		Name: "rbt", Unit: "ns/op",
		Desc:    "in-kernel rbtree, timed in the kernel: one op = insert (with its allocation) + lookup + remove of one key, 5000 keys per sample",
		Modules: []string{"rbt_c", "rbt_rust"},
		Args:    []string{"-keys", "5000"},
		Reps:    12, Warmup: 1, Paired: true,
	},
	{
		Name: "blk", Unit: "IOPS", HigherIsBetter: true,
		Desc: "null_blk (C) against rnull (Rust): fio 4 KiB random reads, O_DIRECT, libaio depth 16, no I/O scheduler, irqmode 0, 0.8 s per sample after 0.2 s of ramp",
		Args: []string{"-runtime", "0.8", "-ramp", "0.2", "-iodepth", "16", "-fio", fioGuestPath},
		Reps: 12, Warmup: 1, Paired: true,
	},
}

// fioGuestPath is where fio is put in the guest.
const fioGuestPath = "/usr/bin/fio"

// SelectWorkloads returns the named workloads, all of them for none.
func SelectWorkloads(names []string) ([]Workload, error) {
	if len(names) == 0 {
		return Workloads, nil
	}
	var out []Workload
	for _, n := range names {
		found := false
		for _, w := range Workloads {
			if w.Name == n {
				out = append(out, w)
				found = true
			}
		}
		if !found {
			var all []string
			for _, w := range Workloads {
				all = append(all, w.Name)
			}
			return nil, fmt.Errorf("unknown workload %q, want one of %s", n, strings.Join(all, ", "))
		}
	}
	return out, nil
}
