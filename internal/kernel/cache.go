package kernel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rkodev/rko/internal/cache"
	"github.com/rkodev/rko/internal/target"
)

// entry returns the cache key, the cache directory and the fragments of
// the kernel p describes (filling in the default profile).
func entry(p *Params) (key, dir string, frags []Fragment, err error) {
	if p.Target == nil {
		p.Target = target.Host()
	}
	p.Profile = Canonical(p.Profile, p.Target)
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

// KeyOf is the cache key of the kernel p describes, built or not (the
// tag of the kernel in a registry: rko kernel push, --kernel-store).
func KeyOf(p Params) (string, error) {
	key, _, _, err := entry(&p)
	return key, err
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
	if _, err := archTarget(k.Arch); err != nil {
		return nil, fmt.Errorf("cached kernel %s: %w (written by another rko: rebuild it, or use that rko)", dir, err)
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

// Cached returns the finished kernels in the cache built for the target
// called arch, newest first. Entries that do not load (an interrupted
// build, a lost image) are left out.
func Cached(arch string) []*Kernel {
	var ks []*Kernel
	for _, k := range AllCached() {
		if k.Target().Name == arch {
			ks = append(ks, k)
		}
	}
	return ks
}

// AllCached returns every finished kernel rko built, of every version
// and architecture, newest first.
func AllCached() []*Kernel {
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
		if k, err := Load(filepath.Join(root, e.Name())); err == nil {
			ks = append(ks, k)
		}
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i].Built.After(ks[j].Built) })
	return ks
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

// Summary is a built kernel as rko kernel list and rko doctor show it.
type Summary struct {
	Key string `json:"key"`
	// Version is the kernel's source version ("6.12.117"); Release is
	// what uname -r says.
	Version   string `json:"version"`
	Release   string `json:"release"`
	Arch      string `json:"arch"`
	Profile   string `json:"profile"`
	Toolchain string `json:"toolchain"`
	// Rustc is the compiler that built it ("1.85.1"), from its config.
	Rustc     string    `json:"rustc,omitempty"`
	Built     time.Time `json:"built"`
	BuildSecs float64   `json:"build_seconds"`
	Dir       string    `json:"dir"`
}

// Summarize is k's Summary.
func (k *Kernel) Summarize() Summary {
	v := k.Release
	if k.Source != nil && k.Source.Version != "" {
		v = k.Source.Version
	}
	rustc := ""
	if cfg, err := k.Config(); err == nil {
		if n, err := strconv.Atoi(cfg.Get("RUSTC_VERSION")); err == nil && n > 0 {
			rustc = RustcVersionText(n)
		}
	}
	return Summary{Key: k.Key, Version: v, Release: k.Release, Arch: k.Target().Name, Profile: k.Profile,
		Toolchain: k.Toolchain, Rustc: rustc, Built: k.Built, BuildSecs: k.BuildSecs, Dir: k.Dir}
}

// RustcVersionText is CONFIG_RUSTC_VERSION (scripts/rustc-version.sh:
// 100000 * major + 100 * minor + patch) as "1.85.1".
func RustcVersionText(n int) string {
	return fmt.Sprintf("%d.%d.%d", n/100000, n/100%1000, n%100)
}

// RustcVersionNumber is a version as CONFIG_RUSTC_VERSION writes it.
func RustcVersionNumber(major, minor, patch int) int { return 100000*major + 100*minor + patch }
