package e2e

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// kernelReport is the part of rko test --json that the kernel-source
// tests read beyond testReport.
type kernelReport struct {
	Verdict struct {
		Passed bool     `json:"passed"`
		Reason string   `json:"reason"`
		Notes  []string `json:"notes"`
	} `json:"verdict"`
	Kernel struct {
		Release string `json:"release"`
		Origin  string `json:"origin"`
		Image   string `json:"image"`
		Key     string `json:"key"`
	} `json:"kernel"`
	Modules []struct {
		Ko []string `json:"ko"`
	} `json:"modules"`
	Steps []struct {
		Name   string `json:"name"`
		Status string `json:"status"`
	} `json:"steps"`
	Tests struct {
		Passed, Failed int
	} `json:"tests"`
	Timings struct {
		Kernel float64 `json:"kernel_s"`
		Build  float64 `json:"build_s"`
		Boot   float64 `json:"boot_s"`
		Total  float64 `json:"total_s"`
	} `json:"timings"`
}

func decodeKernel(t *testing.T, r result) kernelReport {
	t.Helper()
	var rep kernelReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("rko test --json printed no JSON (%v)\nstdout:\n%s\nstderr:\n%s", err, r.stdout, r.stderr)
	}
	return rep
}

// modinfoField reads one field of a .ko's .modinfo section, as modinfo
// prints it (without the trailing space the kernel's vermagic has).
func modinfoField(t *testing.T, ko, field string) string {
	t.Helper()
	f, err := elf.Open(ko)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		t.Fatalf("%s has no .modinfo", ko)
	}
	data, _ := sec.Data()
	for _, kv := range bytes.Split(data, []byte{0}) {
		if k, v, ok := bytes.Cut(kv, []byte("=")); ok && string(k) == field {
			return strings.TrimSpace(string(v))
		}
	}
	return ""
}

