package matrix

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rkodev/rko/internal/job"
	"github.com/rkodev/rko/internal/kbuild"
	"github.com/rkodev/rko/internal/ui"
	"github.com/rkodev/rko/internal/workflow"
)

// ReportSchema is the version of the Report document.
const ReportSchema = 1

// Verdicts of a cell.
const (
	// Passed: the cell's job ran and its verdict passed.
	Passed = "passed"
	// Failed: the job ran and failed, or a module did not build.
	Failed = "failed"
	// Errored: rko could not run the cell (its kernel did not build, a
	// tool is missing).
	Errored = "error"
	// Refused: the cell's job cannot work (job.Check); nothing ran.
	Refused = "refused"
	// Cancelled: the run was interrupted before the cell finished.
	Cancelled = "cancelled"
)

// Verdicts is the verdicts of a run counted, in the order of the
// verdict constants: "5 passed, 1 failed" (the summary line of rko
// matrix and of rko results merge).
func Verdicts(counts map[string]int) string {
	var parts []string
	for _, v := range []string{Passed, Failed, Errored, Refused, Cancelled} {
		if counts[v] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[v], v))
		}
	}
	return strings.Join(parts, ", ")
}

// Report is the outcome of a matrix run (rko matrix --json;
// docs/schemas.md#rko-matrix---json). It passed when every cell passed.
type Report struct {
	Schema int  `json:"schema"`
	Passed bool `json:"passed"`
	// File is the matrix file.
	File string `json:"file"`
	// Guests is how many cells ran at once at most.
	Guests int `json:"guests"`
	// WallS is the run's wall time, CellsS the sum of the cells' times,
	// in seconds.
	WallS  float64 `json:"wall_s"`
	CellsS float64 `json:"cells_s"`
	// Kernels are the distinct kernels of the cells, each resolved once
	// (found in the cache, pulled or built), in the order they were.
	Kernels []KernelResult `json:"kernels"`
	Cells   []CellResult   `json:"cells"`
}

// KernelResult is one kernel of a Report.
type KernelResult struct {
	// Kernel is the request (job.Kernel.Describe), Key and Release the
	// kernel's when it was resolved, Error why not.
	Kernel  string  `json:"kernel"`
	Key     string  `json:"key,omitempty"`
	Release string  `json:"release,omitempty"`
	Seconds float64 `json:"seconds"`
	Error   string  `json:"error,omitempty"`
}

// CellResult is one cell of a Report.
type CellResult struct {
	Cell
	// Verdict is passed, failed, error, refused or cancelled; Reason says
	// why when it is not passed.
	Verdict string `json:"verdict"`
	Reason  string `json:"reason,omitempty"`
	// TimeS is the cell's time in seconds: waiting for its kernel and a
	// guest slot is not counted, finding its (built) kernel is.
	TimeS float64 `json:"time_s"`
	// Job is the cell's job (what rko test --job runs), absent when it was
	// refused.
	Job *job.Job `json:"job,omitempty"`
	// Report is rko test's report of the cell, when it booted.
	Report *workflow.Report `json:"report,omitempty"`
}

// Planned is a cell with its job made (or the reason it cannot be).
type Planned struct {
	Cell
	Job *job.Job
	// Refused is why the job cannot work (job.Check's message).
	Refused string
}

// Options are how Run runs the cells.
type Options struct {
	// File names the matrix file in the report.
	File string
	// Guests is how many cells run at once (0: Slots).
	Guests int
	// Printer shows the kernels' builds and a line per finished cell.
	Printer *ui.Printer
}

// Slots is how many guests fit on this machine at once: one per core,
// and no more than the available memory holds with memMB for each
// (a guest's memory and QEMU's own); at least 1.
func Slots(memMB int) int {
	n := runtime.NumCPU()
	if avail := memAvailableMB(); avail > 0 && memMB > 0 {
		n = min(n, avail/memMB)
	}
	return max(n, 1)
}

