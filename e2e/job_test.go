package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestJobRoundTrip: the job rko test --print-job writes runs the same with
// --job, for rko test and for rko watch, and the watch's report names the
// kernel as rko test's does.
func TestJobRoundTrip(t *testing.T) {
	requireRealPath(t)
	dir := copyDir(t, "../examples/hello/rust")
	p := rko(t, time.Minute, "test", "--print-job", "--accel", "tcg", "--memory", "384", dir)
	if p.code != 0 || !strings.Contains(p.stdout, `"schema": 1`) {
		t.Fatalf("--print-job: exit %d\n%s\n%s", p.code, p.stdout, p.stderr)
	}
	file := filepath.Join(t.TempDir(), "job.json")
	if err := os.WriteFile(file, []byte(p.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	r := rko(t, coldTimeout, "test", "--json", "--job", file)
	rep := decode(t, r)
	if r.code != 0 || !rep.Verdict.Passed {
		t.Fatalf("rko test --job: exit %d, verdict %+v\n%s", r.code, rep.Verdict, r.stderr)
	}
	w := rko(t, 5*time.Minute, "watch", "--json", "--cycles", "1", "--job", file)
	if w.code != 0 {
		t.Fatalf("rko watch --job: exit %d\n%s", w.code, w.stderr)
	}
	var cycle struct {
		Verdict struct{ Passed bool } `json:"verdict"`
		Kernel  struct {
			Arch, Origin, Release string
		} `json:"kernel"`
	}
	if err := json.Unmarshal([]byte(strings.SplitN(w.stdout, "\n", 2)[0]), &cycle); err != nil {
		t.Fatalf("watch --json: %v\n%s", err, w.stdout)
	}
	if !cycle.Verdict.Passed || cycle.Kernel.Arch == "" || cycle.Kernel.Origin == "" || cycle.Kernel.Release == "" {
		t.Errorf("watch cycle = %+v, want a pass that names the kernel's arch, origin and release", cycle)
	}
}

// TestJobRefusedBeforeAnything: an impossible job exits 2 with one line
// naming the field and the fix, at once: nothing is installed, built or
// booted (the cache is a fresh, empty directory, and stays so).
func TestJobRefusedBeforeAnything(t *testing.T) {
	dir := copyDir(t, "../examples/hello/rust")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"test", "--arch", "arm64", "--kernel", "debian", dir}, "--arch (kernel.arch): Debian's Rust-enabled kernel is rko's for x86_64"},
		{[]string{"watch", "--kernel", "/nonexistent/tree", dir}, "--kernel (kernel.kind): /nonexistent/tree does not exist"},
		{[]string{"run", "--profile", "fast", dir, "--", "true"}, "unknown profile \"fast\""},
		{[]string{"bench", "--arch", "um"}, "--profile (kernel.profile)"},
		{[]string{"test", "/nonexistent/module"}, "module directory (modules): /nonexistent/module does not exist"},
	}
	for _, tt := range tests {
		cache := t.TempDir()
		t.Setenv("RKO_CACHE", cache)
		r := rko(t, 30*time.Second, tt.args...)
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if r.code != 2 || len(lines) != 1 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("rko %s: exit %d, stderr %q; want exit 2 and one line with %q", strings.Join(tt.args, " "), r.code, r.stderr, tt.want)
		}
		if ents, _ := os.ReadDir(cache); len(ents) != 0 {
			t.Errorf("rko %s wrote %d entries into the cache, want none", strings.Join(tt.args, " "), len(ents))
		}
	}
}

// TestWatchDebugFindsLeak: rko watch boots the debug kernel through the
// same boot path as rko test, with the command line kmemleak needs
// (slab_debug=U), so it finds the leak rko test finds
// (TestDebugProfileFindsLeak) in the same module.
func TestWatchDebugFindsLeak(t *testing.T) {
	requireRealPath(t)
	debugKernel(t)
	dir := copyDir(t, "../examples/buggy/leak_rust")
	w := rko(t, coldTimeout, "watch", "--json", "--cycles", "1", "--profile", "debug", dir)
	var cycle struct {
		Verdict struct {
			Passed bool
			Step   string
		} `json:"verdict"`
		ConsoleLog string                   `json:"console_log"`
		Crashes    []struct{ Title string } `json:"crashes"`
	}
	if err := json.Unmarshal([]byte(strings.SplitN(w.stdout, "\n", 2)[0]), &cycle); err != nil {
		t.Fatalf("watch --json: %v\n%s\n%s", err, w.stdout, w.stderr)
	}
	if cycle.Verdict.Passed || cycle.Verdict.Step != "kmemleak" || len(cycle.Crashes) == 0 || cycle.Crashes[0].Title != "memory leak in buggy_leak_rust::make_buffer" {
		t.Errorf("watch cycle = %+v, want the leak found by the kmemleak step", cycle)
	}
	if log, err := os.ReadFile(cycle.ConsoleLog); err != nil || !strings.Contains(string(log), "slab_debug=U") {
		t.Errorf("the watch guest's command line lacks slab_debug=U (console %s: %v)", cycle.ConsoleLog, err)
	}
}