// TestDebianKernel builds examples/hello against Debian's own kernel
// (trixie-backports 7.3.4+deb13-amd64: CONFIG_RUST, no KUnit), boots
// Debian's vmlinuz and runs the plan; then the bad inputs.
func TestDebianKernel(t *testing.T) {
	requireRealPath(t)
	hello := copyDir(t, "../examples/hello/rust")
	r := rko(t, coldTimeout, "test", "--accel", "tcg", "--toolchain", "rootfs", "--kernel", "debian", "--json", hello)
	rep := decodeKernel(t, r)
	t.Logf("rko test --kernel debian: %s (kernel %.1fs, build %.1fs, boot %.1fs)\n%s", r.took, rep.Timings.Kernel, rep.Timings.Build, rep.Timings.Boot, r.stderr)
	if r.code != 0 || !rep.Verdict.Passed {
		t.Fatalf("exit %d, verdict %+v", r.code, rep.Verdict)
	}
	if !strings.HasPrefix(rep.Kernel.Origin, "debian:") || !strings.HasSuffix(rep.Kernel.Release, "-amd64") || !strings.Contains(rep.Kernel.Image, "vmlinuz") {
		t.Errorf("kernel = %+v, want Debian's release and its vmlinuz", rep.Kernel)
	}
	want := []string{"insmod hello", "test rust/smoke.sh", "rmmod hello"}
	if len(rep.Steps) != len(want) {
		t.Fatalf("steps = %+v, want %v", rep.Steps, want)
	}
	for i, s := range rep.Steps {
		if s.Name != want[i] || s.Status != "passed" {
			t.Errorf("step %d = %+v, want %s passed", i, s, want[i])
		}
	}
	// Debian's kernel has no KUnit: the verdict says the suites did not run.
	if len(rep.Verdict.Notes) != 1 || !strings.Contains(rep.Verdict.Notes[0], "KUnit suites of hello were not run: CONFIG_KUNIT=y is needed") {
		t.Errorf("verdict notes = %q, want one saying KUnit did not run", rep.Verdict.Notes)
	}
	// The .ko is one Debian's kernel accepts: its vermagic.
	if got := modinfoField(t, rep.Modules[0].Ko[0], "vermagic"); got != rep.Kernel.Release+" SMP preempt mod_unload" {
		t.Errorf("vermagic = %q, want %q", got, rep.Kernel.Release+" SMP preempt mod_unload")
	}

	// Warm: everything cached but the module build and the boot.
	r2 := rko(t, 10*time.Minute, "test", "--accel", "tcg", "--toolchain", "rootfs", "--kernel", "debian:"+rep.Kernel.Release, "--json", hello)
	rep2 := decodeKernel(t, r2)
	t.Logf("warm rko test --kernel debian:%s: %s (kernel %.1fs, build %.1fs, boot %.1fs)", rep.Kernel.Release, r2.took, rep2.Timings.Kernel, rep2.Timings.Build, rep2.Timings.Boot)
	if !rep2.Verdict.Passed || rep2.Kernel.Key != rep.Kernel.Key {
		t.Errorf("warm run: verdict %+v\n%s", rep2.Verdict, r2.stderr)
	}

	t.Run("unknown release", func(t *testing.T) {
		r := rko(t, 10*time.Minute, "build", "--toolchain", "rootfs", "--kernel", "debian:9.9.9+deb13", hello)
		if r.code != 2 || !strings.Contains(r.stderr, `no Debian kernel "9.9.9+deb13-amd64"`) || !strings.Contains(r.stderr, rep.Kernel.Release) {
			t.Errorf("exit %d, stderr %q: want a refusal listing %s", r.code, r.stderr, rep.Kernel.Release)
		}
	})
	t.Run("unexported symbol", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "uses_unexported")
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "Kbuild"), []byte("obj-m := uses_unexported.o\n"), 0o644)
		// kallsyms_lookup_name has not been exported since Linux 5.7.
		os.WriteFile(filepath.Join(dir, "uses_unexported.c"), []byte(`#include <linux/module.h>
unsigned long kallsyms_lookup_name(const char *name);
static int __init u_init(void) { return kallsyms_lookup_name("jiffies") ? 0 : -ENOENT; }
module_init(u_init);
MODULE_LICENSE("GPL");
`), 0o644)
		r := rko(t, 10*time.Minute, "build", "--toolchain", "rootfs", "--kernel", "debian:"+rep.Kernel.Release, dir)
		if r.code != 1 || !strings.Contains(r.stderr, "kallsyms_lookup_name") {
			t.Errorf("exit %d, stderr %q: want the unexported symbol named", r.code, r.stderr)
		}
	})
	t.Run("no network", func(t *testing.T) {
		cache := os.Getenv("RKO_CACHE")
		if cache == "" {
			home, _ := os.UserCacheDir()
			cache = filepath.Join(home, "rko")
		}
		before := listDir(filepath.Join(cache, "debian"))
		cmd := exec.Command(rkoBin, "build", "--toolchain", "rootfs", "--kernel", "debian", hello)
		cmd.Env = append(os.Environ(), "RKO_DEBIAN_MIRROR=http://127.0.0.1:9/debian")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if err == nil || !strings.Contains(stderr.String(), "cannot reach the Debian mirror http://127.0.0.1:9/debian") || !strings.Contains(stderr.String(), "nothing was cached") {
			t.Errorf("err %v, stderr %q: want a clear no-network message", err, stderr.String())
		}
		after := listDir(filepath.Join(cache, "debian"))
		for _, d := range []string{"pkgs", "kernels", "configs"} {
			if before[d] != after[d] {
				t.Errorf("a failed download changed %s: %q -> %q", d, before[d], after[d])
			}
		}
	})
}

// listDir names the entries of each subdirectory of dir, for comparing
// a cache before and after.
func listDir(dir string) map[string]string {
	out := map[string]string{}
	subs, _ := os.ReadDir(dir)
	for _, s := range subs {
		if !s.IsDir() {
			continue
		}
		ents, _ := os.ReadDir(filepath.Join(dir, s.Name()))
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		out[s.Name()] = strings.Join(names, " ")
	}
	return out
}

