package kconfig

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rkodev/rko/internal/testutil"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Config
		wantErr string // substring; "" means no error
	}{
		{
			name: "assignments and not set",
			in: "#\n# Automatically generated file; DO NOT EDIT.\n#\nCONFIG_CC_VERSION_TEXT=\"Debian clang version 19.1.7 (3+b1)\"\n" +
				"CONFIG_RUST=y\nCONFIG_SAMPLES=m\n# CONFIG_KASAN is not set\nCONFIG_LOG_BUF_SHIFT=17\nCONFIG_PHYSICAL_START=0x1000000\n",
			want: Config{"CC_VERSION_TEXT": `"Debian clang version 19.1.7 (3+b1)"`, "RUST": "y", "SAMPLES": "m",
				"KASAN": "n", "LOG_BUF_SHIFT": "17", "PHYSICAL_START": "0x1000000"},
		},
		{
			name: "whitespace, comments and blank lines",
			in:   "  CONFIG_A=y  \n\n# just a comment\n\t# CONFIG_B is not set\n",
			want: Config{"A": "y", "B": "n"},
		},
		{
			name: "later lines win",
			in:   "CONFIG_A=y\n# CONFIG_A is not set\nCONFIG_B=n\nCONFIG_B=m\n",
			want: Config{"A": "n", "B": "m"},
		},
		{
			name: "empty value",
			in:   "CONFIG_CMDLINE=\n",
			want: Config{"CMDLINE": ""},
		},
		{name: "empty", in: "", want: Config{}},
		{name: "missing =", in: "CONFIG_A=y\nCONFIG_B y\n", wantErr: `line 2: "CONFIG_B y" is not CONFIG_NAME=value`},
		{name: "bad name", in: "\n\n\nCONFIG_A-B=y\n", wantErr: "line 4:"},
		{name: "no name", in: "CONFIG_=y\n", wantErr: "line 1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.config")
	os.WriteFile(good, []byte("CONFIG_A=y\n"), 0o644)
	c, err := ParseFile(good)
	if err != nil || c.Get("A") != "y" {
		t.Errorf("ParseFile = %v, %v", c, err)
	}
	bad := filepath.Join(dir, "bad.config")
	os.WriteFile(bad, []byte("CONFIG_A=y\nCONFIG_oops\n"), 0o644)
	if _, err := ParseFile(bad); err == nil || !strings.Contains(err.Error(), bad+": line 2") {
		t.Errorf("err = %v, want it to name the file and line 2", err)
	}
	if _, err := ParseFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("ParseFile of a missing file: no error")
	}
}

func TestGet(t *testing.T) {
	c := Config{"A": "y", "B": "n", "C": "m"}
	for sym, want := range map[string]string{"A": "y", "B": "n", "C": "m", "ABSENT": "n"} {
		if got := c.Get(sym); got != want {
			t.Errorf("Get(%s) = %q, want %q", sym, got, want)
		}
	}
}

func TestMerge(t *testing.T) {
	c := Config{"A": "y", "B": "y", "C": "y"}
	c.Merge(Config{"B": "n", "D": "m"}, Config{"D": "y", "E": "1"}, Config{"B": "m"})
	want := Config{"A": "y", "B": "m", "C": "y", "D": "y", "E": "1"}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Merge = %v, want %v", c, want)
	}
	c.Merge() // nothing
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Merge() changed the config: %v", c)
	}
}

func TestWrite(t *testing.T) {
	c := Config{"ZSWAP": "y", "A": "m", "KASAN": "n", "STR": `"hello world"`, "NUM": "0x10"}
	var buf bytes.Buffer
	if err := c.Write(&buf); err != nil {
		t.Fatal(err)
	}
	want := "CONFIG_A=m\n# CONFIG_KASAN is not set\nCONFIG_NUM=0x10\nCONFIG_STR=\"hello world\"\nCONFIG_ZSWAP=y\n"
	if buf.String() != want {
		t.Errorf("Write:\n%s\nwant:\n%s", buf.String(), want)
	}
	// Stable: the same config (built in another order) gives the same
	// bytes, every time.
	for i := 0; i < 10; i++ {
		d := Config{}
		for _, k := range []string{"NUM", "STR", "KASAN", "A", "ZSWAP"} {
			d[k] = c[k]
		}
		var b2 bytes.Buffer
		d.Write(&b2)
		if b2.String() != want {
			t.Fatalf("Write is not stable:\n%s", b2.String())
		}
	}
	// Round trip.
	back, err := Parse(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, c) {
		t.Errorf("round trip = %v, want %v", back, c)
	}
}

