package kbuild

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const clangBlock = `make: Entering directory '/usr/src/linux-7.3/build'
  CC [M]  /work/mods/hello_c/hello_c.o
/work/mods/hello_c/hello_c.c:12:5: error: use of undeclared identifier 'undefined_value'
   12 |     undefined_value = 3;
      |     ^
/work/mods/hello_c/hello_c.c:20:9: warning: unused variable 'x' [-Wunused-variable]
   20 |         int x;
      |             ^
In file included from /work/mods/hello_c/hello_c.c:3:
/work/mods/hello_c/local.h:4:10: fatal error: 'missing.h' file not found
    4 | #include "missing.h"
      |          ^~~~~~~~~~~
1 warning and 2 errors generated.
make[3]: *** [scripts/Makefile.build:229: /work/mods/hello_c/hello_c.o] Error 1
`

const rustBlock = `  RUSTC [M] /work/mods/broken/broken.o
error[E0425]: cannot find value ` + "`undefined_value`" + ` in this scope
  --> /work/mods/broken/broken.rs:19:22
   |
19 |         let answer = undefined_value + 1;
   |                      ^^^^^^^^^^^^^^^ not found in this scope

warning: unused variable: ` + "`x`" + `
 --> /work/mods/broken/broken.rs:7:9
  |
7 |     let x = 5;
  |         ^ help: if this is intentional, prefix it with an underscore: ` + "`_x`" + `
  |
  = note: ` + "`#[warn(unused_variables)]`" + ` on by default

error: aborting due to 1 previous error; 1 warning emitted

For more information about this error, try ` + "`rustc --explain E0425`" + `.
make[3]: *** [scripts/Makefile.build:324: /work/mods/broken/broken.o] Error 1
`

