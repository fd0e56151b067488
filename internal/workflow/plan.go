package workflow

import (
	"path/filepath"

	"github.com/rkodev/rko/internal/guest"
	"github.com/rkodev/rko/internal/guest/proto"
)

// MakePlan turns modules into guest steps: load every module, run every
// test, then the extra steps (while the modules are loaded), unload in
// reverse order, and scan with kmemleak last.
func MakePlan(mods []ModuleRun, o BootOpts) *guest.Plan {
	p := &guest.Plan{}
	var loaded []string
	for _, m := range mods {
		for i, ko := range m.KoPaths {
			name := m.Modules[i]
			path := "/rko/modules/" + filepath.Base(ko)
			if o.FailNth {
				// Every error path of the load (and of the probe, which
				// runs in the loading task) first; the clean load after
				// it is the check that the failed ones left nothing behind.
				p.Steps = append(p.Steps, guest.Step{Name: "fail-nth " + name, Kind: proto.KindFailNth,
					Path: path, Params: o.Params[name], Module: name, TimeoutSec: 1800, StopOnFail: true})
			}
			p.Steps = append(p.Steps, guest.Step{Name: "insmod " + name, Kind: "insmod",
				Path: path, Params: o.Params[name], Module: name})
			loaded = append(loaded, name)
		}
	}
	if len(o.Devices) > 0 {
		// With devices attached, a driver that binds none has not been
		// tested: its probe never ran.
		for _, name := range loaded {
			p.Steps = append(p.Steps, guest.Step{Name: "bound " + name, Kind: proto.KindBound, Module: name, TimeoutSec: 30})
		}
	}
	for _, m := range mods {
		if o.NoTests {
			break
		}
		for _, t := range m.Tests {
			rel := "/rko/tests/" + filepath.Base(m.Dir) + "/" + filepath.Base(t)
			p.Steps = append(p.Steps, guest.Step{Name: "test " + filepath.Base(m.Dir) + "/" + filepath.Base(t),
				Kind: "exec", Argv: []string{rel}, Dir: "/rko/tests/" + filepath.Base(m.Dir), TimeoutSec: 60})
		}
	}
	p.Steps = append(p.Steps, o.ExtraSteps...)
	for i := len(loaded) - 1; i >= 0; i-- {
		p.Steps = append(p.Steps, guest.Step{Name: "rmmod " + loaded[i], Kind: "rmmod", Module: loaded[i]})
	}
	if o.Kmemleak {
		// A scan of a debug kernel's memory under TCG took more than a
		// minute on a loaded host (the x86_64 debug kernel, load 12): the
		// step's bound is for a hung scan, not a slow one.
		timeout := 300
		if o.FailNth {
			// Hundreds of loads made many more objects to scan; a debug
			// kernel under TCG took more than a minute (seen here).
			timeout = 600
		}
		p.Steps = append(p.Steps, guest.Step{Name: "kmemleak", Kind: "kmemleak", TimeoutSec: timeout})
	}
	return p
}
