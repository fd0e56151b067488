package rustproject

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/run"
	"github.com/rkodev/rko/internal/testutil"
	"github.com/rkodev/rko/internal/toolchain"
)

var update = flag.Bool("update", false, "rewrite golden files")

// The directories of the machine hello-raw.json was recorded on.
const (
	recRoot   = "/root/.cache/rko/toolchain/trixie/rootfs"
	recKernel = "/root/.cache/rko/kernels/98baff65ad675fcd"
	recSource = "/root/.cache/rko/src/linux-source-7.3-52ea112cc03832f8"
	recModule = "/tmp/ra/hello"
)

func TestRewriteGolden(t *testing.T) {
	raw, err := os.ReadFile("testdata/hello-raw.json")
	if err != nil {
		t.Fatal(err)
	}
	m := Marker{Inputs: "in", Kernel: "98baff65ad675fcd", KernelDir: recKernel, SourceDir: recSource, ToolchainRoot: recRoot, Regenerate: "rko rust-analyzer " + recModule}
	got, err := Rewrite(raw, recRoot, []string{recKernel, recSource, recModule}, m)
	if err != nil {
		t.Fatal(err)
	}
	golden := "testdata/hello-rewritten.golden.json"
	if *update {
		os.WriteFile(golden, got, 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Rewrite differs from %s (go test -update rewrites it)", golden)
	}
	// Every toolchain path now points into the rootfs; the kernel's and
	// the module's are untouched.
	s := string(got)
	for _, bad := range []string{`"/usr/`, `"/usr"`} {
		if strings.Contains(s, bad) {
			t.Errorf("rewritten file still has %s", bad)
		}
	}
	for _, want := range []string{
		`"sysroot": "` + recRoot + `/usr"`,
		`"root_module": "` + recRoot + `/usr/lib/rustlib/src/rust/library/core/src/lib.rs"`,
		`"root_module": "` + recSource + `/rust/kernel/lib.rs"`,
		`"proc_macro_dylib_path": "` + recKernel + `/build/rust/libmacros.so"`,
		`"root_module": "` + recModule + `/hello.rs"`,
		`"OBJTREE": "` + recKernel + `/build"`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("rewritten file lacks %s", want)
		}
	}
	if m2, ok := ReadMarker(got); !ok || m2.Kernel != m.Kernel || m2.ToolchainRoot != recRoot {
		t.Errorf("ReadMarker of a fresh file = %+v, %v", m2, ok)
	}
	// The host toolchain has nothing to rewrite.
	host, err := Rewrite(raw, "", nil, m)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(host), `"sysroot": "/usr"`) {
		t.Error("Rewrite for the host toolchain changed the sysroot")
	}
}

func TestReadMarker(t *testing.T) {
	raw, _ := os.ReadFile("testdata/hello-raw.json")
	data, err := Rewrite(raw, recRoot, []string{recKernel, recSource, recModule}, Marker{Kernel: "k", KernelDir: recKernel})
	if err != nil {
		t.Fatal(err)
	}
	compact := func(b []byte) []byte {
		var out bytes.Buffer
		for _, line := range strings.Split(string(b), "\n") {
			out.WriteString(strings.TrimSpace(line))
		}
		return out.Bytes()
	}
	tests := []struct {
		name   string
		data   []byte
		ok     bool
		marker bool // the marker is still read
	}{
		{"as written", data, true, true},
		{"reindented", compact(data), true, true},
		{"edited", bytes.Replace(data, []byte(`"edition": "2021"`), []byte(`"edition": "2024"`), 1), false, true},
		{"no marker", raw, false, false},
		{"not json", []byte("{"), false, false},
		{"marker without hash", []byte(`{"crates":[],"rko":{"kernel":"k"}}`), false, true},
	}
	for _, tt := range tests {
		m, ok := ReadMarker(tt.data)
		if ok != tt.ok || (m.Kernel != "") != tt.marker {
			t.Errorf("%s: ReadMarker = %+v, %v; want ok %v, marker %v", tt.name, m, ok, tt.ok, tt.marker)
		}
	}
}

