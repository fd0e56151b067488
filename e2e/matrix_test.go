package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// matrixReport is the part of rko matrix --json the tests read.
type matrixReport struct {
	Passed  bool    `json:"passed"`
	Guests  int     `json:"guests"`
	WallS   float64 `json:"wall_s"`
	CellsS  float64 `json:"cells_s"`
	Kernels []struct {
		Kernel, Key string
	} `json:"kernels"`
	Cells []struct {
		Cell    string          `json:"cell"`
		Verdict string          `json:"verdict"`
		Reason  string          `json:"reason"`
		Job     json.RawMessage `json:"job"`
		Report  *kernelReport   `json:"report"`
	} `json:"cells"`
}

// helloMatrix copies examples/hello (rust and c) into a temporary
// directory with a matrix file on the kernels CI builds anyway (x86_64
// default, which is also bench, and UML), and one impossible cell per
// module (bench is not offered on um).
func helloMatrix(t *testing.T) string {
	t.Helper()
	root := filepath.Dir(copyDir(t, "../examples/hello/rust"))
	if err := os.Rename(copyDir(t, "../examples/hello/c"), filepath.Join(root, "c")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "rko-matrix.json")
	os.WriteFile(path, []byte(`{"schema": 1, "modules": ["rust", "c"], "arches": ["x86_64", "um"],
		"profiles": ["default", "bench"], "test": {"accel": "tcg"}}`), 0o644)
	return path
}

// TestMatrix runs a matrix of examples/hello: every possible cell
// passes, each impossible one is refused with job.Check's reason, the
// run fails (exit 1) because of them, and a cell's job is the job rko
// test --print-job writes for it.
func TestMatrix(t *testing.T) {
	requireRealPath(t)
	path := helloMatrix(t)
	r := rko(t, 2*coldTimeout, "matrix", path, "--json", "--guests", "2")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (two refused cells)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	var rep matrixReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("rko matrix --json: %v\n%s", err, r.stdout)
	}
	if len(rep.Cells) != 8 || rep.Passed {
		t.Fatalf("%d cells, passed %v; want 8 cells, not passed", len(rep.Cells), rep.Passed)
	}
	for _, c := range rep.Cells {
		if strings.HasSuffix(c.Cell, "/um/bench") {
			if c.Verdict != "refused" || !strings.Contains(c.Reason, "--profile (kernel.profile)") {
				t.Errorf("%s: %s %q, want refused by --profile", c.Cell, c.Verdict, c.Reason)
			}
			continue
		}
		if c.Verdict != "passed" || c.Report == nil || c.Report.Tests.Passed != 2 {
			t.Errorf("%s: %s %q, want passed with 2 tests", c.Cell, c.Verdict, c.Reason)
		}
	}
	// Three kernel requests (x86_64 default and bench, UML default), each
	// resolved once; on x86_64 bench is the default kernel, one key.
	if len(rep.Kernels) != 3 || rep.Kernels[0].Key == "" || rep.Kernels[0].Key != rep.Kernels[1].Key || rep.Kernels[2].Key == rep.Kernels[0].Key {
		t.Errorf("kernels: %+v, want 3 requests, the first two of one key", rep.Kernels)
	}
	t.Logf("matrix: %d cells in %.1fs wall, %.1fs the sum of the cells, %d guests", len(rep.Cells), rep.WallS, rep.CellsS, rep.Guests)
	// The cell's job is rko test's job for the same flags.
	pj := rko(t, time.Minute, "matrix", path, "--cell", "c/default/um/default", "--print-job")
	tj := rko(t, time.Minute, "test", "--print-job", "--arch", "um", "--profile", "default", "--accel", "tcg", filepath.Join(filepath.Dir(path), "c"))
	if pj.code != 0 || tj.code != 0 || pj.stdout != tj.stdout {
		t.Errorf("rko matrix --print-job (exit %d):\n%s\nrko test --print-job (exit %d):\n%s", pj.code, pj.stdout, tj.code, tj.stdout)
	}
}

// TestMatrixInterrupted interrupts a matrix after its first cell: rko
// exits 130, leaves no guest, and still prints the cells that finished.
func TestMatrixInterrupted(t *testing.T) {
	requireRealPath(t)
	path := helloMatrix(t)
	s := startRko(t, nil, "matrix", path, "--guests", "1")
	s.waitFor(t, ": passed in", 2*coldTimeout)
	s.cmd.Process.Signal(syscall.SIGINT)
	if code := s.wait(t, 30*time.Second); code != 130 {
		t.Errorf("exit %d, want 130; stderr:\n%s", code, s.errText())
	}
	assertNoLeftovers(t)
	out := s.stdout.String()
	if !strings.Contains(out, "PASSED") || !strings.Contains(out, "CANCELLED") || !strings.Contains(out, "REFUSED") {
		t.Errorf("the table does not keep the finished cells:\n%s", out)
	}
}
