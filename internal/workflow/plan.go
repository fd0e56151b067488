package workflow

import (
	"path/filepath"

	"github.com/rkodev/rko/internal/guest"
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
			p.Steps = append(p.Steps, guest.Step{Name: "insmod " + name, Kind: "insmod",
				Path: "/rko/modules/" + filepath.Base(ko), Params: o.Params[name], Module: name})
			loaded = append(loaded, name)
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
		p.Steps = append(p.Steps, guest.Step{Name: "kmemleak", Kind: "kmemleak", TimeoutSec: 60})
	}
	return p
}