func TestUnmet(t *testing.T) {
	tests := []struct {
		expr string
		c    Config
		want []string // nil: the expression holds
	}{
		{"SYSFS && !SLUB_TINY", Config{"SYSFS": "y", "SLUB_TINY": "y"}, []string{"not SLUB_TINY (SLUB_TINY=y)"}},
		{"SYSFS && !SLUB_TINY", Config{"SYSFS": "y"}, nil},
		{"SYSFS && !SLUB_TINY", Config{"SLUB_TINY": "y"}, []string{"SYSFS=n", "not SLUB_TINY (SLUB_TINY=y)"}},
		{"A", Config{"A": "y"}, nil},
		{"A", Config{"A": "m"}, nil},
		{"A", Config{"A": "n"}, []string{"A=n"}},
		{"A", Config{}, []string{"A=n"}},
		{"A || B", Config{}, []string{"A=n", "B=n"}},
		{"A || B", Config{"B": "m"}, nil},
		{"A || B || C", Config{"C": "y"}, nil},
		{"A && B", Config{"A": "y", "B": "m"}, nil},
		{"A && B", Config{"A": "y"}, []string{"B=n"}},
		{"X=y", Config{"X": "y"}, nil},
		{"X=y", Config{"X": "m"}, []string{"X=y is false (X=m)"}},
		{"X = y", Config{}, []string{"X=y is false (X=n)"}},
		{"X!=n", Config{"X": "m"}, nil},
		{"X!=n", Config{}, []string{"X!=n is false (X=n)"}},
		{"X != y", Config{"X": "y"}, []string{"X!=y is false (X=y)"}},
		{`ARCH="x86"`, Config{"ARCH": `"x86"`}, nil},
		{`ARCH="x86"`, Config{"ARCH": `"arm64"`}, []string{`ARCH=x86 is false (ARCH=arm64)`}},
		{`CMDLINE != ""`, Config{"CMDLINE": `"console=ttyS0"`}, nil},
		{`CMDLINE != ""`, Config{"CMDLINE": `""`}, []string{`CMDLINE!= is false (CMDLINE=)`}},
		{"A=B", Config{"A": "y", "B": "y"}, nil},
		{"y", Config{}, nil},
		{"n", Config{}, []string{"n=n"}},
		{"!A", Config{"A": "m"}, nil}, // tristate: !m = m
		{"!A", Config{"A": "y"}, []string{"not A (A=y)"}},
		{"!(A && B)", Config{"A": "y", "B": "y"}, []string{"not (...)"}},
		{"!(A && B)", Config{"A": "y"}, nil},
		{"(A || B) && C", Config{"B": "y", "C": "y"}, nil},
		{"(A || B) && C", Config{"C": "y"}, []string{"A=n", "B=n"}},
		{"(A || B) && C", Config{"A": "y"}, []string{"C=n"}},
		{"A && (B || !C)", Config{"A": "y", "C": "y"}, []string{"B=n", "not C (C=y)"}},
		// The KASAN line of linux-7.3's lib/Kconfig.kasan (continuations joined).
		{"(((HAVE_ARCH_KASAN && CC_HAS_KASAN_GENERIC) || (HAVE_ARCH_KASAN_SW_TAGS && CC_HAS_KASAN_SW_TAGS)) && CC_HAS_WORKING_NOSANITIZE_ADDRESS) || HAVE_ARCH_KASAN_HW_TAGS",
			Config{"HAVE_ARCH_KASAN": "y", "CC_HAS_KASAN_GENERIC": "y", "CC_HAS_WORKING_NOSANITIZE_ADDRESS": "y"}, nil},
		{"(((HAVE_ARCH_KASAN && CC_HAS_KASAN_GENERIC) || (HAVE_ARCH_KASAN_SW_TAGS && CC_HAS_KASAN_SW_TAGS)) && CC_HAS_WORKING_NOSANITIZE_ADDRESS) || HAVE_ARCH_KASAN_HW_TAGS",
			Config{"HAVE_ARCH_KASAN": "y", "CC_HAS_KASAN_GENERIC": "y"},
			[]string{"CC_HAS_WORKING_NOSANITIZE_ADDRESS=n", "HAVE_ARCH_KASAN_HW_TAGS=n"}},
		{"A&&!B||C", Config{"A": "y"}, nil},
		{"\tA\t&&\tB", Config{"A": "y"}, []string{"B=n"}},
	}
	for _, tt := range tests {
		got := Unmet(tt.expr, tt.c)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Unmet(%q, %v) = %q, want %q", tt.expr, tt.c, got, tt.want)
		}
	}
}

