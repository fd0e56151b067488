package toolchain

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// Real outputs of Debian trixie's tools.
const (
	trixieRustc   = "rustc 1.85.1 (4eb161250 2025-03-15) (built from a source tarball)\n"
	trixieBindgen = "bindgen 0.71.1\n"
	trixieClang   = "Debian clang version 19.1.7 (3+b1)\nTarget: x86_64-pc-linux-gnu\nThread model: posix\nInstalledDir: /usr/lib/llvm-19/bin\n"
)

// libclangOut is what bindgen prints on rust_is_available_bindgen_libclang.h
// with a libclang of version v.
func libclangOut(v string) string {
	return "/tmp/rko-probe-1234/rust_is_available_bindgen_libclang.h:2:9: warning: clang version " + v + " [-W#pragma-messages]\n"
}

func trixieFacts() Facts {
	return Facts{
		Rustc:        trixieRustc,
		Bindgen:      trixieBindgen,
		Libclang:     libclangOut("19.1.7"),
		Clang:        trixieClang,
		RustSrcCore:  "/usr/lib/rustlib/src/rust/library/core/src/lib.rs",
		RustSrcFound: true,
	}
}

// oldMinima are those of kernels before 6.6 (rustc 1.62, bindgen 0.56,
// LLVM 11), where the 0.66 and libclang 19 rules matter.
var oldMinima = Minima{Rustc: MustVersion("1.62.0"), Bindgen: MustVersion("0.56.0"), LLVM: MustVersion("11.0.0")}

var testHint = Hint{Install: func(pkgs ...string) string { return "INSTALL " + strings.Join(pkgs, " ") }}

type checkCase struct {
	name  string
	min   Minima
	facts func(f *Facts)
	// want is the status of every check, in order; checks not named
	// here must not appear.
	want []string // "name=status"
	// says maps a check name to substrings of its Found, Detail or Fix.
	says map[string][]string
}

