package kbuild

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// StripDebug returns a copy of a kernel module (an ELF64 relocatable
// file) without its debug information: the .debug_* sections and their
// relocation sections, and the symbols that name them. It is what
// llvm-strip --strip-debug makes of a .ko, done in process (llvm-strip
// and its sandbox cost about 60 ms a module, rko watch strips on every
// save): the kernel loads the copy as it loads the original, and the
// original keeps the debug information for symbolization. A file that
// needs more than this (ELF32, section groups, extended section
// indices) is refused with an error; the caller falls back to llvm-strip.
func StripDebug(data []byte) ([]byte, error) {
	if len(data) < 64 || !bytes.HasPrefix(data, []byte(elf.ELFMAG)) {
		return nil, errors.New("strip: not an ELF file")
	}
	if elf.Class(data[elf.EI_CLASS]) != elf.ELFCLASS64 {
		return nil, errors.New("strip: not a 64-bit ELF file")
	}
	var bo binary.ByteOrder
	switch elf.Data(data[elf.EI_DATA]) {
	case elf.ELFDATA2LSB:
		bo = binary.LittleEndian
	case elf.ELFDATA2MSB:
		bo = binary.BigEndian
	default:
		return nil, errors.New("strip: unknown byte order")
	}
	if elf.Type(bo.Uint16(data[16:])) != elf.ET_REL || bo.Uint16(data[56:]) != 0 {
		return nil, errors.New("strip: not a relocatable file")
	}
	shoff, shentsize, shnum, shstrndx := bo.Uint64(data[40:]), int(bo.Uint16(data[58:])), int(bo.Uint16(data[60:])), int(bo.Uint16(data[62:]))
	if shentsize != 64 || shnum == 0 || shstrndx == 0 || shstrndx >= shnum || shoff+uint64(shnum*64) > uint64(len(data)) {
		return nil, errors.New("strip: unusual section header table")
	}
	type section struct {
		name         string
		typ          elf.SectionType
		hdr          []byte // the 64 bytes of its header, copied
		offset, size uint64
		link, info   uint32
		align        uint64
		data         []byte
		removed      bool
	}
	secs := make([]section, shnum)
	for i := range secs {
		h := append([]byte(nil), data[shoff+uint64(i*64):shoff+uint64(i*64)+64]...)
		s := section{hdr: h, typ: elf.SectionType(bo.Uint32(h[4:])), offset: bo.Uint64(h[24:]), size: bo.Uint64(h[32:]),
			link: bo.Uint32(h[40:]), info: bo.Uint32(h[44:]), align: bo.Uint64(h[48:])}
		if s.typ != elf.SHT_NOBITS && s.typ != elf.SHT_NULL {
			if s.offset+s.size > uint64(len(data)) || s.offset+s.size < s.offset {
				return nil, fmt.Errorf("strip: section %d lies outside the file", i)
			}
			s.data = data[s.offset : s.offset+s.size]
		}
		secs[i] = s
	}
	shstr := secs[shstrndx].data
	for i := range secs {
		n := int(bo.Uint32(secs[i].hdr[0:]))
		if n >= len(shstr) {
			return nil, fmt.Errorf("strip: section %d has no name", i)
		}
		end := bytes.IndexByte(shstr[n:], 0)
		if end < 0 {
			return nil, fmt.Errorf("strip: section %d has no name", i)
		}
		secs[i].name = string(shstr[n : n+end])
	}
	symtab := -1
	for i, s := range secs {
		switch s.typ {
		case elf.SHT_GROUP, elf.SHT_SYMTAB_SHNDX:
			return nil, fmt.Errorf("strip: %s sections are not handled", s.typ)
		case elf.SHT_SYMTAB:
			if symtab >= 0 {
				return nil, errors.New("strip: two symbol tables")
			}
			symtab = i
		}
		secs[i].removed = i != 0 && isDebugSection(s.name)
	}
	if symtab < 0 {
		return nil, errors.New("strip: no symbol table")
	}
	for i, s := range secs {
		if (s.typ == elf.SHT_RELA || s.typ == elf.SHT_REL) && int(s.info) < shnum && secs[s.info].removed {
			secs[i].removed = true
		}
	}
	newIdx := make([]uint32, shnum)
	n := uint32(0)
	for i, s := range secs {
		if !s.removed {
			newIdx[i] = n
			n++
		}
	}
	for i, s := range secs {
		if s.removed || i == 0 {
			continue
		}
		if s.link != 0 && (int(s.link) >= shnum || secs[s.link].removed) {
			return nil, fmt.Errorf("strip: section %s links to a removed section", s.name)
		}
		if bo.Uint64(s.hdr[8:])&uint64(elf.SHF_INFO_LINK) != 0 || s.typ == elf.SHT_RELA || s.typ == elf.SHT_REL {
			if int(s.info) >= shnum || secs[s.info].removed {
				return nil, fmt.Errorf("strip: section %s refers to a removed section", s.name)
			}
		}
	}
	// The symbol table without the symbols of removed sections.
	st := secs[symtab]
	if len(st.data)%24 != 0 {
		return nil, errors.New("strip: odd symbol table size")
	}
	nsym := len(st.data) / 24
	symMap := make([]int64, nsym) // -1: removed
	var syms bytes.Buffer
	kept, locals := 0, 0
	for j := 0; j < nsym; j++ {
		e := append([]byte(nil), st.data[j*24:j*24+24]...)
		shndx := elf.SectionIndex(bo.Uint16(e[6:]))
		if j > 0 && shndx != elf.SHN_UNDEF && shndx < elf.SHN_LORESERVE {
			if int(shndx) >= shnum {
				return nil, fmt.Errorf("strip: symbol %d in no section", j)
			}
			if secs[shndx].removed {
				symMap[j] = -1
				continue
			}
			bo.PutUint16(e[6:], uint16(newIdx[shndx]))
		}
		symMap[j] = int64(kept)
		if j < int(st.info) {
			locals++
		}
		kept++
		syms.Write(e)
	}
	secs[symtab].data, secs[symtab].size, secs[symtab].info = syms.Bytes(), uint64(syms.Len()), uint32(locals)
	// The symbols' string table with only the names of the symbols left,
	// as llvm-strip makes it. The rest is names of the assembler's local
	// labels and of what was removed: 40 KB of a riscv64 module's 55,
	// which made the stripped copy larger than DEFLATE's 32 KB window, so
	// that rko watch's delta of a rebuilt module against the last one sent
	// could not reach back and was the whole file (100 ms more a cycle on
	// riscv64). A table another section also uses is left as it is.
	if sl := int(st.link); sl > 0 && sl < shnum && sl != shstrndx && secs[sl].typ == elf.SHT_STRTAB &&
		!slices.ContainsFunc(secs, func(o section) bool { return !o.removed && o.typ != elf.SHT_SYMTAB && int(o.link) == sl }) {
		old, d := secs[sl].data, secs[symtab].data
		names := []byte{0}
		at := map[string]uint32{"": 0}
		for o := 0; o < len(d); o += 24 {
			off := int(bo.Uint32(d[o:]))
			if off == 0 {
				continue
			}
			end := -1
			if off < len(old) {
				end = bytes.IndexByte(old[off:], 0)
			}
			if end < 0 {
				return nil, fmt.Errorf("strip: symbol %d has no name", o/24)
			}
			name := string(old[off : off+end])
			p, ok := at[name]
			if !ok {
				p = uint32(len(names))
				at[name] = p
				names = append(append(names, name...), 0)
			}
			bo.PutUint32(d[o:], p)
		}
		secs[sl].data, secs[sl].size = names, uint64(len(names))
	}
	// Relocations name symbols by index: renumber them.
	for i, s := range secs {
		if s.removed || (s.typ != elf.SHT_RELA && s.typ != elf.SHT_REL) {
			continue
		}
		if int(s.link) != symtab {
			return nil, fmt.Errorf("strip: %s does not use the symbol table", s.name)
		}
		size := 16
		if s.typ == elf.SHT_RELA {
			size = 24
		}
		if len(s.data)%size != 0 {
			return nil, fmt.Errorf("strip: odd size of %s", s.name)
		}
		out := append([]byte(nil), s.data...)
		for o := 0; o < len(out); o += size {
			info := bo.Uint64(out[o+8:])
			sym := info >> 32
			if sym >= uint64(nsym) || symMap[sym] < 0 {
				return nil, fmt.Errorf("strip: %s uses a symbol of a removed section", s.name)
			}
			bo.PutUint64(out[o+8:], uint64(symMap[sym])<<32|info&0xffffffff)
		}
		secs[i].data = out
	}
	// LLVM's address-significance table is a list of symbol indices.
	for i, s := range secs {
		if s.removed || s.typ != shtLLVMAddrsig {
			continue
		}
		var out []byte
		for p := s.data; len(p) > 0; {
			v, k := binary.Uvarint(p)
			if k <= 0 {
				return nil, errors.New("strip: bad .llvm_addrsig")
			}
			p = p[k:]
			if v < uint64(nsym) && symMap[v] >= 0 {
				out = binary.AppendUvarint(out, uint64(symMap[v]))
			}
		}
		secs[i].data, secs[i].size = out, uint64(len(out))
	}
	// Lay the file out again: the header, the sections in their order,
	// then the section header table.
	var w bytes.Buffer
	w.Write(data[:64])
	var hdrs bytes.Buffer
	for i, s := range secs {
		if s.removed {
			continue
		}
		h := s.hdr
		if i != 0 {
			align := max(s.align, 1)
			for uint64(w.Len())%align != 0 {
				w.WriteByte(0)
			}
			bo.PutUint64(h[24:], uint64(w.Len()))
			if s.typ != elf.SHT_NOBITS {
				w.Write(s.data)
			}
			bo.PutUint64(h[32:], uint64(len(s.data)))
			if s.typ == elf.SHT_NOBITS {
				bo.PutUint64(h[32:], s.size)
			}
			if s.link != 0 {
				bo.PutUint32(h[40:], newIdx[s.link])
			}
			if s.typ == elf.SHT_RELA || s.typ == elf.SHT_REL || bo.Uint64(s.hdr[8:])&uint64(elf.SHF_INFO_LINK) != 0 {
				bo.PutUint32(h[44:], newIdx[s.info])
			} else if i == symtab {
				bo.PutUint32(h[44:], s.info)
			}
		}
		hdrs.Write(h)
	}
	for w.Len()%8 != 0 {
		w.WriteByte(0)
	}
	out := w.Bytes()
	bo.PutUint64(out[40:], uint64(len(out)))
	bo.PutUint16(out[60:], uint16(n))
	bo.PutUint16(out[62:], uint16(newIdx[shstrndx]))
	return append(out, hdrs.Bytes()...), nil
}

// shtLLVMAddrsig is SHT_LLVM_ADDRSIG, LLVM's address-significance table.
const shtLLVMAddrsig = elf.SectionType(0x6fff4c03)

// isDebugSection reports whether a section holds debug information only
// (what llvm-strip --strip-debug removes).
func isDebugSection(name string) bool {
	return strings.HasPrefix(name, ".debug") || strings.HasPrefix(name, ".zdebug") || name == ".gdb_index"
}