func TestCrateRoots(t *testing.T) {
	dir := testutil.WriteTree(t, map[string]string{
		"Kbuild":        "obj-m := a.o\n",
		"a.rs":          "",
		"helper.rs":     "", // a module of a, not a crate root
		"sub/Makefile":  "obj-m += b.o\n",
		"sub/b.rs":      "",
		".git/x/Kbuild": "obj-m := c.o\n",
		".git/x/c.rs":   "",
		"c/Kbuild":      "obj-m := c.o\n",
		"c/c.c":         "",
	})
	got, err := CrateRoots(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "a.rs"), filepath.Join(dir, "sub/b.rs")}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("CrateRoots = %q, want %q", got, want)
	}
}

// makeStub answers make ... MO=DIR rust-analyzer by writing a
// rust-project.json whose crates name files that exist, as the real rule
// does, and counts its calls.
type makeStub struct {
	calls int
	body  func(mod string) string
}

func (s *makeStub) Run(_ context.Context, _ run.Opts, argv ...string) (*run.Result, error) {
	var mo, mod string
	for _, a := range argv {
		if v, ok := strings.CutPrefix(a, "MO="); ok {
			mo = v
		}
		if v, ok := strings.CutPrefix(a, "M="); ok {
			mod = v
		}
	}
	if argv[0] != "make" || argv[len(argv)-1] != "rust-analyzer" || mo == "" {
		return nil, &run.Error{Argv: argv, ExitCode: 2, Err: errors.New("unexpected command")}
	}
	s.calls++
	return &run.Result{}, os.WriteFile(filepath.Join(mo, FileName), []byte(s.body(mod)), 0o644)
}

func fakeKernel(t *testing.T, rust bool) *kernel.Kernel {
	t.Helper()
	cfg := "CONFIG_RUST=y\n"
	if !rust {
		cfg = "# CONFIG_RUST is not set\n"
	}
	dir := testutil.WriteTree(t, map[string]string{
		"build/.config":                     cfg,
		"build/include/generated/rustc_cfg": "--cfg=CONFIG_RUST\n",
		"src/rust/kernel/lib.rs":            "",
	})
	return &kernel.Kernel{Key: "k1", Dir: dir, BuildDir: filepath.Join(dir, "build"), Source: &kernel.Source{Dir: filepath.Join(dir, "src")}}
}