func TestParseDiagnostics(t *testing.T) {
	tests := []struct {
		name string
		out  string
		want []Diagnostic
	}{
		{"clang", clangBlock, []Diagnostic{
			{File: "/work/mods/hello_c/hello_c.c", Line: 12, Col: 5, Severity: "error", Message: "use of undeclared identifier 'undefined_value'"},
			{File: "/work/mods/hello_c/hello_c.c", Line: 20, Col: 9, Severity: "warning", Message: "unused variable 'x' [-Wunused-variable]"},
			{File: "/work/mods/hello_c/local.h", Line: 4, Col: 10, Severity: "error", Message: "'missing.h' file not found"},
		}},
		{"rustc", rustBlock, []Diagnostic{
			{File: "/work/mods/broken/broken.rs", Line: 19, Col: 22, Severity: "error", Code: "E0425", Message: "cannot find value `undefined_value` in this scope"},
			{File: "/work/mods/broken/broken.rs", Line: 7, Col: 9, Severity: "warning", Message: "unused variable: `x`"},
		}},
		{"both, CRLF", strings.ReplaceAll(clangBlock+rustBlock, "\n", "\r\n"), []Diagnostic{
			{File: "/work/mods/hello_c/hello_c.c", Line: 12, Col: 5, Severity: "error", Message: "use of undeclared identifier 'undefined_value'"},
			{File: "/work/mods/hello_c/hello_c.c", Line: 20, Col: 9, Severity: "warning", Message: "unused variable 'x' [-Wunused-variable]"},
			{File: "/work/mods/hello_c/local.h", Line: 4, Col: 10, Severity: "error", Message: "'missing.h' file not found"},
			{File: "/work/mods/broken/broken.rs", Line: 19, Col: 22, Severity: "error", Code: "E0425", Message: "cannot find value `undefined_value` in this scope"},
			{File: "/work/mods/broken/broken.rs", Line: 7, Col: 9, Severity: "warning", Message: "unused variable: `x`"},
		}},
		{"summary only", "error: aborting due to 1 previous error\n\nmake: *** Error 2\n", nil},
		{"summary at end of output", "error: aborting due to 2 previous errors", nil},
		// Two rustc runs of a parallel make: the first's summary must
		// not take the location of the second's error.
		{"summary then another error", "error: aborting due to 1 previous error\n\nerror[E0308]: mismatched types\n  --> /m/b.rs:3:5\n", []Diagnostic{
			{File: "/m/b.rs", Line: 3, Col: 5, Severity: "error", Code: "E0308", Message: "mismatched types"},
		}},
		{"warning summary then a clang error", "warning: 1 warning emitted\n/m/a.c:1:2: error: boom\n  --> /m/x.rs:1:1\n", []Diagnostic{
			{File: "/m/a.c", Line: 1, Col: 2, Severity: "error", Message: "boom"},
		}},
		{"location too far", "error: far\n1\n2\n3\n  --> /m/x.rs:1:1\n", nil},
		{"rustc error without code", "error: expected one of `;` or `}`, found `let`\n --> /m/c.rs:4:1\n", []Diagnostic{
			{File: "/m/c.rs", Line: 4, Col: 1, Severity: "error", Message: "expected one of `;` or `}`, found `let`"},
		}},
		{"make noise and old-style modpost", "make[2]: *** No rule to make target 'x'.  Stop.\nWARNING: modpost: missing MODULE_LICENSE() in /m/x.o\nERROR: modpost: \"foo\" [/m/x.ko] undefined!\n", []Diagnostic{
			{File: "/m/x.o", Severity: "warning", Code: "modpost", Message: "missing MODULE_LICENSE() in /m/x.o"},
			{File: "/m/x.ko", Severity: "error", Code: "modpost", Message: "\"foo\" [/m/x.ko] undefined!", Hint: undefinedHint},
		}},
		{"modpost", "ERROR: modpost: m.ko: symbol 'x' undefined!\nWARNING: modpost: m: section mismatch in reference: f (section: .text) -> g (section: .init.text)\n", []Diagnostic{
			{File: "m.ko", Severity: "error", Code: "modpost", Message: "symbol 'x' undefined!", Hint: undefinedHint},
			{Severity: "warning", Code: "modpost", Message: "m: section mismatch in reference: f (section: .text) -> g (section: .init.text)"},
		}},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseDiagnostics(tt.out)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseDiagnostics:\n got  %+v\n want %+v", got, tt.want)
			}
		})
	}
}

func TestDiagnosticString(t *testing.T) {
	tests := []struct {
		d    Diagnostic
		want string
	}{
		{Diagnostic{File: "/m/a.rs", Line: 19, Col: 22, Severity: "error", Code: "E0425", Message: "cannot find value"},
			"/m/a.rs:19:22: error[E0425]: cannot find value"},
		{Diagnostic{File: "/m/a.c", Line: 3, Severity: "warning", Message: "unused"}, "/m/a.c:3: warning: unused"},
	}
	for _, tt := range tests {
		if got := tt.d.String(); got != tt.want {
			t.Errorf("String = %q, want %q", got, tt.want)
		}
	}
}

func TestErrorFormat(t *testing.T) {
	cause := errors.New("make exited with status 2")
	e := &Error{Dir: "/m", Err: cause, Output: []byte("full make output\n"), Diagnostics: []Diagnostic{
		{File: "/m/a.rs", Line: 1, Col: 2, Severity: "error", Message: "one"},
		{File: "/m/a.rs", Line: 3, Col: 4, Severity: "warning", Message: "only a warning"},
		{File: "/m/b.rs", Line: 5, Col: 6, Severity: "error", Code: "E0308", Message: "two"},
	}}
	msg := e.Error()
	want := "module build in /m failed with 2 error(s):\n  /m/a.rs:1:2: error: one\n  /m/b.rs:5:6: error[E0308]: two"
	if msg != want {
		t.Errorf("Error() = %q, want %q", msg, want)
	}
	if fmt.Sprintf("%v", e) != msg {
		t.Errorf("%%v differs from Error()")
	}
	if long := fmt.Sprintf("%+v", e); !strings.HasSuffix(long, "\nfull make output\n") || !strings.HasPrefix(long, msg) {
		t.Errorf("%%+v = %q", long)
	}
	if !errors.Is(e, cause) {
		t.Error("Unwrap does not reach the make error")
	}
	bare := &Error{Dir: "/m", Err: cause}
	if got := bare.Error(); got != "module build in /m failed: make exited with status 2" {
		t.Errorf("Error() without diagnostics = %q", got)
	}
}

