package device

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rkodev/rko/internal/run"
	"github.com/rkodev/rko/internal/target"
)

func tgt(t *testing.T, name string) *target.Target {
	t.Helper()
	tt := target.Known(name)
	if tt == nil {
		t.Fatalf("no target %s", name)
	}
	return tt
}

func TestParse(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{"pci-testdev", "pci-testdev", ""},
		{"rust-test-platform", "rust-test-platform", ""},
		{"acpi-ssdt=/x/ssdt.dsl", "acpi-ssdt=/x/ssdt.dsl", ""},
		{"nvme", "", "unknown device \"nvme\": rko knows acpi-ssdt, dt-node, pci-testdev, rust-test-platform"},
		{"acpi-ssdt", "", "give it as acpi-ssdt=FILE"},
		{"acpi-ssdt=", "", "give it as acpi-ssdt=FILE"},
		{"pci-testdev=x", "", "takes no file"},
	}
	for _, tt := range tests {
		s, err := Parse(tt.in)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("Parse(%q) = %v, want error %q", tt.in, err, tt.err)
		case tt.err == "" && (err != nil || s.String() != tt.want):
			t.Errorf("Parse(%q) = %v, %v, want %s", tt.in, s, err, tt.want)
		}
	}
}

// Every device says, for every target, how it is made or why it is not
// there; UML has none.
func TestForms(t *testing.T) {
	file := filepath.Join(t.TempDir(), "x")
	os.WriteFile(file, nil, 0o644)
	tests := []struct {
		spec Spec
		arch string
		kind string // "" means an error containing err
		err  string
	}{
		{Spec{Name: "pci-testdev"}, "x86_64", KindArgs, ""},
		{Spec{Name: "pci-testdev"}, "arm64", KindArgs, ""},
		{Spec{Name: "pci-testdev"}, "riscv64", KindArgs, ""},
		{Spec{Name: "pci-testdev"}, "um", "", "UML guests are host processes"},
		{Spec{Name: "rust-test-platform"}, "x86_64", KindACPI, ""},
		{Spec{Name: "rust-test-platform"}, "arm64", KindDT, ""},
		{Spec{Name: "acpi-ssdt", File: file}, "x86_64", KindACPI, ""},
		{Spec{Name: "acpi-ssdt", File: file}, "riscv64", "", "not ACPI: describe the device as a node, --device dt-node=FILE"},
		{Spec{Name: "dt-node", File: file}, "x86_64", "", "--device acpi-ssdt=FILE"},
		{Spec{Name: "dt-node", File: file}, "um", "", "UML"},
		{Spec{Name: "dt-node", File: file + ".missing"}, "arm64", "", "is not a readable file"},
	}
	for _, tt := range tests {
		f, err := tt.spec.Form(tgt(t, tt.arch))
		switch {
		case tt.kind == "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s on %s: %v, want error %q", tt.spec, tt.arch, err, tt.err)
		case tt.kind != "" && (err != nil || f.Kind != tt.kind):
			t.Errorf("%s on %s: %+v, %v, want kind %s", tt.spec, tt.arch, f, err, tt.kind)
		}
	}
}

func TestDeclared(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Kbuild"), []byte("# SPDX\n#rko-device: pci-testdev\n  # rko-device:  acpi-ssdt=ssdt.dsl\n"+
		"# rko-device(arm64, riscv64): dt-node=node.dtsi\nobj-m := x.o\n# rko-devices are nice\n"), 0o644)
	all := []Spec{{Name: "pci-testdev"}, {Name: "acpi-ssdt", File: filepath.Join(dir, "ssdt.dsl")}}
	dt := Spec{Name: "dt-node", File: filepath.Join(dir, "node.dtsi")}
	for arch, want := range map[string][]Spec{"": all, "x86_64": all, "arm64": append(all, dt), "aarch64": append(all, dt), "riscv64": append(all, dt)} {
		got, err := Declared(dir, arch)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("Declared(%q) = %v, %v, want %v", arch, got, err, want)
		}
	}
	for kb, want := range map[string]string{
		"# rko-device: virtio-gpu\n":           `Kbuild:1: unknown device "virtio-gpu"`,
		"\n# rko-device(sparc): pci-testdev\n": `Kbuild:2: unknown architecture "sparc"`,
		"# rko-device(arm64 pci-testdev\n":     "want # rko-device(ARCH,...): NAME",
	} {
		os.WriteFile(filepath.Join(dir, "Kbuild"), []byte(kb), 0o644)
		if _, err := Declared(dir, "arm64"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Kbuild %q: %v, want %q", kb, err, want)
		}
	}
	if got, err := Declared(t.TempDir(), ""); got != nil || err != nil {
		t.Errorf("no Kbuild: %v, %v", got, err)
	}
	if m := Merge(all, all[1], Spec{Name: "rust-test-platform"}); len(m) != 3 {
		t.Errorf("Merge: %v", m)
	}
}

