package cli

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/rkodev/rko"
	"github.com/rkodev/rko/internal/cache"
	"github.com/rkodev/rko/internal/toolchain"
	"github.com/rkodev/rko/internal/workflow"
)

// QuickstartOptions are rko quickstart's options: the job of examples/hello
// (the directories are filled in when the examples are extracted).
type QuickstartOptions struct {
	jobOptions
}

// NewCmdQuickstart makes rko quickstart; runF, when not nil, runs
// instead of runQuickstart.
func NewCmdQuickstart(f *Factory, runF func(context.Context, *QuickstartOptions) error) *cobra.Command {
	o := &QuickstartOptions{jobOptions: jobOptions{IO: f.IO}}
	var fl jobFlags
	c := &cobra.Command{
		Use:   "quickstart",
		Short: "From nothing to the bundled Rust module and its C twin, built, booted and tested",
		Long: `quickstart runs the whole loop on the bundled example (examples/hello: a
Rust module and its C twin): doctor, the pinned toolchain if the host's
fails doctor, the kernel, then rko test on both modules. It prints each
phase with its time. Exit status: 0 when both modules passed.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			dir, err := extractExamples()
			if err != nil {
				return err
			}
			j, err := fl.toJob(c, []string{filepath.Join(dir, "rust"), filepath.Join(dir, "c")}, o.IO.In)
			if err != nil {
				return err
			}
			o.set(j, &fl)
			if runF != nil {
				return runF(c.Context(), o)
			}
			return runQuickstart(c.Context(), o)
		},
	}
	fl.add(c, bootDefaults{})
	return c
}

func runQuickstart(ctx context.Context, o *QuickstartOptions) error {
	if o.PrintJob {
		_, err := o.IO.Out.Write(o.Job.JSON())
		return err
	}
	p := o.IO.Printer(o.Quiet)
	w := o.IO.Out
	start := time.Now()
	done := p.Phase("doctor (host)")
	rep, err := workflow.Doctor(ctx, workflow.DoctorParams{Target: o.Job.Kernel.Target(), Toolchain: "host"})
	if err != nil {
		return err
	}
	failed := 0
	for _, c := range rep.Checks {
		if c.Status == toolchain.Fail {
			failed++
		}
	}
	if failed > 0 {
		// Which toolchain to use is --toolchain's decision (auto: the
		// host's when its Rust toolchain passes, else the pinned rootfs);
		// a missing QEMU or mmdebstrap does not make the host's unusable.
		p.Logf("%d host check(s) failed (rko doctor lists them)", failed)
	}
	switch rep.Accel {
	case "untested":
		p.Logf("KVM untested: the first boot tries it and falls back to TCG if it fails")
	default:
		p.Logf("guests will run under %s", rep.Accel)
	}
	done()
	r, err := workflow.Resolve(ctx, o.Job, p, true)
	if err != nil {
		return err
	}
	tr, err := workflow.Test(ctx, r)
	if err != nil {
		return err
	}
	printTestReport(w, tr, false)
	fmt.Fprintf(w, "quickstart: %s total (kernel %.1fs, build %.1fs, boot+test %.1fs)\n",
		time.Since(start).Round(100*time.Millisecond), tr.Timings.Kernel, tr.Timings.Build, tr.Timings.Boot)
	fmt.Fprintf(w, "next: rko new mymod && rko test mymod\n")
	if !tr.Verdict.Passed {
		return exitCode(ExitFail)
	}
	return nil
}

// extractExamples writes the bundled examples/hello under the cache once
// per content, so that warm runs build incrementally.
func extractExamples() (string, error) {
	var parts [][]byte
	fs.WalkDir(rko.Examples, "examples/hello", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			data, _ := rko.Examples.ReadFile(p)
			parts = append(parts, []byte(p), data)
		}
		return nil
	})
	dir, err := cache.Sub("quickstart", cache.Key(parts...))
	if err != nil {
		return "", err
	}
	err = fs.WalkDir(rko.Examples, "examples/hello", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel("examples/hello", p)
		out := filepath.Join(dir, rel)
		data, _ := rko.Examples.ReadFile(p)
		if old, err := os.ReadFile(out); err == nil && bytes.Equal(old, data) {
			return nil
		}
		mode := os.FileMode(0o644)
		if filepath.Ext(p) == ".sh" {
			mode = 0o755
		}
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		return cache.WriteFileAtomic(out, data, mode)
	})
	return dir, err
}