func TestCheckDir(t *testing.T) {
	base := t.TempDir()
	mk := func(name string, files ...string) string {
		d := filepath.Join(base, name)
		os.MkdirAll(d, 0o755)
		for _, f := range files {
			os.WriteFile(filepath.Join(d, f), []byte("obj-m := x.o\n"), 0o644)
		}
		return d
	}
	kbuild := mk("with_kbuild", "Kbuild")
	makefile := mk("with_makefile", "Makefile")
	both := mk("with_both", "Kbuild", "Makefile")
	empty := mk("empty", "x.rs")
	file := filepath.Join(base, "file")
	os.WriteFile(file, nil, 0o644)

	tests := []struct {
		dir     string
		want    string
		wantErr string
	}{
		{kbuild, kbuild, ""},
		{makefile, makefile, ""},
		{both, both, ""},
		{empty, "", "has neither a Kbuild nor a Makefile"},
		{file, "", "is not a directory"},
		{filepath.Join(base, "missing"), "", "module directory"},
	}
	for _, tt := range tests {
		got, err := CheckDir(tt.dir)
		switch {
		case tt.wantErr == "" && (err != nil || got != tt.want):
			t.Errorf("CheckDir(%s) = %q, %v; want %q", tt.dir, got, err, tt.want)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("CheckDir(%s) = %q, %v; want an error containing %q", tt.dir, got, err, tt.wantErr)
		}
	}
	if _, err := CheckDir(filepath.Join(base, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing dir: %v, want it to wrap ErrNotExist", err)
	}

	// A relative path is made absolute.
	t.Chdir(base)
	got, err := CheckDir("with_kbuild")
	if err != nil || got != kbuild {
		t.Errorf("CheckDir(relative) = %q, %v; want %q", got, err, kbuild)
	}
	if got, err := CheckDir("."); err == nil {
		t.Errorf("CheckDir(.) on a dir without Kbuild = %q, want an error", got)
	}
}

// TestBuiltModules: the modules are the ones modules.order names, not
// every .ko in the directory (one left from before a rename stays out).
func TestBuiltModules(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"greet.ko", "hello_c.ko", "modules.order"} {
		data := ""
		if f == "modules.order" {
			data = "greet.o\n"
		}
		if err := os.WriteFile(filepath.Join(dir, f), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := builtModules(dir)
	if err != nil || len(got) != 1 || filepath.Base(got[0]) != "greet.ko" {
		t.Errorf("builtModules = %v, %v; want only greet.ko", got, err)
	}
	os.Remove(filepath.Join(dir, "modules.order"))
	if got, _ := builtModules(dir); len(got) != 2 {
		t.Errorf("without modules.order: %v, want both .ko files", got)
	}
}

// modules.order names a module relative to M= in Linux 7.x and by its
// absolute path (as make saw it) in 6.12.
func TestOrderEntry(t *testing.T) {
	for _, tc := range []struct{ dir, line, want string }{
		{"/m", "hello.o", "hello.o"},
		{"/m", "./hello.o", "hello.o"},
		{"/m", "/m/hello.o", "hello.o"},
		{"/m", "/m/sub/hello.o", "sub/hello.o"},
		{"/work/my mod", "/rko-extmod/0123abcd/hello.o", "hello.o"},
	} {
		if got := orderEntry(tc.dir, tc.line); got != tc.want {
			t.Errorf("orderEntry(%q, %q) = %q, want %q", tc.dir, tc.line, got, tc.want)
		}
	}
}