func TestTokenize(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"A && !B", []string{"A", "&&", "!", "B"}},
		{"A!=B", []string{"A", "!=", "B"}},
		{"(A||B)", []string{"(", "A", "||", "B", ")"}},
		{`X = "a b"`, []string{"X", "=", `"a b"`}},
		{`X = "open`, []string{"X", "=", `"open`}},
		{"N >= 3", []string{"N", ">", "=", "3"}},
		{"", nil},
	}
	for _, tt := range tests {
		if got := tokenize(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("tokenize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

var fakeTree = map[string]string{
	"Kconfig": `mainmenu "Fake"
source "mm/Kconfig"
config SYSFS
	bool "sysfs"
`,
	"mm/Kconfig": `menu "Memory"
config SLUB_TINY
	bool "tiny"
	depends on EXPERT   # only for experts

endmenu
`,
	"lib/Kconfig.kasan": `menuconfig KASAN
	bool "KASAN"
	depends on (HAVE_ARCH_KASAN && \
		    CC_HAS_KASAN_GENERIC) || \
		   HAVE_ARCH_KASAN_HW_TAGS
	depends on SYSFS && !SLUB_TINY
	select STACKDEPOT
	help
	  Enables KASAN. This help text is not Kconfig syntax:
	  depends on this.
	  config option described in prose
	  if you are unsure, say N.

if KASAN
config KASAN_INLINE
	bool "inline"
	help
	  Faster.
endif

config GLOB
	bool
	help
	  Drivers that need it select it; an out-of-tree driver
	  depends on this.

	  Another paragraph.
	depends on GLOB_DEP
`,
	"drivers/Kconfig": `config PLAIN
	tristate "no dependencies"
config NEEDS_PLAIN
	tristate "needs plain"
	depends on PLAIN
	depends on PCI || COMPILE_TEST
`,
	// Skipped directories and files that are not Kconfig.
	"Documentation/Kconfig":  "config DOC_ONLY\n",
	"tools/Kconfig":          "config TOOLS_ONLY\n",
	"drivers/Makefile":       "config NOT_KCONFIG\n",
	"arch/x86/Kconfig.debug": "config X86_DEBUG_THING\n\tbool\n",
}

func TestIndexTree(t *testing.T) {
	idx, err := IndexTree(testutil.WriteTree(t, fakeTree))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range idx.Symbols {
		names = append(names, n)
	}
	want := map[string][]string{
		"SYSFS":           nil,
		"SLUB_TINY":       {"EXPERT"},
		"KASAN":           {"(HAVE_ARCH_KASAN &&  CC_HAS_KASAN_GENERIC) ||  HAVE_ARCH_KASAN_HW_TAGS", "SYSFS && !SLUB_TINY"},
		"KASAN_INLINE":    {"KASAN"}, // from the enclosing "if KASAN"
		"GLOB":            {"GLOB_DEP"},
		"PLAIN":           nil,
		"NEEDS_PLAIN":     {"PLAIN", "PCI || COMPILE_TEST"},
		"X86_DEBUG_THING": nil,
	}
	if len(idx.Symbols) != len(want) {
		t.Errorf("symbols = %q, want the %d of %v", names, len(want), want)
	}
	for name, deps := range want {
		s, ok := idx.Symbols[name]
		if !ok {
			t.Errorf("%s not indexed", name)
			continue
		}
		if s.Name != name || !strings.HasPrefix(filepath.Base(s.File), "Kconfig") {
			t.Errorf("%s: %+v", name, s)
		}
		// Compare with whitespace collapsed: continuation lines keep
		// their indentation.
		var got []string
		for _, d := range s.Depends {
			got = append(got, strings.Join(strings.Fields(d), " "))
		}
		var w []string
		for _, d := range deps {
			w = append(w, strings.Join(strings.Fields(d), " "))
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("%s depends on %q, want %q", name, got, w)
		}
	}
}

func TestCompare(t *testing.T) {
	idx, err := IndexTree(testutil.WriteTree(t, fakeTree))
	if err != nil {
		t.Fatal(err)
	}
	requested := Config{
		"KASAN":       "y", // dropped: SLUB_TINY=y
		"SYSFS":       "y", // kept
		"PLAIN":       "m", // became y: met
		"NEEDS_PLAIN": "y", // dropped: PCI || COMPILE_TEST
		"TYPO_OPTION": "y", // unknown
		"SLUB_TINY":   "n", // requested off, is y: no unmet dependency to name
		"SYSFS_OFF":   "n", // unknown but absent = n: met
	}
	final := Config{"SYSFS": "y", "SLUB_TINY": "y", "PLAIN": "y", "HAVE_ARCH_KASAN": "y", "CC_HAS_KASAN_GENERIC": "y", "EXPERT": "y"}
	got := Compare(requested, final, idx)
	want := []Dropped{
		{Symbol: "KASAN", Want: "y", Got: "n",
			DependsOn: "((HAVE_ARCH_KASAN && CC_HAS_KASAN_GENERIC) || HAVE_ARCH_KASAN_HW_TAGS) && (SYSFS && !SLUB_TINY)",
			Unmet:     []string{"not SLUB_TINY (SLUB_TINY=y)"}},
		{Symbol: "NEEDS_PLAIN", Want: "y", Got: "n", DependsOn: "(PLAIN) && (PCI || COMPILE_TEST)", Unmet: []string{"PCI=n", "COMPILE_TEST=n"}},
		{Symbol: "SLUB_TINY", Want: "n", Got: "y", DependsOn: "EXPERT"},
		{Symbol: "TYPO_OPTION", Want: "y", Got: "n", Unknown: true},
	}
	for i := range got {
		got[i].DependsOn = strings.Join(strings.Fields(got[i].DependsOn), " ")
		got[i].DependsOn = strings.ReplaceAll(strings.ReplaceAll(got[i].DependsOn, "( ", "("), " )", ")")
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Compare:\n got  %+v\n want %+v", got, want)
	}

	// The messages name the culprit.
	msgs := map[string][]string{
		"KASAN":       {"CONFIG_KASAN=y was dropped (now n)", "SYSFS && !SLUB_TINY", "not SLUB_TINY (SLUB_TINY=y)"},
		"NEEDS_PLAIN": {"PCI=n, COMPILE_TEST=n"},
		"SLUB_TINY":   {"depends on EXPERT (or is selected/limited elsewhere)"},
		"TYPO_OPTION": {"no Kconfig in this tree defines TYPO_OPTION"},
	}
	for _, d := range got {
		for _, s := range msgs[d.Symbol] {
			if !strings.Contains(d.String(), s) {
				t.Errorf("%s: %q lacks %q", d.Symbol, d.String(), s)
			}
		}
	}
}

func TestCompareWithoutIndex(t *testing.T) {
	got := Compare(Config{"A": "y", "B": "m", "C": "y", "D": "n"}, Config{"A": "y", "B": "y", "C": "m"}, nil)
	want := []Dropped{{Symbol: "C", Want: "y", Got: "m"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Compare = %+v, want %+v", got, want)
	}
	if s := got[0].String(); s != "CONFIG_C=y was dropped (now m)" {
		t.Errorf("String = %q", s)
	}
	if got := Compare(Config{"A": "y"}, Config{"A": "y"}, nil); got != nil {
		t.Errorf("nothing dropped: %+v", got)
	}
}

// TestIndexRealTree reads a real 7.3 kernel tree (testutil.KernelSource:
// the linux-source rko extracted into its cache, or $RKO_LINUX_SRC).
func TestIndexRealTree(t *testing.T) {
	tree := testutil.KernelSource(t)
	idx, err := IndexTree(tree)
	if err != nil {
		t.Fatal(err)
	}
	k := idx.Symbols["KASAN"]
	if k == nil {
		t.Fatal("KASAN not indexed")
	}
	found := false
	for _, d := range k.Depends {
		if strings.Contains(d, "SLUB_TINY") {
			found = true
			if got := Unmet(d, Config{"SYSFS": "y", "SLUB_TINY": "y"}); !reflect.DeepEqual(got, []string{"not SLUB_TINY (SLUB_TINY=y)"}) {
				t.Errorf("Unmet(%q) = %q", d, got)
			}
		}
	}
	if !found {
		t.Errorf("KASAN depends on %q, want a line naming SLUB_TINY", k.Depends)
	}
	// lib/Kconfig's GLOB has a help text ending "depends on this.",
	// which is prose, not a dependency.
	if g := idx.Symbols["GLOB"]; g != nil {
		for _, d := range g.Depends {
			if strings.Contains(d, "this") {
				t.Errorf("GLOB depends on %q: help text read as a dependency", d)
			}
		}
	}
	for _, bogus := range []string{"option", "select", "if"} {
		if _, ok := idx.Symbols[bogus]; ok {
			t.Errorf("symbol %q indexed from help text", bogus)
		}
	}
	if len(idx.Symbols) < 10000 {
		t.Errorf("only %d symbols indexed", len(idx.Symbols))
	}
}

func TestIndentWidth(t *testing.T) {
	tests := map[string]int{"": 0, "x": 0, "  x": 2, "\tx": 8, "\t  x": 10, "  \tx": 8, "\t\tx": 16, "   ": 3}
	for in, want := range tests {
		if got := indentWidth(in); got != want {
			t.Errorf("indentWidth(%q) = %d, want %d", in, got, want)
		}
	}
}
