// Package debian makes a kernel.Kernel of Debian's own Rust-enabled
// kernel: it fetches the image and headers packages of a release from the
// configured mirror (with apt in the toolchain, on an apt state of rko's
// own), regenerates the Rust metadata Debian's headers lack by preparing
// an O= tree of the same Debian linux-source with Debian's .config and the
// same rustc and bindgen, and puts Debian's Module.symvers (and its
// BTF-only vmlinux, for module BTF) in that tree. Modules built against
// the result load into Debian's kernel; the image rko boots is Debian's
// own vmlinuz. Everything is cached by release.
//
// Why this works: Debian's headers export the kernel crate's symbols
// (2,501 in 7.3.4+deb13) under crate hashes that depend only on the
// source, the config and the compiler, so the metadata rko regenerates
// names the same symbols Debian's vmlinuz exports.
package debian

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/rkodev/rko/internal/cache"
	"github.com/rkodev/rko/internal/kconfig"
	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/run"
	"github.com/rkodev/rko/internal/toolchain"
)

// Spec parses a --kernel value: "debian" or "debian:RELEASE" give ok and
// the release ("" for the newest Rust-enabled one). RELEASE is a kernel
// release as uname -r prints it ("7.3.4+deb13-amd64"); without a flavour
// ("7.3.4+deb13") it means the amd64 one.
func Spec(s string) (release string, ok bool) {
	if s == "debian" {
		return "", true
	}
	rel, ok := strings.CutPrefix(s, "debian:")
	if !ok {
		return "", false
	}
	if rel != "" && !strings.Contains(rel, "-") {
		rel += "-amd64"
	}
	return rel, true
}

// Params configures Kernel.
type Params struct {
	// Release is the kernel release; "" picks the newest Rust-enabled
	// amd64 release the mirror has.
	Release   string
	Toolchain *toolchain.Toolchain
	// Mirror defaults to $RKO_DEBIAN_MIRROR, then the toolchain rootfs's
	// mirror, then deb.debian.org. Suites default to the rootfs's suite
	// and its backports.
	Mirror string
	Suites []string
	Jobs   int
	// Progress receives one-line status; Warn, things the user should
	// know; Log, apt's and make's output.
	Progress func(format string, args ...any)
	Warn     func(format string, args ...any)
	Log      io.Writer
}

func (p *Params) defaults() {
	if p.Progress == nil {
		p.Progress = func(string, ...any) {}
	}
	if p.Warn == nil {
		p.Warn = p.Progress
	}
	if p.Log == nil {
		p.Log = io.Discard
	}
	if p.Jobs == 0 {
		p.Jobs = runtime.NumCPU()
	}
	suite := toolchain.DefaultSuite
	if p.Toolchain != nil && p.Toolchain.Lock != nil {
		suite = p.Toolchain.Lock.Suite
	}
	if p.Mirror == "" {
		p.Mirror = os.Getenv("RKO_DEBIAN_MIRROR")
	}
	if p.Mirror == "" && p.Toolchain != nil && p.Toolchain.Lock != nil {
		p.Mirror = p.Toolchain.Lock.Mirror
	}
	if p.Mirror == "" {
		p.Mirror = toolchain.DefaultMirror
	}
	if len(p.Suites) == 0 {
		p.Suites = []string{suite, suite + "-backports"}
	}
}

// Kernel returns Debian's kernel of p.Release, ready to build modules
// against and to boot: from the cache when it was made before with this
// toolchain, else fetched and prepared.
func Kernel(ctx context.Context, p Params) (*kernel.Kernel, error) {
	p.defaults()
	if err := canApt(p.Toolchain); err != nil {
		return nil, err
	}
	root, err := cache.Sub("debian")
	if err != nil {
		return nil, err
	}
	if p.Release != "" {
		if k, err := kernel.Load(entryDir(root, p.Release, p.Toolchain)); err == nil {
			return k, nil
		}
	}
	a := newApt(p, root)
	unlock, err := cache.Lock(ctx, a.dir, func() { p.Progress("waiting for another rko using the Debian index") })
	if err != nil {
		return nil, err
	}
	rel, err := choose(ctx, p, a, root)
	unlock()
	if err != nil {
		return nil, err
	}
	return prepare(ctx, p, a, root, rel)
}

