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
		if tg.KernelArch == "" || tg.Image == "" || tg.GOARCH == "" || tg.Console == "" {
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
