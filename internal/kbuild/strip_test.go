package kbuild

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"
)

// relocatable builds a small ELF64 relocatable file, as a .ko is laid
// out: code and its relocations, debug info and its relocations, a .bss,
// LLVM's address-significance table, the symbol table.
type relocatable struct {
	secs []testSection
	syms []testSymbol
}

type testSection struct {
	name       string
	typ        elf.SectionType
	flags      elf.SectionFlag
	link, info uint32
	align      uint64
	data       []byte
	size       uint64 // NOBITS
	entsize    uint64
}

type testSymbol struct {
	name  string
	info  byte
	shndx elf.SectionIndex
	value uint64
}

func rela(off uint64, sym uint32, typ uint32) []byte {
	b := make([]byte, 24)
	binary.LittleEndian.PutUint64(b, off)
	binary.LittleEndian.PutUint64(b[8:], uint64(sym)<<32|uint64(typ))
	return b
}

// bytes lays the file out: the header, the sections, the section headers.
func (r *relocatable) bytes(class elf.Class, typ elf.Type) []byte {
	bo := binary.LittleEndian
	strtab := []byte{0}
	var symtab []byte
	locals := 0
	for i, s := range r.syms {
		e := make([]byte, 24)
		if s.name != "" {
			bo.PutUint32(e, uint32(len(strtab)))
			strtab = append(append(strtab, s.name...), 0)
		}
		e[4] = s.info
		bo.PutUint16(e[6:], uint16(s.shndx))
		bo.PutUint64(e[8:], s.value)
		symtab = append(symtab, e...)
		if elf.ST_BIND(s.info) == elf.STB_LOCAL {
			locals = i + 1
		}
	}
	// Names no symbol uses, as the assembler leaves them (a riscv64
	// module's .strtab is mostly such).
	strtab = append(strtab, ".Ltmp0\x00.Lfunc_end0\x00"...)
	secs := append(slices.Clone(r.secs),
		testSection{name: ".symtab", typ: elf.SHT_SYMTAB, link: uint32(len(r.secs) + 2), info: uint32(locals), align: 8, data: symtab, entsize: 24},
		testSection{name: ".strtab", typ: elf.SHT_STRTAB, align: 1, data: strtab},
	)
	shstrtab := []byte{0}
	names := make([]uint32, len(secs)+2)
	secs = append(secs, testSection{name: ".shstrtab", typ: elf.SHT_STRTAB, align: 1})
	for i := range secs {
		names[i+1] = uint32(len(shstrtab))
		shstrtab = append(append(shstrtab, secs[i].name...), 0)
	}
	secs[len(secs)-1].data = shstrtab
	var w bytes.Buffer
	w.Write(make([]byte, 64))
	offs := make([]uint64, len(secs))
	for i, s := range secs {
		for uint64(w.Len())%max(s.align, 1) != 0 {
			w.WriteByte(0)
		}
		offs[i] = uint64(w.Len())
		if s.typ != elf.SHT_NOBITS {
			w.Write(s.data)
		}
	}
	for w.Len()%8 != 0 {
		w.WriteByte(0)
	}
	shoff := w.Len()
	w.Write(make([]byte, 64)) // the null section
	for i, s := range secs {
		h := make([]byte, 64)
		bo.PutUint32(h, names[i+1])
		bo.PutUint32(h[4:], uint32(s.typ))
		bo.PutUint64(h[8:], uint64(s.flags))
		bo.PutUint64(h[24:], offs[i])
		size := uint64(len(s.data))
		if s.typ == elf.SHT_NOBITS {
			size = s.size
		}
		bo.PutUint64(h[32:], size)
		bo.PutUint32(h[40:], s.link)
		bo.PutUint32(h[44:], s.info)
		bo.PutUint64(h[48:], s.align)
		bo.PutUint64(h[56:], s.entsize)
		w.Write(h)
	}
	out := w.Bytes()
	copy(out, elf.ELFMAG)
	out[elf.EI_CLASS], out[elf.EI_DATA], out[elf.EI_VERSION] = byte(class), byte(elf.ELFDATA2LSB), 1
	bo.PutUint16(out[16:], uint16(typ))
	bo.PutUint16(out[18:], uint16(elf.EM_X86_64))
	bo.PutUint32(out[20:], 1)
	bo.PutUint64(out[40:], uint64(shoff))
	bo.PutUint16(out[52:], 64)
	bo.PutUint16(out[58:], 64)
	bo.PutUint16(out[60:], uint16(len(secs)+1))
	bo.PutUint16(out[62:], uint16(len(secs)))
	return out
}

