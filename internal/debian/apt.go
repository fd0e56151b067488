package debian

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rkodev/rko/internal/cache"
	"github.com/rkodev/rko/internal/run"
	"github.com/rkodev/rko/internal/toolchain"
)

// apt runs apt-get in the toolchain with a state of rko's own: its own
// sources list (the configured mirror, the rootfs's suite and its
// backports), lists and archive cache under dir, and no dpkg status, so
// neither the rootfs nor the host's apt is touched.
type apt struct {
	tc     *toolchain.Toolchain
	dir    string // <cache>/debian/apt
	mirror string
	suites []string
	log    io.Writer
}

// maxIndexAge is how long a downloaded index is used without asking the
// mirror again.
const maxIndexAge = 12 * time.Hour

// ErrMirror means the Debian mirror could not be reached.
var ErrMirror = errors.New("cannot reach the Debian mirror")

func (a *apt) options() []string {
	return []string{
		"-o", "Dir::Etc::SourceList=" + filepath.Join(a.dir, "sources.list"),
		"-o", "Dir::Etc::SourceParts=/nonexistent",
		"-o", "Dir::State::Lists=" + filepath.Join(a.dir, "lists"),
		"-o", "Dir::Cache=" + filepath.Join(a.dir, "cache"),
		"-o", "Dir::State::status=/dev/null",
		"-o", "Debug::NoLocking=1",
		// As root, apt drops to the _apt user for downloads, who cannot
		// write rko's cache; as anyone else it runs as that user anyway.
		"-o", "APT::Sandbox::User=root",
		"-o", "APT::Architecture=" + arch.DebianArch,
		"-o", "Acquire::Languages=none",
		"-o", "Acquire::GzipIndexes=false",
		"-o", "Acquire::Retries=1",
		"-o", "Acquire::http::Timeout=20",
	}
}

func (a *apt) run(ctx context.Context, dir string, args ...string) (*run.Result, error) {
	argv := append(append([]string{"apt-get"}, a.options()...), args...)
	binds := []string{a.dir}
	if dir != "" {
		binds = append(binds, dir)
	}
	return a.tc.Run(ctx, run.Opts{Dir: dir, Stdout: a.log, Stderr: a.log, Env: []string{"LC_ALL=C"}, Timeout: 10 * time.Minute}, binds, argv...)
}

// update refreshes the index when it is older than maxIndexAge (or when
// force is set). If the mirror cannot be reached, an older index is used
// with a warning; with none, the error is ErrMirror.
func (a *apt) update(ctx context.Context, force bool, warn func(string, ...any)) error {
	for _, d := range []string{"lists/partial", "cache/archives/partial"} {
		if err := os.MkdirAll(filepath.Join(a.dir, d), 0o755); err != nil {
			return err
		}
	}
	var src strings.Builder
	for _, s := range a.suites {
		fmt.Fprintf(&src, "deb %s %s main\n", a.mirror, s)
	}
	srcPath := filepath.Join(a.dir, "sources.list")
	old, _ := os.ReadFile(srcPath)
	changed := string(old) != src.String()
	if changed {
		if err := cache.WriteFileAtomic(srcPath, []byte(src.String()), 0o644); err != nil {
			return err
		}
	}
	stamp := filepath.Join(a.dir, "updated")
	st, err := os.Stat(stamp)
	fresh := err == nil && time.Since(st.ModTime()) < maxIndexAge
	if fresh && !force && !changed {
		return nil
	}
	r, err := a.run(ctx, "", "update")
	out := ""
	if r != nil {
		out = string(r.Stdout) + string(r.Stderr)
	}
	var re *run.Error
	if errors.As(err, &re) {
		out = string(re.Output)
	}
	// apt-get update exits 0 even when every source failed; it says so.
	failed := err != nil || strings.Contains(out, "\nE: ") || strings.HasPrefix(out, "E: ") ||
		(strings.Contains(out, "Could not resolve") || strings.Contains(out, "Failed to fetch"))
	if !failed {
		return cache.WriteFileAtomic(stamp, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644)
	}
	reason := lastAptError(out)
	if reason == "" && err != nil {
		reason = err.Error()
	}
	if len(a.packagesFiles()) > 0 && !changed {
		warn("the Debian mirror %s did not answer (%s): using the index downloaded %s", a.mirror, reason, indexAge(st))
		return nil
	}
	if len(a.packagesFiles()) == 0 {
		os.RemoveAll(a.dir) // an index that never came: leave no trace
	}
	return fmt.Errorf("%w %s: %s (check the network, or set RKO_DEBIAN_MIRROR to a mirror you can reach; nothing was cached)", ErrMirror, a.mirror, reason)
}

