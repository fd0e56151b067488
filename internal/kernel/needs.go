package kernel

import (
	"fmt"
	"github.com/rkodev/rko/internal/target"
	"strings"

	"github.com/rkodev/rko/internal/kconfig"
)

// Need is a config option that rko's module build or boot relies on.
type Need struct {
	Symbol string
	Want   string
	// Why says what needs it, for the message naming a missing option.
	Why string
}

// BootNeedsFor are BootNeeds and the console options of target t
// (x86_64 and riscv64: the 8250 UART, ttyS0; arm64: the PL011, ttyAMA0;
// UML: none, its console is a file descriptor).
func BootNeedsFor(t *target.Target) []Need {
	needs := append([]Need(nil), BootNeeds...)
	for _, o := range t.ConsoleConfig {
		needs = append(needs, Need{o, "y", "the console is " + t.Console + " (console=" + t.Console + ")"})
	}
	return needs
}

// BootNeeds are what building a Rust module and rko test's boot need of
// any kernel: the options configs/base.config and configs/rust.config ask
// for on rko's own kernel, minus those that only make reports nicer.
var BootNeeds = []Need{
	{"64BIT", "y", "rko's guests are 64-bit"},
	{"RUST", "y", "Rust modules are built against the kernel's Rust metadata"},
	{"MODULES", "y", "rko loads the module under test"},
	{"MODULE_UNLOAD", "y", "rko unloads the module after its tests (a module that does not unload fails)"},
	{"PRINTK", "y", "the guest init reports each step through /dev/kmsg"},
	{"TTY", "y", "the guest's console is a terminal"},
	{"BLK_DEV_INITRD", "y", "the guest is an initramfs"},
	{"DEVTMPFS", "y", "the guest init mounts /dev"},
	{"PROC_FS", "y", "the guest init mounts /proc"},
	{"SYSFS", "y", "the guest init mounts /sys"},
	{"BINFMT_ELF", "y", "the guest init is a static ELF program"},
	{"FUTEX", "y", "the guest init is a Go program, whose runtime needs it"},
	{"EPOLL", "y", "the guest init is a Go program, whose runtime needs it"},
	// Without it the init dies at once: "runtime: eventfd failed with 38"
	// (Go's netpoller opens an eventfd), seen on a tinyconfig kernel.
	{"EVENTFD", "y", "the guest init is a Go program, whose runtime needs it"},
	{"POSIX_TIMERS", "y", "the guest init is a Go program, whose runtime needs it"},
	{"MULTIUSER", "y", "the guest init is a Go program, whose runtime needs it"},
}

// KUnitNeed is what a module's KUnit suites need to run when it loads.
// A kernel without it still runs everything else; rko says so in the
// verdict instead of failing.
var KUnitNeed = Need{"KUNIT", "y", "the module's KUnit suites run when it loads"}

// Unmet is a needed option the kernel's config does not have, explained
// from the tree's Kconfig as rko kernel build explains a dropped option.
type Unmet struct {
	kconfig.Dropped
	Why string `json:"why"`
}

func (u Unmet) String() string {
	got := u.Got
	if got == "" || got == "n" {
		got = "not set"
	}
	s := fmt.Sprintf("CONFIG_%s=%s is needed (%s), but is %s", u.Symbol, u.Want, u.Why, got)
	if r := u.Reason(); r != "" {
		s += ": " + r
	}
	return s
}

// NeedsError lists what a kernel lacks.
type NeedsError struct {
	Kernel string
	Unmet  []Unmet
}

func (e *NeedsError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kernel %s lacks %d option(s) rko needs:", e.Kernel, len(e.Unmet))
	for _, u := range e.Unmet {
		b.WriteString("\n  - " + u.String())
	}
	b.WriteString("\nfix: set them in the kernel's .config (e.g. scripts/config --enable RUST), run make olddefconfig and rebuild it")
	return b.String()
}

// CheckNeeds returns the options of needs that the kernel's config does
// not have, each explained from its source tree's Kconfig when found.
func (k *Kernel) CheckNeeds(needs []Need) ([]Unmet, error) {
	cfg, err := k.Config()
	if err != nil {
		return nil, err
	}
	requested := kconfig.Config{}
	why := map[string]string{}
	for _, n := range needs {
		requested[n.Symbol] = n.Want
		why[n.Symbol] = n.Why
	}
	if len(kconfig.Compare(requested, cfg, nil)) == 0 {
		return nil, nil
	}
	// As in Build, the explanations are a help: with no index, each
	// missing option is still named.
	var idx *kconfig.Index
	if src := k.SourceDir(); src != "" {
		if i, err := kconfig.IndexTree(src); err == nil && len(i.Symbols) > 0 {
			idx = i
		}
	}
	var out []Unmet
	for _, d := range kconfig.Compare(requested, cfg, idx) {
		out = append(out, Unmet{Dropped: d, Why: why[d.Symbol]})
	}
	return out, nil
}