var checkCases = []checkCase{
	{
		name:  "trixie passes",
		facts: func(f *Facts) {},
		want:  []string{"rustc=pass", "bindgen=pass", "libclang=pass", "clang=pass", "rust-src=pass"},
		says: map[string][]string{
			"rustc":    {"rustc 1.85.1 (4eb161250 2025-03-15) (built from a source tarball)"},
			"bindgen":  {"bindgen 0.71.1"},
			"libclang": {"19.1.7"},
			"clang":    {"Debian clang version 19.1.7 (3+b1)"},
			"rust-src": {"/usr/lib/rustlib/src/rust/library/core/src/lib.rs"},
		},
	},
	{
		name:  "rustc missing",
		facts: func(f *Facts) { f.Rustc, f.RustcErr = "", "exec: \"rustc\": executable file not found in $PATH" },
		want:  []string{"rustc=fail", "bindgen=pass", "libclang=pass", "clang=pass", "rust-src=skip"},
		says:  map[string][]string{"rustc": {"rustc not found: exec", "INSTALL rustc"}},
	},
	{
		name:  "rustc too old",
		facts: func(f *Facts) { f.Rustc = "rustc 1.84.1 (e71f9a9a9 2025-01-27)\n" },
		want:  []string{"rustc=fail", "bindgen=pass", "libclang=pass", "clang=pass", "rust-src=pass"},
		says:  map[string][]string{"rustc": {"1.84.1 is too old", "minimum 1.85.0", "rko toolchain install"}},
	},
	{
		name:  "rustc exactly the minimum",
		facts: func(f *Facts) { f.Rustc = "rustc 1.85.0 (4d91de4e4 2025-02-17)\n" },
		want:  []string{"rustc=pass", "bindgen=pass", "libclang=pass", "clang=pass", "rust-src=pass"},
	},
	{
		name:  "rustc prints no version",
		facts: func(f *Facts) { f.Rustc = "rustc: error while loading shared libraries\n" },
		want:  []string{"rustc=fail", "bindgen=pass", "libclang=pass", "clang=pass", "rust-src=pass"},
		says:  map[string][]string{"rustc": {"no version number", "rustc --version"}},
	},
	{
		name:  "bindgen missing",
		facts: func(f *Facts) { f.Bindgen, f.BindgenErr, f.Libclang = "", "not found", "" },
		want:  []string{"rustc=pass", "bindgen=fail", "libclang=skip", "clang=pass", "rust-src=pass"},
		says:  map[string][]string{"bindgen": {"bindgen not found: not found", "INSTALL bindgen"}},
	},
	{
		name:  "bindgen 0.66.1 refused (old kernel)",
		min:   oldMinima,
		facts: func(f *Facts) { f.Bindgen = "bindgen 0.66.1\n" },
		want:  []string{"rustc=pass", "bindgen=fail", "libclang=pass", "clang=pass", "rust-src=pass"},
		says:  map[string][]string{"bindgen": {"0.66", "rust-bindgen#2567", "another bindgen"}},
	},
	{
		name:  "bindgen 0.66.1 refused (7.3)",
		facts: func(f *Facts) { f.Bindgen = "bindgen 0.66.1\n" },
		want:  []string{"rustc=pass", "bindgen=fail", "libclang=pass", "clang=pass", "rust-src=pass"},
		says:  map[string][]string{"bindgen": {"0.66"}},
	},
	{
		name: "bindgen 0.65.1 fine for an old kernel",
		min:  oldMinima,
		facts: func(f *Facts) {
			f.Bindgen = "bindgen 0.65.1\n"
			f.Libclang, f.Clang = libclangOut("16.0.6"), "clang version 16.0.6\n"
		},
		want: []string{"rustc=pass", "bindgen=pass", "libclang=pass", "clang=pass", "rust-src=pass"},
	},
	{
		name:  "bindgen too old",
		facts: func(f *Facts) { f.Bindgen = "bindgen 0.70.1\n" },
		want:  []string{"rustc=pass", "bindgen=fail", "libclang=pass", "clang=pass", "rust-src=pass"},
		says:  map[string][]string{"bindgen": {"0.70.1 is too old", "minimum 0.71.1", "install bindgen 0.71.1 or newer"}},
	},
	{
		name:  "bindgen prints no version",
		facts: func(f *Facts) { f.Bindgen = "bindgen: command failed\n" },
		want:  []string{"rustc=pass", "bindgen=fail", "libclang=pass", "clang=pass", "rust-src=pass"},
	},
	{
		name:  "libclang too old",
		facts: func(f *Facts) { f.Libclang, f.Clang = libclangOut("16.0.6"), "clang version 16.0.6\n" },
		want:  []string{"rustc=pass", "bindgen=pass", "libclang=fail", "clang=pass", "rust-src=pass"},
		says:  map[string][]string{"libclang": {"16.0.6", "too old", "minimum 17.0.1", "INSTALL libclang-dev"}},
	},
	{
		name:  "libclang exactly the minimum, clang differs",
		facts: func(f *Facts) { f.Libclang = libclangOut("17.0.1") },
		want:  []string{"rustc=pass", "bindgen=pass", "libclang=pass", "clang=warn", "rust-src=pass"},
		says:  map[string][]string{"clang": {"libclang 17.0.1", "clang 19.1.7", "LIBCLANG_PATH"}},
	},
	{
		name: "libclang version in a longer output",
		facts: func(f *Facts) {
			f.Libclang = "some other line\n" + strings.TrimSuffix(libclangOut("19.1.7"), "\n") + ", err: false\n1 warning generated.\n"
		},
		want: []string{"rustc=pass", "bindgen=pass", "libclang=pass", "clang=pass", "rust-src=pass"},
		says: map[string][]string{"libclang": {"19.1.7"}},
	},
	{
		name: "bindgen cannot load libclang",
		facts: func(f *Facts) {
			f.Libclang, f.LibclangErr = "", "bindgen exited with status 101: Unable to find libclang"
		},
		want: []string{"rustc=pass", "bindgen=pass", "libclang=fail", "clang=pass", "rust-src=pass"},
		says: map[string][]string{"libclang": {"could not run libclang", "Unable to find libclang", "LIBCLANG_PATH"}},
	},
	{
		name:  "bindgen prints no libclang version",
		facts: func(f *Facts) { f.Libclang = "warning: something else\n" },
		want:  []string{"rustc=pass", "bindgen=pass", "libclang=fail", "clang=pass", "rust-src=pass"},
		says:  map[string][]string{"libclang": {"did not print a libclang version"}},
	},
	{
		name:  "bindgen < 0.69.5 with libclang 19 warns",
		min:   oldMinima,
		facts: func(f *Facts) { f.Bindgen = "bindgen 0.69.4\n" },
		want:  []string{"rustc=pass", "bindgen=pass", "libclang=pass", "bindgen-libclang-19=warn", "clang=pass", "rust-src=pass"},
		says:  map[string][]string{"bindgen-libclang-19": {"bindgen 0.69.4, libclang 19.1.7", "rust-bindgen#2824", "0.69.5"}},
	},
	{
		name:  "bindgen 0.69.5 with libclang 19 is fine",
		min:   oldMinima,
		facts: func(f *Facts) { f.Bindgen = "bindgen 0.69.5\n" },
		want:  []string{"rustc=pass", "bindgen=pass", "libclang=pass", "clang=pass", "rust-src=pass"},
	},
	{
		name: "bindgen < 0.69.5 with libclang 18 is fine",
		min:  oldMinima,
		facts: func(f *Facts) {
			f.Bindgen = "bindgen 0.69.4\n"
			f.Libclang, f.Clang = libclangOut("18.1.8"), "clang version 18.1.8\n"
		},
		want: []string{"rustc=pass", "bindgen=pass", "libclang=pass", "clang=pass", "rust-src=pass"},
	},
	{
		name: "bindgen < 0.72.1 with libclang 22 warns",
		facts: func(f *Facts) {
			f.Bindgen = "bindgen 0.72.0\n"
			f.Libclang, f.Clang = libclangOut("22.1.0"), "clang version 22.1.0\n"
		},
		want: []string{"rustc=pass", "bindgen=pass", "libclang=pass", "bindgen-libclang-22=warn", "clang=pass", "rust-src=pass"},
		says: map[string][]string{"bindgen-libclang-22": {"bindgen 0.72.0, libclang 22.1.0", "rust-bindgen#3278", "0.72.1"}},
	},
	{
		name: "bindgen 0.72.1 with libclang 22 is fine",
		facts: func(f *Facts) {
			f.Bindgen = "bindgen 0.72.1\n"
			f.Libclang, f.Clang = libclangOut("22.1.0"), "clang version 22.1.0\n"
		},
		want: []string{"rustc=pass", "bindgen=pass", "libclang=pass", "clang=pass", "rust-src=pass"},
	},
	{
		name: "old bindgen with libclang 22 warns twice",
		min:  oldMinima,
		facts: func(f *Facts) {
			f.Bindgen = "bindgen 0.68.1\n"
			f.Libclang, f.Clang = libclangOut("22.1.0"), "clang version 22.1.0\n"
		},
		want: []string{"rustc=pass", "bindgen=pass", "libclang=pass", "bindgen-libclang-19=warn", "bindgen-libclang-22=warn", "clang=pass", "rust-src=pass"},
	},
	{
		name:  "clang and libclang differ",
		facts: func(f *Facts) { f.Clang = "Debian clang version 20.1.2 (1)\n" },
		want:  []string{"rustc=pass", "bindgen=pass", "libclang=pass", "clang=warn", "rust-src=pass"},
		says:  map[string][]string{"clang": {"does not match", "libclang 19.1.7", "clang 20.1.2"}},
	},
	{
		name:  "clang missing",
		facts: func(f *Facts) { f.Clang = "" },
		want:  []string{"rustc=pass", "bindgen=pass", "libclang=pass", "clang=fail", "rust-src=pass"},
		says:  map[string][]string{"clang": {"clang not found", "INSTALL clang lld llvm"}},
	},
	{
		name:  "clang prints no version",
		facts: func(f *Facts) { f.Clang = "clang: error: unknown argument\n" },
		want:  []string{"rustc=pass", "bindgen=pass", "libclang=pass", "clang=fail", "rust-src=pass"},
		says:  map[string][]string{"clang": {"no version number"}},
	},
	{
		name:  "rust-src missing",
		facts: func(f *Facts) { f.RustSrcFound = false },
		want:  []string{"rustc=pass", "bindgen=pass", "libclang=pass", "clang=pass", "rust-src=fail"},
		says: map[string][]string{"rust-src": {"could not be found at /usr/lib/rustlib/src/rust/library/core/src/lib.rs",
			"INSTALL rust-src", "rustup component add rust-src", "RUST_LIB_SRC"}},
	},
	{
		name: "rust-src missing under RUST_LIB_SRC",
		facts: func(f *Facts) {
			f.RustSrcFound, f.RustLibSrc, f.RustSrcCore = false, "/opt/rust/library", "/opt/rust/library/core/src/lib.rs"
		},
		want: []string{"rustc=pass", "bindgen=pass", "libclang=pass", "clang=pass", "rust-src=fail"},
		says: map[string][]string{"rust-src": {"at /opt/rust/library/core/src/lib.rs", "RUST_LIB_SRC is set to /opt/rust/library"}},
	},
	{
		name:  "nothing installed",
		facts: func(f *Facts) { *f = Facts{} },
		want:  []string{"rustc=fail", "bindgen=fail", "libclang=skip", "clang=fail", "rust-src=skip"},
	},
}