func indexAge(st os.FileInfo) string {
	if st == nil {
		return "earlier"
	}
	return st.ModTime().Format(time.RFC3339)
}

// lastAptError is apt's most telling line: its last "E:" or "W:" line,
// or the last line that says a fetch failed.
func lastAptError(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	// "W: Failed to fetch URL  REASON" says what failed and why.
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], "Failed to fetch") {
			return strings.Join(strings.Fields(lines[i]), " ")
		}
	}
	for _, prefix := range []string{"E: ", "W: ", "Err:", "Ign:"} {
		for i := len(lines) - 1; i >= 0; i-- {
			if strings.HasPrefix(lines[i], prefix) {
				return strings.TrimSpace(lines[i])
			}
		}
	}
	return ""
}

// packagesFiles are the downloaded Packages indexes.
func (a *apt) packagesFiles() []string {
	m, _ := filepath.Glob(filepath.Join(a.dir, "lists", "*_Packages"))
	return m
}

// indexStamp identifies the downloaded indexes (names, sizes, mtimes):
// what was derived from them stays valid while it is the same.
func (a *apt) indexStamp() string {
	var parts [][]byte
	for _, f := range a.packagesFiles() {
		st, err := os.Stat(f)
		if err != nil {
			return ""
		}
		parts = append(parts, []byte(fmt.Sprint(f, st.Size(), st.ModTime().UnixNano())))
	}
	if len(parts) == 0 {
		return ""
	}
	return cache.Key(parts...)
}

// packages reads every downloaded Packages index.
func (a *apt) packages() ([]Package, error) {
	var all []Package
	for _, f := range a.packagesFiles() {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		ps, err := ParsePackages(fh)
		fh.Close()
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", f, err)
		}
		all = append(all, ps...)
	}
	return all, nil
}

// download fetches name=version of each package into a new temporary
// directory under tmpRoot and unpacks them all into its "root"; the
// caller publishes or removes it. A failed download leaves only the
// temporary directory, which is removed.
func (a *apt) download(ctx context.Context, tmpRoot string, pkgs map[string]string) (string, error) {
	if err := os.MkdirAll(tmpRoot, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(tmpRoot, ".tmp-")
	if err != nil {
		return "", err
	}
	args := []string{"download"}
	for n, v := range pkgs {
		args = append(args, n+"="+v)
	}
	if r, err := a.run(ctx, tmp, args...); err != nil {
		os.RemoveAll(tmp)
		out := ""
		var re *run.Error
		if errors.As(err, &re) {
			out = string(re.Output)
		} else if r != nil {
			out = string(r.Stderr)
		}
		reason := lastAptError(out)
		if reason == "" {
			reason = err.Error()
		}
		return "", fmt.Errorf("%w %s: downloading %s: %s (nothing was cached)", ErrMirror, a.mirror, strings.Join(args[1:], " "), reason)
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "*.deb"))
	if len(debs) != len(pkgs) {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("apt-get download fetched %d of %d packages (%s): nothing was cached", len(debs), len(pkgs), strings.Join(args[1:], " "))
	}
	root := filepath.Join(tmp, "root")
	for _, deb := range debs {
		if _, err := a.tc.Run(ctx, run.Opts{}, []string{tmp}, "dpkg-deb", "-x", deb, root); err != nil {
			os.RemoveAll(tmp)
			return "", fmt.Errorf("unpacking %s: %w", filepath.Base(deb), err)
		}
		os.Remove(deb)
	}
	return tmp, nil
}
