package store

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"

	"github.com/rkodev/rko/internal/cache"
	"github.com/rkodev/rko/internal/kernel"
)

// ErrNotFound means the registry has no kernel of that reference (a
// --kernel-store build then builds it and pushes it).
var ErrNotFound = errors.New("not in the registry")

// Expect is what a pulled kernel must be to be used here.
type Expect struct {
	// Key is the kernel key the puller computed ("" to take the
	// artifact's: rko kernel pull of a tag or digest).
	Key string
	// Toolchain is this machine's toolchain ID: a kernel built by another
	// toolchain is refused (modules must be built by the kernel's rustc).
	Toolchain string
	// Source is this machine's linux-source of the kernel's version: the
	// pulled build tree's Makefile includes it.
	Source *kernel.Source
}

// Pulled is what Pull did.
type Pulled struct {
	Ref     string         `json:"ref"`
	Digest  string         `json:"digest"`
	Size    int64          `json:"size"`
	Seconds float64        `json:"seconds"`
	Kernel  *kernel.Kernel `json:"kernel"`
	// Cached is true when the kernel was in the cache already (nothing
	// was fetched but the manifest and config).
	Cached bool `json:"cached"`
}

// Pull fetches the kernel r names (r's tag or digest, else want.Key)
// into the cache under root (cache.Sub("kernels") when ""), verifying
// every blob, and returns it loaded from its new entry.
func Pull(ctx context.Context, r Ref, want Expect, root string, progress func(string, ...any)) (*Pulled, error) {
	start := time.Now()
	ref := r.WithKey(want.Key)
	if ref.Reference.Reference == "" {
		return nil, fmt.Errorf("%s names no kernel: give REPOSITORY:KEY or REPOSITORY@sha256:DIGEST", r.String())
	}
	repo, err := Repository(ref)
	if err != nil {
		return nil, err
	}
	man, rc, err := repo.FetchReference(ctx, ref.Reference.Reference)
	if errors.Is(err, errdef.ErrNotFound) {
		return nil, fmt.Errorf("%s: %w", ref, ErrNotFound)
	}
	if err != nil {
		return nil, registryError(ref, err)
	}
	manJSON, err := content.ReadAll(rc, man)
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: the manifest: %w (refused: nothing was cached)", ref, err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(manJSON, &m); err != nil {
		return nil, fmt.Errorf("%s: the manifest is not JSON: %v", ref, err)
	}
	if m.ArtifactType != ArtifactType || m.Config.MediaType != ConfigMediaType || len(m.Layers) != 1 || m.Layers[0].MediaType != TreeMediaType {
		return nil, fmt.Errorf("%s is not an rko kernel (artifact type %q): push one with rko kernel push", ref, m.ArtifactType)
	}
	cfgJSON, err := fetchAll(ctx, repo, m.Config)
	if err != nil {
		return nil, fmt.Errorf("%s: the kernel's description: %w (refused: nothing was cached)", ref, err)
	}
	var k kernel.Kernel
	if err := json.Unmarshal(cfgJSON, &k); err != nil {
		return nil, fmt.Errorf("%s: the kernel's description is damaged: %v", ref, err)
	}
	if err := check(&k, want); err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	if root == "" {
		if root, err = cache.Sub("kernels"); err != nil {
			return nil, err
		}
	}
	out := &Pulled{Ref: ref.String(), Digest: man.Digest.String(), Size: m.Layers[0].Size}
	dir := filepath.Join(root, k.Key)
	unlock, err := cache.Lock(ctx, dir, func() {
		if progress != nil {
			progress("waiting for another rko building or pulling kernel %s", k.Key)
		}
	})
	if err != nil {
		return nil, err
	}
	defer unlock()
	if have, err := kernel.Load(dir); err == nil {
		out.Kernel, out.Cached, out.Seconds = have, true, time.Since(start).Seconds()
		return out, nil
	}
	if progress != nil {
		progress("pulling kernel %s (%s %s, %.1f MiB)", k.Key, k.Arch, k.Release, float64(m.Layers[0].Size)/(1<<20))
	}
	tmp, err := os.MkdirTemp(root, ".pull-"+k.Key+"-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if err := fetchTree(ctx, repo, m.Layers[0], tmp); err != nil {
		return nil, fmt.Errorf("%s: the kernel's files: %w (refused: nothing was cached)", ref, err)
	}
	if err := place(&k, tmp, dir, want.Source); err != nil {
		return nil, err
	}
	os.RemoveAll(dir) // an unfinished entry (no kernel.json) of an interrupted build
	if err := os.Rename(tmp, dir); err != nil {
		return nil, err
	}
	loaded, err := kernel.Load(dir)
	if err != nil {
		return nil, err
	}
	out.Kernel, out.Seconds = loaded, time.Since(start).Seconds()
	return out, nil
}

