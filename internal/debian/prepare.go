package debian

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/rkodev/rko/internal/cache"
	"github.com/rkodev/rko/internal/kconfig"
	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/run"
)

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
		Dir: dir, BuildDir: filepath.Join(dir, "build"), Image: image, Arch: arch.Name, Source: src, Release: r.Name, Toolchain: p.Toolchain.ID}
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
