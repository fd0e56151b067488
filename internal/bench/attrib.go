package bench

import (
	"bufio"
	"context"
	_ "embed"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/ianlancetaylor/demangle"

	"github.com/rkodev/rko/internal/cache"
	"github.com/rkodev/rko/internal/guest"
	"github.com/rkodev/rko/internal/run"
	"github.com/rkodev/rko/internal/toolchain"
)

// pluginSource is rko's QEMU TCG plugin: exact instruction counts per
// guest address, cut into segments at a marked address.
//
//go:embed plugin/insncount.c
var pluginSource []byte

// MarkSymbol is the kernel function whose first instruction cuts the
// plugin's counts: the driver reads /proc/version around each side's
// block of repetitions, and nothing else in rko's guest does.
const MarkSymbol = "version_proc_show"

// Attribution is where one workload's instructions go, per side: the
// "functions" object of a workload in the JSON report.
type Attribution struct {
	// Ops is the operations per side the attribution run counted.
	Ops  int         `json:"ops"`
	C    SideProfile `json:"c"`
	Rust SideProfile `json:"rust"`
	// Diff are the functions whose instructions per operation differ
	// the most between the sides (Rust minus C), largest first: where
	// Rust spends the difference.
	Diff []FunctionDiff `json:"diff"`
}

// FunctionDiff is one function's instructions per operation on each side.
type FunctionDiff struct {
	Function string  `json:"function"`
	Where    string  `json:"where"`
	C        float64 `json:"c"`
	Rust     float64 `json:"rust"`
	// Diff is Rust minus C.
	Diff float64 `json:"diff"`
}

// SideProfile is one side's instructions per operation, in all and in the
// functions that executed the most.
type SideProfile struct {
	PerOp float64        `json:"instructions_per_op"`
	Top   []FunctionCost `json:"top"`
}

// FunctionCost is one function's share of a side's instructions.
type FunctionCost struct {
	// Function is the symbol, demangled for Rust.
	Function string `json:"function"`
	// Where is "kernel", the module's name, or "user" (the driver in user
	// space, the same on both sides).
	Where string  `json:"where"`
	PerOp float64 `json:"instructions_per_op"`
	// Share is PerOp over the side's total.
	Share float64 `json:"share"`
}

// BuildPlugin compiles the plugin with the toolchain's clang into rko's
// cache (keyed by its source and the toolchain) and returns the shared
// object's path. QEMU loads it into its own process: it uses only the C
// library's oldest symbols and QEMU's plugin API.
func BuildPlugin(ctx context.Context, tc *toolchain.Toolchain) (string, error) {
	dir, err := cache.Sub("bench", "plugin-"+cache.Key(pluginSource, []byte(tc.ID)))
	if err != nil {
		return "", err
	}
	so := filepath.Join(dir, "libinsncount.so")
	if _, err := os.Stat(so); err == nil {
		return so, nil
	}
	unlock, err := cache.Lock(ctx, so, nil)
	if err != nil {
		return "", err
	}
	defer unlock()
	src := filepath.Join(dir, "insncount.c")
	if err := cache.WriteFileAtomic(src, pluginSource, 0o644); err != nil {
		return "", err
	}
	tmp := so + ".tmp"
	if _, err := tc.Run(ctx, run.Opts{}, []string{dir}, "clang", "-shared", "-fPIC", "-O2", "-Wall", "-o", tmp, src); err != nil {
		return "", fmt.Errorf("building the QEMU plugin of rko bench --functions: %+v", err)
	}
	return so, os.Rename(tmp, so)
}

// PluginArg is QEMU's -plugin value for the plugin so writing its counts
// to out and cutting them at mark.
func PluginArg(so, out string, mark uint64) string {
	return fmt.Sprintf("%s,out=%s,mark=%x", so, out, mark)
}

// symbol is a function's start address and name.
type symbol struct {
	addr  uint64
	name  string
	where string
}

// symtab finds the function of an address: the last symbol at or below
// it, within the kernel's text or a module's.
type symtab struct {
	syms                []symbol
	kernelLo, kernelEnd uint64
}

// ReadSystemMap reads the kernel's text symbols from System.map and the
// address of MarkSymbol.
func readSystemMap(path string) (*symtab, uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	t := &symtab{}
	var mark uint64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) != 3 {
			continue
		}
		addr, err := strconv.ParseUint(fl[0], 16, 64)
		if err != nil {
			continue
		}
		switch fl[1] {
		case "t", "T", "W", "w":
		default:
			continue
		}
		switch fl[2] {
		case "_stext", "_text":
			if t.kernelLo == 0 || addr < t.kernelLo {
				t.kernelLo = addr
			}
		case "_etext":
			t.kernelEnd = addr
		case MarkSymbol:
			mark = addr
		}
		t.syms = append(t.syms, symbol{addr: addr, name: fl[2], where: "kernel"})
	}
	if err := sc.Err(); err != nil {
		return nil, 0, err
	}
	if mark == 0 {
		return nil, 0, fmt.Errorf("%s has no %s: the kernel needs CONFIG_PROC_FS for rko bench --functions", path, MarkSymbol)
	}
	if t.kernelEnd == 0 {
		return nil, 0, fmt.Errorf("%s has no _etext", path)
	}
	return t, mark, nil
}