// memAvailableMB is /proc/meminfo's MemAvailable in MiB (0 when unknown).
func memAvailableMB() int {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return kb / 1024
		}
	}
	return 0
}

// GuestMemMB is what one cell of cells takes at most: its guest's memory
// (the job's, else the profile's default: 1024 MiB for debug, 512
// otherwise) and 256 MiB for QEMU and the module build.
func GuestMemMB(cells []Planned) int {
	m := 0
	for _, c := range cells {
		if c.Job == nil {
			continue
		}
		g := c.Job.Boot.MemoryMB
		if g == 0 {
			g = 512
			if c.Job.Kernel.Profile == "debug" {
				g = 1024
			}
		}
		m = max(m, g+256)
	}
	return m
}

// Run runs the cells: each kernel is resolved (found or built) once, one
// kernel at a time, in the order of the cells (a kernel build takes every
// core); a cell starts when its kernel is ready and a guest slot is free.
// Cells of one module directory run one after another, since Kbuild
// builds in the directory. A cell that fails does not stop the others;
// a cancelled ctx stops every guest and build, and Run returns the cells
// that finished, the others cancelled, and ctx's error.
func Run(ctx context.Context, cells []Planned, o Options) (*Report, error) {
	start := time.Now()
	p := o.Printer
	if p == nil {
		p = ui.New(io.Discard, true)
	}
	guests := o.Guests
	if guests <= 0 {
		guests = Slots(GuestMemMB(cells))
	}
	rep := &Report{Schema: ReportSchema, File: o.File, Guests: guests, Cells: make([]CellResult, len(cells))}

	// One resolution per kernel (the job's kernel and its toolchain).
	type kernelState struct {
		job   *job.Job
		ready chan struct{}
		err   error
		res   KernelResult
	}
	kernels := map[string]*kernelState{}
	var order []*kernelState
	for i, c := range cells {
		rep.Cells[i] = CellResult{Cell: c.Cell, Job: c.Job, Verdict: Cancelled}
		if c.Job == nil {
			rep.Cells[i].Verdict, rep.Cells[i].Reason = Refused, c.Refused
			continue
		}
		key := kernelKey(c.Job)
		if kernels[key] == nil {
			kernels[key] = &kernelState{job: c.Job, ready: make(chan struct{})}
			order = append(order, kernels[key])
		}
	}
	resolved := make(chan struct{})
	go func() {
		defer close(resolved)
		for _, ks := range order {
			ks.res.Kernel = ks.job.Kernel.Describe()
			if ctx.Err() != nil {
				ks.err = ctx.Err()
			} else {
				t0 := time.Now()
				var r *workflow.Resolved
				r, ks.err = workflow.Resolve(ctx, ks.job, p, true)
				ks.res.Seconds = seconds(time.Since(t0))
				if ks.err == nil {
					ks.res.Key, ks.res.Release = r.Kernel.Key, r.Kernel.Release
				} else {
					ks.res.Error = firstLine(ks.err.Error())
				}
			}
			close(ks.ready)
		}
	}()

	slots := make(chan struct{}, guests)
	dirs := map[string]*sync.Mutex{}
	for _, c := range cells {
		if c.Job != nil {
			for _, m := range c.Job.Modules {
				if dirs[m] == nil {
					dirs[m] = &sync.Mutex{}
				}
			}
		}
	}
	quiet := ui.New(io.Discard, true)
	var wg sync.WaitGroup
	for i, c := range cells {
		if c.Job == nil {
			p.Logf("%s: refused: %s", c.Name, c.Refused)
			continue
		}
		ks := kernels[kernelKey(c.Job)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := &rep.Cells[i]
			select {
			case <-ks.ready:
			case <-ctx.Done():
				return
			}
			if ks.err != nil {
				if ctx.Err() == nil {
					res.Verdict, res.Reason = Errored, "kernel: "+firstLine(ks.err.Error())
					var je *job.Error
					if errors.As(ks.err, &je) {
						// Known only once the kernel is found (a tree's own
						// architecture): the job cannot work.
						res.Verdict, res.Reason = Refused, je.Error()
					}
					p.Logf("%s: %s (%s)", c.Name, res.Verdict, res.Reason)
				}
				return
			}
			locks := lockDirs(dirs, c.Job.Modules)
			defer locks()
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-slots }()
			if ctx.Err() != nil {
				return
			}
			t0 := time.Now()
			p.Logf("%s: started", c.Name)
			runCell(ctx, c.Job, quiet, res)
			res.TimeS = seconds(time.Since(t0))
			if ctx.Err() != nil {
				res.Verdict, res.Reason, res.Report = Cancelled, "", nil
				return
			}
			line := fmt.Sprintf("%s: %s in %.1fs", c.Name, res.Verdict, res.TimeS)
			if res.Reason != "" {
				line += " (" + res.Reason + ")"
			}
			p.Logf("%s", line)
		}()
	}
	wg.Wait()
	<-resolved // a cancelled build has stopped, its make and toolchain with it
	for _, ks := range order {
		if ks.res.Kernel != "" {
			rep.Kernels = append(rep.Kernels, ks.res)
		}
	}
	rep.Passed = true
	for _, c := range rep.Cells {
		rep.CellsS += c.TimeS
		rep.Passed = rep.Passed && c.Verdict == Passed
	}
	rep.CellsS = float64(int64(rep.CellsS*1000+0.5)) / 1000
	rep.WallS = seconds(time.Since(start))
	return rep, ctx.Err()
}

