// Package store moves built kernels through an OCI registry (rko kernel
// push, rko kernel pull, --kernel-store): a kernel is an OCI artifact
// (image manifest with artifactType ArtifactType) tagged with rko's
// kernel key, whose config blob is the kernel's kernel.json and whose one
// layer is its cache entry as a gzipped tar: the image, vmlinux and
// System.map (symbolization), the build tree a module build needs
// (Module.symvers, .config, include/generated, scripts, the Rust metadata
// rust/*.rmeta and the proc-macro .so) without the objects a module
// build never reads (*.o, *.a, vmlinux.unstripped), and the kernel's
// self-check record. oras-go v2 talks to the registry; credentials come
// from the docker config and its credential helpers, or from
// RKO_REGISTRY_USER and RKO_REGISTRY_PASSWORD.
//
// A pull verifies every blob's digest and size, checks that the kernel
// was built from this machine's linux-source and by its toolchain, and
// publishes the entry into the cache only when it is whole (a temporary
// directory renamed into place, kernel.json written last).
package store

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/retry"

	"github.com/rkodev/rko/internal/kernel"
)

// Media types of a kernel artifact.
const (
	ArtifactType    = "application/vnd.rko.kernel.v1"
	ConfigMediaType = "application/vnd.rko.kernel.config.v1+json"
	TreeMediaType   = "application/vnd.rko.kernel.tree.v1.tar+gzip"
)

// Ref is a parsed kernel reference: REPOSITORY, REPOSITORY:TAG or
// REPOSITORY@sha256:DIGEST.
type Ref struct {
	registry.Reference
}

// ParseRef parses s; a reference without a tag or digest names the
// repository (the kernel key is the tag).
func ParseRef(s string) (Ref, error) {
	r, err := registry.ParseReference(s)
	if err != nil {
		return Ref{}, fmt.Errorf("%q is not a registry reference: want HOST[:PORT]/REPOSITORY[:TAG|@sha256:DIGEST], e.g. ghcr.io/you/rko-kernels (%v)", s, err)
	}
	return Ref{r}, nil
}

// Pinned reports whether r names one artifact by its digest.
func (r Ref) Pinned() bool { return strings.HasPrefix(r.Reference.Reference, "sha256:") }

// WithKey is the reference of the kernel key in r's repository: r's own
// tag or digest when it has one.
func (r Ref) WithKey(key string) Ref {
	if r.Reference.Reference == "" {
		r.Reference.Reference = key
	}
	return r
}

// Repository opens r's repository: plain HTTP for a loopback registry
// (the tests' and a local mirror's), HTTPS otherwise; credentials from
// RKO_REGISTRY_USER/RKO_REGISTRY_PASSWORD, else the docker config and
// its credential helpers.
func Repository(r Ref) (*remote.Repository, error) {
	repo, err := remote.NewRepository(r.Registry + "/" + r.Repository)
	if err != nil {
		return nil, err
	}
	repo.PlainHTTP = isLoopback(r.Registry)
	cred := auth.StaticCredential(r.Registry, auth.Credential{
		Username: os.Getenv("RKO_REGISTRY_USER"), Password: os.Getenv("RKO_REGISTRY_PASSWORD")})
	if os.Getenv("RKO_REGISTRY_PASSWORD") == "" {
		st, err := credentials.NewStoreFromDocker(credentials.StoreOptions{})
		if err != nil {
			return nil, fmt.Errorf("reading the docker config for registry credentials: %w", err)
		}
		cred = credentials.Credential(st)
	}
	repo.Client = &auth.Client{Client: httpClient, Cache: auth.NewCache(), Credential: cred}
	return repo, nil
}

// httpClient retries as oras-go's default client does, and gives up on a
// registry that accepts a connection and does not answer: no more than
// 10 s to connect and 60 s to the first byte of a response (a blob's
// transfer itself is bounded only by the run's context).
var httpClient = func() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.ResponseHeaderTimeout = 60 * time.Second
	return &http.Client{Transport: retry.NewTransport(t)}
}()

func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Pushed is what Push did.
type Pushed struct {
	Ref    string `json:"ref"`
	Digest string `json:"digest"`
	// Size is the artifact's layer, compressed, and Files its files.
	Size    int64   `json:"size"`
	Files   int     `json:"files"`
	Seconds float64 `json:"seconds"`
}

// skip reports whether a file of the build tree stays out of the
// artifact: objects and archives a module build never reads, and the
// unstripped vmlinux (vmlinux itself is kept, for symbolization).
func skip(rel string, d fs.DirEntry) bool {
	name := d.Name()
	if d.IsDir() {
		return false
	}
	return strings.HasSuffix(name, ".o") || strings.HasSuffix(name, ".a") || name == "vmlinux.unstripped" ||
		strings.HasPrefix(name, ".tmp_") || rel == "kernel.json" || strings.HasSuffix(name, ".lock")
}