func TestWrite(t *testing.T) {
	k := fakeKernel(t, true)
	stub := &makeStub{body: func(mod string) string {
		return `{"crates":[{"display_name":"kernel","root_module":"` + k.Source.Dir + `/rust/kernel/lib.rs"},` +
			`{"display_name":"m","root_module":"` + mod + `/m.rs"}],"sysroot":"/"}`
	}}
	tc := &toolchain.Toolchain{Kind: toolchain.Host, ID: "host", Runner: stub}
	mod := testutil.WriteTree(t, map[string]string{"Kbuild": "obj-m := m.o\n", "m.rs": ""})
	path := filepath.Join(mod, FileName)
	write := func(force bool) *Result {
		t.Helper()
		r, err := Write(context.Background(), Params{Toolchain: tc, Kernel: k, Dir: mod, Force: force})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	if r := write(false); r.Status != Written || r.Crates != 2 || stub.calls != 1 {
		t.Fatalf("first Write = %+v after %d make calls", r, stub.calls)
	}
	if r := write(false); r.Status != UpToDate || stub.calls != 1 {
		t.Errorf("second Write = %+v after %d make calls, want up to date without make", r, stub.calls)
	}
	os.WriteFile(filepath.Join(mod, "Kbuild"), []byte("obj-m := m.o\nccflags-y := -DX\n"), 0o644)
	if r := write(false); r.Status != Written || stub.calls != 2 {
		t.Errorf("Write after a Kbuild change = %+v after %d make calls, want regenerated", r, stub.calls)
	}
	k2 := &kernel.Kernel{Key: "k2", Dir: k.Dir, BuildDir: k.BuildDir, Source: k.Source}
	if r, err := Write(context.Background(), Params{Toolchain: tc, Kernel: k2, Dir: mod}); err != nil || r.Status != Written {
		t.Errorf("Write for another kernel = %+v, %v, want regenerated", r, err)
	}

	// The user's edit is kept, byte for byte, and the note says how to
	// regenerate.
	data, _ := os.ReadFile(path)
	edited := bytes.Replace(data, []byte(`"sysroot": "/"`), []byte(`"sysroot": "/opt/rust"`), 1)
	os.WriteFile(path, edited, 0o644)
	calls := stub.calls
	r := write(false)
	if now, _ := os.ReadFile(path); r.Status != Kept || !bytes.Equal(now, edited) || stub.calls != calls {
		t.Errorf("Write over an edited file = %+v (make calls %d -> %d), file changed: %v", r, calls, stub.calls, !bytes.Equal(now, edited))
	}
	if !strings.Contains(r.Note, "rko rust-analyzer --force") {
		t.Errorf("note %q does not say how to regenerate", r.Note)
	}
	// --force replaces it and keeps the user's as .orig; a second --force
	// refuses to replace that backup.
	if r := write(true); r.Status != Written || r.Backup != path+".orig" {
		t.Errorf("forced Write = %+v", r)
	}
	if b, _ := os.ReadFile(path + ".orig"); !bytes.Equal(b, edited) {
		t.Error("forced Write lost the user's file")
	}
	os.WriteFile(path, []byte("{}"), 0o644)
	if _, err := Write(context.Background(), Params{Toolchain: tc, Kernel: k, Dir: mod, Force: true}); err == nil || !strings.Contains(err.Error(), ".orig exists") {
		t.Errorf("second forced Write: %v, want a refusal to replace the backup", err)
	}

	// A C module has nothing for rust-analyzer.
	cmod := testutil.WriteTree(t, map[string]string{"Kbuild": "obj-m := c.o\n", "c.c": ""})
	if r, err := Write(context.Background(), Params{Toolchain: tc, Kernel: k, Dir: cmod}); err != nil || r.Status != NoRust {
		t.Errorf("Write of a C module = %+v, %v", r, err)
	}
	if _, err := os.Stat(filepath.Join(cmod, FileName)); err == nil {
		t.Error("Write wrote a rust-project.json for a C module")
	}
	// A kernel without Rust is refused with the reason.
	fresh := testutil.WriteTree(t, map[string]string{"Kbuild": "obj-m := m.o\n", "m.rs": ""})
	if _, err := Write(context.Background(), Params{Toolchain: tc, Kernel: fakeKernel(t, false), Dir: fresh}); err == nil || !strings.Contains(err.Error(), "without CONFIG_RUST") {
		t.Errorf("Write for a kernel without Rust: %v", err)
	}
	// A file whose paths do not exist is an error, not a file.
	stub.body = func(mod string) string {
		return `{"crates":[{"display_name":"kernel","root_module":"/nonexistent/lib.rs"}]}`
	}
	if _, err := Write(context.Background(), Params{Toolchain: tc, Kernel: k, Dir: fresh}); err == nil || !strings.Contains(err.Error(), "do not exist on the host") {
		t.Errorf("Write of a file with missing paths: %v", err)
	}
	if _, err := os.Stat(filepath.Join(fresh, FileName)); err == nil {
		t.Error("a wrong file was written")
	}
}

func TestAddCfgs(t *testing.T) {
	raw := []byte(`{"crates": [{"root_module": "/k/rust/kernel/lib.rs", "cfg": ["CONFIG_RUST"]},
		{"root_module": "/m/hello.rs", "cfg": ["MODULE"]}]}`)
	out, err := AddCfgs(raw, "/m", []string{"rko", "rko_kernel_7_3"})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := decode(out)
	if err != nil {
		t.Fatal(err)
	}
	crates := doc["crates"].([]any)
	if got := fmt.Sprint(crates[0].(map[string]any)["cfg"]); got != "[CONFIG_RUST]" {
		t.Errorf("kernel crate cfg = %s, want it untouched", got)
	}
	if got := fmt.Sprint(crates[1].(map[string]any)["cfg"]); got != "[MODULE rko rko_kernel_7_3]" {
		t.Errorf("module crate cfg = %s", got)
	}
}
