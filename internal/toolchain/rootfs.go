package toolchain

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/rkodev/rko/internal/cache"
	"github.com/rkodev/rko/internal/run"
)

// DefaultMirror is the Debian mirror the rootfs is built from; override it
// with RKO_DEBIAN_MIRROR or InstallOpts.Mirror.
const DefaultMirror = "http://deb.debian.org/debian"

// DefaultSuite is the Debian release of the rootfs. Trixie ships rustc
// 1.85.1, bindgen 0.71.1 and clang 19; trixie-backports ships
// linux-source-7.3, whose minima are exactly those versions.
const DefaultSuite = "trixie"

// DefaultPackages are installed into the rootfs.
var DefaultPackages = []string{
	"rustc", "rust-src", "rustfmt", "bindgen", "libclang-dev", "clang", "lld", "llvm",
	"make", "flex", "bison", "bc", "libelf-dev", "libssl-dev", "cpio", "kmod", "python3",
	"busybox-static", "linux-source-7.3",
	// rust-analyzer of the same version as rustc (rko rust-analyzer);
	// gcc for kernels whose C was built with GCC (Debian's own, rko
	// build --kernel debian); OpenSBI, the firmware of riscv64 guests.
	"rust-analyzer", "gcc", "opensbi",
	// pahole and openssl, which Kconfig runs to compute options of
	// Debian's config (PAHOLE_VERSION, OPENSSL_SUPPORTS_ML_DSA): without
	// them olddefconfig changes that config (BTF off changes struct
	// module, and Debian's kernel then refuses the .ko).
	"pahole", "openssl",
}

// Compiler is a Rust compiler rko offers as a rootfs toolchain: the
// pinned one (trixie's rustc 1.85, what the kernels' minima ask for) and
// the newest Debian ships (trixie-backports), so that a module and a
// kernel are built and tested with both the oldest and the newest
// compiler the kernel accepts (--rustc; docs/toolchain.md#two-compilers).
type Compiler struct {
	// Version is the rustc series users name: --rustc 1.98.
	Version string `json:"version"`
	// Name is the rootfs's directory in the toolchain cache.
	Name string `json:"name"`
	// Pins are packages taken from another suite than the rootfs's, as
	// apt's NAME/RELEASE: the compiler and what must match its version.
	Pins []string `json:"pins,omitempty"`
}

// Compilers are the compilers rko offers, the pinned one first.
var Compilers = []Compiler{
	{Version: "1.85", Name: DefaultSuite},
	{Version: "1.98", Name: DefaultSuite + "-rustc-1.98", Pins: backports("rustc", "libstd-rust-dev", "libstd-rust-1.98", "rust-src", "rustfmt", "rust-analyzer")},
}

func backports(pkgs ...string) []string {
	out := make([]string, len(pkgs))
	for i, p := range pkgs {
		out[i] = p + "/" + DefaultSuite + "-backports"
	}
	return out
}

// LookupCompiler returns the compiler of version v ("" is the pinned
// one); an unknown one is an error that lists the others.
func LookupCompiler(v string) (Compiler, error) {
	if v == "" {
		return Compilers[0], nil
	}
	var have []string
	for _, c := range Compilers {
		if c.Version == v || strings.HasPrefix(v, c.Version+".") {
			return c, nil
		}
		have = append(have, c.Version)
	}
	return Compiler{}, fmt.Errorf("rko offers no rustc %s: it has %s (the pinned trixie compiler and the newest of trixie-backports)", v, strings.Join(have, " and "))
}

// include is the package list to install for c: pkgs with each pinned
// package named with its release.
func (c Compiler) include(pkgs []string) []string {
	pinned := map[string]string{}
	for _, p := range c.Pins {
		name, _, _ := strings.Cut(p, "/")
		pinned[name] = p
	}
	out := make([]string, 0, len(pkgs)+len(c.Pins))
	seen := map[string]bool{}
	for _, p := range pkgs {
		if pin, ok := pinned[p]; ok {
			p = pin
		}
		out = append(out, p)
		seen[p] = true
	}
	for _, p := range c.Pins {
		if !seen[p] {
			out = append(out, p)
		}
	}
	return out
}

