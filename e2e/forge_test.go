package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// forgeReport is the part of rko test --json that reports frames the
// code under test printed: verdict.forged, one object per forged frame
// with the step that was running and the console line.
type forgeReport struct {
	Verdict struct {
		Passed bool `json:"passed"`
		Forged []struct {
			Step string `json:"step"`
			Line string `json:"line"`
		} `json:"forged"`
	} `json:"verdict"`
	Steps []struct {
		Name   string `json:"name"`
		Status string `json:"status"`
	} `json:"steps"`
}

// TestForgedFrames runs examples/buggy/forge_c: its test script prints an
// "end" frame saying it passed (bare, and with a tok copied from the
// kernel log) and exits 1, and the module's exit function prints the same
// frame during rmmod. The frames lack the boot's MAC: the script's exit
// status stands, the run fails, and the report names each forged frame
// with the step it appeared in.
func TestForgedFrames(t *testing.T) {
	requireRealPath(t)
	const script, rmmod = "test forge_c/smoke.sh", "rmmod buggy_forge"
	r := rko(t, coldTimeout, "test", "--json", copyDir(t, "../examples/buggy/forge_c"))
	var rep forgeReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("rko test --json printed no JSON (%v)\nstdout:\n%s\nstderr:\n%s", err, r.stdout, r.stderr)
	}
	if r.code != 1 || rep.Verdict.Passed {
		t.Fatalf("exit %d, verdict %+v: a test script that exits 1 must fail the run, whatever frames it prints", r.code, rep.Verdict)
	}
	status := map[string]string{}
	for _, s := range rep.Steps {
		status[s.Name] = s.Status
	}
	if status[script] != "failed" {
		t.Errorf("step %s is %q, want failed (steps %+v)", script, status[script], rep.Steps)
	}
	if status[rmmod] != "passed" {
		t.Errorf("step %s is %q, want passed (steps %+v)", rmmod, status[rmmod], rep.Steps)
	}
	// The script's bare frame and the module's are forged in every guest;
	// the copy with a tok needs dmesg and grep -o in the guest.
	in := map[string]int{}
	for _, f := range rep.Verdict.Forged {
		if !strings.Contains(f.Line, `@@rko {"ev":"end","step":"`+script+`","rc":0`) {
			t.Errorf("forged frame %+v: want the forged end of %s", f, script)
		}
		in[f.Step]++
	}
	if in[script] < 1 || in[rmmod] != 1 {
		t.Errorf("forged frames by step %v, want at least one during %s and one during %s: %+v", in, script, rmmod, rep.Verdict.Forged)
	}
}
