package cli

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"
)

// TestTestRefusesBadFlags checks that bad flag values are refused, naming
// the flag, before anything is built: a --append value that would split
// into several kernel arguments, and an unknown --kmemleak mode.
func TestTestRefusesBadFlags(t *testing.T) {
	tests := []struct {
		flags []string
		want  string
	}{
		{[]string{"--append", "dyndbg=+p loglevel=8"}, "one kernel argument per --append"},
		{[]string{"--append", ""}, "one kernel argument per --append"},
		{[]string{"--append", "a\tb"}, "one kernel argument per --append"},
		{[]string{"--kmemleak", "maybe"}, "invalid --kmemleak"},
		{[]string{"--param", "nodot"}, "invalid --param"},
		{[]string{"--param", "mod.novalue"}, "invalid --param"},
		{[]string{"--param", ".x=1"}, "invalid --param"},
		{[]string{"--param", "m.x=a b"}, "invalid --param"},
	}
	for _, tt := range tests {
		root := newRoot()
		var out, errOut bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&errOut)
		root.SetArgs(append(append([]string{"test", "-q", "--toolchain", "host"}, tt.flags...), t.TempDir()))
		err := root.ExecuteContext(context.Background())
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err = %v, want one containing %q", tt.flags, err, tt.want)
		}
	}
}

func TestModuleParams(t *testing.T) {
	got, err := moduleParams([]string{"hello.count=3", "rust-mod.name=x", "hello.debug=1", "hello.list=a,b"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"hello": "count=3 debug=1 list=a,b", "rust_mod": "name=x"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("moduleParams = %v, want %v", got, want)
	}
}
