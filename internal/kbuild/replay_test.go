package kbuild

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/toolchain"
)

// Where the golden .cmd files were recorded (testdata/cmd/README.md).
const (
	goldenKbuild = "/root/.cache/rko/kernels/9c380229a3f24789/build"
	goldenKsrc   = "/root/.cache/rko/src/linux-source-7.3-52ea112cc03832f8"
)

// goldenSources are the sources of the recorded modules (their content
// does not matter to the plan, only Kbuild's does).
var goldenSources = map[string]map[string]string{
	"rust":      {"Kbuild": "obj-m := hello.o\n", "hello.rs": "// hello\n", "tests/smoke.sh": "#!/bin/sh\n"},
	"composite": {"Kbuild": "obj-m := combo.o\ncombo-y := main.o util.o\n", "main.c": "", "util.c": "", "util.h": ""},
}

// planted is a module directory as make left it, from the golden .cmd
// files, against a kernel tree of empty files, with the record of that
// make.
type planted struct {
	root, dir string
	base      time.Time
	id        replayIdentity
	rec       *replayRecord
}

// plantModule writes the golden module into a temporary directory: the
// .cmd files (the recorded kernel paths moved into the directory), the
// sources, an empty file for every kernel file they name and for every
// target, with modification times in make's order.
func plantModule(t *testing.T, module string) *planted {
	t.Helper()
	root := t.TempDir()
	p := &planted{root: root, dir: filepath.Join(root, "mod"), base: time.Now().Add(-time.Hour).Truncate(time.Second)}
	kb, ks := filepath.Join(root, "kbuild"), filepath.Join(root, "ksrc")
	os.MkdirAll(p.dir, 0o755)
	ents, err := os.ReadDir(filepath.Join("testdata/cmd", module))
	if err != nil {
		t.Fatal(err)
	}
	var kernelFiles []string
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join("testdata/cmd", module, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(strings.ReplaceAll(string(data), goldenKbuild, kb), goldenKsrc, ks)
		name := strings.TrimSuffix(e.Name(), ".golden")
		if strings.HasSuffix(name, ".cmd") {
			name = "." + name
			c, err := ParseCmdFile([]byte(text))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			for _, f := range append(append(append([]string{c.Source}, c.Deps...), c.Wildcards...), strings.Fields(c.Command)...) {
				if strings.HasPrefix(f, root) && !strings.HasSuffix(f, "/") {
					kernelFiles = append(kernelFiles, f)
				}
			}
		}
		writeFile(t, filepath.Join(p.dir, name), text)
	}
	for f, text := range goldenSources[module] {
		writeFile(t, filepath.Join(p.dir, f), text)
	}
	for _, f := range kernelFiles {
		writeFile(t, f, "")
	}
	for f := range goldenSources[module] {
		kernelFiles = append(kernelFiles, filepath.Join(p.dir, f))
	}
	for _, f := range kernelFiles {
		p.setTime(t, f, 0)
	}
	mods, err := readModules(p.dir)
	if err != nil {
		t.Fatal(err)
	}
	// The targets, in the order make makes them.
	at := func(f string, s int) {
		if _, err := os.Stat(filepath.Join(p.dir, f)); err != nil {
			writeFile(t, filepath.Join(p.dir, f), "")
		}
		p.setTime(t, f, s)
	}
	at(".module-common.o", 1)
	for _, m := range mods {
		for _, part := range m.Parts {
			at(part, 1)
		}
		at(m.stem()+".mod", 1)
		if m.composite() {
			at(m.Object, 2)
		}
		at(m.stem()+".mod.c", 4)
		at(m.stem()+".mod.o", 5)
		at(m.stem()+".ko", 6)
	}
	at("modules.order", 3)
	at("Module.symvers", 4)
	p.id = replayIdentity{Dir: p.dir, RunDir: p.dir, Make: []string{"make", "LLVM=1", "-C", kb, "M=" + p.dir, "modules"},
		Env: "env", Kernel: "kernel", Toolchain: "toolchain"}
	if p.rec, err = newRecord(p.id); err != nil {
		t.Fatal(err)
	}
	return p
}

