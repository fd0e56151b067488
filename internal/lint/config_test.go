package lint

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rkodev/rko/internal/testutil"
)

func TestConfig(t *testing.T) {
	bad := spdx + "use kernel::bindings;\nfn f() { x.unwrap(); }\n"
	tests := []struct {
		name  string
		files map[string]string
		want  map[string]int // rule -> count
		sev   map[string]Severity
	}{
		{"defaults", map[string]string{"m.rs": bad},
			map[string]int{"bindings-outside-abstractions": 1, "panic-in-kernel": 1}, nil},
		{"rule off", map[string]string{"m.rs": bad, ConfigName: "[rules.panic-in-kernel]\nseverity = \"off\"\n"},
			map[string]int{"bindings-outside-abstractions": 1}, nil},
		{"severity raised", map[string]string{"m.rs": bad, ConfigName: "[rules.panic-in-kernel]\nseverity = \"error\"\n"},
			map[string]int{"bindings-outside-abstractions": 1, "panic-in-kernel": 1},
			map[string]Severity{"panic-in-kernel": SeverityError}},
		{"abstraction path", map[string]string{"sys/m.rs": bad, ConfigName: "abstraction = [\"sys\"]\n"},
			map[string]int{"panic-in-kernel": 1}, nil},
		{"host path", map[string]string{"build/m.rs": bad, ConfigName: "host = [\"build\"]\n"},
			map[string]int{}, nil},
		{"exclude path", map[string]string{"gen/m.rs": bad, ConfigName: "exclude = [\"gen\"]\n"},
			map[string]int{}, nil},
		{"nearest config wins", map[string]string{"sub/m.rs": bad, ConfigName: "[rules.panic-in-kernel]\nseverity = \"off\"\n",
			"sub/" + ConfigName: "[rules.bindings-outside-abstractions]\nseverity = \"off\"\n"},
			map[string]int{"panic-in-kernel": 1}, nil},
		{"may_sleep", map[string]string{"m.rs": spdx + "struct S { l: SpinLock<u32> }\nfn f(s: &S) {\n    let g = s.l.lock();\n    my_wait();\n}\n",
			ConfigName: "may_sleep = [\"my_wait\"]\n"},
			map[string]int{"sleep-in-atomic": 1}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := testutil.WriteTree(t, tc.files)
			res, err := Run(context.Background(), Options{Paths: []string{dir}})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			for _, f := range res.Findings {
				got[f.Rule]++
				if s, ok := tc.sev[f.Rule]; ok && f.Severity != s {
					t.Errorf("%s severity %v, want %v", f.Rule, f.Severity, s)
				}
			}
			for r, n := range tc.want {
				if got[r] != n {
					t.Errorf("%s: %d findings, want %d (all: %v)", r, got[r], n, got)
				}
			}
			for r, n := range got {
				if tc.want[r] == 0 {
					t.Errorf("unexpected %d %s findings", n, r)
				}
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct{ body, want string }{
		{"[rules.no-such-rule]\nseverity = \"error\"\n", `unknown rule "no-such-rule"`},
		{"[rules.panic-in-kernel]\nseverity = \"fatal\"\n", `invalid severity "fatal"`},
		{"colour = 1\n", `unknown key "colour"`},
		{"abstraction = [\n", "read lint config"},
	}
	for _, tc := range tests {
		dir := testutil.WriteTree(t, map[string]string{"m.rs": spdx, ConfigName: tc.body})
		_, err := Run(context.Background(), Options{Paths: []string{dir}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config %q: err = %v, want %q", tc.body, err, tc.want)
		}
	}
}

func TestRunErrors(t *testing.T) {
	if _, err := Run(context.Background(), Options{Paths: []string{"/no/such/dir"}}); err == nil || !strings.Contains(err.Error(), "/no/such/dir") {
		t.Errorf("missing path: err = %v", err)
	}
	dir := testutil.WriteTree(t, map[string]string{"a.txt": "x"})
	if _, err := Run(context.Background(), Options{Paths: []string{filepath.Join(dir, "a.txt")}}); err == nil || !strings.Contains(err.Error(), "not a .rs file") {
		t.Errorf("non-rust file: err = %v", err)
	}
}

func TestKernelTreeDefaults(t *testing.T) {
	dir := testutil.WriteTree(t, map[string]string{
		"Kconfig":               "",
		"rust/kernel/lib.rs":    spdx + "use bindings;\npub fn f() { unsafe_call(bindings::x); }\n",
		"rust/syn/lib.rs":       "fn f() { x.unwrap(); }\n",
		"rust/macros/lib.rs":    spdx + "use std::fmt;\nfn f() { x.unwrap(); }\n",
		"drivers/x/x.rs":        spdx + "fn f() { unsafe_call(bindings::x); }\n",
		"samples/rust/hello.rs": spdx + "fn f() {}\n",
	})
	res, err := Run(context.Background(), Options{Paths: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range res.Findings {
		rel, _ := filepath.Rel(dir, f.Path)
		got = append(got, rel+":"+f.Rule)
	}
	want := "drivers/x/x.rs:bindings-outside-abstractions"
	if len(got) != 1 || got[0] != want {
		t.Errorf("findings = %v, want only %s (rust/ is the abstraction layer, rust/syn vendored, rust/macros host code)", got, want)
	}
	if res.Files != 4 {
		t.Errorf("linted %d files, want 4 (rust/syn excluded)", res.Files)
	}
}
