// Package kernel builds small Rust-enabled kernels for QEMU (x86_64, arm64,
// riscv64) and User-Mode Linux from tinyconfig plus config fragments, cross
// compiled with LLVM=1 ARCH=..., checks that every requested option
// survived olddefconfig, and caches the result keyed by (architecture,
// source, fragments, toolchain).
package kernel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rkodev/rko"
	"github.com/rkodev/rko/internal/cache"
	"github.com/rkodev/rko/internal/kconfig"
	"github.com/rkodev/rko/internal/run"
	"github.com/rkodev/rko/internal/target"
	"github.com/rkodev/rko/internal/toolchain"
	"github.com/rkodev/rko/internal/ui"
)

// Profiles name the shipped fragment lists; fragments are applied on top of
// tinyconfig in order.
var Profiles = map[string][]string{
	"default": {"base", "rust", "kunit"},
	"debug":   {"base", "rust", "kunit", "debug"},
	"bench":   {"base", "rust", "bench"},
}

// ProfileNames lists the profiles, sorted.
func ProfileNames() []string {
	var n []string
	for k := range Profiles {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Fragment is one named config fragment.
type Fragment struct {
	Name string
	Data []byte
}

// ProfileFragments returns the shipped fragments of a profile.
func ProfileFragments(profile string) ([]Fragment, error) {
	names, ok := Profiles[profile]
	if !ok {
		return nil, fmt.Errorf("unknown profile %q, want one of %s", profile, strings.Join(ProfileNames(), ", "))
	}
	var fs []Fragment
	for _, n := range names {
		data, err := rko.Configs.ReadFile("configs/" + n + ".config")
		if err != nil {
			return nil, fmt.Errorf("profile %s: fragment %s is missing from this rko build", profile, n)
		}
		fs = append(fs, Fragment{Name: n, Data: data})
	}
	return fs, nil
}

// TargetFragments returns the shipped fragments of a profile for the
// target t: the profile's, with the architecture's fragment right after
// base (package target names it).
func TargetFragments(profile string, t *target.Target) ([]Fragment, error) {
	if err := t.ProfileError(profile); err != nil {
		return nil, err
	}
	fs, err := ProfileFragments(profile)
	if err != nil {
		return nil, err
	}
	if t.Fragment == "" {
		return fs, nil
	}
	data, err := rko.Configs.ReadFile("configs/" + t.Fragment + ".config")
	if err != nil {
		return nil, fmt.Errorf("--arch %s: fragment %s is missing from this rko build", t.Name, t.Fragment)
	}
	var out []Fragment
	for _, f := range fs {
		out = append(out, f)
		if f.Name == "base" {
			out = append(out, Fragment{Name: t.Fragment, Data: data})
			continue
		}
		// The architecture's amendments to a fragment (arch-um-debug
		// after debug) come right after it.
		name := t.Fragment + "-" + f.Name
		if more, err := rko.Configs.ReadFile("configs/" + name + ".config"); err == nil {
			out = append(out, Fragment{Name: name, Data: more})
		}
	}
	return out, nil
}

// Kernel is a built kernel: what to boot and what to build modules against.
// It comes from one of several sources (rko's own build, a tree the user
// built, a distribution's packages); the module build and the boot take
// it as it is, whatever its source.
type Kernel struct {
	Key string `json:"key"`
	// Origin says where the kernel came from: "rko" (built by rko from a
	// profile), "dir:PATH" (a tree the user built), "debian:RELEASE
	// (VERSION)" (Debian's packages, with Rust metadata rko regenerated).
	Origin   string `json:"origin,omitempty"`
	Dir      string `json:"dir"`
	BuildDir string `json:"build_dir"` // the O= tree; KDIR for modules
	Image    string `json:"image"`     // bzImage, Image, or UML's linux
	// Arch is the target's name (package target); "" in entries written
	// before rko knew other architectures means x86_64.
	Arch      string    `json:"arch,omitempty"`
	Source    *Source   `json:"source"`
	Release   string    `json:"release"`
	Profile   string    `json:"profile"`
	Fragments []string  `json:"fragments"`
	Toolchain string    `json:"toolchain"`
	Built     time.Time `json:"built"`
	BuildSecs float64   `json:"build_seconds"`
	Objects   int       `json:"objects"`

	config struct { // the parsed .config, read once
		sync.Once
		cfg kconfig.Config
		err error
	}
}

// Target is the architecture the kernel was built for.
func (k *Kernel) Target() *target.Target {
	t, err := target.Lookup(k.Arch)
	if err != nil || k.Arch == "" {
		t, _ = target.Lookup("x86_64")
	}
	return t
}

// BootImage is what QEMU's -kernel should load: vmlinux itself when the
// kernel has the PVH entry point (CONFIG_PVH; QEMU then skips the
// decompressor and real-mode setup, which under TCG saves about half a
// second), else the bzImage.
//
// The vmlinux must carry the PVH note itself: a distro's build tree may
// hold a BTF-only vmlinux (for module BTF) that cannot boot.
func (k *Kernel) BootImage() string {
	vmlinux := filepath.Join(k.BuildDir, "vmlinux")
	if cfg, err := k.Config(); err == nil && cfg.Get("PVH") == "y" && hasPVHNote(vmlinux) {
		return vmlinux
	}
	return k.Image
}

// InCache reports whether the kernel's Dir is an entry of rko's cache
// (rko's own build, Debian's), where rko may keep files of its own; a
// tree the user built is theirs and is never written to.
func (k *Kernel) InCache() bool {
	return k.Dir != "" && !strings.HasPrefix(k.Origin, "dir:") && k.Key != "dir"
}

// Describe names the kernel for people: its release and where it came
// from, e.g. "7.3.4 (rko, profile default)".
func (k *Kernel) Describe() string {
	switch {
	case k.Origin == "" || k.Origin == "rko":
		return fmt.Sprintf("%s (rko, profile %s)", k.Release, k.Profile)
	default:
		return fmt.Sprintf("%s (%s)", k.Release, k.Origin)
	}
}

// MakeVars are the make variables a module build against this kernel
// needs to use the compilers its config was made with (see MakeVars).
func (k *Kernel) MakeVars() ([]string, error) {
	cfg, err := k.Config()
	if err != nil {
		return nil, fmt.Errorf("kernel %s: %w", k.BuildDir, err)
	}
	return MakeVars(cfg)
}

// Dirs are the directories a module build against this kernel must see:
// the cache entry holding it, the build tree and the source tree.
func (k *Kernel) Dirs() []string {
	var out []string
	for _, d := range []string{k.Dir, k.BuildDir, k.SourceDir()} {
		if d != "" {
			out = append(out, d)
		}
	}
	return out
}

// SourceDir is the kernel's source tree: its Source, else the tree an O=
// build tree's "source" link names, else the build tree itself when it
// was built in place; "" if none is found.
func (k *Kernel) SourceDir() string {
	if k.Source != nil {
		return k.Source.Dir
	}
	if src, err := filepath.EvalSymlinks(filepath.Join(k.BuildDir, "source")); err == nil {
		return src
	}
	if _, err := os.Stat(filepath.Join(k.BuildDir, "Kconfig")); err == nil {
		return k.BuildDir
	}
	return ""
}

// FromBuildDir describes a kernel built elsewhere, by hand or by another
// tool, from its O= build tree dir (with the image of its architecture:
// arch/x86/boot/bzImage, arch/arm64/boot/Image, ...) and the source it was
// built from.
func FromBuildDir(dir string, src *Source) (*Kernel, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	rel, _ := os.ReadFile(filepath.Join(abs, "include/config/kernel.release"))
	var tried []string
	for _, n := range target.Names() {
		t, _ := target.Lookup(n)
		img := filepath.Join(abs, t.Image)
		if st, err := os.Stat(img); err == nil && st.Mode().IsRegular() {
			return &Kernel{Key: "dir", Origin: "dir:" + abs, Dir: abs, BuildDir: abs, Image: img, Arch: t.Name, Source: src, Release: strings.TrimSpace(string(rel))}, nil
		}
		tried = append(tried, t.Image)
	}
	return nil, fmt.Errorf("no kernel image in %s (looked for %s)", abs, strings.Join(tried, ", "))
}

// Config reads the kernel's final .config (once: a test run and every
// bench round ask for it).
func (k *Kernel) Config() (kconfig.Config, error) {
	k.config.Do(func() { k.config.cfg, k.config.err = kconfig.ParseFile(filepath.Join(k.BuildDir, ".config")) })
	return k.config.cfg, k.config.err
}

// Params configures Build.
type Params struct {
	// Target is the architecture; nil means the host's.
	Target    *target.Target
	Source    *Source
	Toolchain *toolchain.Toolchain
	Profile   string
	// Extra are user fragments applied after the profile's.
	Extra []Fragment
	// Jobs for make -j; default: the number of CPUs.
	Jobs int
	// Progress receives one-line status updates; Log gets make's output.
	Progress func(format string, args ...any)
	Log      io.Writer
}

// Key returns the cache key of a kernel built with p: the architecture is
// part of it, so a kernel of one is never used for another.
func Key(p Params, frags []Fragment) string {
	t := p.Target
	if t == nil {
		t = target.Host()
	}
	parts := [][]byte{[]byte(t.Name), []byte(p.Source.ID), []byte(p.Source.Version), []byte(p.Toolchain.ID), []byte("tinyconfig")}
	for _, f := range frags {
		parts = append(parts, []byte(f.Name), f.Data)
	}
	return cache.Key(parts...)
}

// DroppedError reports requested options that olddefconfig dropped.
type DroppedError struct {
	Dropped []kconfig.Dropped
	// RustAvailable is the output of make rustavailable when CONFIG_RUST
	// itself was dropped.
	RustAvailable string
}

func (e *DroppedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d requested config option(s) did not survive olddefconfig:", len(e.Dropped))
	for _, d := range e.Dropped {
		b.WriteString("\n  - " + d.String())
	}
	if e.RustAvailable != "" {
		b.WriteString("\nCONFIG_RUST is off; the kernel's rustavailable check says:\n" + e.RustAvailable)
		b.WriteString("\nfix the toolchain (rko doctor --source TREE), or use --toolchain rootfs")
		return b.String()
	}
	b.WriteString("\nfix the fragment (add the missing dependencies, or remove the option)")
	return b.String()
}

// entry returns the cache key, the cache directory and the fragments of
// the kernel p describes (filling in the default profile).
func entry(p *Params) (key, dir string, frags []Fragment, err error) {
	if p.Profile == "" {
		p.Profile = "default"
	}
	if p.Target == nil {
		p.Target = target.Host()
	}
	frags, err = TargetFragments(p.Profile, p.Target)
	if err != nil {
		return "", "", nil, err
	}
	frags = append(frags, p.Extra...)
	key = Key(*p, frags)
	root, err := cache.Sub("kernels")
	if err != nil {
		return "", "", nil, err
	}
	return key, filepath.Join(root, key), frags, nil
}

// ErrNotBuilt means the kernel asked of Lookup is not in the cache.
var ErrNotBuilt = errors.New("kernel not built yet")

// Lookup returns the kernel Build would return for p if it is already
// built, and ErrNotBuilt (wrapped, with the key) if it is not; it never
// builds.
func Lookup(p Params) (*Kernel, error) {
	key, dir, _, err := entry(&p)
	if err != nil {
		return nil, err
	}
	k, err := Load(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w (profile %s, key %s)", ErrNotBuilt, p.Profile, key)
	}
	return k, err
}

// Lock takes the kernel's cache entry lock, the one Build holds, for work
// that writes into a built kernel's entry (rko doc's rustdoc).
func (k *Kernel) Lock(ctx context.Context, waiting func()) (func(), error) {
	return cache.Lock(ctx, k.Dir, waiting)
}

// Build returns the cached kernel for p, building it first if needed. A
// build killed half-way is resumed by make on the next call; the kernel is
// only reported (and cached) once kernel.json is written, last.
func Build(ctx context.Context, p Params) (*Kernel, error) {
	if p.Progress == nil {
		p.Progress = func(string, ...any) {}
	}
	if p.Log == nil {
		p.Log = io.Discard
	}
	if p.Jobs == 0 {
		p.Jobs = runtime.NumCPU()
	}
	key, dir, frags, err := entry(&p)
	if err != nil {
		return nil, err
	}
	root := filepath.Dir(dir)
	unlock, err := cache.Lock(ctx, dir, func() { p.Progress("waiting for another rko building kernel %s", key) })
	if err != nil {
		return nil, err
	}
	defer unlock()
	k0, err := Load(dir)
	if err == nil {
		return k0, nil
	}
	if _, serr := os.Stat(filepath.Join(dir, "kernel.json")); serr == nil {
		// A damaged entry (an interrupted write, a file deleted by hand)
		// is not used: make brings the build tree up to date again, which
		// after a finished build costs little more than configuring.
		p.Progress("%v: rebuilding it (make resumes from the build tree)", err)
	}
	start := time.Now()
	k := &Kernel{Key: key, Origin: "rko", Dir: dir, BuildDir: filepath.Join(dir, "build"), Source: p.Source, Profile: p.Profile, Toolchain: p.Toolchain.ID, Arch: p.Target.Name}
	for _, f := range frags {
		k.Fragments = append(k.Fragments, f.Name)
	}
	if err := os.MkdirAll(k.BuildDir, 0o755); err != nil {
		return nil, err
	}
	binds := []string{p.Source.Dir, dir}
	// runMake runs the kernel's make in the toolchain, on this build tree.
	runMake := func(opts run.Opts, args ...string) (*run.Result, error) {
		argv := append(append([]string{"make", "LLVM=1"}, p.Target.MakeArgs()...), "-C", p.Source.Dir, "O="+k.BuildDir)
		argv = append(argv, args...)
		return p.Toolchain.Run(ctx, opts, binds, argv...)
	}
	mk := func(phase string, args ...string) error {
		if _, err := runMake(run.Opts{Stdout: p.Log, Stderr: p.Log}, args...); err != nil {
			return fmt.Errorf("kernel %s: %w", phase, cache.NoSpace(err, runOutput(err), dir))
		}
		return nil
	}
	cfgPath := filepath.Join(k.BuildDir, ".config")
	configure := func() error {
		p.Progress("configuring %s: tinyconfig + %s", p.Target.Name, strings.Join(k.Fragments, " + "))
		if err := mk("tinyconfig", "tinyconfig"); err != nil {
			return err
		}
		cfg, err := kconfig.ParseFile(cfgPath)
		if err != nil {
			return err
		}
		requested := kconfig.Config{}
		for _, f := range frags {
			fc, err := kconfig.Parse(bytes.NewReader(f.Data))
			if err != nil {
				return fmt.Errorf("fragment %s: %w", f.Name, err)
			}
			requested.Merge(fc)
		}
		cfg.Merge(requested)
		var buf bytes.Buffer
		cfg.Write(&buf)
		if err := os.WriteFile(cfgPath, buf.Bytes(), 0o644); err != nil {
			return err
		}
		if err := mk("olddefconfig", "olddefconfig"); err != nil {
			return err
		}
		final, err := kconfig.ParseFile(cfgPath)
		if err != nil {
			return err
		}
		if dropped := explain(requested, final, p.Source.Dir); len(dropped) > 0 {
			de := &DroppedError{Dropped: dropped}
			if _, asked := requested["RUST"]; asked && final.Get("RUST") != "y" {
				// Say why Rust itself is off: the toolchain, most often.
				r, _ := runMake(run.Opts{}, "rustavailable")
				if r != nil {
					de.RustAvailable = strings.TrimSpace(string(r.Stdout) + string(r.Stderr))
				}
			}
			return de
		}
		return markConfigured(dir, cfgPath)
	}
	if configured(dir, cfgPath) {
		// An earlier build of this entry got past configuring (it was
		// interrupted later, or its kernel.json was lost): the .config is
		// the one these inputs give, so make goes on from there.
		p.Progress("configuration already done for this key: resuming the build")
	} else if err := configure(); err != nil {
		return nil, err
	}
	// Estimate the object count from an earlier build of the same profile.
	total := estimateObjects(root, p.Profile, p.Target.Name)
	var objects atomic.Int64
	pw := &progressWriter{count: &objects}
	stop := ui.Every(5*time.Second, func() {
		n := objects.Load()
		if total > 0 {
			p.Progress("building: %d/~%d objects, %s elapsed", n, total, time.Since(start).Round(time.Second))
		} else {
			p.Progress("building: %d objects, %s elapsed", n, time.Since(start).Round(time.Second))
		}
	})
	image := filepath.Base(p.Target.Image)
	p.Progress("building %s and modules for %s with make -j%d", image, p.Target.Name, p.Jobs)
	log := io.MultiWriter(p.Log, pw)
	_, err = runMake(run.Opts{Stdout: log, Stderr: log}, fmt.Sprintf("-j%d", p.Jobs), image, "modules")
	stop()
	if err != nil {
		return nil, &BuildError{Phase: image + " modules", Err: cache.NoSpace(err, runOutput(err), dir)}
	}
	rel, _ := os.ReadFile(filepath.Join(k.BuildDir, "include/config/kernel.release"))
	k.Release = strings.TrimSpace(string(rel))
	k.Image = filepath.Join(k.BuildDir, p.Target.Image)
	k.Built = time.Now().UTC()
	k.BuildSecs = time.Since(start).Seconds()
	k.Objects = int(objects.Load())
	data, _ := json.MarshalIndent(k, "", "  ")
	if err := cache.WriteFileAtomic(filepath.Join(dir, "kernel.json"), append(data, '\n'), 0o644); err != nil {
		return nil, err
	}
	return k, nil
}

// BuildError is a failed kernel build; %+v prints make's output tail.
type BuildError struct {
	Phase string
	Err   error
}

func (e *BuildError) Error() string {
	return fmt.Sprintf("kernel build (%s) failed: %v", e.Phase, e.Err)
}

// Unwrap returns the make error.
func (e *BuildError) Unwrap() error { return e.Err }

// Load reads a finished kernel from its cache directory.
func Load(dir string) (*Kernel, error) {
	data, err := os.ReadFile(filepath.Join(dir, "kernel.json"))
	if err != nil {
		return nil, err
	}
	var k Kernel
	if err := json.Unmarshal(data, &k); err != nil {
		return nil, fmt.Errorf("cached kernel %s: kernel.json is damaged: %w", dir, err)
	}
	if _, err := os.Stat(k.Image); err != nil {
		return nil, fmt.Errorf("cached kernel %s lost its image: %w", dir, err)
	}
	// vmlinux is what a PVH boot loads and what symbolization reads, in
	// the kernels rko builds; a distro's entry boots its own image.
	own := k.Origin == "" || k.Origin == "rko"
	if _, err := os.Stat(filepath.Join(k.BuildDir, "vmlinux")); err != nil && k.Key != "dir" && own {
		return nil, fmt.Errorf("cached kernel %s lost its vmlinux: %w", dir, err)
	}
	return &k, nil
}

func explain(requested, final kconfig.Config, srcDir string) []kconfig.Dropped {
	if len(kconfig.Compare(requested, final, nil)) == 0 {
		return nil
	}
	// The explanations are a help, not the verdict: with no index, each
	// dropped option is still named, only without its reasons. A partial
	// index would call the options it never reached typos.
	idx, err := kconfig.IndexTree(srcDir)
	if err != nil {
		idx = nil
	}
	return kconfig.Compare(requested, final, idx)
}

func estimateObjects(root, profile, arch string) int {
	ents, _ := os.ReadDir(root)
	best := 0
	for _, e := range ents {
		if k, err := Load(filepath.Join(root, e.Name())); err == nil && k.Profile == profile && k.Target().Name == arch && k.Objects > best {
			best = k.Objects
		}
	}
	return best
}

// progressWriter counts Kbuild's "  CC      path" style lines.
type progressWriter struct {
	count *atomic.Int64
	rest  []byte
}

func (w *progressWriter) Write(p []byte) (int, error) {
	w.rest = append(w.rest, p...)
	for {
		i := bytes.IndexByte(w.rest, '\n')
		if i < 0 {
			break
		}
		if isObjectLine(w.rest[:i]) {
			w.count.Add(1)
		}
		w.rest = w.rest[i+1:]
	}
	return len(p), nil
}

// isObjectLine recognises Kbuild's quiet command lines, e.g.
// "  CC      kernel/fork.o" or "  RUSTC L rust/core.o".
func isObjectLine(line []byte) bool {
	if !bytes.HasPrefix(line, []byte("  ")) {
		return false
	}
	// Kbuild's "  CC [M]  path" has "CC" as its first word too.
	word, _, _ := bytes.Cut(bytes.TrimLeft(line, " "), []byte(" "))
	switch string(word) {
	case "CC", "AS", "RUSTC", "BINDGEN", "LD", "AR", "HOSTCC":
		return true
	}
	return false
}

// Cached returns the finished kernels in the cache built for the target
// called arch, newest first. Entries that do not load (an interrupted
// build, a lost image) are left out.
func Cached(arch string) []*Kernel {
	root, err := cache.Sub("kernels")
	if err != nil {
		return nil
	}
	ents, _ := os.ReadDir(root)
	var ks []*Kernel
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		k, err := Load(filepath.Join(root, e.Name()))
		if err != nil || k.Target().Name != arch {
			continue
		}
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i].Built.After(ks[j].Built) })
	return ks
}

// runOutput is the output a failed command left in its *run.Error.
func runOutput(err error) []byte {
	var re *run.Error
	if errors.As(err, &re) {
		return re.Output
	}
	return nil
}

// markConfigured records that the build tree's .config is the finished
// configuration of this cache entry (its hash, in configured.sha256).
func markConfigured(dir, cfgPath string) error {
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		return err
	}
	return cache.WriteFileAtomic(filepath.Join(dir, "configured.sha256"), []byte(cache.Key(data)+"\n"), 0o644)
}

// configured reports whether the .config is still the one markConfigured
// recorded.
func configured(dir, cfgPath string) bool {
	want, err := os.ReadFile(filepath.Join(dir, "configured.sha256"))
	if err != nil {
		return false
	}
	data, err := os.ReadFile(cfgPath)
	return err == nil && cache.Key(data) == strings.TrimSpace(string(want))
}
