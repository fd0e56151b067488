package kbuilddecl

import (
	"reflect"
	"strings"
	"testing"

	"github.com/rkodev/rko/internal/testutil"
)

func TestRead(t *testing.T) {
	for _, tc := range []struct {
		name, kbuild string
		want         []Decl
		err          string
	}{
		{"none", "obj-m := m.o\n", nil, ""},
		{"plain", "# rko-device: pci-testdev\nobj-m := m.o\n", []Decl{{Value: "pci-testdev", Where: "Kbuild:1"}}, ""},
		{"qualified", "#rko-device(arm64,riscv64):  dt-node=n.dtsi \n", []Decl{{Qualifier: "arm64,riscv64", Value: "dt-node=n.dtsi", Where: "Kbuild:1"}}, ""},
		{"in order", "# rko-device: a\n# other: x\n# rko-device: b\n", []Decl{{Value: "a", Where: "Kbuild:1"}, {Value: "b", Where: "Kbuild:3"}}, ""},
		{"a longer word", "# rko-devices: a\n", nil, ""},
		{"not a comment", "rko-device: a\n", nil, ""},
		{"unclosed", "# rko-device(arm64: a\n", nil, "Kbuild:1: want # rko-device(ARCH,...): NAME"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := testutil.WriteTree(t, map[string]string{"Kbuild": tc.kbuild})
			got, err := Read(dir, "rko-device", "# rko-device(ARCH,...): NAME")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				got[i].Where = strings.TrimPrefix(got[i].Where, dir+"/")
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	if d, err := Read(t.TempDir(), "rko-device", ""); d != nil || err != nil {
		t.Errorf("no Kbuild: %v %v", d, err)
	}
}
