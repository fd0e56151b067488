package debian

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rkodev/rko/internal/kconfig"
	"github.com/rkodev/rko/internal/run"
	"github.com/rkodev/rko/internal/toolchain"
)

// Mismatch is a tool whose version differs from the one the kernel was
// built with.
type Mismatch struct {
	Tool   string `json:"tool"`
	Option string `json:"option"` // the config option that records it
	Kernel string `json:"kernel"` // what the kernel was built with
	Have   string `json:"have"`   // what the toolchain has ("" if missing)
}

// ToolchainError means the toolchain cannot regenerate metadata that
// matches the kernel.
type ToolchainError struct {
	Release    string
	Toolchain  string
	Mismatches []Mismatch
	// Offer is a toolchain that matches, when rko knows one.
	Offer string
}

func (e *ToolchainError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the toolchain (%s) does not match the one Debian built %s with:", e.Toolchain, e.Release)
	for _, m := range e.Mismatches {
		have := m.Have
		if have == "" {
			have = "no " + m.Tool
		}
		fmt.Fprintf(&b, "\n  - %s: the kernel was built with %q (CONFIG_%s), the toolchain has %q", m.Tool, m.Kernel, m.Option, have)
	}
	b.WriteString("\nRust metadata from another rustc or bindgen cannot link against this kernel, and another C compiler or pahole changes its config")
	if e.Offer != "" {
		b.WriteString("\nfix: " + e.Offer)
	} else {
		b.WriteString("\nfix: use a toolchain with exactly these versions")
	}
	return b.String()
}

// probe is what CheckToolchain compares: for each tool, the config option
// that records the kernel's version of it and how to ask the toolchain.
type probe struct {
	tool, option string
	argv         []string
	kernel       string
	have         func(out string) string
}

// Tools compares the toolchain's rustc, bindgen, C compiler and (for a
// BTF kernel) pahole with the versions cfg records; a Mismatch with Have
// equal to Kernel is a match.
func Tools(ctx context.Context, tc *toolchain.Toolchain, cfg kconfig.Config) []Mismatch {
	first := func(out string) string {
		l, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
		return strings.TrimSpace(l)
	}
	unq := func(s string) string { return strings.Trim(s, `"`) }
	cc, _, _ := strings.Cut(unq(cfg.Get("CC_VERSION_TEXT")), " ")
	probes := []probe{
		{"rustc", "RUSTC_VERSION_TEXT", []string{"rustc", "--version"}, unq(cfg.Get("RUSTC_VERSION_TEXT")), first},
		{"bindgen", "BINDGEN_VERSION_TEXT", []string{"bindgen", "--version"}, unq(cfg.Get("BINDGEN_VERSION_TEXT")), first},
		{"C compiler", "CC_VERSION_TEXT", []string{cc, "--version"}, unq(cfg.Get("CC_VERSION_TEXT")), first},
	}
	if cfg.Get("DEBUG_INFO_BTF") == "y" {
		// CONFIG_PAHOLE_VERSION is pahole's "v1.30" as 130.
		probes = append(probes, probe{"pahole", "PAHOLE_VERSION", []string{"pahole", "--version"}, cfg.Get("PAHOLE_VERSION"),
			func(out string) string { return strings.ReplaceAll(strings.TrimPrefix(first(out), "v"), ".", "") }})
	}
	var out []Mismatch
	for _, pr := range probes {
		if pr.kernel == "" || pr.argv[0] == "" {
			continue
		}
		have := ""
		if r, err := tc.Run(ctx, run.Opts{Env: []string{"LC_ALL=C"}}, nil, pr.argv...); err == nil {
			have = pr.have(string(r.Stdout))
		}
		out = append(out, Mismatch{Tool: pr.tool, Option: pr.option, Kernel: pr.kernel, Have: have})
	}
	return out
}

// CheckToolchain names each tool of Tools whose version differs from the
// kernel's, with a toolchain that matches when rko knows one.
func CheckToolchain(ctx context.Context, tc *toolchain.Toolchain, release string, cfg kconfig.Config) error {
	var bad []Mismatch
	for _, m := range Tools(ctx, tc, cfg) {
		if m.Have != m.Kernel {
			bad = append(bad, m)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return &ToolchainError{Release: release, Toolchain: tc.Describe(), Mismatches: bad, Offer: offer(tc, cfg)}
}

// offer suggests the rootfs toolchain when it is not the one in use and
// its rustc is the kernel's version, or a rebuilt rootfs when only pahole
// is missing from it.
func offer(tc *toolchain.Toolchain, cfg kconfig.Config) string {
	want := ""
	if f := strings.Fields(strings.Trim(cfg.Get("RUSTC_VERSION_TEXT"), `"`)); len(f) >= 2 {
		want = f[1] // "1.85.1"
	}
	if tc.Kind == toolchain.Rootfs {
		if tc.Lock != nil && strings.HasPrefix(tc.Lock.Packages["rustc"], want+"+") || tc.Lock != nil && tc.Lock.Packages["rustc"] == want {
			return "the rootfs has the kernel's rustc; rebuild it to get the missing tools: rko toolchain install --force"
		}
		return ""
	}
	rootfs, err := toolchain.Load("", "")
	if errors.Is(err, toolchain.ErrNotInstalled) {
		return fmt.Sprintf("use rko's Debian %s rootfs toolchain (rustc %s like the kernel): --toolchain rootfs (installed on first use)", toolchain.DefaultSuite, want)
	}
	if err == nil && rootfs.Lock != nil && strings.HasPrefix(rootfs.Lock.Packages["rustc"], want) {
		return fmt.Sprintf("use the rootfs toolchain, whose rustc is %s: --toolchain rootfs", rootfs.Lock.Packages["rustc"])
	}
	return ""
}