func (tc checkCase) run() []Check {
	f := trixieFacts()
	tc.facts(&f)
	min := tc.min
	if min == (Minima{}) {
		min = Minima73
	}
	return RustAvailable(f, min, testHint)
}

func TestRustAvailable(t *testing.T) {
	for _, tc := range checkCases {
		t.Run(tc.name, func(t *testing.T) {
			cs := tc.run()
			var got []string
			byName := map[string]Check{}
			for _, c := range cs {
				got = append(got, c.Name+"="+string(c.Status))
				byName[c.Name] = c
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("checks:\n got  %v\n want %v", got, tc.want)
			}
			for name, subs := range tc.says {
				c, ok := byName[name]
				if !ok {
					t.Errorf("no %s check", name)
					continue
				}
				text := c.Found + "\n" + c.Detail + "\n" + c.Fix
				for _, s := range subs {
					if !strings.Contains(text, s) {
						t.Errorf("%s check %+v: want it to say %q", name, c, s)
					}
				}
			}
			wantPassed := true
			for _, w := range tc.want {
				if strings.HasSuffix(w, "=fail") {
					wantPassed = false
				}
			}
			if Passed(cs) != wantPassed {
				t.Errorf("Passed = %v, want %v", Passed(cs), wantPassed)
			}
		})
	}
}

