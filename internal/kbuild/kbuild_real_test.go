package kbuild

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRealMakeOutput parses make output recorded from real module builds
// (testdata/real/README.md says where each came from).
func TestRealMakeOutput(t *testing.T) {
	tests := []struct {
		file string
		want Diagnostic
	}{
		{"rust-e0425.log", Diagnostic{File: "broken.rs", Line: 19, Col: 22, Severity: "error", Code: "E0425",
			Message: "cannot find value `undefined_value` in this scope"}},
		{"c-undeclared.log", Diagnostic{File: "cbroken.c", Line: 5, Col: 9, Severity: "error",
			Message: "use of undeclared identifier 'undefined_value'"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata/real", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			var errs []Diagnostic
			for _, d := range ParseDiagnostics(string(data)) {
				if d.Severity == "error" {
					errs = append(errs, d)
				}
			}
			if len(errs) != 1 {
				t.Fatalf("errors = %+v, want exactly one", errs)
			}
			got := errs[0]
			got.File = filepath.Base(got.File)
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestAbsDiagnostics(t *testing.T) {
	mod, build := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(mod, "m.rs"), nil, 0o644)
	os.MkdirAll(filepath.Join(build, "include"), 0o755)
	os.WriteFile(filepath.Join(build, "include", "x.h"), nil, 0o644)
	ds := absDiagnostics([]Diagnostic{
		{File: "m.rs"}, {File: "include/x.h"}, {File: "/abs/y.c"}, {File: "missing.c"},
	}, mod, build)
	want := []string{filepath.Join(mod, "m.rs"), filepath.Join(build, "include", "x.h"), "/abs/y.c", "missing.c"}
	for i, d := range ds {
		if d.File != want[i] {
			t.Errorf("diagnostic %d file = %q, want %q", i, d.File, want[i])
		}
	}
}

// TestRealModpostOutput parses a real modpost failure: a module using
// kernel symbols that are not exported (testdata/real/modpost-undefined.log).
func TestRealModpostOutput(t *testing.T) {
	data, err := os.ReadFile("testdata/real/modpost-undefined.log")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range ParseDiagnostics(string(data)) {
		got = append(got, d.Severity+" "+d.File+" "+d.Message)
		if d.Severity == "error" && d.Hint == "" {
			t.Errorf("%s: no hint for an undefined symbol", d)
		}
	}
	want := []string{
		"warning kmlfind.ko missing MODULE_DESCRIPTION()",
		"error kmlfind.ko symbol 'max_pfn' undefined!",
		"error kmlfind.ko symbol '_text' undefined!",
		"error kmlfind.ko symbol '_end' undefined!",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