// check refuses a kernel this machine must not use.
func check(k *kernel.Kernel, want Expect) error {
	if k.Key == "" || strings.ContainsAny(k.Key, `/\.`) {
		return fmt.Errorf("the kernel's key %q is not a cache key", k.Key)
	}
	if want.Key != "" && k.Key != want.Key {
		return fmt.Errorf("holds kernel %s, not %s: the tag names another kernel", k.Key, want.Key)
	}
	if want.Toolchain != "" && k.Toolchain != want.Toolchain {
		return fmt.Errorf("kernel %s was built by another toolchain (%s; this machine's is %s): modules must be built by the kernel's own rustc, so it is refused; build it here (rko kernel build), or use the same rko and toolchain as the machine that pushed it", k.Key, k.Toolchain, want.Toolchain)
	}
	if want.Source != nil && k.Source != nil && k.Source.ID != want.Source.ID {
		return fmt.Errorf("kernel %s was built from another linux-source (%s %s; this machine's is %s %s): refused", k.Key, k.Source.Version, k.Source.ID, want.Source.Version, want.Source.ID)
	}
	return nil
}

// fetchAll reads a small blob, verified against its descriptor.
func fetchAll(ctx context.Context, repo interface {
	Fetch(context.Context, ocispec.Descriptor) (io.ReadCloser, error)
}, d ocispec.Descriptor) ([]byte, error) {
	if d.Size > 1<<20 {
		return nil, fmt.Errorf("%d bytes, want at most 1 MiB", d.Size)
	}
	rc, err := repo.Fetch(ctx, d)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return content.ReadAll(rc, d)
}

// fetchTree extracts the layer into dir while verifying its digest and
// size; a mismatch leaves the caller's temporary directory to be removed.
func fetchTree(ctx context.Context, repo interface {
	Fetch(context.Context, ocispec.Descriptor) (io.ReadCloser, error)
}, d ocispec.Descriptor, dir string) error {
	rc, err := repo.Fetch(ctx, d)
	if err != nil {
		return err
	}
	defer rc.Close()
	vr := content.NewVerifyReader(rc, d)
	if err := extract(vr, dir); err != nil {
		if verr := drainVerify(vr); verr != nil {
			return verr
		}
		return err
	}
	return drainVerify(vr)
}

// drainVerify reads what is left of the blob and checks its digest.
func drainVerify(vr *content.VerifyReader) error {
	if _, err := io.Copy(io.Discard, vr); err != nil {
		return err
	}
	return vr.Verify()
}

// extract unpacks a gzipped tar into dir: regular files, directories and
// symlinks only, every path inside dir, symlinks relative and inside dir
// except build/source (rewritten by place).
func extract(r io.Reader, dir string) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	type dirTime struct {
		path string
		t    time.Time
	}
	var dirs []dirTime
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		name := path.Clean(h.Name)
		if !filepath.IsLocal(name) {
			return fmt.Errorf("the archive holds %q, outside the kernel's directory", h.Name)
		}
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
			dirs = append(dirs, dirTime{p, h.ModTime})
			continue
		case tar.TypeReg:
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, os.FileMode(h.Mode)&0o777)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			if name != "build/source" {
				target := path.Join(path.Dir(name), h.Linkname)
				if path.IsAbs(h.Linkname) || !filepath.IsLocal(target) {
					return fmt.Errorf("the archive's symlink %s points outside the kernel's directory (%s)", name, h.Linkname)
				}
			}
			if err := os.Symlink(h.Linkname, p); err != nil {
				return err
			}
			continue
		default:
			return fmt.Errorf("the archive holds %s of type %q: only files, directories and symlinks are expected", name, h.Typeflag)
		}
		os.Chtimes(p, h.ModTime, h.ModTime)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		os.Chtimes(dirs[i].path, dirs[i].t, dirs[i].t)
	}
	return nil
}

// place makes the extracted entry in tmp this machine's: absolute paths
// in kernel.json, the O= tree's source link and Makefile pointing at the
// local source, kernel.json written last (the entry's completion mark).
func place(k *kernel.Kernel, tmp, dir string, src *kernel.Source) error {
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	k.Dir, k.BuildDir, k.Image = dir, abs(k.BuildDir), abs(k.Image)
	if src != nil && k.Source != nil {
		k.Source.Dir = src.Dir
	}
	buildRel, err := filepath.Rel(dir, k.BuildDir)
	if err != nil || !filepath.IsLocal(buildRel) {
		return fmt.Errorf("the kernel's build tree %s is outside its entry", k.BuildDir)
	}
	tb := filepath.Join(tmp, buildRel)
	if k.Source != nil && k.Source.Dir != "" {
		link := filepath.Join(tb, "source")
		if _, err := os.Lstat(link); err == nil {
			os.Remove(link)
			if err := os.Symlink(k.Source.Dir, link); err != nil {
				return err
			}
		}
		mk := filepath.Join(tb, "Makefile")
		if data, err := os.ReadFile(mk); err == nil && strings.HasPrefix(string(data), "# Automatically generated by") {
			st, _ := os.Stat(mk)
			out := fmt.Sprintf("# Automatically generated by %s/Makefile: don't edit\nexport KBUILD_OUTPUT = %s\ninclude %s/Makefile\n",
				k.Source.Dir, k.BuildDir, k.Source.Dir)
			if err := os.WriteFile(mk, []byte(out), 0o644); err != nil {
				return err
			}
			os.Chtimes(mk, st.ModTime(), st.ModTime())
		}
	}
	data, err := json.MarshalIndent(k, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(tmp, "kernel.json"), data, 0o644)
}