// canApt says why tc cannot fetch Debian's packages, if it cannot: apt
// and dpkg-deb run in the toolchain (the rootfs has both; a host has them
// only on Debian and its derivatives).
func canApt(tc *toolchain.Toolchain) error {
	if tc == nil {
		return errors.New("--kernel debian needs a toolchain")
	}
	if tc.Kind == toolchain.Host {
		for _, tool := range []string{"apt-get", "dpkg-deb"} {
			if _, err := run.LookPath(tool); err != nil {
				return fmt.Errorf("--kernel debian fetches Debian's packages with %s, which this host lacks: use --toolchain rootfs (rko's Debian rootfs has it)", tool)
			}
		}
	}
	return nil
}

// newApt is the apt state for p's mirror and suites: one directory per
// mirror and suite list, so that an unreachable mirror tried once leaves
// the index of the usual one alone.
func newApt(p Params, root string) *apt {
	key := cache.Key([]byte(p.Mirror), []byte(strings.Join(p.Suites, " ")))
	return &apt{tc: p.Toolchain, dir: filepath.Join(root, "apt-"+key), mirror: p.Mirror, suites: p.Suites, log: p.Log}
}

func entryDir(root, release string, tc *toolchain.Toolchain) string {
	return filepath.Join(root, "kernels", release+"-"+cache.Key([]byte(release), []byte(tc.ID)))
}

// choose reads the index and picks the release: p.Release, checked, or
// the newest amd64 one that is Rust-enabled and has its source.
func choose(ctx context.Context, p Params, a *apt, root string) (Release, error) {
	p.Progress("reading the Debian index of %s (%s)", a.mirror, strings.Join(a.suites, ", "))
	if err := a.update(ctx, false, p.Warn); err != nil {
		return Release{}, err
	}
	pkgs, err := a.packages()
	if err != nil {
		return Release{}, err
	}
	all := Releases(pkgs)
	// usable lists the releases rko can use, newest first; first stops at
	// the first one (each costs a headers package the first time).
	usable := func(first bool) ([]Release, error) {
		var out []Release
		for _, r := range all {
			if first && len(out) > 0 {
				break
			}
			if r.Source == "" || r.Flavour() != "amd64" {
				continue
			}
			cfg, err := releaseConfig(ctx, a, root, r)
			if err != nil {
				return nil, err
			}
			if cfg.Get("RUST") == "y" {
				out = append(out, r)
			}
		}
		return out, nil
	}
	if p.Release == "" {
		ok, err := usable(true)
		if err != nil {
			return Release{}, err
		}
		if len(ok) == 0 {
			return Release{}, fmt.Errorf("the Debian mirror %s (%s) has no Rust-enabled amd64 kernel whose linux-source is also on it; releases there: %s", a.mirror, strings.Join(a.suites, ", "), names(all, 12))
		}
		return ok[0], nil
	}
	for _, r := range all {
		if r.Name != p.Release {
			continue
		}
		cfg, err := releaseConfig(ctx, a, root, r)
		if err != nil {
			return Release{}, err
		}
		if cfg.Get("RUST") != "y" {
			ok, _ := usable(false)
			return Release{}, fmt.Errorf("Debian's kernel %s (%s) is not Rust-enabled: its config has no CONFIG_RUST=y; Rust-enabled releases rko can use: %s", r.Name, r.Version, orNone(ok))
		}
		if r.Source == "" {
			ok, _ := usable(false)
			return Release{}, fmt.Errorf("Debian's kernel %s (%s) is Rust-enabled, but the mirror has no linux-source-%s of that version (it has %s), and the Rust metadata can only be regenerated from the kernel's own source; releases rko can use: %s", r.Name, r.Version, majorMinor(r.Name), orUnknown(r.SourceHave), orNone(ok))
		}
		return r, nil
	}
	ok, err := usable(false)
	if err != nil {
		return Release{}, err
	}
	return Release{}, fmt.Errorf("no Debian kernel %q on %s (%s); Rust-enabled releases rko can use: %s (give one as --kernel debian:RELEASE, or --kernel debian for the newest)", p.Release, a.mirror, strings.Join(a.suites, ", "), orNone(ok))
}

