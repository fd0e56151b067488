package report

import (
	"strconv"
	"strings"

	"github.com/ianlancetaylor/demangle"
)

// Frame is one line of a kernel stack trace: "func+0x1c/0x30 [mod]".
type Frame struct {
	// Func is the function name, demangled for Rust symbols.
	Func string `json:"func"`
	// Symbol is the symbol as printed (mangled for Rust), when it differs
	// from Func.
	Symbol string `json:"symbol,omitempty"`
	// Offset and Size are the "+0x1c/0x30" of the frame.
	Offset uint64 `json:"offset"`
	Size   uint64 `json:"size,omitempty"`
	// Module is the module that holds the function, empty for the kernel
	// image.
	Module string `json:"module,omitempty"`
	// IP is true for the faulting instruction (a RIP: line or a report
	// header's "in func+off"); other frames are return addresses.
	IP bool `json:"ip,omitempty"`
	// Source is "file:line" once the frame is symbolized.
	Source string `json:"source,omitempty"`
	// Inlined lists the "func file:line" of functions inlined at this
	// frame, innermost first, once symbolized.
	Inlined []string `json:"inlined,omitempty"`
	// Addr is set, and Func empty, for a frame the kernel printed as a
	// bare address (code of a module that was gone by then), until
	// Report.NameFrames names it.
	Addr uint64 `json:"addr,omitempty"`
}

// String prints the frame the way the kernel does.
func (f Frame) String() string {
	if f.Func == "" {
		return "0x" + strconv.FormatUint(f.Addr, 16)
	}
	s := f.Func + "+0x" + strconv.FormatUint(f.Offset, 16)
	if f.Size != 0 {
		s += "/0x" + strconv.FormatUint(f.Size, 16)
	}
	if f.Module != "" {
		s += " [" + f.Module + "]"
	}
	return s
}

// ParseFrame reads a stack frame out of one line with its printk prefix
// already stripped. It accepts " func+0x1c/0x30 [mod]", "[<ffffffff81000000>]
// func+0x1c/0x30", "RIP: 0010:func+0x1c/0x30", a header's trailing
// "... in func+0x1c/0x30 [mod]", and a bare "0xffffffffa00000df" (an
// address the kernel could not name; Addr is set, Func empty). Frames
// marked unreliable ("? func") are rejected.
func ParseFrame(l string) (Frame, bool) {
	s := strings.TrimLeft(l, " \t")
	ip := false
	if strings.HasPrefix(s, "RIP: ") || strings.HasPrefix(s, "IP: ") || strings.HasPrefix(s, "pc : ") {
		ip = true
		s = s[strings.IndexByte(s, ':')+2:]
		if i := strings.IndexByte(s, ':'); i == 4 { // "0010:"
			s = s[i+1:]
		}
	}
	// Up to two addresses before the function: "[<ffffffff81000000>]",
	// powerpc's "[c000000049a87710] [c0000000000286fc]".
	for n := 0; n < 2 && strings.HasPrefix(s, "["); n++ {
		i := strings.IndexByte(s, ']')
		if i < 0 || i > 24 || !hexAddr(strings.TrimPrefix(strings.TrimSuffix(strings.TrimPrefix(s[1:i], "<"), ">"), "0x")) {
			if n == 0 && strings.HasPrefix(s, "[<") {
				return Frame{}, false
			}
			break
		}
		s = strings.TrimLeft(s[i+1:], " ")
	}
	if strings.HasSuffix(s, "(unreliable)") {
		return Frame{}, false // powerpc's mark of a frame it is not sure of
	}
	if strings.HasPrefix(s, "? ") {
		return Frame{}, false
	}
	if !ip && len(s) == 18 && strings.HasPrefix(s, "0xffff") {
		// A bare kernel address: code the kernel could not name.
		if addr, n := hexPrefix(s[2:]); n == 16 {
			return Frame{Addr: addr}, true
		}
	}
	plus := strings.Index(s, "+0x")
	if plus <= 0 {
		return Frame{}, false
	}
	name := s[:plus]
	if strings.ContainsAny(name, " \t()") {
		return Frame{}, false
	}
	rest := s[plus+3:]
	off, n := hexPrefix(rest)
	if n == 0 {
		return Frame{}, false
	}
	f := Frame{Offset: off, IP: ip}
	rest = rest[n:]
	if strings.HasPrefix(rest, "/0x") {
		size, m := hexPrefix(rest[3:])
		f.Size = size
		rest = rest[3+m:]
	}
	rest = strings.TrimLeft(rest, " ")
	if strings.HasPrefix(rest, "[") {
		if j := strings.IndexByte(rest, ']'); j > 1 {
			f.Module = rest[1:j]
		}
	}
	f.Func, f.Symbol = Demangle(name)
	return f, true
}

// hexAddr reports whether s is a non-empty run of hex digits.
func hexAddr(s string) bool {
	_, n := hexPrefix(s)
	return s != "" && n == len(s) && len(s) <= 16
}

func hexPrefix(s string) (uint64, int) {
	var v uint64
	i := 0
	for ; i < len(s) && i < 16; i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | uint64(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | uint64(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | uint64(c-'A'+10)
		default:
			return v, i
		}
	}
	return v, i
}

// Demangle turns a Rust symbol (v0 "_RNv..." or legacy "_ZN...E") into its
// path without hashes; it returns the name unchanged, and an empty symbol,
// for anything else.
func Demangle(name string) (fn, symbol string) {
	if !strings.HasPrefix(name, "_R") && !strings.HasPrefix(name, "_ZN") {
		return name, ""
	}
	d, err := demangle.ToString(name, demangle.NoParams, demangle.NoTemplateParams, demangle.NoRust)
	if err != nil || d == "" {
		d, err = demangle.ToString(name, demangle.NoParams, demangle.NoTemplateParams)
		if err != nil || d == "" {
			return name, ""
		}
	}
	return d, name
}

// baseName drops compiler suffixes (".isra.0", ".cold", ".constprop.0")
// from a C function name, so that titles stay stable across builds.
func baseName(fn string) string {
	if strings.Contains(fn, "::") {
		return fn
	}
	if i := strings.IndexByte(fn, '.'); i > 0 {
		return fn[:i]
	}
	return fn
}