// ErrNotInstalled means the rootfs toolchain has not been provisioned.
var ErrNotInstalled = errors.New("the rootfs toolchain is not installed (run: rko toolchain install)")

// Lock pins a rootfs: the suite and mirror it came from, what was asked
// for and the exact version of every package in it.
type Lock struct {
	Suite     string            `json:"suite"`
	Mirror    string            `json:"mirror"`
	Requested []string          `json:"requested"`
	Packages  map[string]string `json:"packages"`
	Created   time.Time         `json:"created"`
	// Rustc is the compiler's series when it is not the pinned one
	// (Compilers).
	Rustc string `json:"rustc,omitempty"`
}

// ID is a short hash of the exact package set, used in cache keys.
func (l *Lock) ID() string {
	names := make([]string, 0, len(l.Packages))
	for n := range l.Packages {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s=%s\n", n, l.Packages[n])
	}
	return cache.Key([]byte(b.String()))
}

// Missing returns the packages of want that this rootfs was not built
// with: neither asked for when it was built nor installed in it (a
// version suffix "p=v" is ignored). An empty result means the rootfs has
// everything.
func (l *Lock) Missing(want []string) []string {
	asked := map[string]bool{}
	for _, p := range l.Requested {
		name, _, _ := strings.Cut(p, "=")
		asked[name] = true
	}
	var out []string
	for _, p := range want {
		name, _, _ := strings.Cut(p, "=")
		if _, installed := l.Packages[name]; !asked[name] && !installed {
			out = append(out, name)
		}
	}
	return out
}

// InstallOpts configures Install.
type InstallOpts struct {
	// Dir holds the toolchain; default: <cache>/toolchain.
	Dir    string
	Suite  string
	Mirror string
	// Extra packages beyond DefaultPackages.
	Extra []string
	// FromLock rebuilds exactly the package versions of a lock file.
	FromLock *Lock
	// Force rebuilds even if a rootfs exists.
	Force bool
	// Log receives mmdebstrap's output; Progress gets one-line phases.
	Log      io.Writer
	Progress func(format string, args ...any)
	// Runner runs mmdebstrap, tar and the rootfs's commands, and becomes
	// the Runner of the toolchain returned; nil means run.OS.
	Runner run.Runner
	// Compiler is the Rust compiler of the rootfs (zero: the pinned one).
	Compiler Compiler
}