// Push uploads k (a kernel of rko's cache) to r's repository, tagged with
// its key (or r's tag). Blobs the registry has already are not sent again,
// so two pushes of one kernel at once do the same work, harmlessly.
func Push(ctx context.Context, r Ref, k *kernel.Kernel, progress func(string, ...any)) (*Pushed, error) {
	start := time.Now()
	if k.Key == "" || k.Key == "dir" || (k.Origin != "" && k.Origin != "rko") {
		return nil, fmt.Errorf("only kernels rko built are pushed (this one is %s)", k.Describe())
	}
	ref := r.WithKey(k.Key)
	repo, err := Repository(ref)
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp("", "rko-push-*.tar.gz")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	files, err := writeTree(io.MultiWriter(tmp, h), k.Dir)
	if err != nil {
		return nil, fmt.Errorf("packing %s: %w", k.Dir, err)
	}
	size, _ := tmp.Seek(0, io.SeekCurrent)
	layer := ocispec.Descriptor{MediaType: TreeMediaType, Digest: digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(h.Sum(nil))), Size: size}
	cfgJSON, err := portable(k)
	if err != nil {
		return nil, err
	}
	cfg := content.NewDescriptorFromBytes(ConfigMediaType, cfgJSON)
	if progress != nil {
		progress("pushing %s: %d files, %.1f MiB compressed", ref, files, float64(size)/(1<<20))
	}
	// Two pushes of one kernel at once upload the same blobs; the
	// registry may then not know a blob for a moment (the other upload's
	// commit replacing it), and refuse the manifest naming it: the blobs
	// are checked and the manifest sent again, for up to 20 s (a loaded
	// registry host took more than the 1.5 s of four quick tries once).
	var man ocispec.Descriptor
	retryUntil := time.Now().Add(20 * time.Second)
	for attempt := 1; ; attempt++ {
		if err := pushIfMissing(ctx, repo, cfg, bytes.NewReader(cfgJSON)); err != nil {
			return nil, registryError(ref, err)
		}
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		if err := pushIfMissing(ctx, repo, layer, tmp); err != nil {
			return nil, registryError(ref, err)
		}
		man, err = oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, ArtifactType, oras.PackManifestOptions{
			ConfigDescriptor: &cfg, Layers: []ocispec.Descriptor{layer},
			ManifestAnnotations: map[string]string{
				"dev.rko.kernel.key": k.Key, "dev.rko.kernel.arch": k.Target().Name, "dev.rko.kernel.release": k.Release,
				"dev.rko.kernel.profile": k.Profile, "dev.rko.kernel.toolchain": k.Toolchain,
				ocispec.AnnotationCreated: "1970-01-01T00:00:00Z", // the same kernel, the same manifest
			}})
		if err == nil {
			break
		}
		if time.Now().After(retryUntil) || !strings.Contains(err.Error(), "blob unknown") || ctx.Err() != nil {
			return nil, registryError(ref, err)
		}
		time.Sleep(time.Duration(min(attempt, 8)) * 250 * time.Millisecond)
	}
	if err := repo.Tag(ctx, man, ref.Reference.Reference); err != nil {
		return nil, registryError(ref, err)
	}
	return &Pushed{Ref: ref.String(), Digest: man.Digest.String(), Size: size, Files: files,
		Seconds: time.Since(start).Seconds()}, nil
}

func pushIfMissing(ctx context.Context, repo *remote.Repository, d ocispec.Descriptor, r io.Reader) error {
	if ok, err := repo.Exists(ctx, d); err == nil && ok {
		return nil
	}
	err := repo.Push(ctx, d, r)
	if errors.Is(err, errdef.ErrAlreadyExists) {
		return nil
	}
	return err
}

// registryError says which registry failed, and how to fix what can be.
func registryError(r Ref, err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "401") || strings.Contains(msg, "403") || strings.Contains(msg, "unauthorized") || strings.Contains(msg, "denied") || strings.Contains(msg, "credential not found"):
		return fmt.Errorf("registry %s refused rko: %w (log in with docker login %s, or set RKO_REGISTRY_USER and RKO_REGISTRY_PASSWORD)", r.Registry, err, r.Registry)
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(msg, "timeout awaiting response headers") || strings.Contains(msg, "i/o timeout"):
		return fmt.Errorf("registry %s timed out: %w", r.Registry, err)
	}
	return fmt.Errorf("registry %s: %w", r.Registry, err)
}

// portable is k's kernel.json with its paths relative to the cache entry
// (the source tree's is the puller's own, found by Source.ID).
func portable(k *kernel.Kernel) ([]byte, error) {
	var c kernel.Kernel
	raw, err := json.Marshal(k)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	rel := func(p string) string {
		if r, err := filepath.Rel(k.Dir, p); err == nil && filepath.IsLocal(r) {
			return r
		}
		return p
	}
	c.Dir, c.BuildDir, c.Image = ".", rel(k.BuildDir), rel(k.Image)
	if k.Source != nil {
		s := *k.Source
		s.Dir = ""
		c.Source = &s
	}
	return json.MarshalIndent(&c, "", "  ")
}

// writeTree writes dir's files (skip leaves some out) as a gzipped tar,
// in sorted order with their modes and mtimes (Kbuild compares mtimes),
// owners zeroed; it returns how many files it wrote.
func writeTree(w io.Writer, dir string) (int, error) {
	zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	n := 0
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." || skip(filepath.ToSlash(rel), d) {
			return nil
		}
		paths = append(paths, p)
		return nil
	})
	if err != nil {
		return 0, err
	}
	sort.Strings(paths)
	for _, p := range paths {
		st, err := os.Lstat(p)
		if err != nil {
			return n, err
		}
		link := ""
		if st.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return n, err
			}
		}
		hdr, err := tar.FileInfoHeader(st, link)
		if err != nil {
			return n, err
		}
		rel, _ := filepath.Rel(dir, p)
		hdr.Name = filepath.ToSlash(rel)
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
		hdr.Format = tar.FormatPAX
		if err := tw.WriteHeader(hdr); err != nil {
			return n, err
		}
		if st.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return n, err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			if err != nil {
				return n, err
			}
		}
		n++
	}
	if err := tw.Close(); err != nil {
		return n, err
	}
	return n, zw.Close()
}
