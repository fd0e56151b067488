package workflow

import (
	"context"
	"errors"
	"fmt"

	"github.com/rkodev/rko/internal/job"
	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/store"
	"github.com/rkodev/rko/internal/toolchain"
)

// pullKernel is --kernel-store's first half: the kernel of params from
// the registry repository repo when it is not in the cache and the
// registry has it (tagged with its key), verified and published into
// the cache (store.Pull). It returns nil and no error when rko is to
// build the kernel: the kernel is cached already (kernel.Build finds
// it), the registry does not have it, or the registry failed (said).
// A repository pinned by digest (REPO@sha256:...) is that kernel or an
// error: it is never replaced by a build, nor pushed to.
func (e *Env) pullKernel(ctx context.Context, repo string, p kernel.Params) (*kernel.Kernel, error) {
	key, err := kernel.KeyOf(p)
	if err != nil {
		return nil, err
	}
	if _, err := kernel.Lookup(p); err == nil {
		return nil, nil
	}
	ref, err := store.ParseRef(repo)
	if err != nil {
		return nil, err
	}
	if e.Toolchain.Kind != toolchain.Rootfs {
		if ref.Pinned() {
			return nil, fmt.Errorf("--kernel-store %s (pinned by digest): a pulled kernel is used only with the rootfs toolchain (its Makefiles run in the sandbox): give --toolchain rootfs", repo)
		}
		// A pulled build tree's Makefiles run when a module is built
		// against it: only inside the toolchain's sandbox.
		e.UI.Warnf("kernel store: a pulled kernel is used only with the rootfs toolchain (its Makefiles run in the sandbox), and this run uses the host's: building the kernel here (--toolchain rootfs pulls it)")
		return nil, nil
	}
	pulled, err := store.Pull(ctx, ref, store.Expect{Key: key, Toolchain: e.Toolchain.ID, Source: e.Source}, "", e.UI.Logf)
	if err != nil && ref.Pinned() {
		// A pinned kernel is that kernel or none: never another build.
		return nil, fmt.Errorf("--kernel-store %s (pinned by digest): %w", repo, err)
	}
	switch {
	case err == nil:
		if !pulled.Cached {
			e.UI.Logf("kernel %s pulled from %s in %.1fs (%.1f MiB, %s)", key, ref, pulled.Seconds, float64(pulled.Size)/(1<<20), pulled.Digest)
		}
		return pulled.Kernel, nil
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case errors.Is(err, store.ErrNotFound):
		e.UI.Logf("kernel %s is not in %s: building it, then pushing it", key, ref)
	default:
		e.UI.Warnf("kernel store: %v: building the kernel here instead", err)
	}
	return nil, nil
}

// pushKernel is --kernel-store's second half: a kernel rko had to build
// goes to the registry, so that the next machine pulls it. A failed push
// is said and does not fail the run.
func (e *Env) pushKernel(ctx context.Context, repo string, k *kernel.Kernel) {
	ref, err := store.ParseRef(repo)
	if err == nil && ref.Pinned() {
		e.UI.Logf("kernel store %s is pinned by digest: kernel %s is not pushed", repo, k.Key)
		return
	}
	if err == nil {
		var pushed *store.Pushed
		if pushed, err = store.Push(ctx, ref, k, e.UI.Logf); err == nil {
			e.UI.Logf("kernel %s pushed to %s in %.1fs (%.1f MiB)", k.Key, pushed.Ref, pushed.Seconds, float64(pushed.Size)/(1<<20))
			return
		}
	}
	e.UI.Warnf("kernel store: pushing kernel %s: %v", k.Key, err)
}

// KernelKey is the cache key of rko's kernel jk names on this machine
// (its source, toolchain, profile and fragments): its tag in a registry.
func (e *Env) KernelKey(jk job.Kernel) (string, error) {
	extra, err := readFragments(jk.Fragments)
	if err != nil {
		return "", err
	}
	return kernel.KeyOf(kernel.Params{Target: jk.Target(), Source: e.Source, Toolchain: e.Toolchain, Profile: jk.Profile, Extra: extra})
}
