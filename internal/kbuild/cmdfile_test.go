package kbuild

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// goldenCmd reads a .cmd file recorded from a real build
// (testdata/cmd/README.md).
func goldenCmd(t *testing.T, module, target string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata/cmd", module, strings.TrimPrefix(cmdFileOf(target), ".")+".golden"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestParseRealCmdFiles reads the .cmd files of real builds: a Rust
// module, and a C module linked from two objects.
func TestParseRealCmdFiles(t *testing.T) {
	for _, tt := range []struct {
		module, target string
		source         string // "" for a command without fixdep's part
		cmdHas         []string
		deps           int // at least
		wildcards      []string
		tail           bool
	}{
		{"rust", "hello.o", "hello.rs", []string{"RUST_MODFILE=./hello rustc ", "--emit=obj=hello.o hello.rs", "; /root/.cache/rko/kernels/9c380229a3f24789/build/tools/objtool/objtool "},
			12, []string{"include/config/KUNIT", "/root/.cache/rko/kernels/9c380229a3f24789/build/tools/objtool/objtool"}, true},
		{"rust", "hello.mod.o", "hello.mod.c", []string{"clang -Wp,-MMD,./.hello.mod.o.d ", "-c -o hello.mod.o hello.mod.c"}, 100, nil, true},
		{"rust", ".module-common.o", "/root/.cache/rko/src/linux-source-7.3-52ea112cc03832f8/scripts/module-common.c", []string{"-c -o .module-common.o "}, 100, nil, true},
		{"rust", "hello.ko", "", []string{"ld.lld -r -m elf_x86_64 ", "-o hello.ko hello.o hello.mod.o .module-common.o"}, 0, nil, false},
		{"rust", "Module.symvers", "", []string{"scripts/mod/modpost -M ", "-T modules.order"}, 0, nil, false},
		{"rust", "modules.order", "", []string{"{   echo hello.o; :; } > modules.order"}, 0, nil, false},
		{"rust", "hello.mod", "", []string{`awk '!x[$0]++ { print("./"$0) }' > hello.mod`}, 0, nil, false},
		{"composite", "main.o", "main.c", []string{`-DKBUILD_BASENAME='"main"' -DKBUILD_MODNAME='"combo"'`, "-c -o main.o main.c"}, 100, nil, false},
		{"composite", "util.o", "util.c", []string{"-c -o util.o util.c"}, 9, nil, false},
		{"composite", "combo.o", "", []string{"-r -o combo.o @combo.mod", "objtool "}, 0, []string{"/root/.cache/rko/kernels/9c380229a3f24789/build/tools/objtool/objtool"}, false},
	} {
		t.Run(tt.module+"/"+tt.target, func(t *testing.T) {
			data := goldenCmd(t, tt.module, tt.target)
			c, err := ParseCmdFile(data)
			if err != nil {
				t.Fatal(err)
			}
			if c.Target != tt.target || c.Source != tt.source {
				t.Errorf("target %q source %q, want %q %q", c.Target, c.Source, tt.target, tt.source)
			}
			for _, s := range tt.cmdHas {
				if !strings.Contains(c.Command, s) {
					t.Errorf("command lacks %q:\n%s", s, c.Command)
				}
			}
			if strings.Contains(c.Command, "$$") {
				t.Errorf("command still escaped for make: %s", c.Command)
			}
			if len(c.Deps) < tt.deps {
				t.Errorf("%d dependencies, want at least %d", len(c.Deps), tt.deps)
			}
			for _, w := range tt.wildcards {
				found := false
				for _, x := range c.Wildcards {
					found = found || x == w
				}
				if !found {
					t.Errorf("no $(wildcard %s) in %q", w, c.Wildcards)
				}
			}
			if c.Source != "" {
				// What fixdep writes, then the tail, is the file again.
				end := "$(deps_" + c.Target + "):\n"
				i := strings.Index(string(data), end)
				if i < 0 || string(data[:i+len(end)])+c.Tail != string(data) {
					t.Errorf("fixdep's part and the tail %q are not the file", c.Tail)
				}
				if (c.Tail != "") != tt.tail {
					t.Errorf("tail %q, want one: %v", c.Tail, tt.tail)
				}
			}
		})
	}
}

// TestParseCmdFileRefuses: text that is not what Kbuild writes, or a
// command that needs make to expand it, does not parse.
func TestParseCmdFileRefuses(t *testing.T) {
	for name, text := range map[string]string{
		"empty":               "",
		"no savedcmd":         "cmd_hello.o := rustc hello.rs\n",
		"make variable":       "savedcmd_hello.o := $(CC) -c hello.c\n",
		"lone dollar":         "savedcmd_hello.o := echo $HOME\n",
		"source without deps": "savedcmd_hello.o := cc -c hello.c\n\nsource_hello.o := hello.c\n\nhello.o: x\n",
		"unknown rule":        "savedcmd_hello.o := cc -c hello.c\n\nhello.o: other.o\n",
		"deps not closed":     "savedcmd_hello.o := cc\n\nsource_hello.o := hello.c\n\ndeps_hello.o := \\\n  a.h \\\n\nhello.o: $(deps_other.o)\n",
		"space in a dep":      "savedcmd_hello.o := cc\n\nsource_hello.o := hello.c\n\ndeps_hello.o := \\\n  a b.h \\\n\nhello.o: $(deps_hello.o)\n\n$(deps_hello.o):\n",
	} {
		if c, err := ParseCmdFile([]byte(text)); err == nil {
			t.Errorf("%s: parsed as %+v", name, c)
		} else if !errors.Is(err, errCmdSyntax) {
			t.Errorf("%s: error %v is not errCmdSyntax", name, err)
		}
	}
}

// TestUnescapeMake: make-cmd's escapes ($$, $(pound)) undone, and a
// command quoted for fixdep reaches it as the file holds it.
func TestUnescapeMake(t *testing.T) {
	for in, want := range map[string]string{
		`awk '!x[$$0]++'`:        `awk '!x[$0]++'`,
		`echo a$(pound)b`:        `echo a#b`,
		`printf '$$$$'`:          `printf '$$'`,
		`no escapes at all`:      `no escapes at all`,
		`-DX='"main"' $$(pound)`: `-DX='"main"' $(pound)`,
	} {
		got, err := unescapeMake(in)
		if err != nil || got != want {
			t.Errorf("unescapeMake(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	for _, s := range []string{`it's`, `'"main"'`, `a'\''b`, `$$0 $(pound)`} {
		out, err := exec.Command("sh", "-c", "printf '%s' "+shellQuote(s)).Output()
		if err != nil || string(out) != s {
			t.Errorf("shellQuote(%q) reaches sh as %q (%v)", s, out, err)
		}
	}
}

// TestCmdFileNames: Kbuild's names for a target's .cmd and dependency
// files.
func TestCmdFileNames(t *testing.T) {
	for target, want := range map[string][2]string{
		"hello.o":          {".hello.o.cmd", "./.hello.o.d"},
		".module-common.o": {"..module-common.o.cmd", "./..module-common.o.d"},
		"sub/a,b.o":        {"sub/.a,b.o.cmd", "sub/.a_b.o.d"},
	} {
		if got := cmdFileOf(target); got != want[0] {
			t.Errorf("cmdFileOf(%q) = %q, want %q", target, got, want[0])
		}
		if got := depFileOf(target); got != want[1] {
			t.Errorf("depFileOf(%q) = %q, want %q", target, got, want[1])
		}
	}
}

// TestCompilerCommand: the compiler's invocation without Kbuild's objtool
// pass, for a compile with one and one without.
func TestCompilerCommand(t *testing.T) {
	rust, err := ParseCmdFile(goldenCmd(t, "rust", "hello.o"))
	if err != nil {
		t.Fatal(err)
	}
	got := rust.CompilerCommand()
	if !strings.HasPrefix(got, "OBJTREE=") || !strings.HasSuffix(got, "--emit=obj=hello.o hello.rs") || strings.Contains(got, "objtool") {
		t.Errorf("rustc alone: %q", got)
	}
	util, err := ParseCmdFile(goldenCmd(t, "composite", "util.o"))
	if err != nil {
		t.Fatal(err)
	}
	if got := util.CompilerCommand(); got != util.Command {
		t.Errorf("a compile without objtool changed: %q", got)
	}
}
