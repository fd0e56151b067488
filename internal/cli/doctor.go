package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rkodev/rko/internal/debian"
	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/run"
	"github.com/rkodev/rko/internal/target"
	"github.com/rkodev/rko/internal/toolchain"
	"github.com/rkodev/rko/internal/vm"
	"github.com/rkodev/rko/internal/workflow"
)

func init() { register(newDoctorCmd) }

type doctorOpts struct {
	arch      string
	toolchain string
	source    string
	kernel    string
	json      bool
}

// DoctorReport is the JSON output of rko doctor (docs/schemas.md).
type DoctorReport struct {
	// Arch is the guest architecture the QEMU and KVM checks are for.
	Arch      string            `json:"arch"`
	Toolchain string            `json:"toolchain"`
	Minima    toolchain.Minima  `json:"minima"`
	Source    string            `json:"source,omitempty"`
	Kernel    string            `json:"kernel,omitempty"`
	Checks    []toolchain.Check `json:"checks"`
	Accel     string            `json:"accel"`
	OK        bool              `json:"ok"`
}

func newDoctorCmd() *cobra.Command {
	o := &doctorOpts{}
	c := &cobra.Command{
		Use:   "doctor",
		Short: "Check the toolchain and the host for Rust kernel work",
		Long: `doctor applies the kernel's scripts/rust_is_available.sh rules (rustc and
bindgen at least the tree's minima, bindgen 0.66.x refused, libclang as
bindgen sees it, the known bindgen/libclang bug pairs, rust-src) and checks
clang, ld.lld, make, flex, bison, bc, libelf headers, QEMU, bubblewrap and
whether KVM really runs a guest. Each failing check says how to fix it.
With --kernel debian[:RELEASE] it also compares the toolchain's rustc,
bindgen, C compiler and pahole with the versions Debian's kernel was
built with (reading only the index and the headers package); with
--kernel DIR, it checks the tree has what rko needs.
Exit status: 0 when every check passes, 1 otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runDoctor(c.Context(), o, c.OutOrStdout()) },
	}
	addKernelFlag(c, &o.kernel)
	addArchFlag(c, &o.arch)
	c.Flags().StringVar(&o.toolchain, "toolchain", "host", "toolchain to check: host or rootfs")
	c.Flags().StringVar(&o.source, "source", "", "kernel source tree or tarball whose minima apply (default: Linux 7.3's)")
	c.Flags().BoolVar(&o.json, "json", false, "print the report as JSON")
	return c
}

// Doctor runs the checks for guests of t (nil: the host's); it is shared
// with quickstart.
func Doctor(ctx context.Context, t *target.Target, mode, source string) (*DoctorReport, error) {
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
	if source != "" {
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
	rep.Checks = append(rep.Checks, hostChecks(ctx, t, &rep.Accel)...)
	rep.OK = toolchain.Passed(rep.Checks)
	return rep, nil
}

// kernelChecks are doctor's checks of a --kernel: for Debian's, that the
// release exists and is Rust-enabled and that each tool matches the
// kernel's; for a DIR, that it is a built Rust tree with what rko needs.
func kernelChecks(ctx context.Context, tc *toolchain.Toolchain, spec string) []toolchain.Check {
	if release, ok := debian.Spec(spec); ok {
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
	k, err := kernel.FromDir(spec)
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
func hostChecks(ctx context.Context, t *target.Target, accel *string) []toolchain.Check {
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
		kc = workflow.KVMCheck(ctx, t)
		*accel = kc.Found
	}
	return append(cs, kc)
}

func runDoctor(ctx context.Context, o *doctorOpts, w io.Writer) error {
	t, err := target.Lookup(o.arch)
	if err != nil {
		return err
	}
	rep, err := Doctor(ctx, t, o.toolchain, o.source)
	if err != nil {
		return err
	}
	if o.kernel != "" {
		rep.Kernel = o.kernel
		var tc *toolchain.Toolchain
		if o.toolchain == "rootfs" {
			tc, _ = toolchain.Load("", "")
		} else {
			tc = &toolchain.Toolchain{Kind: toolchain.Host}
		}
		rep.Checks = append(rep.Checks, kernelChecks(ctx, tc, o.kernel)...)
		rep.OK = toolchain.Passed(rep.Checks)
	}
	if o.json {
		if err := writeJSON(w, rep); err != nil {
			return err
		}
	} else {
		printChecks(w, rep.Checks)
		if rep.OK {
			fmt.Fprintf(w, "\nall checks passed (toolchain: %s, %s guests: %s)\n", rep.Toolchain, rep.Arch, rep.Accel)
		} else {
			fmt.Fprintf(w, "\nsome checks failed: fix them, or let rko use its pinned toolchain (rko toolchain install)\n")
		}
	}
	if !rep.OK {
		return exitCode(ExitFail)
	}
	return nil
}

func printChecks(w io.Writer, cs []toolchain.Check) {
	for _, c := range cs {
		mark := map[toolchain.Status]string{toolchain.Pass: "ok  ", toolchain.Warn: "warn", toolchain.Fail: "FAIL", toolchain.Skip: "skip"}[c.Status]
		line := fmt.Sprintf("%s %-20s", mark, c.Name)
		if c.Found != "" {
			line += " " + c.Found
		}
		if c.Detail != "" && c.Status != toolchain.Pass {
			line += " — " + c.Detail
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
		if c.Fix != "" && c.Status != toolchain.Pass && c.Status != toolchain.Skip {
			fmt.Fprintf(w, "     fix: %s\n", c.Fix)
		}
	}
}