// runCell resolves and tests one cell's job, as rko test does.
func runCell(ctx context.Context, j *job.Job, p *ui.Printer, res *CellResult) {
	r, err := workflow.Resolve(ctx, j, p, false)
	if err == nil {
		res.Report, err = workflow.Test(ctx, r)
	}
	switch {
	case err == nil && res.Report.Verdict.Passed:
		res.Verdict = Passed
	case err == nil:
		res.Verdict, res.Reason = Failed, res.Report.Verdict.Reason
	default:
		res.Verdict, res.Reason = Errored, firstLine(err.Error())
		var je *job.Error
		if errors.As(err, &je) {
			res.Verdict, res.Reason = Refused, je.Error()
		}
		var be *kbuild.Error
		if errors.As(err, &be) && len(be.Diagnostics) > 0 {
			// A module that does not compile on this kernel is a finding
			// about the module, as rko test's exit status says.
			res.Verdict = Failed
			n, first := 0, ""
			for _, d := range be.Diagnostics {
				if d.Severity == "error" {
					if n == 0 {
						first = fmt.Sprintf("%s:%d: %s", filepath.Base(d.File), d.Line, d.Message)
					}
					n++
				}
			}
			res.Reason = fmt.Sprintf("build: %d error(s), the first %s", n, first)
		}
	}
}

// lockDirs locks the mutexes of dirs, in order (no two cells wait on each
// other), and returns the unlock.
func lockDirs(all map[string]*sync.Mutex, dirs []string) func() {
	d := append([]string(nil), dirs...)
	sort.Strings(d)
	var held []*sync.Mutex
	for i, m := range d {
		if i > 0 && d[i-1] == m {
			continue
		}
		all[m].Lock()
		held = append(held, all[m])
	}
	return func() {
		for _, m := range held {
			m.Unlock()
		}
	}
}

// kernelKey identifies a job's kernel: the request and the toolchain.
func kernelKey(j *job.Job) string {
	b, _ := json.Marshal(struct {
		K  job.Kernel
		TC string
	}{j.Kernel, j.Toolchain})
	return string(b)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func seconds(d time.Duration) float64 {
	return float64(d.Round(time.Millisecond)) / float64(time.Second)
}
