package kbuild

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rkodev/rko/internal/kernel"
)

// writeKo writes a minimal ELF64 relocatable object with the parts of a
// .ko that CheckModule reads: a .modinfo section and a symbol table with
// the given undefined globals (and one defined local, which must be
// ignored).
func writeKo(t *testing.T, path, modinfo string, undefined []string) {
	t.Helper()
	var strtab bytes.Buffer
	strtab.WriteByte(0)
	name := func(s string) uint32 { off := uint32(strtab.Len()); strtab.WriteString(s + "\x00"); return off }
	var symtab bytes.Buffer
	sym := func(nameOff uint32, info byte, shndx uint16) {
		binary.Write(&symtab, binary.LittleEndian, elf.Sym64{Name: nameOff, Info: info, Shndx: shndx})
	}
	sym(0, 0, 0)
	sym(name("local_helper"), elf.ST_INFO(elf.STB_LOCAL, elf.STT_FUNC), 1)
	for _, u := range undefined {
		sym(name(u), elf.ST_INFO(elf.STB_GLOBAL, elf.STT_NOTYPE), uint16(elf.SHN_UNDEF))
	}
	shstr := []byte("\x00.modinfo\x00.symtab\x00.strtab\x00.shstrtab\x00")
	sections := [][]byte{[]byte(modinfo), symtab.Bytes(), strtab.Bytes(), shstr}
	var body bytes.Buffer
	offs := make([]uint64, len(sections))
	off := uint64(64)
	for i, s := range sections {
		offs[i] = off
		body.Write(s)
		off += uint64(len(s))
	}
	shoff := off
	hdr := elf.Header64{Type: uint16(elf.ET_REL), Machine: uint16(elf.EM_X86_64), Version: 1, Shoff: shoff,
		Ehsize: 64, Shentsize: 64, Shnum: 5, Shstrndx: 4}
	copy(hdr.Ident[:], "\x7fELF\x02\x01\x01")
	var out bytes.Buffer
	binary.Write(&out, binary.LittleEndian, hdr)
	out.Write(body.Bytes())
	shdrs := []elf.Section64{
		{},
		{Name: 1, Type: uint32(elf.SHT_PROGBITS), Off: offs[0], Size: uint64(len(sections[0])), Addralign: 1},
		{Name: 10, Type: uint32(elf.SHT_SYMTAB), Off: offs[1], Size: uint64(len(sections[1])), Link: 3, Info: 2, Entsize: 24, Addralign: 8},
		{Name: 18, Type: uint32(elf.SHT_STRTAB), Off: offs[2], Size: uint64(len(sections[2])), Addralign: 1},
		{Name: 26, Type: uint32(elf.SHT_STRTAB), Off: offs[3], Size: uint64(len(sections[3])), Addralign: 1},
	}
	for _, sh := range shdrs {
		binary.Write(&out, binary.LittleEndian, sh)
	}
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCheckModule(t *testing.T) {
	build := t.TempDir()
	os.WriteFile(filepath.Join(build, ".config"), []byte("CONFIG_SMP=y\nCONFIG_PREEMPT_BUILD=y\nCONFIG_MODULE_UNLOAD=y\n"), 0o644)
	// Module.symvers lines as Debian's headers have them.
	os.WriteFile(filepath.Join(build, "Module.symvers"), []byte("0x00000000\t_printk\tvmlinux\tEXPORT_SYMBOL\t\n"+
		"0x00000000\t_RNvNtCsb5MLIFMWygY_6kernel5print11call_printk\tvmlinux\tEXPORT_SYMBOL_GPL\t\n"), 0o644)
	k := &kernel.Kernel{Dir: build, BuildDir: build, Release: "7.3.4+deb13-amd64"}
	good := "license=GPL\x00vermagic=7.3.4+deb13-amd64 SMP preempt mod_unload \x00name=hello\x00"
	mod := t.TempDir()
	tests := []struct {
		name      string
		modinfo   string
		undefined []string
		symvers   string // the module directory's Module.symvers
		want      string // "" for success
		finding   bool   // an *Error with diagnostics (exit 1)
	}{
		{"exported", good, []string{"_printk", "_RNvNtCsb5MLIFMWygY_6kernel5print11call_printk"}, "", "", false},
		{"exported by a sibling module", good, []string{"_printk", "sibling_fn"}, "0x0\tsibling_fn\t" + mod + "/sibling\tEXPORT_SYMBOL\t\n", "", false},
		{"unexported", good, []string{"_printk", "kallsyms_lookup_name"}, "", "symbol 'kallsyms_lookup_name' is not exported by kernel 7.3.4+deb13-amd64", true},
		{"vermagic of another kernel", "vermagic=7.3.4 SMP preempt mod_unload \x00", []string{"_printk"}, "",
			`has vermagic "7.3.4 SMP preempt mod_unload ", but kernel 7.3.4+deb13-amd64 needs "7.3.4+deb13-amd64 SMP preempt mod_unload "`, false},
		{"no modinfo", "license=GPL\x00", nil, "", "no vermagic in .modinfo", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(filepath.Join(mod, "Module.symvers"))
			if tt.symvers != "" {
				os.WriteFile(filepath.Join(mod, "Module.symvers"), []byte(tt.symvers), 0o644)
			}
			ko := filepath.Join(mod, "m.ko")
			writeKo(t, ko, tt.modinfo, tt.undefined)
			err := CheckModule(k, ko)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckModule = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CheckModule = %v, want %q", err, tt.want)
			}
			var be *Error
			if got := errors.As(err, &be) && len(be.Diagnostics) > 0; got != tt.finding {
				t.Errorf("a finding about the module (exit 1): %v, want %v", got, tt.finding)
			}
		})
	}
}
