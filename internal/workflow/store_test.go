package workflow

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/store"
	"github.com/rkodev/rko/internal/target"
	"github.com/rkodev/rko/internal/testutil"
	"github.com/rkodev/rko/internal/toolchain"
	"github.com/rkodev/rko/internal/ui"
)

// storeEnv is an Env of a rootfs toolchain and a source that exist only
// by their ids, with a cache of its own, and the kernel params of its
// x86_64 default kernel.
func storeEnv(t *testing.T) (*Env, kernel.Params, *bytes.Buffer) {
	t.Setenv("RKO_CACHE", t.TempDir())
	var out bytes.Buffer
	x86, _ := target.Lookup("x86_64")
	e := &Env{Toolchain: &toolchain.Toolchain{Kind: toolchain.Rootfs, ID: "tc-1"},
		Source: &kernel.Source{Dir: "/src/linux-7.3", Version: "7.3.4", ID: "src-1"}, UI: ui.New(&out, false)}
	return e, kernel.Params{Target: x86, Source: e.Source, Toolchain: e.Toolchain, Profile: "default"}, &out
}

// builtKernel writes a finished cache entry of key under dir (what
// kernel.Build leaves: kernel.json, the image, vmlinux) and loads it.
func builtKernel(t *testing.T, dir, key string, e *Env) *kernel.Kernel {
	t.Helper()
	entry := filepath.Join(dir, key)
	b := filepath.Join(entry, "build")
	for name, data := range map[string]string{"arch/x86/boot/bzImage": "image", "vmlinux": "ELF", "Module.symvers": "", ".config": "CONFIG_RUST=y\n"} {
		os.MkdirAll(filepath.Dir(filepath.Join(b, name)), 0o755)
		os.WriteFile(filepath.Join(b, name), []byte(data), 0o644)
	}
	k := &kernel.Kernel{Key: key, Origin: "rko", Dir: entry, BuildDir: b, Image: filepath.Join(b, "arch/x86/boot/bzImage"),
		Arch: "x86_64", Source: e.Source, Release: "7.3.4", Profile: "default", Toolchain: e.Toolchain.ID}
	data, _ := json.Marshal(k)
	os.WriteFile(filepath.Join(entry, "kernel.json"), data, 0o644)
	loaded, err := kernel.Load(entry)
	if err != nil {
		t.Fatal(err)
	}
	return loaded
}

// TestKernelStoreHooks checks --kernel-store's two halves without a
// kernel build: a kernel the registry has (tagged with the key this
// machine computes) is pulled into the cache; one the cache has is not
// fetched again; the host toolchain never pulls; a built kernel is
// pushed, and a registry that is not there is said, not fatal.
func TestKernelStoreHooks(t *testing.T) {
	addr, _ := testutil.StartRegistry(t, "")
	repo := addr + "/rko/kernels"
	ctx := context.Background()
	e, params, out := storeEnv(t)
	key, err := kernel.KeyOf(params)
	if err != nil {
		t.Fatal(err)
	}
	// Another machine built and pushed it.
	ref, _ := store.ParseRef(repo)
	pushed, err := store.Push(ctx, ref, builtKernel(t, t.TempDir(), key, e), nil)
	if err != nil {
		t.Fatal(err)
	}

	host := *e
	host.Toolchain = &toolchain.Toolchain{Kind: toolchain.Host, ID: "tc-1"}
	if k, err := host.pullKernel(ctx, repo, params); k != nil || err != nil {
		t.Fatalf("host toolchain: pulled %v, %v", k, err)
	}
	if !strings.Contains(out.String(), "a pulled kernel is used only with the rootfs toolchain") {
		t.Errorf("the host toolchain's refusal is not said:\n%s", out)
	}

	k, err := e.pullKernel(ctx, repo, params)
	if err != nil || k == nil || k.Key != key {
		t.Fatalf("pull: %v, %v", k, err)
	}
	root, _ := os.LookupEnv("RKO_CACHE")
	if k.Dir != filepath.Join(root, "kernels", key) {
		t.Errorf("pulled into %s", k.Dir)
	}
	if !strings.Contains(out.String(), "pulled from "+repo) {
		t.Errorf("the pull is not said:\n%s", out)
	}
	if k, err := e.pullKernel(ctx, repo, params); k != nil || err != nil {
		t.Errorf("a cached kernel is left to kernel.Build: got %v, %v", k, err)
	}

	// A kernel the registry lacks: nil, nil (build it), said.
	params.Profile = "debug"
	if k, err := e.pullKernel(ctx, repo, params); k != nil || err != nil {
		t.Errorf("missing: %v, %v", k, err)
	}
	if !strings.Contains(out.String(), "is not in "+repo+": building it, then pushing it") {
		t.Errorf("a missing kernel is not said:\n%s", out)
	}

	// Push after a build, to a second repository; then pull it back.
	repo2 := addr + "/rko/other"
	e.pushKernel(ctx, repo2, k)
	ref2, _ := store.ParseRef(repo2)
	if _, err := store.Pull(ctx, ref2, store.Expect{Key: key, Toolchain: "tc-1"}, t.TempDir(), nil); err != nil {
		t.Fatalf("the pushed kernel: %v", err)
	}
	e.pushKernel(ctx, "127.0.0.1:1/rko/kernels", k)
	if !strings.Contains(out.String(), "kernel store: pushing kernel "+key) {
		t.Errorf("a failed push is not said:\n%s", out)
	}

	// Pinned by digest: that kernel, on a machine without it; an error
	// for a job that needs another; never pushed to.
	pinned := repo + "@" + pushed.Digest
	e2, params2, out2 := storeEnv(t)
	if k, err := e2.pullKernel(ctx, pinned, params2); err != nil || k == nil || k.Key != key {
		t.Fatalf("pinned: %v, %v", k, err)
	}
	params2.Profile = "debug"
	if _, err := e2.pullKernel(ctx, pinned, params2); err == nil || !strings.Contains(err.Error(), "(pinned by digest)") || !strings.Contains(err.Error(), "holds kernel "+key) {
		t.Errorf("a pinned kernel for a job that needs another: %v", err)
	}
	e2.pushKernel(ctx, pinned, k)
	if !strings.Contains(out2.String(), "is pinned by digest: kernel "+key+" is not pushed") {
		t.Errorf("a pinned store is pushed to:\n%s", out2)
	}
}