// handBuiltOptions are set with the tree's scripts/config on top of
// tinyconfig: a config made without rko's fragments, with what a Rust
// module and rko's boot need, and KUnit.
var handBuiltOptions = []string{
	"64BIT", "SMP", "PRINTK", "TTY", "SERIAL_8250", "SERIAL_8250_CONSOLE", "BLK_DEV_INITRD", "DEVTMPFS",
	"PROC_FS", "SYSFS", "TMPFS", "BINFMT_ELF", "BINFMT_SCRIPT", "EXPERT", "MULTIUSER", "FUTEX", "EPOLL", "EVENTFD", "POSIX_TIMERS",
	"MODULES", "MODULE_UNLOAD", "RUST", "DEBUG_KERNEL", "KUNIT",
}

// handBuiltKernel builds, once per cache, a kernel by hand: make LLVM=1
// from the rootfs's linux-source, tinyconfig plus handBuiltOptions, in
// the toolchain rootfs entered with bwrap as a user would, not through
// rko. The tree is kept under the cache (CI pays for it once).
func handBuiltKernel(t *testing.T) string {
	t.Helper()
	if r := rko(t, coldTimeout, "toolchain", "install", "-q"); r.code != 0 {
		t.Fatalf("toolchain install: %s", r.stderr)
	}
	cache := os.Getenv("RKO_CACHE")
	if cache == "" {
		home, _ := os.UserCacheDir()
		cache = filepath.Join(home, "rko")
	}
	rootfs := filepath.Join(cache, "toolchain/trixie/rootfs")
	base := filepath.Join(cache, "e2e/handbuilt-7.3")
	src, out := filepath.Join(base, "src"), filepath.Join(base, "build")
	// The marker holds the options the tree was built with: a changed
	// list reconfigures it, and make rebuilds only what the change touches.
	marker := filepath.Join(out, "done")
	want := strings.Join(handBuiltOptions, " ")
	if got, err := os.ReadFile(marker); err == nil && string(got) == want {
		return out
	}
	inRootfs := func(argv ...string) {
		t.Helper()
		full := append([]string{"--bind", rootfs, "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
			"--bind", base, base, "--setenv", "PATH", "/usr/sbin:/usr/bin:/sbin:/bin", "--setenv", "HOME", "/tmp", "--"}, argv...)
		cmd := exec.Command("bwrap", full...)
		var log bytes.Buffer
		cmd.Stdout, cmd.Stderr = &log, &log
		if err := cmd.Run(); err != nil {
			tail := log.String()
			if len(tail) > 4000 {
				tail = tail[len(tail)-4000:]
			}
			t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, tail)
		}
	}
	os.MkdirAll(src, 0o755)
	os.MkdirAll(out, 0o755)
	if _, err := os.Stat(filepath.Join(src, "Makefile")); err != nil {
		inRootfs("tar", "-xf", "/usr/src/linux-source-7.3.tar.xz", "-C", src, "--strip-components=1")
	}
	start := time.Now()
	if _, err := os.Stat(filepath.Join(out, ".config")); err != nil {
		inRootfs("make", "LLVM=1", "-C", src, "O="+out, "tinyconfig")
	}
	cfg := []string{filepath.Join(src, "scripts/config"), "--file", filepath.Join(out, ".config")}
	for _, o := range handBuiltOptions {
		cfg = append(cfg, "--enable", o)
	}
	inRootfs(cfg...)
	inRootfs("make", "LLVM=1", "-C", src, "O="+out, "olddefconfig")
	inRootfs("make", "LLVM=1", "-C", src, "O="+out, "-j2", "bzImage", "modules")
	t.Logf("hand-built kernel in %s", time.Since(start).Round(time.Second))
	os.WriteFile(marker, []byte(want), 0o644)
	return out
}

