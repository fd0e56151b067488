package target

import (
	"runtime"
	"strings"
	"testing"
)

func TestLookup(t *testing.T) {
	tests := []struct {
		in, want string
		errHas   []string
	}{
		{"x86_64", "x86_64", nil},
		{"amd64", "x86_64", nil},
		{"aarch64", "arm64", nil},
		{"ARM64", "arm64", nil},
		{"riscv64", "riscv64", nil},
		{"uml", "um", nil},
		{"loongarch", "", []string{"supports Rust on loongarch", "arm64, riscv64, um, x86_64"}},
		{"sparc", "", []string{`unknown --arch "sparc"`, "arm64, riscv64, um, x86_64"}},
	}
	for _, tt := range tests {
		got, err := Lookup(tt.in)
		if tt.errHas != nil {
			if err == nil {
				t.Errorf("Lookup(%q) = %v, want an error", tt.in, got)
				continue
			}
			for _, s := range tt.errHas {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Lookup(%q) error %q lacks %q", tt.in, err, s)
				}
			}
			continue
		}
		if err != nil || got.Name != tt.want {
			t.Errorf("Lookup(%q) = %v, %v, want %s", tt.in, got, err, tt.want)
		}
	}
	if h, err := Lookup(""); err != nil || h != Host() {
		t.Errorf("Lookup(\"\") = %v, %v, want the host's", h, err)
	}
}

func TestTable(t *testing.T) {
	for _, n := range Names() {
		tg, _ := Lookup(n)
		if tg.KernelArch == "" || tg.Kconfig == "" || tg.Image == "" || tg.GOARCH == "" || tg.Console == "" {
			t.Errorf("%s: incomplete entry %+v", n, tg)
		}
		if !tg.UML() && (tg.QEMU == "" || tg.QEMUPackage == "" || tg.CPU == "") {
			t.Errorf("%s: QEMU target without QEMU binary, package or CPU: %+v", n, tg)
		}
		if tg.UML() && tg.KVMEligible() {
			t.Errorf("%s: UML is never a KVM guest", n)
		}
	}
	if runtime.GOARCH == "amd64" {
		x, _ := Lookup("x86_64")
		a, _ := Lookup("arm64")
		if !x.KVMEligible() || a.KVMEligible() {
			t.Errorf("on amd64: x86_64 eligible %v, arm64 eligible %v", x.KVMEligible(), a.KVMEligible())
		}
	}
}

// A kernel's .config names its architecture: X86 (not X86_64, which UML
// on x86 sets too), ARM64, RISCV or UML, with 64BIT.
func TestForConfig(t *testing.T) {
	tests := []struct {
		set    string // space-separated symbols that are y
		want   string
		errHas string
	}{
		{"X86 X86_64 64BIT", "x86_64", ""},
		{"UML UML_X86 X86_64 64BIT", "um", ""},
		{"ARM64 64BIT", "arm64", ""},
		{"RISCV 64BIT", "riscv64", ""},
		{"RISCV 32BIT", "", "32-bit riscv kernel"},
		{"X86 X86_32", "", "32-bit x86 kernel"},
		{"PPC64 64BIT", "", "the config sets none of CONFIG_ARM64, CONFIG_RISCV, CONFIG_UML, CONFIG_X86"},
	}
	for _, tt := range tests {
		set := map[string]bool{}
		for _, s := range strings.Fields(tt.set) {
			set[s] = true
		}
		got, err := ForConfig(func(s string) bool { return set[s] })
		switch {
		case tt.errHas != "":
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("ForConfig(%s) = %v, %v, want an error with %q", tt.set, got, err, tt.errHas)
			}
		case err != nil || got.Name != tt.want:
			t.Errorf("ForConfig(%s) = %v, %v, want %s", tt.set, got, err, tt.want)
		}
	}
}

func TestKnown(t *testing.T) {
	if k := Known("amd64"); k == nil || k.Name != "x86_64" {
		t.Errorf("Known(amd64) = %v, want x86_64", k)
	}
	if k := Known("um"); k == nil || !k.UML() {
		t.Errorf("Known(um) = %v, want um", k)
	}
	if k := Known("sparc"); k != nil {
		t.Errorf("Known(sparc) = %v, want nil", k)
	}
}