// setTime sets f's modification time to s seconds after the make began
// (f relative to the module directory, or absolute).
func (p *planted) setTime(t *testing.T, f string, s int) {
	t.Helper()
	if !filepath.IsAbs(f) {
		f = filepath.Join(p.dir, f)
	}
	at := p.base.Add(time.Duration(s) * time.Second)
	if err := os.Chtimes(f, at, at); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPlanReplay: which changes a replay follows (the module's own
// sources edited, an object deleted) and which send the build to make,
// with the reason, on the golden modules.
func TestPlanReplay(t *testing.T) {
	const later = 20 // seconds after the make: an edit
	tests := []struct {
		name, module string
		change       func(t *testing.T, p *planted)
		replay       bool
		compile      []string // with replay
		link         []string
		reason       string // part of the reason
	}{
		{"nothing changed", "rust", nil, true, nil, nil, "nothing changed"},
		{"source edited", "rust", func(t *testing.T, p *planted) { p.setTime(t, "hello.rs", later) }, true, []string{"hello.o"}, nil, "only module sources changed: hello.rs"},
		{"object deleted", "rust", func(t *testing.T, p *planted) { os.Remove(filepath.Join(p.dir, "hello.o")) }, true, []string{"hello.o"}, nil, "hello.rs"},
		{"a part's source edited", "composite", func(t *testing.T, p *planted) { p.setTime(t, "util.c", later) }, true, []string{"util.o"}, []string{"combo.o"}, "util.c"},
		{"a shared header edited", "composite", func(t *testing.T, p *planted) { p.setTime(t, "util.h", later) }, true, []string{"main.o", "util.o"}, []string{"combo.o"}, "util.h"},
		{"test program edited", "rust", func(t *testing.T, p *planted) { writeFile(t, filepath.Join(p.dir, "tests/smoke.sh"), "exit 1\n") }, true, nil, nil, "nothing changed"},
		{"Kbuild touched, same text", "rust", func(t *testing.T, p *planted) { p.setTime(t, "Kbuild", later) }, true, nil, nil, "nothing changed"},
		{"an interrupted build", "rust", func(t *testing.T, p *planted) { p.setTime(t, "hello.o", later) }, true, nil, nil, "finishing the last build"},

		{"no record", "rust", func(t *testing.T, p *planted) { p.rec = nil }, false, nil, nil, "no make build"},
		{"Kbuild edited", "rust", func(t *testing.T, p *planted) {
			writeFile(t, filepath.Join(p.dir, "Kbuild"), "obj-m := hello.o\nccflags-y := -DDEBUG\n")
		}, false, nil, nil, "Kbuild changed"},
		{"Makefile added", "rust", func(t *testing.T, p *planted) { writeFile(t, filepath.Join(p.dir, "Makefile"), "all:\n") }, false, nil, nil, "new source file Makefile"},
		{"new source file", "composite", func(t *testing.T, p *planted) { writeFile(t, filepath.Join(p.dir, "extra.c"), "") }, false, nil, nil, "new source file extra.c"},
		{"new file in a subdirectory", "rust", func(t *testing.T, p *planted) { writeFile(t, filepath.Join(p.dir, "sub/more.rs"), "") }, false, nil, nil, "new source file sub/more.rs"},
		{"source file deleted", "composite", func(t *testing.T, p *planted) { os.Remove(filepath.Join(p.dir, "util.h")) }, false, nil, nil, "source file util.h deleted"},
		{"module renamed", "rust", func(t *testing.T, p *planted) {
			writeFile(t, filepath.Join(p.dir, "Kbuild"), "obj-m := greet.o\n")
			os.Rename(filepath.Join(p.dir, "hello.rs"), filepath.Join(p.dir, "greet.rs"))
		}, false, nil, nil, "Kbuild changed"},
		{".cmd missing", "rust", func(t *testing.T, p *planted) { os.Remove(filepath.Join(p.dir, ".hello.o.cmd")) }, false, nil, nil, ".hello.o.cmd is missing"},
		{".cmd does not parse", "rust", func(t *testing.T, p *planted) {
			writeFile(t, filepath.Join(p.dir, ".hello.ko.cmd"), "savedcmd_hello.ko := $(LD) -r\n")
		}, false, nil, nil, ".hello.ko.cmd: not in the shape Kbuild writes"},
		{"another make ran here", "rust", func(t *testing.T, p *planted) {
			c := filepath.Join(p.dir, ".hello.ko.cmd")
			data, _ := os.ReadFile(c)
			writeFile(t, c, strings.Replace(string(data), "ld.lld -r", "ld.lld --strip-debug -r", 1))
		}, false, nil, nil, "not the one rko's make recorded"},
		{"another kernel", "rust", func(t *testing.T, p *planted) { p.id.Kernel = "another" }, false, nil, nil, "another kernel"},
		{"another toolchain", "rust", func(t *testing.T, p *planted) { p.id.Toolchain = "another" }, false, nil, nil, "another toolchain"},
		{"make's arguments changed", "rust", func(t *testing.T, p *planted) { p.id.Make = append(p.id.Make, "W=1") }, false, nil, nil, "make's command line changed"},
		{"environment changed", "rust", func(t *testing.T, p *planted) { p.id.Env = "other" }, false, nil, nil, "the environment changed"},
		{"directory moved", "rust", func(t *testing.T, p *planted) { p.id.Dir = "/elsewhere" }, false, nil, nil, "moved"},
		{"a kernel header changed", "composite", func(t *testing.T, p *planted) {
			p.setTime(t, filepath.Join(p.root, "ksrc/include/linux/module.h"), later)
		}, false, nil, nil, "ksrc/include/linux/module.h changed since main.o was built"},
		{"the kernel crate changed", "rust", func(t *testing.T, p *planted) {
			p.setTime(t, filepath.Join(p.root, "kbuild/rust/libkernel.rmeta"), later)
		}, false, nil, nil, "libkernel.rmeta changed since hello.o was built"},
		{"a header of .mod.c changed", "rust", func(t *testing.T, p *planted) {
			p.setTime(t, filepath.Join(p.root, "ksrc/include/linux/export-internal.h"), later)
		}, false, nil, nil, "changed since hello.mod.o was built"},
		{"a kernel dependency deleted", "rust", func(t *testing.T, p *planted) {
			os.Remove(filepath.Join(p.root, "kbuild/rust/libkernel.rmeta"))
		}, false, nil, nil, "libkernel.rmeta (missing)"},
		{"the .ko deleted", "rust", func(t *testing.T, p *planted) { os.Remove(filepath.Join(p.dir, "hello.ko")) }, false, nil, nil, "hello.ko is missing"},
		{"modules.order changed", "rust", func(t *testing.T, p *planted) {
			writeFile(t, filepath.Join(p.dir, "modules.order"), "hello.o\nother.o\n")
		}, false, nil, nil, "other.mod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := plantModule(t, tt.module)
			if tt.change != nil {
				tt.change(t, p)
			}
			plan, reason := planReplay(p.rec, p.id)
			if !strings.Contains(reason, tt.reason) {
				t.Errorf("reason %q, want it to say %q", reason, tt.reason)
			}
			if (plan != nil) != tt.replay {
				t.Fatalf("replay: %v, want %v (%s)", plan != nil, tt.replay, reason)
			}
			if plan == nil {
				return
			}
			var compile, link []string
			for _, c := range plan.compile {
				compile = append(compile, c.Target)
			}
			for _, c := range plan.link {
				link = append(link, c.Target)
			}
			if !slices.Equal(compile, tt.compile) || !slices.Equal(link, tt.link) {
				t.Errorf("compiles %q, links %q; want %q, %q", compile, link, tt.compile, tt.link)
			}
		})
	}
}

// TestReplayScripts: the scripts of a replay run the recorded commands
// in make's order, under make's conditions, each followed by what
// Kbuild does after it (fixdep and the objtool line for a compile).
func TestReplayScripts(t *testing.T) {
	p := plantModule(t, "composite")
	p.setTime(t, "util.c", 20)
	plan, reason := planReplay(p.rec, p.id)
	if plan == nil {
		t.Fatal(reason)
	}
	kb := filepath.Join(p.root, "kbuild")
	compile, rest := plan.scripts(kb)
	util := plan.cmds["util.o"]
	if !strings.HasPrefix(compile, "if ! (set -e; ") {
		t.Errorf("compile script does not start with the compile:\n%s", compile)
	}
	for _, want := range []string{
		"if ! (set -e; " + util.Command + "\n); then rm -f 'util.o'; ",
		shellQuote(kb+"/scripts/basic/fixdep") + " './.util.o.d' 'util.o' " + shellQuote(util.Saved) + " > '.util.o.cmd'\nrm -f './.util.o.d'\n",
	} {
		if !strings.Contains(compile, want) {
			t.Errorf("compile script lacks %q:\n%s", want, compile)
		}
	}
	if strings.Contains(compile, "main.o") {
		t.Errorf("compile script compiles main.o, which did not change:\n%s", compile)
	}
	order := []string{
		"if [ 'main.o' -nt 'combo.o' ] || [ 'util.o' -nt 'combo.o' ]; then\n",
		"if [ 'combo.o' -nt 'modules.order' ]; then\n",
		"if [ 'modules.order' -nt 'Module.symvers' ]; then\n",
		"if [ 'combo.mod.c' -nt 'combo.mod.o' ]; then\n",
		"if [ 'combo.o' -nt 'combo.ko' ] || [ 'combo.mod.o' -nt 'combo.ko' ] || [ '.module-common.o' -nt 'combo.ko' ]; then\n",
	}
	at := 0
	for _, want := range order {
		i := strings.Index(rest[at:], want)
		if i < 0 {
			t.Fatalf("rest script lacks %q after byte %d:\n%s", want, at, rest)
		}
		at += i + len(want)
	}
	// The .mod.o compile gets fixdep and its objtool line back.
	modo := plan.cmds["combo.mod.o"]
	if modo.Tail == "" || !strings.Contains(rest, "printf '%s' "+shellQuote(modo.Tail)+" >> '.combo.mod.o.cmd'\n") {
		t.Errorf("rest script does not write .combo.mod.o.cmd's tail %q:\n%s", modo.Tail, rest)
	}
}

// TestReplayRuns runs a replay's script for real, with sh, on a module
// whose recorded commands are shell stand-ins for the compiler, fixdep,
// modpost and the linker: only the changed object is compiled and its
// .cmd file written again as make writes it; modpost runs; the .mod.c
// compile runs only when modpost changed the .mod.c; the .ko is linked
// from the new object; a command that fails deletes its target and is
// named in the error.
func TestReplayRuns(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	root := t.TempDir()
	dir, kb := filepath.Join(root, "m"), filepath.Join(root, "kbuild")
	objtool := kb + "/tools/objtool/objtool"
	// fixdep as Kbuild's prints a compile's .cmd: the saved command,
	// the source, no dependencies.
	writeExec(t, kb+"/scripts/basic/fixdep", `printf 'savedcmd_%s := %s\n\nsource_%s := %s\n\ndeps_%s := \\\n\n%s: $(deps_%s)\n\n$(deps_%s):\n' "$2" "$3" "$2" "$(cat "$1")" "$2" "$2" "$2" "$2"`+"\n")
	writeExec(t, objtool, "exit 0\n")
	// modpost writes the .mod.c only when its text changes, as the real
	// one does, and always Module.symvers.
	writeExec(t, kb+"/modpost", `cp modc.text m.mod.c.new; if cmp -s m.mod.c.new m.mod.c; then rm m.mod.c.new; else mv m.mod.c.new m.mod.c; fi; : > Module.symvers`+"\n")
	writeFile(t, kb+"/scripts/module-common.c", "")
	compileCmd := func(target, src string) string {
		return "if grep -q FAIL " + src + "; then exit 1; fi; cp " + src + " " + target + "; printf '" + src + "' > ./." + target + ".d"
	}
	cmdFile := func(target, src, tail string) string {
		saved := strings.ReplaceAll(compileCmd(target, src), "$", "$$")
		return "savedcmd_" + target + " := " + saved + "\n\nsource_" + target + " := " + src + "\n\ndeps_" + target + " := \\\n\n" +
			target + ": $(deps_" + target + ")\n\n$(deps_" + target + "):\n" + tail
	}
	objTail := "\nm.o: $(wildcard " + objtool + ")\n"
	for name, text := range map[string]string{
		"Kbuild": "obj-m := m.o\n", "m.c": "v1\n", "modc.text": "modinfo 1\n", "m.mod": "./m.o\n", "modules.order": "m.o\n",
		".m.o.cmd":              cmdFile("m.o", "m.c", objTail),
		".m.mod.o.cmd":          cmdFile("m.mod.o", "m.mod.c", ""),
		"..module-common.o.cmd": "savedcmd_.module-common.o := true\n\nsource_.module-common.o := " + kb + "/scripts/module-common.c\n\ndeps_.module-common.o := \\\n\n.module-common.o: $(deps_.module-common.o)\n\n$(deps_.module-common.o):\n",
		".modules.order.cmd":    "savedcmd_modules.order := {   echo m.o; :; } > modules.order\n",
		".Module.symvers.cmd":   "savedcmd_Module.symvers := sh " + kb + "/modpost\n",
		".m.ko.cmd":             "savedcmd_m.ko := cat m.o m.mod.o .module-common.o > m.ko\n",
		"m.o":                   "v1\n", "m.mod.c": "modinfo 1\n", "m.mod.o": "modinfo 1\n", ".module-common.o": "", "Module.symvers": "", "m.ko": "v1\nmodinfo 1\n",
	} {
		writeFile(t, filepath.Join(dir, name), text)
	}
	base := time.Now().Add(-time.Hour)
	for _, f := range []string{objtool, kb + "/scripts/basic/fixdep", kb + "/modpost", kb + "/scripts/module-common.c"} {
		os.Chtimes(f, base.Add(-time.Hour), base.Add(-time.Hour))
	}
	for i, f := range []string{"Kbuild", "m.c", "modc.text", "m.mod", "m.o", ".module-common.o", "modules.order", "Module.symvers", "m.mod.c", "m.mod.o", "m.ko"} {
		at := base.Add(time.Duration(i) * time.Second)
		os.Chtimes(filepath.Join(dir, f), at, at)
	}
	id := replayIdentity{Dir: dir, RunDir: dir, Make: []string{"make"}, Kernel: "k", Toolchain: "t"}
	rec, err := newRecord(id)
	if err != nil {
		t.Fatal(err)
	}
	tc := &toolchain.Toolchain{Kind: toolchain.Host}
	k := &kernel.Kernel{BuildDir: kb}
	replay := func(t *testing.T) error {
		t.Helper()
		plan, reason := planReplay(rec, id)
		if plan == nil {
			t.Fatalf("no replay: %s", reason)
		}
		_, err := runReplay(context.Background(), tc, k, plan, nil, nil, nil, io.Discard)
		return err
	}
	read := func(f string) string {
		data, _ := os.ReadFile(filepath.Join(dir, f))
		return string(data)
	}
	origCmd := read(".m.o.cmd")
	modo := mtime(filepath.Join(dir, "m.mod.o"))

	writeFile(t, filepath.Join(dir, "m.c"), "v2\n")
	if err := replay(t); err != nil {
		t.Fatal(err)
	}
	if got := read("m.ko"); got != "v2\nmodinfo 1\n" {
		t.Errorf("m.ko = %q after an edit", got)
	}
	if got := read(".m.o.cmd"); got != origCmd {
		t.Errorf(".m.o.cmd written again as\n%s\nwant\n%s", got, origCmd)
	}
	if _, err := os.Stat(filepath.Join(dir, ".m.o.d")); err == nil {
		t.Errorf("the dependency file was left behind")
	}
	if !mtime(filepath.Join(dir, "m.mod.o")).Equal(modo) {
		t.Errorf("m.mod.o compiled again, though modpost did not change m.mod.c")
	}

	// modpost changes the .mod.c: its object is compiled again.
	writeFile(t, filepath.Join(dir, "modc.text"), "modinfo 2\n")
	writeFile(t, filepath.Join(dir, "m.c"), "v3\n")
	if err := replay(t); err != nil {
		t.Fatal(err)
	}
	if got := read("m.ko"); got != "v3\nmodinfo 2\n" {
		t.Errorf("m.ko = %q after modpost changed m.mod.c", got)
	}

	// A compile that fails.
	writeFile(t, filepath.Join(dir, "m.c"), "FAIL\n")
	err = replay(t)
	if err == nil || !strings.Contains(err.Error(), "the command of m.o failed") {
		t.Errorf("error %v, want the failed command named", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "m.o")); err == nil {
		t.Errorf("m.o kept after its command failed (make deletes it)")
	}
}

// TestMarkWriter: the time the compile's mark goes by is noted, even
// when it comes in pieces.
func TestMarkWriter(t *testing.T) {
	var out bytes.Buffer
	m := &markWriter{w: &out, mark: []byte(compiledMark)}
	m.Write([]byte("warning: something\nrko replay: com"))
	if !m.seen().IsZero() {
		t.Fatal("seen before it was whole")
	}
	m.Write([]byte("piled\nmore"))
	if m.seen().IsZero() {
		t.Fatal("not seen")
	}
	if out.String() != "warning: something\nrko replay: compiled\nmore" {
		t.Errorf("output %q", out.String())
	}
}

func writeExec(t *testing.T, path, script string) {
	t.Helper()
	writeFile(t, path, "#!/bin/sh\n"+script)
	os.Chmod(path, 0o755)
}