// rkoKernelTree returns the build tree of rko's own default kernel (rko
// kernel build --json names its cache entry; the tree is its build
// directory): an O= tree with its "source" link, .config, the image,
// Module.symvers and the Rust metadata, like any tree a user builds. The
// e2e suite builds that kernel anyway, so --kernel DIR costs nothing more.
func rkoKernelTree(t *testing.T) string {
	t.Helper()
	r := rko(t, coldTimeout, "kernel", "build", "--json", "--toolchain", "rootfs")
	var k struct {
		Dir      string `json:"dir"`
		BuildDir string `json:"build_dir"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &k); err != nil || r.code != 0 || k.Dir == "" {
		t.Fatalf("rko kernel build --json: exit %d, %v\n%s", r.code, err, r.stderr)
	}
	if k.BuildDir == "" {
		k.BuildDir = filepath.Join(k.Dir, "build")
	}
	return k.BuildDir
}

// kernelDirTree is the tree TestKernelDir gives --kernel: rko's own
// default kernel's build tree, or with RKO_E2E_HANDBUILT=1 one built by
// hand (handBuiltKernel: about 9 minutes cold on two cores), which also
// proves that a config rko's fragments did not make, with only what rko's
// boot needs, builds and boots (as a bzImage: it has no PVH).
func kernelDirTree(t *testing.T) string {
	t.Helper()
	if os.Getenv("RKO_E2E_HANDBUILT") != "" {
		return handBuiltKernel(t)
	}
	return rkoKernelTree(t)
}

// TestKernelDir: rko test --kernel DIR with a kernel build tree rko reads
// as it finds it (kernel.FromDir), then the trees it refuses.
func TestKernelDir(t *testing.T) {
	requireRealPath(t)
	tree := kernelDirTree(t)
	hello := copyDir(t, "../examples/hello/rust")
	r := rko(t, coldTimeout, "test", "--accel", "tcg", "--toolchain", "rootfs", "--kernel", tree, "--json", hello)
	rep := decodeKernel(t, r)
	t.Logf("rko test --kernel %s: %s (kernel %.1fs, build %.1fs, boot %.1fs)\n%s", tree, r.took, rep.Timings.Kernel, rep.Timings.Build, rep.Timings.Boot, r.stderr)
	if r.code != 0 || !rep.Verdict.Passed {
		t.Fatalf("exit %d, verdict %+v", r.code, rep.Verdict)
	}
	if rep.Kernel.Origin != "dir:"+tree {
		t.Errorf("kernel origin = %q, want dir:%s", rep.Kernel.Origin, tree)
	}
	// Its KUnit runs hello's two cases.
	if rep.Tests.Passed < 2 || rep.Tests.Failed != 0 || len(rep.Verdict.Notes) != 0 {
		t.Errorf("kunit = %+v, notes %q: want hello's suites run", rep.Tests, rep.Verdict.Notes)
	}

	t.Run("not a build tree", func(t *testing.T) {
		r := rko(t, time.Minute, "build", "--toolchain", "rootfs", "--kernel", t.TempDir(), hello)
		if r.code != 2 || !strings.Contains(r.stderr, "is not a kernel build tree: it has no .config") {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
	t.Run("built without Rust", func(t *testing.T) {
		// The hand-built tree's config with Rust off, as a tree of its own.
		dir := t.TempDir()
		data, _ := os.ReadFile(filepath.Join(tree, ".config"))
		os.WriteFile(filepath.Join(dir, ".config"), bytes.ReplaceAll(data, []byte("CONFIG_RUST=y"), []byte("# CONFIG_RUST is not set")), 0o644)
		os.MkdirAll(filepath.Join(dir, "include/config"), 0o755)
		rel, _ := os.ReadFile(filepath.Join(tree, "include/config/kernel.release"))
		os.WriteFile(filepath.Join(dir, "include/config/kernel.release"), rel, 0o644)
		src, err := os.Readlink(filepath.Join(tree, "source"))
		if err != nil {
			t.Fatalf("the tree has no source link: %v", err)
		}
		os.Symlink(src, filepath.Join(dir, "source"))
		r := rko(t, time.Minute, "build", "--toolchain", "rootfs", "--kernel", dir, hello)
		if r.code != 2 || !strings.Contains(r.stderr, "was built without Rust: CONFIG_RUST=y is needed") {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
}
