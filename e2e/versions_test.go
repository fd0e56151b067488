package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testedVersions are the kernel versions TestKernelVersions runs on: the
// long-term 6.12 and the default 7.3 on every run (each version is a
// kernel build, 4-10 min cold here); RKO_E2E_VERSIONS=all adds 7.2, or a
// comma-separated list picks others (docs/ci.md).
func testedVersions() []string {
	switch v := os.Getenv("RKO_E2E_VERSIONS"); v {
	case "":
		return []string{"6.12", "7.3"}
	case "all":
		return []string{"6.12", "7.2", "7.3"}
	default:
		return strings.Split(v, ",")
	}
}

// kernelsReport is rko test --kernel LIST --json.
type kernelsReport struct {
	Schema  int  `json:"schema"`
	Passed  bool `json:"passed"`
	Kernels []struct {
		Kernel string        `json:"kernel"`
		Passed bool          `json:"passed"`
		Error  string        `json:"error"`
		Report *kernelReport `json:"report"`
	} `json:"kernels"`
}

// TestKernelVersions builds rko's own kernel of several versions from
// Debian's linux-source packages and runs one module source on all of
// them: examples/multiversion (Rust and C twin) and the module rko new
// writes; then a 7.x-only module on 6.12 (the drift hint), rko doc
// --diff, rko kernel list and the bad versions.
func TestKernelVersions(t *testing.T) {
	requireRealPath(t)
	versions := testedVersions()
	parent := t.TempDir()
	if r := rko(t, time.Minute, "new", "--dir", parent, "e2e_versions"); r.code != 0 {
		t.Fatalf("rko new: exit %d: %s", r.code, r.stderr)
	}
	dirs := []string{copyDir(t, "../examples/multiversion/rust"), copyDir(t, "../examples/multiversion/c"), filepath.Join(parent, "e2e_versions")}
	args := append([]string{"test", "--json", "--accel", "tcg", "--kernel", strings.Join(versions, ",")}, dirs...)
	r := rko(t, time.Duration(len(versions))*coldTimeout, args...)
	var rep kernelsReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("rko test --kernel %s --json printed no JSON (%v, exit %d)\nstderr:\n%s", strings.Join(versions, ","), err, r.code, r.stderr)
	}
	if len(rep.Kernels) != len(versions) {
		t.Fatalf("%d kernel runs, want %d: %+v", len(rep.Kernels), len(versions), rep)
	}
	for i, k := range rep.Kernels {
		if k.Kernel != versions[i] {
			t.Errorf("run %d is of kernel %q, want %q", i, k.Kernel, versions[i])
		}
		if !k.Passed || k.Report == nil {
			t.Errorf("kernel %s did not pass: %s", k.Kernel, k.Error)
			if k.Report != nil {
				t.Errorf("  verdict: %s", k.Report.Verdict.Reason)
			}
			continue
		}
		if !strings.HasPrefix(k.Report.Kernel.Release, versions[i]+".") {
			t.Errorf("kernel %s booted release %s", versions[i], k.Report.Kernel.Release)
		}
		t.Logf("kernel %s (%s): passed in %.1fs (kernel %.1fs, build %.1fs, boot %.1fs)", k.Kernel, k.Report.Kernel.Release,
			k.Report.Timings.Total, k.Report.Timings.Kernel, k.Report.Timings.Build, k.Report.Timings.Boot)
	}
	if !rep.Passed || r.code != 0 {
		t.Errorf("passed %v, exit %d, want true and 0\nstderr:\n%s", rep.Passed, r.code, r.stderr)
	}

	t.Run("drift", func(t *testing.T) {
		dir := copyDir(t, "testdata/modern")
		r := rko(t, coldTimeout, "build", "--kernel", "6.12", dir)
		if r.code != 1 {
			t.Fatalf("rko build --kernel 6.12 of a 7.x-only module: exit %d, want 1\nstderr:\n%s", r.code, r.stderr)
		}
		for _, want := range []string{"kernel-crate items this kernel lacks", "kernel::miscdevice: not in 6.12.", "kernel::InPlaceModule: not in 6.12.", "7.3.4"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("the error lacks %q:\n%s", want, r.stderr)
			}
		}
	})

	t.Run("doc diff", func(t *testing.T) {
		start := time.Now()
		r := rko(t, coldTimeout, "doc", "--diff", "--json", "6.12", "7.3")
		if r.code != 0 {
			t.Fatalf("rko doc --diff 6.12 7.3: exit %d\nstderr:\n%s", r.code, r.stderr)
		}
		var d struct {
			Old, New                string
			Added, Removed, Changed []struct{ Path, Kind, Old, New string }
			Seconds                 float64
		}
		if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
			t.Fatalf("no JSON: %v\n%s", err, r.stdout)
		}
		added := map[string]bool{}
		for _, it := range d.Added {
			added[it.Path] = true
		}
		if !added["kernel::miscdevice"] || !added["kernel::miscdevice::MiscDevice"] {
			t.Errorf("kernel::miscdevice is not among the %d items added in 7.3", len(d.Added))
		}
		if len(d.Removed) == 0 || len(d.Changed) == 0 {
			t.Errorf("nothing removed or changed between 6.12 and 7.3: %d, %d", len(d.Removed), len(d.Changed))
		}
		t.Logf("rko doc --diff %s %s: %d added, %d removed, %d changed; compared in %.1fs, %s in all (rustdoc builds included)",
			d.Old, d.New, len(d.Added), len(d.Removed), len(d.Changed), d.Seconds, time.Since(start).Round(time.Second))
	})

	t.Run("kernel list", func(t *testing.T) {
		r := rko(t, time.Minute, "kernel", "list", "--json", "--available")
		var l struct {
			Built     []struct{ Version, Arch, Profile string }
			Available []struct{ Series, Upstream string }
		}
		if err := json.Unmarshal([]byte(r.stdout), &l); err != nil {
			t.Fatalf("rko kernel list --json: %v\n%s%s", err, r.stdout, r.stderr)
		}
		for _, v := range versions {
			found := false
			for _, k := range l.Built {
				found = found || strings.HasPrefix(k.Version, v+".") && k.Arch == "x86_64"
			}
			if !found {
				t.Errorf("rko kernel list does not list a built %s: %+v", v, l.Built)
			}
			avail := false
			for _, a := range l.Available {
				avail = avail || a.Series == v
			}
			if !avail {
				t.Errorf("rko kernel list --available does not offer %s", v)
			}
		}
	})

	t.Run("bad versions", func(t *testing.T) {
		for _, tc := range []struct{ kernel, want string }{
			{"6.6", "the mirror has"},
			{"6.12.1", "linux-source-6.12 there has"},
			{"6.12,6.12", "distinct kernels"},
		} {
			r := rko(t, 5*time.Minute, "test", "--kernel", tc.kernel, dirs[0])
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("rko test --kernel %s: exit %d, want 2 and %q:\n%s", tc.kernel, r.code, tc.want, r.stderr)
			}
		}
		// A mirror that cannot be reached: said, and nothing cached.
		t.Setenv("RKO_DEBIAN_MIRROR", "http://127.0.0.1:9/debian")
		r := rko(t, 5*time.Minute, "kernel", "build", "--kernel", "7.2.11")
		if r.code != 2 || !strings.Contains(r.stderr, "cannot reach the Debian mirror") || !strings.Contains(r.stderr, "nothing was cached") {
			t.Errorf("rko kernel build --kernel 7.2.11 with an unreachable mirror: exit %d:\n%s", r.code, r.stderr)
		}
	})
}

