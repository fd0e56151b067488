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
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/rkodev/rko/internal/cache"
	"github.com/rkodev/rko/internal/kconfig"
	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/run"
	"github.com/rkodev/rko/internal/target"
	"github.com/rkodev/rko/internal/toolchain"
)

// arch is the architecture of the Debian kernels rko uses: rko boots
// Debian's vmlinuz as an x86 bzImage (kernel.ImageRelease reads its setup
// header), and the flavour of a release is named after the Debian
// architecture (7.3.4+deb13-amd64).
var arch = target.Known("x86_64")

// Spec parses a kernel spec (rko's --kernel value): "debian" or
// "debian:RELEASE" give ok and the release ("" for the newest Rust-enabled
// one). RELEASE is a kernel release as uname -r prints it
// ("7.3.4+deb13-amd64"); without a flavour ("7.3.4+deb13") it means the
// one of arch (amd64).
func Spec(s string) (release string, ok bool) {
	if s == "debian" {
		return "", true
	}
	rel, ok := strings.CutPrefix(s, "debian:")
	if !ok {
		return "", false
	}
	if rel != "" && !strings.Contains(rel, "-") {
		rel += "-" + arch.DebianArch
	}
	return rel, true
}

// Params configures Kernel.
type Params struct {
	// Release is the kernel release; "" picks the newest Rust-enabled
	// release of arch (amd64) the mirror has.
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
	a, root, err := aptOf(p)
	if err != nil {
		return nil, err
	}
	if p.Release != "" {
		if k, err := kernel.Load(entryDir(root, p.Release, p.Toolchain)); err == nil {
			return k, nil
		}
	}
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
		return errors.New("Debian's kernel needs a toolchain: apt and make run in it")
	}
	if tc.Kind == toolchain.Host {
		for _, tool := range []string{"apt-get", "dpkg-deb"} {
			if _, err := run.LookPath(tool); err != nil {
				return fmt.Errorf("Debian's kernel packages are fetched with %s, which this host lacks: use --toolchain rootfs (rko's Debian rootfs has it)", tool)
			}
		}
	}
	return nil
}

// aptOf is the apt state of p (defaults filled in) and the cache
// directory it is under, once the toolchain is known to run apt.
func aptOf(p Params) (*apt, string, error) {
	if err := canApt(p.Toolchain); err != nil {
		return nil, "", err
	}
	root, err := cache.Sub("debian")
	if err != nil {
		return nil, "", err
	}
	return newApt(p, root), root, nil
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
// the newest one of arch (amd64) that is Rust-enabled and has its source.
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
			if r.Source == "" || r.Flavour() != arch.DebianArch {
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
			return Release{}, fmt.Errorf("the Debian mirror %s (%s) has no Rust-enabled %s kernel whose linux-source is also on it; releases there: %s", a.mirror, strings.Join(a.suites, ", "), arch.DebianArch, names(all, 12))
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
	return Release{}, fmt.Errorf("no Debian kernel %q on %s (%s); Rust-enabled releases rko can use: %s (give one as debian:RELEASE, or debian for the newest)", p.Release, a.mirror, strings.Join(a.suites, ", "), orNone(ok))
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
