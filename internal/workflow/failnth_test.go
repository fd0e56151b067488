package workflow

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/rkodev/rko/internal/guest"
)

// TestFailNthSweepsGolden reads a real sweep (testdata/failnth/README.md):
// the C twin's forgotten kfree, found by kmemleak and tied to its N by
// the loading task's pid.
func TestFailNthSweepsGolden(t *testing.T) {
	sweeps := goldenSweeps(t, "failnth_c")
	if len(sweeps) != 1 {
		t.Fatalf("%d sweeps, want 1", len(sweeps))
	}
	sw := sweeps[0]
	if sw.Module != "failnth_c" || sw.Calls != 268 || !sw.Complete || sw.Results["ENOMEM"] != 95 || sw.Results["ok"] != 173 {
		t.Errorf("sweep %+v", sw)
	}
	if sw.Expected["fault_injection"] == 0 || sw.Expected["vmalloc_failure"] == 0 {
		t.Errorf("expected reports %v: want the injected calls' and vmalloc's", sw.Expected)
	}
	if len(sw.Findings) != 1 {
		t.Fatalf("findings %+v, want the one leak", sw.Findings)
	}
	fd := sw.Findings[0]
	if fd.N != 259 || fd.Kind != "leak" || fd.Result != "ENOMEM" || len(fd.Stack) == 0 {
		t.Errorf("finding %+v, want the leak of the load with call 259 failing", fd)
	}
	if !slices.ContainsFunc(fd.Stack, func(fr string) bool { return strings.Contains(fr, "init_module+0xdd/0x1000 [failnth_c]") }) {
		t.Errorf("the injected call's stack lacks the module's frame: %q", fd.Stack)
	}
}

// TestFailNthCrashGolden reads a real sweep that crashed the kernel
// (testdata/failnth/README.md): the try's own line never came, and its
// start line ties the injected call's stack to N.
func TestFailNthCrashGolden(t *testing.T) {
	sweeps := goldenSweeps(t, "failnth_crash")
	if len(sweeps) != 1 {
		t.Fatalf("%d sweeps, want 1", len(sweeps))
	}
	sw := sweeps[0]
	if sw.Module != "failnth_crash" || sw.Complete || sw.Calls != 2 || len(sw.Findings) != 1 {
		t.Fatalf("sweep %+v: want 2 calls tried, then the crash", sw)
	}
	fd := sw.Findings[0]
	if fd.N != 3 || fd.Kind != "crash" || fd.Result != "" {
		t.Errorf("finding %+v: want the crash of the load with call 3 failing", fd)
	}
	if !slices.ContainsFunc(fd.Stack, func(fr string) bool { return strings.Contains(fr, "init_module+0x95/0x1000 [failnth_crash]") }) {
		t.Errorf("the injected call's stack lacks the module's frame: %q", fd.Stack)
	}
}

// goldenSweeps are the sweeps of testdata/failnth/NAME.console.gz, read
// with its plan (whose token signs the frames).
func goldenSweeps(t *testing.T, name string) []FailNthSweep {
	t.Helper()
	f, err := os.Open("testdata/failnth/" + name + ".console.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	console, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("testdata/failnth/" + name + ".plan.json")
	if err != nil {
		t.Fatal(err)
	}
	var plan guest.Plan
	if err := json.Unmarshal(data, &plan); err != nil {
		t.Fatal(err)
	}
	s := guest.ReadSession(console, &plan)
	return FailNthSweeps(context.Background(), s.Steps, console, nil)
}
