package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResultsMerge(t *testing.T) {
	dir := t.TempDir()
	summary := filepath.Join(dir, "summary.md")
	os.WriteFile(summary, []byte("# earlier step\n"), 0o644)
	junit := filepath.Join(dir, "merged.xml")
	f, out, _ := testStreams("")
	c := NewCmdResultsMerge(f, nil)
	c.SilenceUsage, c.SilenceErrors = true, true
	c.SetArgs([]string{"--json", "--junit", junit, "--markdown", summary,
		"../merge/testdata/matrix.json", "../merge/testdata/hello-c.json"})
	err := c.ExecuteContext(context.Background())
	if ee, ok := err.(exitError); !ok || ee.code != ExitFail {
		t.Fatalf("want exit 1 (a failed cell), got %v", err)
	}
	var m struct {
		Passed bool
		Runs   []struct{ Name, Verdict string }
	}
	if err := json.Unmarshal(out.Bytes(), &m); err != nil || len(m.Runs) != 7 || m.Passed {
		t.Fatalf("--json: %v, %+v", err, m)
	}
	md, _ := os.ReadFile(summary)
	if !strings.HasPrefix(string(md), "# earlier step\n| run |") || !strings.Contains(string(md), "**FAIL**: 7 runs (6 passed, 1 failed)") {
		t.Errorf("--markdown must append the table:\n%s", md)
	}
	if x, _ := os.ReadFile(junit); !strings.Contains(string(x), `<testsuite name="hello-c: hello_c" tests="2"`) {
		t.Errorf("--junit:\n%s", x)
	}
}