// addModule adds the KSYM lines of the driver (/proc/kallsyms of the
// twins: "ADDR TYPE NAME [MODULE]").
func (t *symtab) addModule(lines []string) {
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) != 4 || !strings.ContainsAny(f[1], "tTwW") {
			continue
		}
		addr, err := strconv.ParseUint(f[0], 16, 64)
		// ELF mapping symbols ($x, $d on arm64 and riscv64) and local
		// labels mark code and data, not functions.
		if err != nil || addr == 0 || strings.HasPrefix(f[2], "$") || strings.HasPrefix(f[2], ".L") {
			continue
		}
		t.syms = append(t.syms, symbol{addr: addr, name: f[2], where: strings.Trim(f[3], "[]")})
	}
}

func (t *symtab) sort() {
	sort.Slice(t.syms, func(i, j int) bool { return t.syms[i].addr < t.syms[j].addr })
}

// lookup names the function of addr, and where it is.
func (t *symtab) lookup(addr uint64) (string, string) {
	if addr < t.kernelLo {
		// Below the kernel: user space (x86_64, arm64 and riscv64 keep
		// the kernel and its modules in the top half).
		if addr < 1<<63 {
			return "[user space]", "user"
		}
	}
	i := sort.Search(len(t.syms), func(i int) bool { return t.syms[i].addr > addr }) - 1
	if i < 0 {
		return fmt.Sprintf("[%#x]", addr), "kernel"
	}
	s := t.syms[i]
	if s.where == "kernel" && addr >= t.kernelEnd {
		return "[other kernel code]", "kernel"
	}
	return demangleName(s.name), s.where
}

// demangleName makes a Rust symbol readable, without its hash and
// generic arguments' paths.
func demangleName(name string) string {
	if !strings.HasPrefix(name, "_R") && !strings.HasPrefix(name, "_ZN") {
		return name
	}
	return demangle.Filter(name, demangle.NoParams)
}

// readCounts reads the plugin's output: segment number -> address ->
// instructions.
func readCounts(r io.Reader) (map[int]map[uint64]uint64, error) {
	segs := map[int]map[uint64]uint64{}
	var cur map[uint64]uint64
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if n, ok := strings.CutPrefix(line, "S "); ok {
			i, err := strconv.Atoi(n)
			if err != nil {
				return nil, fmt.Errorf("plugin output: bad segment %q", line)
			}
			cur = map[uint64]uint64{}
			segs[i] = cur
			continue
		}
		a, c, ok := strings.Cut(line, " ")
		addr, err1 := strconv.ParseUint(a, 16, 64)
		n, err2 := strconv.ParseUint(c, 10, 64)
		if !ok || err1 != nil || err2 != nil || cur == nil {
			return nil, fmt.Errorf("plugin output: bad line %q", line)
		}
		cur[addr] += n
	}
	return segs, sc.Err()
}

// profile sums one segment by function and keeps the top n; perOp has
// every function's instructions per operation.
func (t *symtab) profile(seg map[uint64]uint64, ops, n int) (side SideProfile, perOp map[[2]string]float64) {
	byFn := map[[2]string]uint64{}
	var total uint64
	for addr, c := range seg {
		fn, where := t.lookup(addr)
		byFn[[2]string{fn, where}] += c
		total += c
	}
	var all []FunctionCost
	perOp = map[[2]string]float64{}
	for k, c := range byFn {
		all = append(all, FunctionCost{Function: k[0], Where: k[1], PerOp: float64(c) / float64(ops), Share: float64(c) / float64(total)})
		perOp[k] = float64(c) / float64(ops)
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].PerOp != all[j].PerOp {
			return all[i].PerOp > all[j].PerOp
		}
		return all[i].Function < all[j].Function
	})
	if len(all) > n {
		all = all[:n]
	}
	return SideProfile{PerOp: float64(total) / float64(ops), Top: all}, perOp
}

