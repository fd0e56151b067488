package kernel

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/rkodev/rko/internal/cache"
	"github.com/rkodev/rko/internal/run"
	"github.com/rkodev/rko/internal/target"
	"github.com/rkodev/rko/internal/toolchain"
)

// Source is an extracted kernel source tree.
type Source struct {
	Dir     string `json:"dir"`
	Version string `json:"version"` // e.g. "7.3.0" from the top Makefile
	// ID identifies the source in cache keys.
	ID string `json:"id"`
}

// FindSource locates a kernel source: spec may be a directory holding a
// tree, a linux-source tarball, or empty. When empty, $RKO_LINUX_SRC is
// used, then the newest /usr/src/linux-source-*.tar.* on the host, then
// the one in the toolchain rootfs. Tarballs are extracted once into the
// cache.
func FindSource(ctx context.Context, spec string, tc *toolchain.Toolchain, progress func(string, ...any)) (*Source, error) {
	if spec == "" {
		spec = os.Getenv("RKO_LINUX_SRC")
	}
	if spec == "" {
		spec = newestTarball("/usr/src")
	}
	if spec == "" && tc != nil && tc.Kind == toolchain.Rootfs {
		spec = newestTarball(filepath.Join(tc.Root, "usr/src"))
	}
	if spec == "" {
		return nil, errors.New("no kernel source found: pass --source DIR|TARBALL, set RKO_LINUX_SRC, or install linux-source-7.3 (rko toolchain install ships it)")
	}
	st, err := os.Stat(spec)
	if err != nil {
		return nil, fmt.Errorf("kernel source %s: %w", spec, err)
	}
	if st.IsDir() {
		return sourceFromDir(spec, "dir:"+spec)
	}
	return extract(ctx, spec, st, progress)
}

func newestTarball(dir string) string {
	m, _ := filepath.Glob(filepath.Join(dir, "linux-source-*.tar.*"))
	if len(m) == 0 {
		return ""
	}
	sort.Strings(m)
	return m[len(m)-1]
}

func sourceFromDir(dir, id string) (*Source, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	v, err := MakefileVersion(filepath.Join(abs, "Makefile"))
	if err != nil {
		return nil, fmt.Errorf("%s does not look like a kernel source tree: %w", abs, err)
	}
	if _, err := os.Stat(filepath.Join(abs, "rust/kernel")); err != nil {
		return nil, fmt.Errorf("kernel source %s (version %s) has no rust/kernel: Rust support needs Linux 6.1 or newer", abs, v)
	}
	return &Source{Dir: abs, Version: v, ID: cache.Key([]byte(id), []byte(v))}, nil
}

func extract(ctx context.Context, tarball string, st os.FileInfo, progress func(string, ...any)) (*Source, error) {
	id := TarballID(tarball, st)
	base := strings.SplitN(filepath.Base(tarball), ".tar", 2)[0]
	srcRoot, err := cache.Sub("src")
	if err != nil {
		return nil, err
	}
	final := filepath.Join(srcRoot, base+"-"+id)
	unlock, err := cache.Lock(ctx, final, func() { progress("waiting for another rko extracting %s", tarball) })
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(final, "Makefile")); err == nil {
		return sourceFromDir(final, id)
	}
	tmp, err := os.MkdirTemp(srcRoot, ".tmp-"+base+"-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	progress("extracting %s", tarball)
	if _, err := run.Cmd(ctx, run.Opts{}, "tar", "-x", "-f", tarball, "-C", tmp, "--strip-components=1"); err != nil {
		return nil, fmt.Errorf("extracting %s: %w", tarball, err)
	}
	if err := cache.Publish(tmp, final); err != nil {
		return nil, err
	}
	return sourceFromDir(final, id)
}

// TarballID identifies a linux-source tarball in cache keys by its file
// name, size and modification time, never by its directory: the tarball
// lies under the cache root (the toolchain rootfs, rko's apt state), and a
// kernel key must be the same on every machine that has the same package,
// whatever its $HOME or $RKO_CACHE, so that kernels can be shared through a
// registry (rko kernel push/pull). dpkg keeps a packaged file's mtime, so
// the same linux-source package gives the same id everywhere.
func TarballID(tarball string, st os.FileInfo) string {
	return cache.Key([]byte(filepath.Base(tarball)), []byte(fmt.Sprint(st.Size(), st.ModTime().Unix())))
}

var mkVarRE = regexp.MustCompile(`(?m)^(VERSION|PATCHLEVEL|SUBLEVEL)\s*=\s*(\d*)`)

// MakefileVersion reads VERSION.PATCHLEVEL.SUBLEVEL from a top Makefile.
func MakefileVersion(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	vals := map[string]string{}
	for _, m := range mkVarRE.FindAllStringSubmatch(string(data), -1) {
		if _, ok := vals[m[1]]; !ok {
			vals[m[1]] = m[2]
		}
	}
	if vals["VERSION"] == "" {
		return "", errors.New("no VERSION in Makefile")
	}
	sub := vals["SUBLEVEL"]
	if sub == "" {
		sub = "0"
	}
	return vals["VERSION"] + "." + vals["PATCHLEVEL"] + "." + sub, nil
}

// Minima runs the tree's scripts/min-tool-version.sh for rustc, bindgen
// and llvm on x86_64; missing answers fall back to Linux 7.3's.
func (s *Source) Minima(ctx context.Context) toolchain.Minima {
	x, _ := target.Lookup("x86_64")
	return s.MinimaFor(ctx, x)
}

// MinimaFor is Minima for kernels of t: the script's answers depend on
// ARCH and SRCARCH (7.3 asks for LLVM 18 on loongarch, rustc 1.95 on
// powerpc and 1.96 on s390; x86_64, arm64, riscv64 and um share 7.3's
// minima).
func (s *Source) MinimaFor(ctx context.Context, t *target.Target) toolchain.Minima {
	m := toolchain.Minima73
	ask := func(tool string, into *toolchain.Version) {
		r, err := run.Cmd(ctx, run.Opts{Dir: s.Dir, Env: []string{"ARCH=" + t.KernelArch, "SRCARCH=" + t.KernelArch}}, "sh", "scripts/min-tool-version.sh", tool)
		if err != nil {
			return
		}
		if v, err := toolchain.ParseVersion(string(r.Stdout)); err == nil {
			*into = v
		}
	}
	ask("rustc", &m.Rustc)
	ask("bindgen", &m.Bindgen)
	ask("llvm", &m.LLVM)
	return m
}

// ExtractedSources are the kernel sources rko has extracted into its
// cache (every version it built or was asked for), newest version first.
func ExtractedSources() []*Source {
	root, err := cache.Sub("src")
	if err != nil {
		return nil
	}
	ents, _ := os.ReadDir(root)
	var out []*Source
	seen := map[string]bool{}
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		dir := filepath.Join(root, e.Name())
		v, err := MakefileVersion(filepath.Join(dir, "Makefile"))
		if err != nil || seen[v] {
			continue
		}
		seen[v] = true
		out = append(out, &Source{Dir: dir, Version: v})
	}
	sort.Slice(out, func(i, j int) bool { return versionLess(out[j].Version, out[i].Version) })
	return out
}

// versionLess orders kernel versions ("6.12.117" < "7.2.12").
func versionLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, _ := strconv.Atoi(as[i])
		y, _ := strconv.Atoi(bs[i])
		if x != y {
			return x < y
		}
	}
	return len(as) < len(bs)
}
