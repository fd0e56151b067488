package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rkodev/rko/internal/cache"
	"github.com/rkodev/rko/internal/testutil"
)

// TestKernelStore pushes the UML kernel (which CI builds anyway) to a
// registry on loopback, then runs rko test --kernel-store as another
// machine would: another cache root ($RKO_CACHE, with the same toolchain
// rootfs and source linked into it so that nothing is installed) and no
// kernel. A
// kernel key holds no path, so the key is the same there: the kernel is
// pulled, the Rust module is built against the pulled build tree inside
// the toolchain sandbox, and it boots and passes.
func TestKernelStore(t *testing.T) {
	requireRealPath(t)
	addr, _ := testutil.StartRegistry(t, "")
	repo := addr + "/rko/kernels"
	dir := copyDir(t, "../examples/hello/rust")
	if r := rko(t, coldTimeout, "test", "--arch", "um", "--toolchain", "rootfs", dir); r.code != 0 {
		t.Fatalf("warm-up (the UML kernel) failed, exit %d:\n%s", r.code, r.stderr)
	}
	push := rko(t, 10*time.Minute, "kernel", "push", repo, "--arch", "um", "--toolchain", "rootfs")
	if push.code != 0 || !strings.Contains(push.stdout, "pushed kernel") {
		t.Fatalf("rko kernel push: exit %d\n%s\n%s", push.code, push.stdout, push.stderr)
	}
	t.Log(strings.TrimSpace(push.stdout))
	key := strings.Fields(strings.TrimPrefix(strings.TrimSpace(push.stdout), "pushed kernel "))[0]
	root, err := cache.Dir()
	if err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	// The toolchain rootfs and the extracted linux-source are linked in
	// (nothing to install or extract); the kernels are not.
	for _, sub := range []string{"toolchain", "src"} {
		if err := os.Symlink(filepath.Join(root, sub), filepath.Join(other, sub)); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("RKO_CACHE", other)
	r := rko(t, coldTimeout, "test", "--kernel-store", repo, "--arch", "um", "--toolchain", "rootfs", "--accel", "tcg", dir)
	if r.code != 0 || !strings.Contains(r.stderr+r.stdout, "pulled from "+repo) {
		t.Fatalf("rko test --kernel-store under another cache root: exit %d (want the kernel pulled and a pass)\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(other, "kernels", key, "kernel.json")); err != nil {
		t.Fatalf("the kernel was not pulled under its key %s into the other cache: %v", key, err)
	}
}
