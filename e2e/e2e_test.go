// Package e2e runs the rko command end to end on the real path: the pinned
// toolchain rootfs, a real Rust-enabled kernel built with Kbuild, real
// modules and real QEMU. The first run on a machine builds the toolchain
// and the kernel (minutes); later runs use the cache (seconds).
//
// Where the host lacks what the real path needs (QEMU, bubblewrap,
// mmdebstrap), the tests skip with the reason, except in CI
// (testutil.InCI: $CI set, and not to 0 or false), where they fail: an
// end-to-end test that skips in CI tests nothing.
package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rkodev/rko/internal/testutil"
)

var rkoBin string

func TestMain(m *testing.M) {
	if code, reaper := runUnderReaper(); reaper {
		os.Exit(code)
	}
	dir, err := os.MkdirTemp("", "rko-e2e-bin-")
	if err != nil {
		panic(err)
	}
	rkoBin = filepath.Join(dir, "rko")
	cmd := exec.Command("go", "build", "-o", rkoBin, "../cmd/rko")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		panic("building rko: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// requireRealPath skips (or, in CI, fails) when the host cannot run the
// real path.
func requireRealPath(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: not run with -short")
	}
	if runtime.GOARCH != "amd64" {
		t.Skip("rko's guests are x86_64")
	}
	for _, tool := range []string{"qemu-system-x86_64", "bwrap", "mmdebstrap"} {
		if _, err := exec.LookPath(tool); err != nil {
			msg := tool + " is not installed (run scripts/setup, or apt-get install qemu-system-x86 bubblewrap mmdebstrap)"
			if testutil.InCI() {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

type result struct {
	code   int
	stdout string
	stderr string
	took   time.Duration
}

// rko runs the binary with args; a timeout kills it.
func rko(t *testing.T, timeout time.Duration, args ...string) result {
	t.Helper()
	return rkoStdin(t, timeout, "", args...)
}

// rkoStdin is rko with stdin as the standard input (not a terminal).
func rkoStdin(t *testing.T, timeout time.Duration, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(rkoBin, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(timeout):
		cmd.Process.Signal(os.Interrupt)
		<-done
		t.Fatalf("rko %s did not finish in %s\nstderr:\n%s", strings.Join(args, " "), timeout, errb.String())
	}
	r := result{stdout: out.String(), stderr: errb.String(), took: time.Since(start)}
	var xe *exec.ExitError
	if errors.As(err, &xe) {
		r.code = xe.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

// copyDir copies a module directory into a temporary one, so that builds
// leave nothing in the repository. Build products of an earlier build in
// the source directory are left behind: Kbuild would reuse them, and
// their debug info would name the old directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if isBuildProduct(info.Name()) {
			return nil
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// isBuildProduct reports whether name is a file Kbuild writes into a
// module directory.
func isBuildProduct(name string) bool {
	switch name {
	case "Module.symvers", "modules.order", "rust-project.json": // rko writes the last for its kernel
		return true
	}
	for _, ext := range []string{".o", ".ko", ".mod", ".mod.c", ".cmd", ".a"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// testReport is the part of rko test --json these tests read.
type testReport struct {
	Verdict struct {
		Passed bool   `json:"passed"`
		Reason string `json:"reason"`
		Step   string `json:"step"`
	} `json:"verdict"`
	Accel      string `json:"accel"`
	ConsoleLog string `json:"console_log"`
	Steps      []struct {
		Name   string `json:"name"`
		Status string `json:"status"`
	} `json:"steps"`
	Tests struct {
		Passed, Failed, Crashed, Skipped int
	} `json:"tests"`
	Crashes []struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Source string `json:"source"`
	} `json:"crashes"`
}

func decode(t *testing.T, r result) testReport {
	t.Helper()
	var rep testReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("rko test --json printed no JSON (%v)\nstdout:\n%s\nstderr:\n%s", err, r.stdout, r.stderr)
	}
	return rep
}

const coldTimeout = 60 * time.Minute

// testMustFail runs rko test --json with args and fails the test at once
// unless rko says the run failed (exit 1, verdict not passed); why says
// what should have failed it.
func testMustFail(t *testing.T, why string, args ...string) testReport {
	t.Helper()
	r := rko(t, coldTimeout, append([]string{"test", "--json"}, args...)...)
	rep := decode(t, r)
	if r.code != 1 || rep.Verdict.Passed {
		t.Fatalf("exit %d, verdict %+v: %s must fail", r.code, rep.Verdict, why)
	}
	return rep
}

func TestQuickstart(t *testing.T) {
	requireRealPath(t)
	r := rko(t, coldTimeout, "quickstart")
	t.Logf("quickstart took %s\n%s%s", r.took, r.stderr, r.stdout)
	if r.code != 0 {
		t.Fatalf("rko quickstart exited %d", r.code)
	}
	for _, want := range []string{"PASS", "insmod hello", "insmod hello_c", "rmmod hello"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("quickstart output lacks %q", want)
		}
	}
}

// testHello runs rko test --json with args on copies of both hello twins
// and checks that the run passes with every step, the KUnit cases of both
// twins (two each) and no crash. It returns the copies, the report and
// the run.
func testHello(t *testing.T, args ...string) (rust, c string, rep testReport, r result) {
	t.Helper()
	rust = copyDir(t, "../examples/hello/rust")
	c = copyDir(t, "../examples/hello/c")
	r = rko(t, coldTimeout, append(append([]string{"test", "--json"}, args...), rust, c)...)
	rep = decode(t, r)
	if r.code != 0 || !rep.Verdict.Passed {
		t.Fatalf("exit %d, verdict %+v\n%s", r.code, rep.Verdict, r.stderr)
	}
	want := []string{"insmod hello", "insmod hello_c", "test rust/smoke.sh", "test c/smoke.sh", "rmmod hello_c", "rmmod hello"}
	if len(rep.Steps) != len(want) {
		t.Fatalf("steps = %+v, want %v", rep.Steps, want)
	}
	for i, s := range rep.Steps {
		if s.Name != want[i] || s.Status != "passed" {
			t.Errorf("step %d = %+v, want %s passed", i, s, want[i])
		}
	}
	if rep.Tests.Passed < 4 || rep.Tests.Failed != 0 || rep.Tests.Crashed != 0 {
		t.Errorf("kunit counts = %+v, want >= 4 passed and none failed", rep.Tests)
	}
	if len(rep.Crashes) != 0 {
		t.Errorf("crashes = %+v, want none", rep.Crashes)
	}
	return rust, c, rep, r
}

func TestHelloJSON(t *testing.T) {
	requireRealPath(t)
	rust, _, _, _ := testHello(t)
	// Warm edit-to-verdict: touch the Rust source and test again.
	now := time.Now()
	os.Chtimes(filepath.Join(rust, "hello.rs"), now, now)
	r2 := rko(t, 5*time.Minute, "test", "--json", rust)
	if decode(t, r2).Verdict.Passed != true {
		t.Fatalf("second run failed: %s", r2.stderr)
	}
	t.Logf("warm edit-to-verdict (touch hello.rs; rko test): %s", r2.took)
}

func TestOopsOnLoadFails(t *testing.T) {
	requireRealPath(t)
	rep := testMustFail(t, "a module that oopses on load", copyDir(t, "../examples/buggy/null_c"))
	if !strings.HasPrefix(rep.Verdict.Step, "insmod") {
		t.Errorf("verdict step = %q, want the insmod step", rep.Verdict.Step)
	}
	if len(rep.Crashes) == 0 || !strings.Contains(rep.Crashes[0].Title, "NULL pointer dereference") {
		t.Errorf("crashes = %+v, want a NULL pointer dereference first", rep.Crashes)
	}
	// The module is built with debug info, so the guilty frame resolves
	// to its source line even on the default profile.
	if len(rep.Crashes) > 0 && !strings.HasPrefix(rep.Crashes[0].Source, "buggy_null.c:") {
		t.Errorf("crash source = %q, want buggy_null.c:LINE", rep.Crashes[0].Source)
	}
	if !strings.Contains(rep.Verdict.Reason, "NULL pointer dereference") {
		t.Errorf("verdict reason %q does not name the crash", rep.Verdict.Reason)
	}
}

func TestRustPanicFails(t *testing.T) {
	requireRealPath(t)
	rep := testMustFail(t, "a Rust panic", copyDir(t, "../examples/buggy/oob_rust"))
	found := false
	for _, c := range rep.Crashes {
		if c.Type == "rust-panic" && strings.Contains(c.Title, "index out of bounds") {
			found = true
		}
	}
	if !found {
		t.Errorf("crashes = %+v, want a Rust panic for the index out of bounds", rep.Crashes)
	}
}

// TestDebugProfileFindsLeak runs a clean module and a leaking one on the
// debug kernel (KASAN, lockdep, kmemleak; built on first use, about as long
// as the default kernel): the leak fails the run in the kmemleak step, is
// blamed on the leaking module's own line although the module was unloaded
// before the scan, and the clean module's KUnit tests and steps pass with
// no leak blamed on it. On the x86_64 debug kernel (debugKernel).
func TestDebugProfileFindsLeak(t *testing.T) {
	requireRealPath(t)
	debugKernel(t)
	rep := testMustFail(t, "a leak", "--profile", "debug", copyDir(t, "../examples/hello/rust"), copyDir(t, "../examples/buggy/leak_rust"))
	if rep.Verdict.Step != "kmemleak" {
		t.Fatalf("verdict %+v: the leak must fail the kmemleak step", rep.Verdict)
	}
	if len(rep.Crashes) != 4 {
		t.Errorf("%d crashes, want the 4 leaked buffers: %+v", len(rep.Crashes), rep.Crashes)
	}
	for _, c := range rep.Crashes {
		if c.Type != "kmemleak" || c.Title != "memory leak in buggy_leak_rust::make_buffer" || c.Source != "buggy_leak_rust.rs:20" {
			t.Errorf("crash %+v, want kmemleak in buggy_leak_rust::make_buffer at buggy_leak_rust.rs:20", c)
		}
	}
	for _, st := range rep.Steps {
		if st.Name != "kmemleak" && st.Status != "passed" {
			t.Errorf("step %s %s, want passed", st.Name, st.Status)
		}
	}
	if rep.Tests.Failed != 0 || rep.Tests.Crashed != 0 || rep.Tests.Passed == 0 {
		t.Errorf("tests %+v, want all passed", rep.Tests)
	}
}

// TestModuleThatDoesNotUnloadFails loads a module without an exit
// function: the kernel refuses to unload it, and the run must fail there.
func TestModuleThatDoesNotUnloadFails(t *testing.T) {
	requireRealPath(t)
	rep := testMustFail(t, "a module that does not unload", copyDir(t, "testdata/sticky"))
	if rep.Verdict.Step != "rmmod sticky" {
		t.Fatalf("verdict %+v: a module that does not unload must fail its rmmod step", rep.Verdict)
	}
	if !strings.Contains(rep.Verdict.Reason, "did not unload") {
		t.Errorf("verdict reason %q does not say the module did not unload", rep.Verdict.Reason)
	}
}

func TestHungGuestIsStopped(t *testing.T) {
	requireRealPath(t)
	dir := copyDir(t, "testdata/hang")
	r := rko(t, coldTimeout, "test", "--json", "--timeout", "40s", dir)
	rep := decode(t, r)
	if r.code != 1 || rep.Verdict.Passed {
		t.Fatalf("exit %d, verdict %+v: a hung guest must fail", r.code, rep.Verdict)
	}
	if !strings.Contains(rep.Verdict.Reason, "hung") || rep.Verdict.Step != "insmod hang" {
		t.Errorf("verdict = %+v, want a hang in step insmod hang", rep.Verdict)
	}
	log, err := os.ReadFile(rep.ConsoleLog)
	if err != nil || !bytes.Contains(log, []byte("hang: sleeping for ten minutes")) {
		t.Errorf("console log %s not kept or incomplete (%v)", rep.ConsoleLog, err)
	}
}

func TestNewAndBuild(t *testing.T) {
	requireRealPath(t)
	parent := t.TempDir()
	for _, lang := range []string{"rust", "c"} {
		name := "e2e_" + lang
		if r := rko(t, time.Minute, "new", "--lang", lang, "--dir", parent, name); r.code != 0 {
			t.Fatalf("rko new %s: exit %d: %s", name, r.code, r.stderr)
		}
		r := rko(t, coldTimeout, "build", filepath.Join(parent, name))
		if r.code != 0 {
			t.Fatalf("rko build: exit %d: %s", r.code, r.stderr)
		}
		if _, err := os.Stat(filepath.Join(parent, name, name+".ko")); err != nil {
			t.Errorf("no %s.ko after rko build: %v", name, err)
		}
	}
	// Bad input: an existing directory is never touched.
	marker := filepath.Join(parent, "e2e_rust", "e2e_rust.rs")
	before, _ := os.ReadFile(marker)
	if r := rko(t, time.Minute, "new", "--dir", parent, "e2e_rust"); r.code != 2 || !strings.Contains(r.stderr, "already exists") {
		t.Errorf("rko new over an existing module: exit %d, stderr %q", r.code, r.stderr)
	}
	if after, _ := os.ReadFile(marker); !bytes.Equal(before, after) {
		t.Error("rko new changed an existing module")
	}
}

func TestBuildErrors(t *testing.T) {
	requireRealPath(t)
	dir := copyDir(t, "testdata/broken")
	r := rko(t, coldTimeout, "build", dir)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 for a compile error\n%s", r.code, r.stderr)
	}
	want := filepath.Join(dir, "broken.rs") + ":19:"
	if !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "undefined_value") {
		t.Errorf("stderr does not point at %s with the message:\n%s", want, r.stderr)
	}
	empty := t.TempDir()
	r = rko(t, time.Minute, "build", empty)
	if r.code != 2 || !strings.Contains(r.stderr, "neither a Kbuild nor a Makefile") {
		t.Errorf("build of a directory without Kbuild: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestDoctorRootfs(t *testing.T) {
	requireRealPath(t)
	// The toolchain is there once any test above has run; make sure.
	if r := rko(t, coldTimeout, "toolchain", "install", "-q"); r.code != 0 {
		t.Fatalf("toolchain install: %s", r.stderr)
	}
	r := rko(t, 2*time.Minute, "doctor", "--toolchain", "rootfs", "--json")
	var rep struct {
		OK     bool `json:"ok"`
		Checks []struct{ Name, Status string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("doctor --json: %v\n%s", err, r.stdout)
	}
	if !rep.OK || r.code != 0 {
		t.Errorf("doctor on the pinned rootfs: exit %d, %+v", r.code, rep.Checks)
	}
	names := map[string]bool{}
	for _, c := range rep.Checks {
		names[c.Name] = true
	}
	for _, n := range []string{"rustc", "bindgen", "libclang", "rust-src", "clang", "ld.lld", "kvm"} {
		if !names[n] {
			t.Errorf("doctor has no %s check", n)
		}
	}
}