// stub records argv and fails commands whose argv[0] is in fail with
// that output.
type stub struct {
	calls [][]string
	fail  map[string]string
}

func (s *stub) Run(ctx context.Context, o run.Opts, argv ...string) (*run.Result, error) {
	s.calls = append(s.calls, argv)
	if out, ok := s.fail[argv[0]]; ok {
		return nil, &run.Error{Argv: argv, ExitCode: 1, Output: []byte(out), Err: errors.New("exit status 1")}
	}
	return &run.Result{}, nil
}

func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := run.LookPath(name); err != nil {
		t.Skipf("%s is not installed (scripts/setup installs it)", name)
	}
}

func TestBuildArgs(t *testing.T) {
	needTool(t, "iasl")
	needTool(t, "dtc")
	dir := t.TempDir()
	s := &stub{}
	args, err := Build(context.Background(), BuildOpts{Target: tgt(t, "x86_64"), Dir: dir, Runner: s,
		Specs: []Spec{{Name: "pci-testdev"}, {Name: "rust-test-platform"}}})
	want := "-device pci-testdev -acpitable file=" + dir + "/device-1.aml"
	if err != nil || strings.Join(args, " ") != want {
		t.Fatalf("x86_64: %q, %v, want %q", args, err, want)
	}
	if len(s.calls) != 1 || s.calls[0][0] != "iasl" || s.calls[0][3] != dir+"/device-1-rust-test-platform.dsl" {
		t.Errorf("iasl call: %q", s.calls)
	}
	s = &stub{}
	machine := []string{"qemu-system-aarch64", "-machine", "virt", "-m", "512"}
	args, err = Build(context.Background(), BuildOpts{Target: tgt(t, "arm64"), Dir: dir, Runner: s, MachineArgs: machine,
		Specs: []Spec{{Name: "rust-test-platform"}, {Name: "pci-testdev"}}})
	if err != nil || strings.Join(args, " ") != "-device pci-testdev -dtb "+dir+"/devices.dtb" {
		t.Fatalf("arm64: %q, %v", args, err)
	}
	if len(s.calls) != 3 || strings.Join(s.calls[0], " ") != strings.Join(machine, " ")+" -machine dumpdtb="+dir+"/machine.dtb" {
		t.Errorf("arm64 calls: %q", s.calls)
	}
	dts, _ := os.ReadFile(filepath.Join(dir, "devices.dts"))
	if !strings.Contains(string(dts), `/include/ "`+dir+`/machine.dts"`) || !strings.Contains(string(dts), "device-0-rust-test-platform.dtsi") {
		t.Errorf("devices.dts:\n%s", dts)
	}
}

// A source that does not compile is refused with the compiler's own
// message (recorded from iasl 20200925 and dtc 1.6.1, Debian 12).
func TestCompileErrors(t *testing.T) {
	needTool(t, "iasl")
	needTool(t, "dtc")
	dir := t.TempDir()
	src := filepath.Join(dir, "bad.dsl")
	os.WriteFile(src, nil, 0o644)
	iaslOut, _ := os.ReadFile("testdata/iasl-syntax-error.txt")
	dtcOut, _ := os.ReadFile("testdata/dtc-syntax-error.txt")
	s := &stub{fail: map[string]string{"iasl": string(iaslOut)}}
	_, err := Build(context.Background(), BuildOpts{Target: tgt(t, "x86_64"), Dir: dir, Runner: s, Specs: []Spec{{Name: "acpi-ssdt", File: src}}})
	var ce *CompileError
	if !errors.As(err, &ce) || err.Error() != "device acpi-ssdt="+src+" does not compile: iasl: bad.dsl 6: }: Error 6126 - ^ syntax error" {
		t.Errorf("iasl: %v", err)
	}
	s = &stub{fail: map[string]string{"dtc": string(dtcOut)}}
	// The first dtc call (decompiling the machine's tree) fails too with
	// this stub: the error is not a CompileError then.
	_, err = Build(context.Background(), BuildOpts{Target: tgt(t, "arm64"), Dir: dir, Runner: s, MachineArgs: []string{"qemu"}, Specs: []Spec{{Name: "dt-node", File: src}}})
	if err == nil || !strings.Contains(err.Error(), "decompiling the machine's device tree") {
		t.Errorf("dtc decompile: %v", err)
	}
	if got := firstError(string(dtcOut)); got != "Error: /tmp/rko-dev/t/bad.dtsi:3.1-2 syntax error" {
		t.Errorf("dtc's first error: %q", got)
	}
}

