package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rkodev/rko/internal/lint"
)

// runLintCmd runs `rko lint args...` and returns its exit code and output.
func runLintCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	root := NewRoot(NewFactory())
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"lint"}, args...))
	err := root.ExecuteContext(context.Background())
	code := ExitOK
	var ee exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.code
	default:
		code = ExitError
		errOut.WriteString(err.Error())
	}
	return code, out.String(), errOut.String()
}

func TestLintBadExample(t *testing.T) {
	dir := filepath.Join("..", "..", "examples", "lint-bad")
	for _, format := range []string{"text", "json", "sarif"} {
		code, out, _ := runLintCmd(t, "--format", format, dir)
		if code != ExitFail {
			t.Errorf("--format %s: exit %d, want %d", format, code, ExitFail)
		}
		for _, r := range lint.Rules {
			if !strings.Contains(out, r.ID) {
				t.Errorf("--format %s: output lacks rule %s", format, r.ID)
			}
		}
	}
}

func TestLintExitCodes(t *testing.T) {
	clean := t.TempDir()
	writeLintFile(t, filepath.Join(clean, "ok.rs"), "// SPDX-License-Identifier: GPL-2.0\nfn f() {}\n")
	if code, out, errOut := runLintCmd(t, clean); code != ExitOK || out != "" {
		t.Errorf("clean module: exit %d, stdout %q, stderr %q; want 0 and no output", code, out, errOut)
	}
	warnOnly := t.TempDir()
	writeLintFile(t, filepath.Join(warnOnly, "w.rs"), "fn f() { x.unwrap(); }\n")
	if code, _, _ := runLintCmd(t, warnOnly); code != ExitOK {
		t.Errorf("warnings only: exit %d, want 0", code)
	}
	if code, _, errOut := runLintCmd(t, "/no/such/module"); code != ExitError || !strings.Contains(errOut, "/no/such/module") {
		t.Errorf("missing path: exit %d, stderr %q; want 2 naming the path", code, errOut)
	}
	if code, _, errOut := runLintCmd(t, "--format", "xml", clean); code != ExitError || !strings.Contains(errOut, `"xml"`) {
		t.Errorf("bad format: exit %d, stderr %q; want 2 naming the format", code, errOut)
	}
}

func writeLintFile(t *testing.T, p, body string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