// module is a relocatable file shaped like a .ko: section 1 .text, 3
// .debug_info, symbol 3 the section symbol of .debug_info.
func module() *relocatable {
	text := bytes.Repeat([]byte{0x90}, 16)
	const symtab = 7 // the index .symtab gets
	return &relocatable{
		secs: []testSection{
			{name: ".text", typ: elf.SHT_PROGBITS, flags: elf.SHF_ALLOC | elf.SHF_EXECINSTR, align: 16, data: text},
			{name: ".rela.text", typ: elf.SHT_RELA, flags: elf.SHF_INFO_LINK, link: symtab, info: 1, align: 8, entsize: 24,
				data: append(rela(1, 5, 4), rela(8, 2, 11)...)},
			{name: ".debug_info", typ: elf.SHT_PROGBITS, align: 1, data: bytes.Repeat([]byte{0xdb}, 32)},
			{name: ".rela.debug_info", typ: elf.SHT_RELA, flags: elf.SHF_INFO_LINK, link: symtab, info: 3, align: 8, entsize: 24,
				data: append(rela(0, 3, 10), rela(4, 2, 10)...)},
			{name: ".bss", typ: elf.SHT_NOBITS, flags: elf.SHF_ALLOC | elf.SHF_WRITE, align: 8, size: 64},
			{name: ".llvm_addrsig", typ: shtLLVMAddrsig, flags: 0x80000000, align: 1, data: []byte{5, 3, 6}},
		},
		syms: []testSymbol{
			{},
			{name: "m.c", info: elf.ST_INFO(elf.STB_LOCAL, elf.STT_FILE), shndx: elf.SHN_ABS},
			{info: elf.ST_INFO(elf.STB_LOCAL, elf.STT_SECTION), shndx: 1},
			{info: elf.ST_INFO(elf.STB_LOCAL, elf.STT_SECTION), shndx: 3},
			{name: "helper", info: elf.ST_INFO(elf.STB_LOCAL, elf.STT_FUNC), shndx: 1, value: 8},
			{name: "foo", info: elf.ST_INFO(elf.STB_GLOBAL, elf.STT_NOTYPE), shndx: elf.SHN_UNDEF},
			{name: "init_module", info: elf.ST_INFO(elf.STB_GLOBAL, elf.STT_FUNC), shndx: 1},
		},
	}
}

// TestStripDebug: the debug sections, their relocations and their
// symbols go; every other section, symbol and relocation stays, with
// its indices renumbered.
func TestStripDebug(t *testing.T) {
	in := module().bytes(elf.ELFCLASS64, elf.ET_REL)
	if _, err := elf.NewFile(bytes.NewReader(in)); err != nil {
		t.Fatalf("the test's own file does not parse: %v", err)
	}
	out, err := StripDebug(in)
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("stripped file does not parse: %v", err)
	}
	var names []string
	for _, s := range f.Sections {
		names = append(names, s.Name)
	}
	want := []string{"", ".text", ".rela.text", ".bss", ".llvm_addrsig", ".symtab", ".strtab", ".shstrtab"}
	if !slices.Equal(names, want) {
		t.Fatalf("sections %q, want %q", names, want)
	}
	if text, _ := f.Section(".text").Data(); !bytes.Equal(text, bytes.Repeat([]byte{0x90}, 16)) {
		t.Errorf(".text changed: %x", text)
	}
	if b := f.Section(".bss"); b.Size != 64 || b.Offset%8 != 0 {
		t.Errorf(".bss size %d offset %d", b.Size, b.Offset)
	}
	if r := f.Section(".rela.text"); r.Info != 1 || r.Link != 5 {
		t.Errorf(".rela.text info %d link %d, want 1 and 5", r.Info, r.Link)
	}
	st := f.Section(".symtab")
	if st.Info != 4 || st.Link != 6 {
		t.Errorf(".symtab info %d link %d, want 4 locals and .strtab at 6", st.Info, st.Link)
	}
	syms, err := f.Symbols() // without the null symbol
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range syms {
		got = append(got, symAt(s))
	}
	if w := []string{"m.c@ABS", "@1", "helper@1", "foo@UND", "init_module@1"}; !slices.Equal(got, w) {
		t.Errorf("symbols %q, want %q", got, w)
	}
	// The relocations of .text still name foo and .text's section symbol.
	data, _ := f.Section(".rela.text").Data()
	var relSyms []string
	for o := 0; o < len(data); o += 24 {
		s := syms[binary.LittleEndian.Uint64(data[o+8:])>>32-1]
		relSyms = append(relSyms, symAt(s))
	}
	if w := []string{"foo@UND", "@1"}; !slices.Equal(relSyms, w) {
		t.Errorf(".rela.text names %q, want %q", relSyms, w)
	}
	if a, _ := f.Section(".llvm_addrsig").Data(); !bytes.Equal(a, []byte{4, 5}) {
		t.Errorf(".llvm_addrsig %v, want foo (4) and init_module (5)", a)
	}
	// The string table holds the kept symbols' names only.
	if names, _ := f.Section(".strtab").Data(); string(names) != "\x00m.c\x00helper\x00foo\x00init_module\x00" {
		t.Errorf(".strtab %q, want the kept symbols' names only", names)
	}
}

// TestStripDebugRefuses: what StripDebug does not handle is refused (the
// caller then runs llvm-strip), never half done.
func TestStripDebugRefuses(t *testing.T) {
	group := module()
	group.secs = append(group.secs, testSection{name: ".group", typ: elf.SHT_GROUP, link: 7, align: 4, data: make([]byte, 8)})
	keptUsesDebug := module()
	keptUsesDebug.secs[1].data = rela(1, 3, 4) // .rela.text names .debug_info's section symbol
	for name, in := range map[string][]byte{
		"not ELF":                           []byte("not an ELF file at all, but long enough to have a header................"),
		"ELF32":                             module().bytes(elf.ELFCLASS32, elf.ET_REL),
		"executable":                        module().bytes(elf.ELFCLASS64, elf.ET_EXEC),
		"section group":                     group.bytes(elf.ELFCLASS64, elf.ET_REL),
		"code relocated against debug info": keptUsesDebug.bytes(elf.ELFCLASS64, elf.ET_REL),
	} {
		if out, err := StripDebug(in); err == nil {
			t.Errorf("%s: stripped into %d bytes", name, len(out))
		}
	}
}

// symAt is a symbol's name and section: "name@3", "name@UND", "name@ABS".
func symAt(s elf.Symbol) string {
	switch s.Section {
	case elf.SHN_UNDEF:
		return s.Name + "@UND"
	case elf.SHN_ABS:
		return s.Name + "@ABS"
	}
	return fmt.Sprintf("%s@%d", s.Name, s.Section)
}
