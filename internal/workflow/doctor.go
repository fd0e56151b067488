package workflow

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rkodev/rko/internal/debian"
	"github.com/rkodev/rko/internal/job"
	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/run"
	"github.com/rkodev/rko/internal/target"
	"github.com/rkodev/rko/internal/toolchain"
	"github.com/rkodev/rko/internal/vm"
)

// DoctorReport is the JSON output of rko doctor (docs/schemas.md).
type DoctorReport struct {
	// Arch is the guest architecture the QEMU and KVM checks are for.
	Arch      string            `json:"arch"`
	Toolchain string            `json:"toolchain"`
	Minima    toolchain.Minima  `json:"minima"`
	Source    string            `json:"source,omitempty"`
	Kernel    string            `json:"kernel,omitempty"`
	Checks    []toolchain.Check `json:"checks"`
	// Kernels are the kernels rko has built, of every version and
	// architecture (rko kernel list).
	Kernels []kernel.Summary `json:"kernels"`
	Accel   string           `json:"accel"`
	OK      bool             `json:"ok"`
}

// DoctorParams configure Doctor.
type DoctorParams struct {
	// Target is the guest architecture (nil: the host's).
	Target *target.Target
	// Toolchain is the toolchain to check: host or rootfs.
	Toolchain string
	// Source is a kernel source tree or tarball whose minima apply ("":
	// Linux 7.3's).
	Source string
	// Kernel, when its Kind is set, adds the checks of that kernel.
	Kernel job.Kernel
}

// Doctor runs rko doctor's checks; quickstart runs them too.
func Doctor(ctx context.Context, p DoctorParams) (*DoctorReport, error) {
	t, mode, source := p.Target, p.Toolchain, p.Source
	if t == nil {
		t = target.Host()
	}
	rep := &DoctorReport{Arch: t.Name, Toolchain: mode, Minima: toolchain.Minima73}
	var tc *toolchain.Toolchain
	switch mode {
	case "host":
		tc = &toolchain.Toolchain{Kind: toolchain.Host}
	case "rootfs":
		var err error
		tc, err = toolchain.Load("", "")
		if err != nil {
			fix := "rko toolchain install"
			if errors.Is(err, toolchain.ErrDamaged) {
				fix = "rko toolchain install --force"
			}
			rep.Checks = append(rep.Checks, toolchain.Check{Name: "rootfs", Status: toolchain.Fail, Detail: err.Error(), Fix: fix})
		}
	default:
		return nil, fmt.Errorf("unknown --toolchain %q, want host or rootfs", mode)
	}
	tree := ""
	if p.Kernel.Version != "" && tc != nil {
		// --kernel 6.12: that version's minima (its source is fetched
		// once, as a build would).
		src, _, err := debian.LinuxSource(ctx, debian.Params{Toolchain: tc}, p.Kernel.Version)
		if err != nil {
			return nil, fmt.Errorf("--kernel %s: %w", p.Kernel.Version, err)
		}
		rep.Source, tree = src.Dir, src.Dir
		rep.Minima = src.MinimaFor(ctx, t)
	} else if source != "" {
		src, err := kernel.FindSource(ctx, source, tc, func(string, ...any) {})
		if err != nil {
			return nil, err
		}
		rep.Source, tree = src.Dir, src.Dir
		rep.Minima = src.MinimaFor(ctx, t)
	}
	if tc != nil {
		_, checks := tc.Checks(ctx, tree, rep.Minima, hintFor(tc))
		rep.Checks = append(rep.Checks, checks...)
	}
	rep.Checks = append(rep.Checks, hostChecks(ctx, tc, t, &rep.Accel)...)
	if p.Kernel.Kind == job.KindDebian || p.Kernel.Kind == job.KindDir {
		rep.Kernel = p.Kernel.Spec()
		ktc := tc
		if ktc == nil {
			ktc = &toolchain.Toolchain{Kind: toolchain.Host}
		}
		rep.Checks = append(rep.Checks, kernelChecks(ctx, ktc, p.Kernel)...)
	}
	rep.Kernels = []kernel.Summary{}
	for _, k := range kernel.AllCached() {
		rep.Kernels = append(rep.Kernels, k.Summarize())
	}
	rep.OK = toolchain.Passed(rep.Checks)
	return rep, nil
}

