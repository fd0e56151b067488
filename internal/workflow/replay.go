package workflow

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/rkodev/rko/internal/kbuild"
	"github.com/rkodev/rko/internal/kernel"
)

// BuildPath says how a cycle's modules were built: "replay" (the commands
// Kbuild recorded, run again without make: only module sources changed)
// or "make", and why (docs/schemas.md).
type BuildPath struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
	// Discarded are the builds of the same cycle thrown away because the
	// sources changed while they ran (rko watch builds again before
	// loading anything), first first; the cycle's path is its last build.
	Discarded []DiscardedBuild `json:"discarded,omitempty"`
}

// DiscardedBuild is a build of a watch cycle thrown away because the
// sources changed while it ran: how it went (BuildPath's fields).
type DiscardedBuild struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// cycleBuild is the build of one rko watch cycle.
type cycleBuild struct {
	mods []ModuleRun
	path BuildPath
	// compile is the time of the replayed compile commands (0 for make).
	compile time.Duration
}

// buildCycle builds every directory against k (BuildModules is this
// without the path), and keeps how each was built: a cycle reports
// whether its build replayed Kbuild's commands or ran make, and why. With several directories the
// path is make if any went through make, with that directory's reason.
func (e *Env) buildCycle(ctx context.Context, k *kernel.Kernel, dirs []string) (*cycleBuild, error) {
	b := &cycleBuild{}
	for _, d := range dirs {
		abs, err := kbuild.CheckDir(d)
		if err != nil {
			return nil, err
		}
		unlock, err := e.lockModuleDir(ctx, abs, "building")
		if err != nil {
			return nil, err
		}
		logPath, logf := LogFile("kbuild")
		r, err := kbuild.Build(ctx, e.Toolchain, k, abs, logf)
		logf.Close()
		unlock()
		if err != nil {
			return nil, fmt.Errorf("%w\nfull make output: %s", err, logPath)
		}
		os.Remove(logPath)
		for _, dg := range r.Diagnostics {
			if dg.Severity == "warning" {
				e.UI.Warnf("%s", dg)
			}
		}
		reason := r.Reason
		if len(dirs) > 1 {
			reason = filepath.Base(abs) + ": " + reason
		}
		if b.path.Path == "" || (r.Path == kbuild.PathMake && b.path.Path != kbuild.PathMake) {
			b.path = BuildPath{Path: r.Path, Reason: reason}
		}
		b.compile += r.Compile
		mr := ModuleRun{Dir: r.Dir, KoPaths: r.Modules, BuildPath: r.BuildPath}
		for _, ko := range r.Modules {
			mr.Modules = append(mr.Modules, ModuleName(ko))
		}
		mr.Tests = findTests(r.Dir)
		mr.KUnit = hasKUnitSuites(r.Dir)
		b.mods = append(b.mods, mr)
	}
	return b, nil
}
