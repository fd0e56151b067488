package debian

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/rkodev/rko/internal/cache"
	"github.com/rkodev/rko/internal/kernel"
)

// SourceRelease is one version of a linux-source-X.Y package in the
// archive: the kernel source rko builds its own kernel of version X.Y
// from (rko kernel build --kernel 6.12).
type SourceRelease struct {
	// Series is the kernel's major.minor, "6.12".
	Series string `json:"series"`
	// Upstream is the kernel version the package holds, "6.12.117".
	Upstream string `json:"upstream"`
	// Package is the package name, "linux-source-6.12".
	Package string `json:"package"`
	// Version is the Debian package version, "6.12.117-1".
	Version string `json:"version"`
}

// String is "6.12.117 (linux-source-6.12 6.12.117-1)".
func (s SourceRelease) String() string {
	return fmt.Sprintf("%s (%s %s)", s.Upstream, s.Package, s.Version)
}

var sourcePkgRE = regexp.MustCompile(`^linux-source-(\d+\.\d+)$`)

// upstreamRE is the kernel version at the front of a Debian version:
// "7.2.12" of "7.2.12-1~bpo13+1".
var upstreamRE = regexp.MustCompile(`^(\d+\.\d+(?:\.\d+)?)`)

// SourceReleases lists the linux-source packages in pkgs, one per kernel
// version (the newest Debian revision of each), newest first.
func SourceReleases(pkgs []Package) []SourceRelease {
	best := map[string]SourceRelease{}
	for _, p := range pkgs {
		m := sourcePkgRE.FindStringSubmatch(p.Name)
		if m == nil {
			continue
		}
		u := upstreamRE.FindString(p.Version)
		if u == "" {
			continue
		}
		if strings.Count(u, ".") == 1 {
			u += ".0"
		}
		r := SourceRelease{Series: m[1], Upstream: u, Package: p.Name, Version: p.Version}
		if old, ok := best[u]; !ok || CompareVersions(r.Version, old.Version) > 0 {
			best[u] = r
		}
	}
	out := make([]SourceRelease, 0, len(best))
	for _, r := range best {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return CompareVersions(out[i].Upstream, out[j].Upstream) > 0 })
	return out
}

// Series lists the kernel series of rs ("7.3", "7.2", "6.12"), newest
// first.
func Series(rs []SourceRelease) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range rs {
		if !seen[r.Series] {
			seen[r.Series] = true
			out = append(out, r.Series)
		}
	}
	return out
}

// VersionError is a kernel version the archive does not have: the
// user's input, not a failure of the mirror.
type VersionError struct{ Msg string }

func (e *VersionError) Error() string { return e.Msg }

// PickSource picks the release of want from rs: a series ("6.12") gives
// its newest version, a full version ("6.12.117") that version. The error
// lists what there is.
func PickSource(rs []SourceRelease, want string) (SourceRelease, error) {
	full := strings.Count(want, ".") == 2
	for _, r := range rs { // newest first
		if (full && r.Upstream == want) || (!full && r.Series == want) {
			return r, nil
		}
	}
	if full {
		var have []string
		for _, r := range rs {
			if strings.HasPrefix(want, r.Series+".") {
				have = append(have, r.Upstream)
			}
		}
		if len(have) > 0 {
			return SourceRelease{}, &VersionError{fmt.Sprintf("kernel %s is not in the archive: linux-source-%s there has %s (give one of those, or the series %s for the newest)", want, seriesOf(want), strings.Join(have, ", "), seriesOf(want))}
		}
	}
	return SourceRelease{}, &VersionError{fmt.Sprintf("kernel %s is not in the archive: rko builds the versions Debian's linux-source packages hold, and the mirror has %s (or give any tree or tarball with --source)", want, orNothing(Series(rs)))}
}

func seriesOf(v string) string {
	p := strings.SplitN(v, ".", 3)
	if len(p) < 2 {
		return v
	}
	return p[0] + "." + p[1]
}

func orNothing(s []string) string {
	if len(s) == 0 {
		return "no linux-source package"
	}
	return strings.Join(s, ", ")
}

// SourceVersions reads the archive's index (refreshed when old) and lists
// the kernel sources rko can build, newest first.
func SourceVersions(ctx context.Context, p Params) ([]SourceRelease, error) {
	p.defaults()
	a, _, err := aptOf(p)
	if err != nil {
		return nil, err
	}
	return sourceIndex(ctx, p, a)
}

// LinuxSource returns the extracted kernel source of version want ("6.12"
// for the newest 6.12 the archive has, or "6.12.117"): the toolchain
// rootfs's own linux-source when it is that version, else the package
// fetched from the archive once and cached.
func LinuxSource(ctx context.Context, p Params, want string) (*kernel.Source, SourceRelease, error) {
	p.defaults()
	a, root, err := aptOf(p)
	if err != nil {
		return nil, SourceRelease{}, fmt.Errorf("kernel %s: %w", want, err)
	}
	rs, err := sourceIndex(ctx, p, a)
	if err != nil {
		return nil, SourceRelease{}, err
	}
	r, err := PickSource(rs, want)
	if err != nil {
		return nil, SourceRelease{}, err
	}
	src, err := source(ctx, p, a, root, Release{Source: r.Package, Version: r.Version})
	return src, r, err
}

// sourceIndex lists the archive's sources from the index rko has,
// refreshing it only when it is old.
func sourceIndex(ctx context.Context, p Params, a *apt) ([]SourceRelease, error) {
	unlock, err := cache.Lock(ctx, a.dir, func() { p.Progress("waiting for another rko using the Debian index") })
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := a.update(ctx, false, p.Warn); err != nil {
		return nil, err
	}
	// Reading the index (56 MB for trixie) took 0.2 s of every run of
	// --kernel 6.12: the list it gives is remembered beside it, for as
	// long as the index files are the same.
	memo := filepath.Join(a.dir, "sources.json")
	stamp := a.indexStamp()
	var m struct {
		Stamp   string          `json:"stamp"`
		Sources []SourceRelease `json:"sources"`
	}
	if data, err := os.ReadFile(memo); err == nil && json.Unmarshal(data, &m) == nil && m.Stamp == stamp && stamp != "" {
		return m.Sources, nil
	}
	pkgs, err := a.packages()
	if err != nil {
		return nil, err
	}
	m.Stamp, m.Sources = stamp, SourceReleases(pkgs)
	if data, err := json.Marshal(m); err == nil {
		cache.WriteFileAtomic(memo, data, 0o644) // a memo: losing it costs a parse
	}
	return m.Sources, nil
}
