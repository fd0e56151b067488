package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// newDriver makes a module with rko new --kind KIND --lang LANG in a
// temporary directory.
func newDriver(t *testing.T, kind, lang, name string) string {
	t.Helper()
	parent := t.TempDir()
	r := rko(t, coldTimeout, "new", "-q", "--kind", kind, "--lang", lang, "--dir", parent, name)
	if r.code != 0 {
		t.Fatalf("rko new --kind %s --lang %s: exit %d\n%s", kind, lang, r.code, r.stderr)
	}
	return filepath.Join(parent, name)
}

// TestNewDriverKinds: rko new --kind pci and --kind platform, Rust and
// C, pass rko test on the x86_64 default kernel with the device their
// Kbuild declares: bound, I/O (BAR0; the memory resource the SSDT gives),
// three unbind/bind cycles, and for PCI a remove/rescan (tests/device.sh).
func TestNewDriverKinds(t *testing.T) {
	requireRealPath(t)
	for _, kl := range []string{"pci/rust", "pci/c", "platform/rust", "platform/c"} {
		kind, lang, _ := strings.Cut(kl, "/")
		t.Run(kl, func(t *testing.T) {
			dir := newDriver(t, kind, lang, "mydrv_"+lang)
			r := rko(t, coldTimeout, "test", "--json", "--accel", "tcg", dir)
			rep := decode(t, r)
			if r.code != 0 || !rep.Verdict.Passed {
				t.Fatalf("exit %d, verdict %+v\n%s", r.code, rep.Verdict, r.stderr)
			}
			want := map[string]bool{"bound mydrv_" + lang: false, "test mydrv_" + lang + "/device.sh": false}
			for _, s := range rep.Steps {
				if _, ok := want[s.Name]; ok {
					want[s.Name] = s.Status == "passed"
				}
			}
			for n, ok := range want {
				if !ok {
					t.Errorf("step %s did not pass: %+v", n, rep.Steps)
				}
			}
		})
	}
}

// TestDriverThatNeverBindsFails: a PCI driver booted with a device that
// does not match it loads fine, and the run fails on its "bound" step
// with a verdict that says so: never a pass.
func TestDriverThatNeverBindsFails(t *testing.T) {
	requireRealPath(t)
	dir := newDriver(t, "pci", "rust", "lonely")
	kb := filepath.Join(dir, "Kbuild")
	data, _ := os.ReadFile(kb)
	os.WriteFile(kb, []byte(strings.ReplaceAll(string(data), "# rko-device: pci-testdev\n", "")), 0o644)
	rep := testMustFail(t, "a driver that bound nothing", "--accel", "tcg", "--device", "rust-test-platform", dir)
	if rep.Verdict.Step != "bound lonely" || !strings.Contains(rep.Verdict.Reason, "driver pci:lonely bound no device") {
		t.Errorf("verdict %+v, want the bound step to say the driver bound no device", rep.Verdict)
	}
}

// TestDeviceBadInput: devices that cannot be attached are refused with
// one line that says why (exit 2), before anything boots; an SSDT that
// does not compile is refused with iasl's own message.
func TestDeviceBadInput(t *testing.T) {
	requireRealPath(t)
	mod := copyDir(t, "../examples/hello/rust")
	bad := filepath.Join(t.TempDir(), "bad.dsl")
	os.WriteFile(bad, []byte("DefinitionBlock (\"\", \"SSDT\", 2, \"TEST\", \"X\", 1)\n{\n  Scope (\\_SB) {\n    Device (T432) {\n      Name (_HID, \"LNUXBEEF\"\n    }\n  }\n}\n"), 0o644)
	badDecl := copyDir(t, "../examples/hello/rust")
	os.WriteFile(filepath.Join(badDecl, "Kbuild"), []byte("# rko-device: virtio-gpu\nobj-m := hello.o\n"), 0o644)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown", []string{"--device", "nvme", mod}, `unknown device "nvme": rko knows acpi-ssdt, dt-node, pci-testdev, rust-test-platform`},
		{"declared unknown", []string{badDecl}, `Kbuild:1: unknown device "virtio-gpu"`},
		{"uml", []string{"--arch", "um", "--device", "pci-testdev", mod}, "UML guests are host processes with no QEMU machine"},
		{"ssdt on arm64", []string{"--arch", "arm64", "--device", "acpi-ssdt=" + bad, mod}, "not ACPI: describe the device as a node, --device dt-node=FILE"},
		{"dt on x86_64", []string{"--arch", "x86_64", "--device", "dt-node=" + bad, mod}, "--device acpi-ssdt=FILE"},
		{"ssdt does not compile", []string{"--accel", "tcg", "--device", "acpi-ssdt=" + bad, mod}, "does not compile: iasl: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rko(t, coldTimeout, append([]string{"test"}, tt.args...)...)
			if r.code != 2 || !strings.Contains(r.stderr, tt.want) || strings.Count(strings.TrimSpace(lastLineOf(r.stderr)), "\n") > 0 {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 2 and %q", r.code, r.stderr, tt.want)
			}
		})
	}
}

func lastLineOf(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// TestProbeThatHangs: a driver whose probe never returns holds its
// finit_module; the guest is stopped at --timeout and the verdict names
// the insmod step it hung in, never a pass.
func TestProbeThatHangs(t *testing.T) {
	requireRealPath(t)
	dir := newDriver(t, "pci", "c", "hang_c")
	src := filepath.Join(dir, "hang_c.c")
	data, _ := os.ReadFile(src)
	code := strings.Replace(string(data), "#include <linux/pci.h>\n", "#include <linux/pci.h>\n#include <linux/delay.h>\n", 1)
	code = strings.Replace(code, "\td = devm_kzalloc(", "\tmsleep(3600 * 1000);\n\td = devm_kzalloc(", 1)
	os.WriteFile(src, []byte(code), 0o644)
	rep := testMustFail(t, "a probe that hangs", "--accel", "tcg", "--timeout", "40s", dir)
	if rep.Verdict.Step != "insmod hang_c" || !strings.Contains(rep.Verdict.Reason, `hung in step "insmod hang_c"`) {
		t.Errorf("verdict %+v, want the guest hung in the insmod step", rep.Verdict)
	}
	if _, err := os.Stat(rep.ConsoleLog); err != nil {
		t.Errorf("console log not kept: %v", err)
	}
}
