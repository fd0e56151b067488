package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestAppendRefusesSpaces checks that a --append value that would split
// into several kernel arguments is refused before anything is built.
func TestAppendRefusesSpaces(t *testing.T) {
	for _, bad := range []string{"dyndbg=+p loglevel=8", "", "a\tb"} {
		root := newRoot()
		var out, errOut bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&errOut)
		root.SetArgs([]string{"test", "-q", "--toolchain", "host", "--append", bad, t.TempDir()})
		err := root.ExecuteContext(context.Background())
		if err == nil || !strings.Contains(err.Error(), "--append") || !strings.Contains(err.Error(), "one kernel argument per --append") {
			t.Errorf("--append %q: err = %v, want a refusal naming --append", bad, err)
		}
	}
}