// diff lists the n functions whose instructions per operation differ the
// most between c and rust (by at least 0.5 instruction), largest first.
func diff(c, rust map[[2]string]float64, n int) []FunctionDiff {
	var out []FunctionDiff
	for k := range union(c, rust) {
		d := rust[k] - c[k]
		if d > -0.5 && d < 0.5 {
			continue
		}
		out = append(out, FunctionDiff{Function: k[0], Where: k[1], C: c[k], Rust: rust[k], Diff: d})
	}
	sort.Slice(out, func(i, j int) bool {
		ai, aj := max(out[i].Diff, -out[i].Diff), max(out[j].Diff, -out[j].Diff)
		if ai != aj {
			return ai > aj
		}
		return out[i].Function < out[j].Function
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

func union(a, b map[[2]string]float64) map[[2]string]bool {
	u := map[[2]string]bool{}
	for k := range a {
		u[k] = true
	}
	for k := range b {
		u[k] = true
	}
	return u
}

// AttribOptions configure Attribute.
type AttribOptions struct {
	// Booter boots with the plugin loaded, writing its counts to Counts.
	Booter Booter
	Counts string
	// SystemMap is the kernel's System.map.
	SystemMap string
	Workloads []Workload
	// Modules are the twins' guest paths (Options.Modules).
	Modules map[string]string
	// Reps per side (0: 2) and Top functions per side (0: 12).
	Reps, Top int
}

// Attributable says whether w has an attribution run: blk's operations
// are fio's, timed rather than counted.
func Attributable(w Workload) bool { return len(w.Modules) > 0 }

// Attribute runs one boot in which each workload runs its sides one after
// the other between marks, with the plugin counting every instruction per
// address, and returns each workload's top functions per side.
func Attribute(ctx context.Context, o AttribOptions) (map[string]*Attribution, error) {
	if o.Reps == 0 {
		o.Reps = 2
	}
	if o.Top == 0 {
		o.Top = 12
	}
	syms, _, err := readSystemMap(o.SystemMap)
	if err != nil {
		return nil, err
	}
	var run []*state
	for _, w := range o.Workloads {
		if Attributable(w) {
			run = append(run, &state{w: w, nextRep: o.Reps})
		}
	}
	if len(run) == 0 {
		return nil, nil
	}
	plan := roundPlan(run, Options{Modules: o.Modules})
	for i := range plan.Steps {
		if plan.Steps[i].Kind == "exec" {
			plan.Steps[i].Argv = append(plan.Steps[i].Argv, "-profile")
		}
	}
	console, _, err := o.Booter.Boot(ctx, plan)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(o.Counts)
	if err != nil {
		return nil, fmt.Errorf("the plugin wrote no counts: %w", err)
	}
	segs, err := readCounts(f)
	f.Close()
	if err != nil {
		return nil, err
	}
	sess := guest.ReadSession(console, plan)
	steps := map[string]guest.StepResult{}
	for _, st := range sess.Steps {
		steps[st.Name] = st
	}
	out := map[string]*Attribution{}
	for i, s := range run {
		st := steps[stepName(s.w.Name)]
		if st.Status != "passed" {
			return nil, fmt.Errorf("attribution run of %s: driver %s: %s", s.w.Name, st.Status, lastLine(st))
		}
		ops := map[string]int{}
		var ksyms []string
		for _, l := range st.Output {
			f := strings.Fields(l)
			switch {
			case len(f) == 4 && f[0] == "PROFILE":
				ops[f[2]], _ = strconv.Atoi(f[3])
			case len(f) >= 2 && f[0] == "KSYM":
				ksyms = append(ksyms, strings.TrimPrefix(l, "KSYM "))
			}
		}
		if ops["c"] == 0 || ops["rust"] == 0 {
			return nil, fmt.Errorf("attribution run of %s: the driver counted no operations", s.w.Name)
		}
		t := &symtab{syms: append([]symbol(nil), syms.syms...), kernelLo: syms.kernelLo, kernelEnd: syms.kernelEnd}
		t.addModule(ksyms)
		t.sort()
		// Each workload cuts three segments: C, Rust, and what follows
		// until the next workload's first mark.
		c, r := segs[1+3*i], segs[2+3*i]
		if c == nil || r == nil {
			return nil, fmt.Errorf("attribution run of %s: the plugin cut %d segments, want %d", s.w.Name, len(segs), 3*len(run)+1)
		}
		cp, cAll := t.profile(c, ops["c"], o.Top)
		rp, rAll := t.profile(r, ops["rust"], o.Top)
		out[s.w.Name] = &Attribution{Ops: ops["c"], C: cp, Rust: rp, Diff: diff(cAll, rAll, o.Top)}
	}
	return out, nil
}

// MarkAddress is the address of MarkSymbol in the kernel's System.map.
func MarkAddress(systemMap string) (uint64, error) {
	_, mark, err := readSystemMap(systemMap)
	return mark, err
}