func orNone(rs []Release) string {
	if len(rs) == 0 {
		return "none"
	}
	return Describe(rs)
}

func orUnknown(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func names(rs []Release, max int) string {
	var n []string
	for i, r := range rs {
		if i == max {
			n = append(n, fmt.Sprintf("and %d more", len(rs)-max))
			break
		}
		n = append(n, r.Name)
	}
	if len(n) == 0 {
		return "none"
	}
	return strings.Join(n, ", ")
}

// releaseConfig returns the .config of r, from its headers package
// (fetched once; the file is cached by release and version).
func releaseConfig(ctx context.Context, a *apt, root string, r Release) (kconfig.Config, error) {
	path := filepath.Join(root, "configs", r.Name+"_"+r.Version+".config")
	if cfg, err := kconfig.ParseFile(path); err == nil {
		return cfg, nil
	}
	if pk := pkgsDir(root, r); exists(filepath.Join(pk, "root", headersPath(r), ".config")) {
		return kconfig.ParseFile(filepath.Join(pk, "root", headersPath(r), ".config"))
	}
	tmp, err := a.download(ctx, filepath.Join(root, "configs"), map[string]string{r.Headers: r.Version})
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	data, err := os.ReadFile(filepath.Join(tmp, "root", headersPath(r), ".config"))
	if err != nil {
		return nil, fmt.Errorf("%s %s has no .config: %w", r.Headers, r.Version, err)
	}
	if err := cache.WriteFileAtomic(path, data, 0o644); err != nil {
		return nil, err
	}
	return kconfig.Parse(bytes.NewReader(data))
}

func headersPath(r Release) string { return filepath.Join("usr/src", "linux-headers-"+r.Name) }

func pkgsDir(root string, r Release) string {
	return filepath.Join(root, "pkgs", r.Name+"_"+r.Version)
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// fetch downloads and unpacks r's image and headers packages once, into
// a directory published whole.
func fetch(ctx context.Context, p Params, a *apt, root string, r Release) (string, error) {
	dir := pkgsDir(root, r)
	if exists(filepath.Join(dir, "complete")) {
		return dir, nil
	}
	p.Progress("downloading %s and %s %s", r.Binary, r.Headers, r.Version)
	tmp, err := a.download(ctx, filepath.Join(root, "pkgs"), map[string]string{r.Binary: r.Version, r.Headers: r.Version})
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(tmp, "complete"), []byte(r.Version+"\n"), 0o644); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	os.RemoveAll(dir) // an entry without "complete" is an old failure
	if err := cache.Publish(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	return dir, nil
}

// source returns the extracted linux-source of r's version: the
// toolchain rootfs's when it is that version, else downloaded.
func source(ctx context.Context, p Params, a *apt, root string, r Release) (*kernel.Source, error) {
	if l := p.Toolchain.Lock; l != nil && l.Packages[r.Source] == r.Version && p.Toolchain.Root != "" {
		tarballs, _ := filepath.Glob(filepath.Join(p.Toolchain.Root, "usr/src", r.Source+".tar.*"))
		if len(tarballs) == 1 {
			return kernel.FindSource(ctx, tarballs[0], p.Toolchain, p.Progress)
		}
	}
	dir := filepath.Join(root, "src", r.Source+"_"+r.Version)
	if !exists(filepath.Join(dir, "complete")) {
		p.Progress("downloading %s %s", r.Source, r.Version)
		tmp, err := a.download(ctx, filepath.Join(root, "src"), map[string]string{r.Source: r.Version})
		if err != nil {
			return nil, err
		}
		os.WriteFile(filepath.Join(tmp, "complete"), nil, 0o644)
		os.RemoveAll(dir)
		if err := cache.Publish(tmp, dir); err != nil {
			os.RemoveAll(tmp)
			return nil, err
		}
	}
	tarballs, _ := filepath.Glob(filepath.Join(dir, "root/usr/src", r.Source+".tar.*"))
	if len(tarballs) != 1 {
		return nil, fmt.Errorf("%s %s holds no /usr/src/%s.tar.*", r.Source, r.Version, r.Source)
	}
	return kernel.FindSource(ctx, tarballs[0], p.Toolchain, p.Progress)
}

// prepare makes (or loads) the kernel of r: packages, source, toolchain
// check, then the O= tree with Debian's config and regenerated Rust
// metadata, published by its kernel.json.
func prepare(ctx context.Context, p Params, a *apt, root string, r Release) (*kernel.Kernel, error) {
	dir := entryDir(root, r.Name, p.Toolchain)
	unlock, err := cache.Lock(ctx, dir, func() { p.Progress("waiting for another rko preparing Debian's kernel %s", r.Name) })
	if err != nil {
		return nil, err
	}
	defer unlock()
	if k, err := kernel.Load(dir); err == nil {
		return k, nil
	}
	pk, err := fetch(ctx, p, a, root, r)
	if err != nil {
		return nil, err
	}
	hdr := filepath.Join(pk, "root", headersPath(r))
	image := filepath.Join(pk, "root/usr/lib/modules", r.Name, "vmlinuz")
	if !exists(image) {
		image = filepath.Join(pk, "root/boot", "vmlinuz-"+r.Name)
	}
	if got, err := kernel.ImageRelease(image); err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.Binary, r.Version, err)
	} else if got != r.Name {
		return nil, fmt.Errorf("%s %s: its vmlinuz says release %s, not %s", r.Binary, r.Version, got, r.Name)
	}
	debCfg, err := kconfig.ParseFile(filepath.Join(hdr, ".config"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.Headers, err)
	}
	if err := CheckToolchain(ctx, p.Toolchain, r.Name, debCfg); err != nil {
		return nil, err
	}
	src, err := source(ctx, p, a, root, r)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	k := &kernel.Kernel{Key: filepath.Base(dir), Origin: fmt.Sprintf("debian:%s (Debian %s)", r.Name, r.Version),
		Dir: dir, BuildDir: filepath.Join(dir, "build"), Image: image, Source: src, Release: r.Name, Toolchain: p.Toolchain.ID}
	if err := os.MkdirAll(k.BuildDir, 0o755); err != nil {
		return nil, err
	}
	vars, err := kernel.MakeVars(debCfg)
	if err != nil {
		return nil, err
	}
	// Debian's headers Makefile overrides KERNELRELEASE the same way.
	vars = append(vars, "KERNELRELEASE="+r.Name)
	binds := []string{src.Dir, dir, pk}
	mk := func(args ...string) error {
		argv := append(append([]string{"make"}, vars...), "-C", src.Dir, "O="+k.BuildDir)
		_, err := p.Toolchain.Run(ctx, run.Opts{Stdout: p.Log, Stderr: p.Log}, binds, append(argv, args...)...)
		return err
	}
	cfgPath := filepath.Join(k.BuildDir, ".config")
	data, err := os.ReadFile(filepath.Join(hdr, ".config"))
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(cfgPath, data, 0o644); err != nil {
		return nil, err
	}
	p.Progress("configuring linux-source %s with Debian's .config", src.Version)
	if err := mk("olddefconfig"); err != nil {
		return nil, &kernel.BuildError{Phase: "olddefconfig", Err: err}
	}
	now, err := kconfig.ParseFile(cfgPath)
	if err != nil {
		return nil, err
	}
	if d := Drift(debCfg, now); len(d) > 0 {
		return nil, &DriftError{Release: r.Name, Changes: d}
	}
	p.Progress("regenerating the Rust metadata (make modules_prepare, -j%d; a minute or two)", p.Jobs)
	if err := mk(fmt.Sprintf("-j%d", p.Jobs), "modules_prepare"); err != nil {
		return nil, &kernel.BuildError{Phase: "modules_prepare", Err: err}
	}
	rel, _ := os.ReadFile(filepath.Join(k.BuildDir, "include/config/kernel.release"))
	if got := strings.TrimSpace(string(rel)); got != r.Name {
		return nil, fmt.Errorf("the prepared tree says release %q, Debian's kernel is %q", got, r.Name)
	}
	for _, f := range []string{"rust/libkernel.rmeta", "rust/libmacros.so"} {
		if !exists(filepath.Join(k.BuildDir, f)) {
			return nil, fmt.Errorf("make modules_prepare built no %s: the Rust metadata is missing (see the log)", f)
		}
	}
	// Debian's exports, not the tree's (it has none: vmlinux was not
	// built); and its BTF-only vmlinux, the base of each module's BTF.
	copies := []string{"Module.symvers"}
	if debCfg.Get("DEBUG_INFO_BTF_MODULES") == "y" {
		copies = append(copies, "vmlinux")
	}
	for _, f := range copies {
		if err := copyFile(filepath.Join(hdr, f), filepath.Join(k.BuildDir, f)); err != nil {
			return nil, fmt.Errorf("%s: %w", r.Headers, err)
		}
	}
	k.Built = time.Now().UTC()
	k.BuildSecs = time.Since(start).Seconds()
	js, _ := json.MarshalIndent(k, "", "  ")
	if err := cache.WriteFileAtomic(filepath.Join(dir, "kernel.json"), append(js, '\n'), 0o644); err != nil {
		return nil, err
	}
	return kernel.Load(dir)
}

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return cache.WriteFileAtomic(to, data, 0o644)
}

