package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rkodev/rko/internal/cache"
	"github.com/rkodev/rko/internal/testutil"
)

// TestKernelStore pushes the UML kernel (which CI builds anyway) to a
// registry on loopback, then runs rko test --kernel-store on a machine
// that has no kernel: the cache's kernels directory replaced by an empty
// one in a private mount namespace (unshare -m, root only), so that the
// cache root, and with it the kernel's key, stays the same. The kernel is
// pulled, the Rust module is built against the pulled build tree inside
// the toolchain sandbox, and it boots and passes.
func TestKernelStore(t *testing.T) {
	requireRealPath(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root for a private mount namespace (unshare -m)")
	}
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
	root, err := cache.Dir()
	if err != nil {
		t.Fatal(err)
	}
	kernels := filepath.Join(root, "kernels")
	empty := t.TempDir()
	// The mount and the rko run get their paths as argv, not in the script.
	cmd := exec.Command("unshare", "-m", "--", "/bin/sh", "-c", `mount --bind "$1" "$2" && shift 2 && exec "$@"`, "sh",
		empty, kernels, rkoBin, "test", "--kernel-store", repo, "--arch", "um", "--toolchain", "rootfs", "--accel", "tcg", dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("rko test --kernel-store on an empty cache: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "pulled from "+repo) || !strings.Contains(string(out), "PASS") {
		t.Fatalf("the kernel was not pulled, or the test did not pass:\n%s", out)
	}
	ents, _ := os.ReadDir(empty)
	if len(ents) == 0 {
		t.Fatal("nothing was pulled into the (private) kernels directory")
	}
}