// TestEveryFailHasAFix: a failed check must always say how to fix it.
func TestEveryFailHasAFix(t *testing.T) {
	for _, tc := range checkCases {
		for _, c := range tc.run() {
			if c.Status == Fail && strings.TrimSpace(c.Fix) == "" {
				t.Errorf("%s: %s fails without a Fix: %+v", tc.name, c.Name, c)
			}
			if (c.Status == Fail || c.Status == Warn) && c.Detail == "" {
				t.Errorf("%s: %s is %s without a Detail", tc.name, c.Name, c.Status)
			}
		}
	}
	for _, c := range BuildToolChecks(Facts{}, testHint) {
		if c.Status != Fail || c.Fix == "" {
			t.Errorf("BuildToolChecks with nothing: %+v, want a Fail with a Fix", c)
		}
	}
}

// TestRustAvailableGolden pins the full wording of every case; run with
// -update after an intended change.
func TestRustAvailableGolden(t *testing.T) {
	var buf bytes.Buffer
	for _, tc := range checkCases {
		fmt.Fprintf(&buf, "== %s\n", tc.name)
		for _, c := range tc.run() {
			b, _ := json.Marshal(c)
			buf.Write(b)
			buf.WriteByte('\n')
		}
	}
	golden(t, "rust_available.golden", buf.Bytes())
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run go test -update if intended); got:\n%s", p, got)
	}
}

func TestBuildToolChecks(t *testing.T) {
	f := Facts{Tools: map[string]string{}, LibelfHeader: true}
	for _, bt := range BuildTools {
		f.Tools[bt.Name] = "/usr/bin/" + bt.Name
	}
	cs := BuildToolChecks(f, testHint)
	if len(cs) != len(BuildTools)+1 {
		t.Fatalf("got %d checks, want %d", len(cs), len(BuildTools)+1)
	}
	if !Passed(cs) {
		t.Errorf("all present: %+v, want all passing", cs)
	}
	if cs[0].Found != "/usr/bin/ld.lld" {
		t.Errorf("Found = %q, want the path", cs[0].Found)
	}

	f.Tools["flex"] = ""
	f.LibelfHeader = false
	cs = BuildToolChecks(f, testHint)
	fails := map[string]string{}
	for _, c := range cs {
		if c.Status == Fail {
			fails[c.Name] = c.Fix
		}
	}
	want := map[string]string{"flex": "INSTALL flex", "libelf": "INSTALL libelf-dev"}
	if fmt.Sprint(fails) != fmt.Sprint(want) {
		t.Errorf("failures = %v, want %v", fails, want)
	}
}

func TestDebianHint(t *testing.T) {
	got := DebianHint.Install("clang", "lld")
	if !strings.HasPrefix(got, "apt-get install clang lld") || !strings.Contains(got, "rko toolchain install") {
		t.Errorf("DebianHint = %q", got)
	}
}

func TestPassed(t *testing.T) {
	tests := []struct {
		statuses []Status
		want     bool
	}{
		{nil, true},
		{[]Status{Pass, Warn, Skip}, true},
		{[]Status{Pass, Fail}, false},
	}
	for _, tt := range tests {
		var cs []Check
		for _, s := range tt.statuses {
			cs = append(cs, Check{Status: s})
		}
		if Passed(cs) != tt.want {
			t.Errorf("Passed(%v) = %v, want %v", tt.statuses, !tt.want, tt.want)
		}
	}
}