// kernelChecks are doctor's checks of a --kernel: for Debian's, that the
// release exists and is Rust-enabled and that each tool matches the
// kernel's; for a DIR, that it is a built Rust tree with what rko needs.
func kernelChecks(ctx context.Context, tc *toolchain.Toolchain, jk job.Kernel) []toolchain.Check {
	if jk.Kind == job.KindDebian {
		release := jk.Release
		if tc == nil {
			return nil
		}
		c := toolchain.Check{Name: "debian kernel", Want: "a Rust-enabled Debian kernel with its linux-source on the mirror"}
		r, cfg, err := debian.Inspect(ctx, debian.Params{Release: release, Toolchain: tc})
		if err != nil {
			c.Status, c.Detail, c.Fix = toolchain.Fail, err.Error(), "pick a release the message lists: --kernel debian:RELEASE"
			return []toolchain.Check{c}
		}
		c.Status, c.Found = toolchain.Pass, fmt.Sprintf("%s (%s)", r.Name, r.Version)
		cs := []toolchain.Check{c}
		for _, m := range debian.Tools(ctx, tc, cfg) {
			tcheck := toolchain.Check{Name: "kernel's " + m.Tool, Want: m.Kernel + " (CONFIG_" + m.Option + ")", Found: m.Have, Status: toolchain.Pass}
			if m.Have != m.Kernel {
				have := fmt.Sprintf("%q", m.Have)
				if m.Have == "" {
					have = "no " + m.Tool
				}
				tcheck.Status, tcheck.Detail = toolchain.Fail, fmt.Sprintf("the kernel was built with %q, the toolchain has %s", m.Kernel, have)
				tcheck.Fix = "use the toolchain the kernel was built with (--toolchain rootfs has Debian trixie's; rko toolchain install --force refreshes it)"
			}
			cs = append(cs, tcheck)
		}
		return cs
	}
	c := toolchain.Check{Name: "kernel tree", Want: "a kernel built with Rust, modules and rko's boot options"}
	k, err := kernel.FromDir(jk.Dir)
	if err != nil {
		c.Status, c.Detail = toolchain.Fail, err.Error()
		return []toolchain.Check{c}
	}
	unmet, err := k.CheckNeeds(kernel.BootNeedsFor(k.Target()))
	switch {
	case err != nil:
		c.Status, c.Detail = toolchain.Fail, err.Error()
	case len(unmet) > 0:
		c.Status, c.Detail = toolchain.Fail, (&kernel.NeedsError{Kernel: k.Describe(), Unmet: unmet}).Error()
	default:
		c.Status, c.Found = toolchain.Pass, k.Describe()
	}
	cs := []toolchain.Check{c}
	if u, err := k.CheckNeeds([]kernel.Need{kernel.KUnitNeed}); err == nil && len(u) > 0 {
		cs = append(cs, toolchain.Check{Name: "kernel KUnit", Want: "CONFIG_KUNIT=y (modules' KUnit suites run)", Status: toolchain.Warn, Detail: u[0].String()})
	}
	return cs
}

func hintFor(tc *toolchain.Toolchain) toolchain.Hint {
	if tc.Kind == toolchain.Rootfs {
		return toolchain.Hint{Install: func(pkgs ...string) string {
			return "rko toolchain install --force --package " + strings.Join(pkgs, " --package ")
		}}
	}
	return toolchain.DebianHint
}

// hostChecks are the checks that concern the host whatever the toolchain:
// QEMU, bubblewrap, mmdebstrap, Go (for the guest init) and KVM.
func hostChecks(ctx context.Context, tc *toolchain.Toolchain, t *target.Target, accel *string) []toolchain.Check {
	var cs []toolchain.Check
	type tool struct{ name, pkg, why string }
	var need []tool
	if !t.UML() {
		need = append(need, tool{t.QEMU, t.QEMUPackage, "boots the " + t.Name + " test guests"})
	}
	need = append(need,
		tool{"bwrap", "bubblewrap", "enters the rootfs toolchain"},
		tool{"mmdebstrap", "mmdebstrap", "builds the rootfs toolchain"},
		tool{"go", "golang-go", "builds the guest init"})
	qemu := ""
	for _, n := range need {
		c := toolchain.Check{Name: n.name, Want: "present (" + n.why + ")"}
		if p, err := run.LookPath(n.name); err == nil {
			c.Status, c.Found = toolchain.Pass, p
			if n.name == t.QEMU {
				qemu = p
			}
		} else {
			c.Status, c.Detail, c.Fix = toolchain.Fail, n.name+" not found", "apt-get install "+n.pkg
		}
		cs = append(cs, c)
	}
	if t.ELFMachine != target.Host().ELFMachine && t.Binutils != "" {
		// Without it, crash frames in the module keep function+offset
		// but get no source line: a warning, not a failure.
		c := toolchain.Check{Name: t.Binutils + "addr2line", Want: "present (names source lines of " + t.Name + " module crashes)"}
		if p, err := run.LookPath(c.Name); err == nil {
			c.Status, c.Found = toolchain.Pass, p
		} else {
			c.Status, c.Detail, c.Fix = toolchain.Warn, c.Name+" not found", "apt-get install "+t.BinutilsPackage
		}
		cs = append(cs, c)
	}
	var kc toolchain.Check
	switch {
	case t.UML():
		kc = toolchain.Check{Name: "kvm", Status: toolchain.Skip, Found: vm.UML, Detail: "UML guests are host processes: no QEMU, no KVM"}
		*accel = vm.UML
	case qemu == "":
		kc = toolchain.Check{Name: "kvm", Status: toolchain.Skip, Detail: "no QEMU"}
		*accel = vm.TCG
	default:
		kc = KVMCheck(ctx, tc, t)
		*accel = kc.Found
	}
	return append(cs, kc)
}