// Change is one option Kconfig changed when it re-read Debian's config
// with rko's toolchain and source.
type Change struct {
	Symbol string `json:"symbol"`
	Debian string `json:"debian"`
	Now    string `json:"now"`
}

// Drift lists the options whose value differs between Debian's config and
// the one olddefconfig made of it, sorted.
func Drift(debian, now kconfig.Config) []Change {
	keys := map[string]bool{}
	for k := range debian {
		keys[k] = true
	}
	for k := range now {
		keys[k] = true
	}
	var out []Change
	for k := range keys {
		if debian.Get(k) != now.Get(k) {
			out = append(out, Change{Symbol: k, Debian: debian.Get(k), Now: now.Get(k)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Symbol < out[j].Symbol })
	return out
}

// DriftError means Debian's config did not survive olddefconfig
// unchanged: a module built against the changed tree would not match the
// kernel (a changed option can change struct layouts).
type DriftError struct {
	Release string
	Changes []Change
}

func (e *DriftError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Debian's config of %s changed under rko's toolchain and source (%d option(s)), so modules built here would not match Debian's kernel:", e.Release, len(e.Changes))
	for i, c := range e.Changes {
		if i == 12 {
			fmt.Fprintf(&b, "\n  ... and %d more", len(e.Changes)-i)
			break
		}
		fmt.Fprintf(&b, "\n  - CONFIG_%s: Debian %s, now %s", c.Symbol, show(c.Debian), show(c.Now))
	}
	b.WriteString("\nfix: use the toolchain Debian built the kernel with (rko doctor --kernel debian compares them), e.g. --toolchain rootfs")
	return b.String()
}

func show(v string) string {
	if v == "" {
		return "not set"
	}
	return v
}

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

// Probe is what CheckToolchain compares: for each tool, the config option
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

// Inspect finds the release p asks for (the newest Rust-enabled one when
// p.Release is "") and returns it with its config, fetching only the
// index and the headers package: what rko doctor --kernel debian needs.
func Inspect(ctx context.Context, p Params) (Release, kconfig.Config, error) {
	p.defaults()
	if err := canApt(p.Toolchain); err != nil {
		return Release{}, nil, err
	}
	root, err := cache.Sub("debian")
	if err != nil {
		return Release{}, nil, err
	}
	a := newApt(p, root)
	unlock, err := cache.Lock(ctx, a.dir, func() { p.Progress("waiting for another rko using the Debian index") })
	if err != nil {
		return Release{}, nil, err
	}
	defer unlock()
	r, err := choose(ctx, p, a, root)
	if err != nil {
		return Release{}, nil, err
	}
	cfg, err := releaseConfig(ctx, a, root, r)
	return r, cfg, err
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
