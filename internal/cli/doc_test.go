package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rkodev/rko/internal/kdoc"
)

func TestPrintAnswer(t *testing.T) {
	long := "pub trait MiscDevice: Sized { " + strings.Repeat("const HAS_X: bool = false; ", 10) + "}"
	tests := []struct {
		name string
		a    kdoc.Answer
		want []string
	}{
		{"match", kdoc.Answer{Query: "KVec::push", Results: []kdoc.Result{{
			Path: "kernel::alloc::kvec::Vec::push", Kind: "method", Signature: "pub fn push(&mut self, v: T, flags: Flags) -> Result<(), AllocError>",
			Doc: "Appends an element.", File: "/src/rust/kernel/alloc/kvec.rs", Line: 354, AlsoAt: []string{"kernel::prelude::push"},
		}}}, []string{"kernel::alloc::kvec::Vec::push (method)\n", "    pub fn push(", "    Appends an element.\n", "    /src/rust/kernel/alloc/kvec.rs:354\n", "also: kernel::prelude::push"}},
		{"long signature", kdoc.Answer{Results: []kdoc.Result{{Path: "kernel::miscdevice::MiscDevice", Kind: "trait", Signature: long}}},
			[]string{"    pub trait MiscDevice: Sized { ... }\n"}},
		{"absent", kdoc.Answer{Query: "GenDisk", Absent: []kdoc.Absence{{Path: "kernel::block::mq::GenDisk", Kind: "struct", File: "/s/gen_disk.rs", Line: 9,
			Cfg: "#[cfg(CONFIG_BLOCK)]", Options: []string{"CONFIG_BLOCK", "CONFIG_I2C=y"}}}},
			[]string{"kernel::block::mq::GenDisk (struct) is not in this kernel: its config turns off #[cfg(CONFIG_BLOCK)]", "/s/gen_disk.rs:9", "a fragment with CONFIG_BLOCK=y, CONFIG_I2C=y"}},
		{"closest", kdoc.Answer{Query: "Mutx", Kernel: "k1", Closest: []string{"kernel::sync::Mutex"}},
			[]string{`no item matches "Mutx" in kernel k1's docs; closest names:` + "\n    kernel::sync::Mutex\n"}},
		{"nothing", kdoc.Answer{Query: "zzz", Kernel: "k1"}, []string{`no item matches "zzz" in kernel k1's docs` + "\n"}},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		printAnswer(&b, &tt.a)
		for _, w := range tt.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%s: output lacks %q:\n%s", tt.name, w, b.String())
			}
		}
	}
}
