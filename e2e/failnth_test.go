package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// failNthReport is the part of rko test --json --fail-nth these tests read.
type failNthReport struct {
	Verdict struct {
		Passed bool   `json:"passed"`
		Reason string `json:"reason"`
	} `json:"verdict"`
	FailNth []struct {
		Module   string         `json:"module"`
		Calls    int            `json:"calls"`
		Complete bool           `json:"complete"`
		Seconds  float64        `json:"seconds"`
		Results  map[string]int `json:"results"`
		Expected map[string]int `json:"expected"`
		Findings []struct {
			N      int      `json:"n"`
			Kind   string   `json:"kind"`
			Result string   `json:"result"`
			Source string   `json:"source"`
			Stack  []string `json:"stack"`
		} `json:"findings"`
	} `json:"fail_nth"`
}

// TestFailNthTwins: rko test --fail-nth on the debug kernel fails each
// fault-injectable call the module makes (its init's, and what they call)
// once. The C twin forgets to free its table when the buffer's allocation
// fails: the sweep names that call, with the line of the kmalloc whose
// failure it mishandled, and the run fails. The Rust twin's sweep is
// complete and clean, and a clean load and unload follow it. A module that
// writes through a failed allocation crashes the kernel at that call: the
// sweep stops there, reports the crash with N and the line, and leaves no
// guest behind.
func TestFailNthTwins(t *testing.T) {
	requireRealPath(t)
	debugKernel(t)
	decodeFN := func(r result) failNthReport {
		var rep failNthReport
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("no JSON (%v)\n%s\n%s", err, r.stdout, r.stderr)
		}
		return rep
	}
	t.Run("c", func(t *testing.T) {
		r := rko(t, coldTimeout, "test", "--json", "--accel", "tcg", "--profile", "debug", "--fail-nth", copyDir(t, "../examples/failnth/c"))
		rep := decodeFN(r)
		if r.code != 1 || rep.Verdict.Passed || len(rep.FailNth) != 1 {
			t.Fatalf("exit %d, %+v: the forgotten cleanup must fail the run\n%s", r.code, rep, r.stderr)
		}
		sw := rep.FailNth[0]
		if !sw.Complete || sw.Calls < 2 || len(sw.Findings) == 0 {
			t.Fatalf("sweep %+v: want a complete sweep with a finding", sw)
		}
		f := sw.Findings[0]
		if f.Kind != "leak" || f.Result != "ENOMEM" || !strings.HasPrefix(f.Source, "failnth_c.c:") {
			t.Errorf("finding %+v: want a leak after ENOMEM, its call in failnth_c.c", f)
		}
		if !strings.Contains(rep.Verdict.Reason, "fail-nth: the load of failnth_c with its call") {
			t.Errorf("reason %q: want the sweep's finding", rep.Verdict.Reason)
		}
		t.Logf("C twin: %d calls in %.1fs, results %v, expected %v, finding n=%d %s at %s", sw.Calls, sw.Seconds, sw.Results, sw.Expected, f.N, f.Kind, f.Source)
	})
	t.Run("rust", func(t *testing.T) {
		r := rko(t, coldTimeout, "test", "--json", "--accel", "tcg", "--profile", "debug", "--fail-nth", copyDir(t, "../examples/failnth/rust"))
		rep := decodeFN(r)
		if r.code != 0 || !rep.Verdict.Passed || len(rep.FailNth) != 1 {
			t.Fatalf("exit %d, verdict %+v\n%s", r.code, rep.Verdict, r.stderr)
		}
		sw := rep.FailNth[0]
		if !sw.Complete || sw.Calls < 2 || len(sw.Findings) != 0 || sw.Results["ENOMEM"] == 0 {
			t.Errorf("sweep %+v: want complete, clean, with ENOMEM loads", sw)
		}
		t.Logf("Rust twin: %d calls in %.1fs, results %v, expected %v", sw.Calls, sw.Seconds, sw.Results, sw.Expected)
	})
	t.Run("crash", func(t *testing.T) {
		r := rko(t, coldTimeout, "test", "--json", "--accel", "tcg", "--profile", "debug", "--fail-nth", copyDir(t, "testdata/failnth-crash"))
		rep := decodeFN(r)
		if r.code != 1 || rep.Verdict.Passed || len(rep.FailNth) != 1 {
			t.Fatalf("exit %d, %+v: a crash under injection must fail the run\n%s", r.code, rep, r.stderr)
		}
		sw := rep.FailNth[0]
		if sw.Complete || len(sw.Findings) == 0 {
			t.Fatalf("sweep %+v: want it stopped at the crash, with a finding", sw)
		}
		f := sw.Findings[0]
		// Call 1 is the kzalloc, 2 kmemleak's metadata for it, 3 the
		// kmalloc_array whose failure is written through.
		if f.Kind != "crash" || f.N != sw.Calls+1 || f.N < 2 || !strings.HasPrefix(f.Source, "failnth_crash.c:") {
			t.Errorf("finding %+v: want a crash at the call after the %d tried, its call in failnth_crash.c", f, sw.Calls)
		}
		if !strings.Contains(rep.Verdict.Reason, fmt.Sprintf("call %d failing crashed", f.N)) {
			t.Errorf("reason %q: want the call that crashed", rep.Verdict.Reason)
		}
		assertNoLeftovers(t)
		t.Logf("crash: %d calls in %.1fs, finding n=%d %s at %s; reason %q", sw.Calls, sw.Seconds, f.N, f.Kind, f.Source, rep.Verdict.Reason)
	})
}