func (o *InstallOpts) defaults() error {
	if o.Dir == "" {
		d, err := cache.Sub("toolchain")
		if err != nil {
			return err
		}
		o.Dir = d
	}
	if o.Suite == "" {
		o.Suite = DefaultSuite
	}
	if o.Compiler.Name == "" {
		o.Compiler = Compilers[0]
		o.Compiler.Name = o.Suite
	}
	if o.Mirror == "" {
		o.Mirror = os.Getenv("RKO_DEBIAN_MIRROR")
	}
	if o.Mirror == "" {
		o.Mirror = DefaultMirror
	}
	if o.Progress == nil {
		o.Progress = func(string, ...any) {}
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return nil
}

// rootfsDir is where a suite's rootfs lives.
func rootfsDir(dir, suite string) string { return filepath.Join(dir, suite) }

// Load returns the installed rootfs toolchain of the directory name
// (a Compiler's Name; "" is the pinned one), or ErrNotInstalled.
func Load(dir, suite string) (*Toolchain, error) {
	if dir == "" {
		d, err := cache.Sub("toolchain")
		if err != nil {
			return nil, err
		}
		dir = d
	}
	if suite == "" {
		suite = DefaultSuite
	}
	base := rootfsDir(dir, suite)
	data, err := os.ReadFile(filepath.Join(base, "lock.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotInstalled
	}
	if err != nil {
		return nil, err
	}
	var l Lock
	if err := json.Unmarshal(data, &l); err != nil {
		return nil, fmt.Errorf("corrupt lock file %s: %w (remove %s and run rko toolchain install)", filepath.Join(base, "lock.json"), err, base)
	}
	tc := &Toolchain{Kind: Rootfs, Root: filepath.Join(base, "rootfs"), Lock: &l, ID: l.ID()}
	var missing []string
	for _, p := range essentialTools {
		if _, err := os.Lstat(filepath.Join(tc.Root, p)); err != nil {
			missing = append(missing, "/"+p)
		}
	}
	if len(missing) > 0 {
		return tc, &DamagedError{Root: tc.Root, Missing: missing}
	}
	return tc, nil
}

// essentialTools are the programs without which the rootfs cannot build
// a kernel or a module; Load checks that they are there.
var essentialTools = []string{"usr/bin/rustc", "usr/bin/bindgen", "usr/bin/clang", "usr/bin/ld.lld", "usr/bin/make"}

// ErrDamaged means the rootfs toolchain is installed but incomplete.
var ErrDamaged = errors.New("the rootfs toolchain is damaged")

// DamagedError names what is missing from an installed rootfs.
type DamagedError struct {
	Root    string
	Missing []string
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("the rootfs toolchain at %s is damaged: %s missing (fix: rko toolchain install --force, or let rko test reinstall it)", e.Root, strings.Join(e.Missing, ", "))
}

// Unwrap makes a DamagedError match ErrDamaged.
func (e *DamagedError) Unwrap() error { return ErrDamaged }

// Install provisions the rootfs toolchain: mmdebstrap builds it in a
// temporary directory beside its final place, the package versions are
// recorded in lock.json, and the directory is renamed into place only when
// complete. It is idempotent and safe against a concurrent rko.
func Install(ctx context.Context, o InstallOpts) (*Toolchain, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	final := rootfsDir(o.Dir, o.Compiler.Name)
	unlock, err := cache.Lock(ctx, final, func() { o.Progress("waiting for another rko that is installing the toolchain") })
	if err != nil {
		return nil, err
	}
	defer unlock()
	pkgs := append(append([]string(nil), DefaultPackages...), o.Extra...)
	if o.FromLock != nil {
		pkgs = o.FromLock.Requested
	}
	replace := o.Force
	if !o.Force {
		if tc, err := Load(o.Dir, o.Compiler.Name); err == nil {
			missing := tc.Lock.Missing(pkgs)
			if len(missing) == 0 {
				o.Progress("toolchain already installed at %s", final)
				tc.Runner = o.Runner
				return tc, nil
			}
			// A rootfs from an older rko lacks packages added since
			// (rust-analyzer, say): rebuild it rather than run
			// without them. Its lock changes, so kernels rebuild too.
			o.Progress("the toolchain at %s lacks %s (added to rko since it was built): rebuilding it; kernels built with the old one will be rebuilt", final, strings.Join(missing, ", "))
			replace = true
		}
	}
	if os.Geteuid() != 0 {
		// mmdebstrap's unshare mode maps the subordinate ids with these.
		if _, err := run.LookPath("newuidmap"); err != nil {
			return nil, fmt.Errorf("newuidmap not found: an ordinary user needs it to build the toolchain rootfs (fix, once, as an administrator: apt-get install uidmap; see docs/non-root.md)")
		}
	}
	for _, tool := range []string{"mmdebstrap", "bwrap"} {
		if _, err := run.LookPath(tool); err != nil {
			pkg := map[string]string{"mmdebstrap": "mmdebstrap", "bwrap": "bubblewrap"}[tool]
			return nil, fmt.Errorf("%s not found: it is needed to build and enter the toolchain rootfs (fix: apt-get install %s)", tool, pkg)
		}
	}
	tmp, err := os.MkdirTemp(o.Dir, ".tmp-"+o.Compiler.Name+"-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp) // no-op after a successful publish
	include := pkgs
	if o.FromLock != nil {
		include = nil
		for _, p := range o.FromLock.Requested {
			if v, ok := o.FromLock.Packages[p]; ok {
				include = append(include, p+"="+v)
			} else {
				include = append(include, p)
			}
		}
	}
	if o.FromLock == nil {
		include = o.Compiler.include(include)
	}
	sources := []string{
		fmt.Sprintf("deb %s %s main", o.Mirror, o.Suite),
		fmt.Sprintf("deb %s %s-backports main", o.Mirror, o.Suite),
	}
	root := filepath.Join(tmp, "rootfs")
	target := root
	if os.Geteuid() != 0 {
		// An unprivileged mmdebstrap writes a tarball, which is then
		// unpacked with the user's own ownership (device nodes are left
		// out: bubblewrap provides /dev).
		target = filepath.Join(tmp, "rootfs.tar")
	}
	// unshare mode keeps every mount mmdebstrap makes inside a private
	// namespace, so a killed mmdebstrap leaves nothing mounted.
	argv := []string{"mmdebstrap", "--variant=minbase", "--mode=unshare",
		"--include=" + strings.Join(include, ","), o.Suite, target}
	argv = append(argv, sources...)
	o.Progress("building Debian %s rootfs with %d packages from %s (about a minute)", o.Suite, len(include), o.Mirror)
	runner := run.Or(o.Runner)
	if _, err := runner.Run(ctx, run.Opts{Stdout: o.Log, Stderr: o.Log, Timeout: 30 * time.Minute}, argv...); err != nil {
		var re *run.Error
		if errors.As(err, &re) {
			if ns := cache.NoSpace(err, re.Output, o.Dir); ns != err {
				return nil, fmt.Errorf("building the toolchain rootfs: %w", ns)
			}
		}
		return nil, fmt.Errorf("building the toolchain rootfs failed: %w (see the mmdebstrap output above; unprivileged users need user namespaces and a range in /etc/subuid, see docs/toolchain.md)", err)
	}
	if target != root {
		if err := os.MkdirAll(root, 0o755); err != nil {
			return nil, err
		}
		if _, err := runner.Run(ctx, run.Opts{}, "tar", "-x", "-f", target, "-C", root, "--no-same-owner", "--exclude=./dev/*"); err != nil {
			return nil, fmt.Errorf("unpacking the toolchain rootfs: %w", err)
		}
		os.Remove(target)
	}
	tc := &Toolchain{Kind: Rootfs, Root: filepath.Join(tmp, "rootfs"), Runner: o.Runner}
	res, err := tc.Run(ctx, run.Opts{}, nil, "dpkg-query", "-W", "-f", "${Package}\t${Version}\n")
	if err != nil {
		return nil, fmt.Errorf("reading the rootfs package list: %w", err)
	}
	lock := &Lock{Suite: o.Suite, Mirror: o.Mirror, Requested: pkgs, Packages: parseDpkg(string(res.Stdout)), Created: time.Now().UTC()}
	if o.Compiler.Version != Compilers[0].Version {
		lock.Rustc = o.Compiler.Version
	}
	data, _ := json.MarshalIndent(lock, "", "  ")
	if err := cache.WriteFileAtomic(filepath.Join(tmp, "lock.json"), append(data, '\n'), 0o644); err != nil {
		return nil, err
	}
	if replace {
		old := final + ".old"
		os.RemoveAll(old)
		if err := os.Rename(final, old); err == nil {
			defer os.RemoveAll(old)
		}
	}
	if err := cache.Publish(tmp, final); err != nil {
		return nil, err
	}
	o.Progress("toolchain installed at %s (lock: %s)", final, filepath.Join(final, "lock.json"))
	tc, err = Load(o.Dir, o.Compiler.Name)
	if tc != nil {
		tc.Runner = o.Runner
	}
	return tc, err
}

func parseDpkg(s string) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		name, ver, ok := strings.Cut(sc.Text(), "\t")
		if ok && name != "" {
			m[name] = ver
		}
	}
	return m
}