// The real compilers agree with the table's own sources.
func TestBuiltinSourcesCompile(t *testing.T) {
	needTool(t, "iasl")
	needTool(t, "dtc")
	dir := t.TempDir()
	if _, err := Build(context.Background(), BuildOpts{Target: tgt(t, "x86_64"), Dir: dir, Specs: []Spec{{Name: "rust-test-platform"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "device-0.aml")); err != nil {
		t.Fatal(err)
	}
	// The node alone, in a root node of its own.
	src := filepath.Join(dir, "t.dts")
	os.WriteFile(src, []byte("/dts-v1/;\n/ {\n"+rustTestPlatformDTS+"};\n"), 0o644)
	if out, err := run.Cmd(context.Background(), run.Opts{}, "dtc", "-q", "-I", "dts", "-O", "dtb", "-o", filepath.Join(dir, "t.dtb"), src); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

// fakeQEMU stands for QEMU's -machine dumpdtb= (it writes a small tree
// with real dtc) and runs everything else for real.
type fakeQEMU struct{}

func (fakeQEMU) Run(ctx context.Context, o run.Opts, argv ...string) (*run.Result, error) {
	if strings.HasPrefix(argv[0], "qemu") {
		out := strings.TrimPrefix(argv[len(argv)-1], "dumpdtb=")
		src := out + ".src.dts"
		os.WriteFile(src, []byte("/dts-v1/;\n/ {\n\t#address-cells = <2>;\n\t#size-cells = <2>;\n\tcompatible = \"linux,dummy-virt\";\n};\n"), 0o644)
		return run.Cmd(ctx, o, "dtc", "-q", "-I", "dts", "-O", "dtb", "-o", out, src)
	}
	return run.Cmd(ctx, o, argv...)
}

// A node file that does not compile is refused with dtc's own message,
// which names the user's file and line; one that compiles ends up in the
// machine's root node.
func TestDTNode(t *testing.T) {
	needTool(t, "dtc")
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.dtsi")
	os.WriteFile(bad, []byte("mydev {\n\tcompatible = \"acme,widget\"\n};\n"), 0o644)
	_, err := Build(context.Background(), BuildOpts{Target: tgt(t, "riscv64"), Dir: dir, Runner: fakeQEMU{}, MachineArgs: []string{"qemu-system-riscv64"},
		Specs: []Spec{{Name: "dt-node", File: bad}}})
	var ce *CompileError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "device dt-node="+bad+" does not compile: dtc: Error: "+bad+":3.1-2 syntax error") {
		t.Errorf("a node that does not compile: %v", err)
	}
	good := filepath.Join(dir, "good.dtsi")
	os.WriteFile(good, []byte("mydev {\n\tcompatible = \"acme,widget\";\n};\n"), 0o644)
	args, err := Build(context.Background(), BuildOpts{Target: tgt(t, "riscv64"), Dir: dir, Runner: fakeQEMU{}, MachineArgs: []string{"qemu-system-riscv64"},
		Specs: []Spec{{Name: "dt-node", File: good}, {Name: "rust-test-platform"}}})
	if err != nil || len(args) != 2 || args[0] != "-dtb" {
		t.Fatalf("args %q, %v", args, err)
	}
	out, err := run.Cmd(context.Background(), run.Opts{}, "dtc", "-q", "-I", "dtb", "-O", "dts", args[1])
	if err != nil || !strings.Contains(string(out.Stdout), "mydev {") || !strings.Contains(string(out.Stdout), "rust-test-device {") || !strings.Contains(string(out.Stdout), "linux,dummy-virt") {
		t.Errorf("the tree lacks the machine or the nodes: %v\n%s", err, out.Stdout)
	}
}