// TestNewestCompiler builds and tests examples/multiversion with the
// second compiler (rustc 1.98 from trixie-backports: a rootfs and a
// kernel of its own per version), on the versions of RKO_E2E_VERSIONS.
// Opt-in, RKO_E2E_RUSTC=1.98: a rootfs install and a kernel build per
// version (docs/ci.md).
func TestNewestCompiler(t *testing.T) {
	requireRealPath(t)
	rustc := os.Getenv("RKO_E2E_RUSTC")
	if rustc == "" {
		t.Skip("opt-in: RKO_E2E_RUSTC=1.98 tests the second compiler (docs/ci.md)")
	}
	versions := testedVersions()
	dirs := []string{copyDir(t, "../examples/multiversion/rust"), copyDir(t, "../examples/multiversion/c")}
	args := append([]string{"test", "--json", "--accel", "tcg", "--rustc", rustc, "--kernel", strings.Join(versions, ",")}, dirs...)
	r := rko(t, time.Duration(len(versions)+1)*coldTimeout, args...)
	var rep kernelsReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("no JSON (%v, exit %d)\nstderr:\n%s", err, r.code, r.stderr)
	}
	for _, k := range rep.Kernels {
		if !k.Passed {
			t.Errorf("rustc %s, kernel %s: %s", rustc, k.Kernel, k.Error)
			continue
		}
		t.Logf("rustc %s, kernel %s (%s, key %s): passed", rustc, k.Kernel, k.Report.Kernel.Release, k.Report.Kernel.Key)
	}
	// The kernels are not the pinned compiler's: another cache key.
	pinned := rko(t, coldTimeout, "kernel", "build", "--json", "--kernel", versions[len(versions)-1])
	var pk struct{ Key string }
	json.Unmarshal([]byte(pinned.stdout), &pk)
	if n := len(rep.Kernels); n > 0 && rep.Kernels[n-1].Report != nil && rep.Kernels[n-1].Report.Kernel.Key == pk.Key {
		t.Errorf("rustc %s used the pinned compiler's kernel %s", rustc, pk.Key)
	}
	if r := rko(t, time.Minute, "test", "--rustc", rustc, "--toolchain", "host", dirs[0]); r.code != 2 {
		t.Errorf("--rustc with --toolchain host: exit %d, want 2: %s", r.code, r.stderr)
	}
}

// TestKernelNewerThanToolchain: a kernel whose scripts/min-tool-version.sh
// wants a newer rustc than the toolchain's is refused before any make,
// with what it wants and what the toolchain has.
func TestKernelNewerThanToolchain(t *testing.T) {
	requireRealPath(t)
	tree := t.TempDir()
	files := map[string]string{
		"Makefile":                    "VERSION = 9\nPATCHLEVEL = 1\nSUBLEVEL = 0\n",
		"rust/kernel/lib.rs":          "//! a future kernel\n",
		"scripts/min-tool-version.sh": "#!/bin/sh\ncase \"$1\" in rustc) echo 9.99.0;; bindgen) echo 0.71.1;; llvm) echo 15.0.0;; *) echo 0;; esac\n",
	}
	for name, body := range files {
		p := filepath.Join(tree, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r := rko(t, 10*time.Minute, "kernel", "build", "--toolchain", "rootfs", "--source", tree)
	if r.code == 0 {
		t.Fatalf("a kernel wanting rustc 9.99 was built:\n%s", r.stderr)
	}
	for _, want := range []string{"cannot build Linux 9.1.0 (nothing was built)", "rustc", "9.99.0"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the refusal lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "configuring") {
		t.Errorf("make ran before the refusal:\n%s", r.stderr)
	}
}
