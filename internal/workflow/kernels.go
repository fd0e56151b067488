package workflow

import (
	"context"
	"errors"

	"github.com/rkodev/rko/internal/job"
	"github.com/rkodev/rko/internal/kapi"
	"github.com/rkodev/rko/internal/kbuild"
	"github.com/rkodev/rko/internal/ui"
)

// KernelsSchema is the version of the KernelsReport document.
const KernelsSchema = 1

// KernelsReport is the report of one test run on several kernels (rko
// test --kernel 6.12,7.2,7.3; docs/schemas.md#rko-test---kernel-list):
// one entry per kernel, in the order given. It passed when every kernel
// passed.
type KernelsReport struct {
	Schema  int         `json:"schema"`
	Passed  bool        `json:"passed"`
	Kernels []KernelRun `json:"kernels"`
}

// KernelRun is the test of one kernel of a KernelsReport.
type KernelRun struct {
	// Kernel is the kernel as --kernel named it ("6.12", "debian", a
	// directory; "" for rko's default).
	Kernel string `json:"kernel"`
	Passed bool   `json:"passed"`
	// Report is the run's report (docs/schemas.md#rko-test---json), when
	// the modules were built and booted.
	Report *Report `json:"report,omitempty"`
	// Error is why the run could not happen (the kernel or a module did
	// not build), and Drift what the modules use that the kernel lacks.
	Error string         `json:"error,omitempty"`
	Drift []kapi.Finding `json:"drift,omitempty"`
}

// TestKernels runs Test for each job, one kernel each, going on after a
// kernel fails (a module that does not build on 6.12 is a result, not
// the end of the run). Only a cancelled context stops it early.
func TestKernels(ctx context.Context, jobs []*job.Job, p *ui.Printer) (*KernelsReport, error) {
	rep := &KernelsReport{Schema: KernelsSchema, Passed: true}
	for _, j := range jobs {
		kr := KernelRun{Kernel: j.Kernel.Spec()}
		done := p.Phase("kernel " + j.Kernel.Describe())
		r, err := Resolve(ctx, j, p, true)
		if err == nil {
			kr.Report, err = Test(ctx, r)
		}
		done()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var je *job.Error
		if errors.As(err, &je) {
			return nil, err // bad input: nothing of it can run
		}
		if err != nil {
			kr.Error = err.Error()
			var be *kbuild.Error
			if errors.As(err, &be) {
				kr.Drift = be.Drift
			}
		} else {
			kr.Passed = kr.Report.Verdict.Passed
		}
		rep.Passed = rep.Passed && kr.Passed
		rep.Kernels = append(rep.Kernels, kr)
	}
	return rep, nil
}
