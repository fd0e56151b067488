// Package symbolize resolves stack frames inside a module ("func+0x1c/0x30
// [mod]") to file:line of the module's source, from the debug info of the
// module's .ko.
//
// A .ko is a relocatable object: each of its text sections (.text,
// .init.text, .exit.text) starts at address 0, so an address alone is
// ambiguous. The frame's symbol is looked up in the .ko's symbol table to
// find its section and offset, and binutils addr2line is asked with
// "-j SECTION" for the section-relative address. llvm-symbolizer and
// llvm-addr2line have no such option (they resolve every section-relative
// address against the first section), so they are not used for modules.
package symbolize

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rkodev/rko/internal/run"
)

// ErrNoTool means no addr2line that can read section-relative addresses
// was found.
var ErrNoTool = errors.New("binutils addr2line not found on PATH")

// Module is one module whose frames can be resolved.
type Module struct {
	// Name is the module's name as it appears in frames ("[name]").
	Name string `json:"name"`
	// KoPath is the built .ko, with debug info (CONFIG_DEBUG_INFO or
	// ccflags-y += -g).
	KoPath string `json:"ko_path"`
	// SourceDir is the module's source directory; files inside it are
	// shown relative to it.
	SourceDir string `json:"source_dir,omitempty"`
}

// Location is one resolved source position. An address inside inlined
// code resolves to several, innermost first.
type Location struct {
	Func string `json:"func"`
	File string `json:"file"`
	Line int    `json:"line"`
}

// String is "file:line".
func (l Location) String() string { return l.File + ":" + strconv.Itoa(l.Line) }

// Symbolizer resolves frames of a set of modules. It is safe for
// concurrent use and caches answers.
type Symbolizer struct {
	// Tool is the addr2line binary; empty means "addr2line" on PATH.
	Tool string
	// Timeout bounds one addr2line run; zero means 30 s.
	Timeout time.Duration

	modules map[string]Module
	mu      sync.Mutex
	syms    map[string]map[string]elf.Symbol // ko path -> symbol name -> symbol
	secs    map[string][]string              // ko path -> section names by index
	cache   map[string][]Location
}

// New returns a Symbolizer for modules.
func New(modules []Module) *Symbolizer {
	s := &Symbolizer{modules: map[string]Module{}, syms: map[string]map[string]elf.Symbol{},
		secs: map[string][]string{}, cache: map[string][]Location{}}
	for _, m := range modules {
		s.modules[m.Name] = m
		// Kbuild turns '-' into '_' in module names.
		s.modules[strings.ReplaceAll(m.Name, "-", "_")] = m
	}
	return s
}

// Has reports whether module is one that s can resolve.
func (s *Symbolizer) Has(module string) bool { _, ok := s.modules[module]; return ok }

// Resolve returns the source locations of symbol+offset in module. ip is
// true for a faulting instruction; other frames are return addresses, so
// one byte before is looked up, which lands on the call.
func (s *Symbolizer) Resolve(ctx context.Context, module, symbol string, offset uint64, ip bool) ([]Location, error) {
	m, ok := s.modules[module]
	if !ok {
		return nil, fmt.Errorf("module %q not known to the symbolizer", module)
	}
	sym, section, err := s.lookup(m.KoPath, symbol)
	if err != nil {
		return nil, err
	}
	addr := sym.Value + offset
	if !ip && addr > 0 {
		addr--
	}
	key := m.KoPath + "\x00" + section + "\x00" + strconv.FormatUint(addr, 16)
	s.mu.Lock()
	if locs, ok := s.cache[key]; ok {
		s.mu.Unlock()
		return locs, nil
	}
	s.mu.Unlock()
	locs, err := s.addr2line(ctx, m, section, addr)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.cache[key] = locs
	s.mu.Unlock()
	return locs, nil
}

func (s *Symbolizer) lookup(ko, symbol string) (elf.Symbol, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	syms, ok := s.syms[ko]
	if !ok {
		f, err := elf.Open(ko)
		if err != nil {
			return elf.Symbol{}, "", fmt.Errorf("open module %s: %w", ko, err)
		}
		defer f.Close()
		all, err := f.Symbols()
		if err != nil {
			return elf.Symbol{}, "", fmt.Errorf("read symbols of %s: %w", ko, err)
		}
		syms = map[string]elf.Symbol{}
		for _, sy := range all {
			if elf.ST_TYPE(sy.Info) == elf.STT_FUNC {
				syms[sy.Name] = sy
			}
		}
		var names []string
		for _, sec := range f.Sections {
			names = append(names, sec.Name)
		}
		s.syms[ko] = syms
		s.secs[ko] = names
	}
	sy, ok := syms[symbol]
	if !ok {
		return elf.Symbol{}, "", fmt.Errorf("symbol %q not in %s", symbol, ko)
	}
	secs := s.secs[ko]
	if int(sy.Section) >= len(secs) {
		return elf.Symbol{}, "", fmt.Errorf("symbol %q in %s has bad section index %d", symbol, ko, sy.Section)
	}
	return sy, secs[sy.Section], nil
}

func (s *Symbolizer) addr2line(ctx context.Context, m Module, section string, addr uint64) ([]Location, error) {
	tool := s.Tool
	if tool == "" {
		p, err := run.LookPath("addr2line")
		if err != nil {
			return nil, ErrNoTool
		}
		tool = p
	}
	timeout := s.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	res, err := run.Cmd(ctx, run.Opts{Timeout: timeout}, tool, "-f", "-i", "-e", m.KoPath, "-j", section,
		"0x"+strconv.FormatUint(addr, 16))
	if err != nil {
		return nil, fmt.Errorf("addr2line on %s: %w", m.KoPath, err)
	}
	return parseAddr2line(res.Stdout, m.SourceDir), nil
}

// parseAddr2line reads "func\nfile:line\n" pairs, innermost first.
func parseAddr2line(out []byte, srcDir string) []Location {
	var locs []Location
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fn := strings.TrimSpace(sc.Text())
		if !sc.Scan() {
			break
		}
		pos := strings.TrimSpace(sc.Text())
		if i := strings.Index(pos, " (discriminator"); i >= 0 {
			pos = pos[:i]
		}
		i := strings.LastIndexByte(pos, ':')
		if i < 0 {
			continue
		}
		line, err := strconv.Atoi(pos[i+1:])
		file := pos[:i]
		if err != nil || file == "??" || line == 0 {
			continue
		}
		locs = append(locs, Location{Func: fn, File: relative(file, srcDir), Line: line})
	}
	return locs
}

// relative shows file relative to dir when it lies inside it.
func relative(file, dir string) string {
	if dir == "" || !filepath.IsAbs(file) {
		return file
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return file
	}
	rel, err := filepath.Rel(absDir, file)
	if err != nil || strings.HasPrefix(rel, "..") {
		return file
	}
	return rel
}
