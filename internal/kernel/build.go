package kernel

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
	"strings"
	"sync/atomic"
	"time"

	"github.com/rkodev/rko/internal/cache"
	"github.com/rkodev/rko/internal/kconfig"
	"github.com/rkodev/rko/internal/run"
	"github.com/rkodev/rko/internal/target"
	"github.com/rkodev/rko/internal/toolchain"
	"github.com/rkodev/rko/internal/ui"
)

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
	if err := ToolchainFits(ctx, p.Toolchain, p.Source, p.Target); err != nil {
		return nil, err
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
	userSyms := map[string]bool{} // the options of the user's fragments
	for _, f := range p.Extra {
		if fc, err := kconfig.Parse(bytes.NewReader(f.Data)); err == nil {
			for sym := range fc {
				userSyms[sym] = true
			}
		}
	}
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
		dropped := explain(requested, final, p.Source.Dir)
		// An option of rko's own profiles that this kernel version does
		// not define at all (a newer kernel's sample, say, on 6.12) is
		// left out, and said; the user's fragments stay strict, and what
		// the boot needs is checked after the build (BootNeeds).
		var kept []kconfig.Dropped
		for _, d := range dropped {
			if _, lax := bestEffortOptions[d.Symbol]; (d.Unknown || lax) && !userSyms[d.Symbol] {
				k.Skipped = append(k.Skipped, "CONFIG_"+d.Symbol)
				continue
			}
			kept = append(kept, d)
		}
		if len(k.Skipped) > 0 {
			p.Progress("options of rko's profile that Linux %s does not have on %s, left out: %s", p.Source.Version, p.Target.Name, strings.Join(k.Skipped, ", "))
		}
		if dropped = kept; len(dropped) > 0 {
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

// runOutput is the output a failed command left in its *run.Error.
func runOutput(err error) []byte {
	var re *run.Error
	if errors.As(err, &re) {
		return re.Output
	}
	return nil
}

// ToolchainError is a toolchain outside the range a kernel source accepts
// (its scripts/min-tool-version.sh): found before anything is built.
type ToolchainError struct {
	Kernel    string // the source's version
	Toolchain string
	Failed    []toolchain.Check
}

func (e *ToolchainError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "toolchain %s cannot build Linux %s (nothing was built):", e.Toolchain, e.Kernel)
	for _, c := range e.Failed {
		fmt.Fprintf(&b, "\n  - %s %s, Linux %s wants %s", c.Name, orMissing(c.Found), e.Kernel, c.Want)
	}
	var have []string
	for _, c := range toolchain.Compilers {
		have = append(have, c.Version)
	}
	fmt.Fprintf(&b, "\nrko's rootfs compilers are rustc %s (--rustc); for another, a host toolchain in the range (--toolchain host, rko doctor --source TREE checks it)", strings.Join(have, " and "))
	return b.String()
}

func orMissing(s string) string {
	if s == "" {
		return "is missing"
	}
	return "is " + s
}

// ToolchainFits checks tc against the minima src's own
// scripts/min-tool-version.sh gives for t (rustc, bindgen, libclang) and
// the tools the Rust build needs, before a build starts: a kernel the
// toolchain cannot build is refused with the reason, not after minutes
// of make.
func ToolchainFits(ctx context.Context, tc *toolchain.Toolchain, src *Source, t *target.Target) error {
	if tc == nil || src == nil {
		return nil
	}
	_, checks := tc.Checks(ctx, src.Dir, src.MinimaFor(ctx, t), toolchain.DebianHint)
	var failed []toolchain.Check
	for _, c := range checks {
		switch c.Name {
		case "rustc", "bindgen", "libclang", "rust-src":
			if c.Status == toolchain.Fail {
				failed = append(failed, c)
			}
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return &ToolchainError{Kernel: src.Version, Toolchain: tc.Describe(), Failed: failed}
}

// bestEffortOptions are options of rko's profiles that some kernels
// cannot have, with the reason: where olddefconfig drops one, it is left
// out and said, like an option the version does not define at all,
// instead of failing the build. (Kept here, not in the fragments, whose
// bytes are part of every kernel's key.)
var bestEffortOptions = map[string]string{
	"SMP":     "6.12's UML has no SMP (7.2's has): a UML guest of such a version has one CPU",
	"NR_CPUS": "depends on SMP",
}
