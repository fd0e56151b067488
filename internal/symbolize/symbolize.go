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
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rkodev/rko/internal/run"
	"github.com/rkodev/rko/internal/target"
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
	// BuildDir is where the compilers saw SourceDir, when elsewhere (a
	// directory Kbuild could not take by its own path); file names under
	// it are mapped back to SourceDir.
	BuildDir string `json:"build_dir,omitempty"`
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
	kos     map[string]*koIndex // ko path -> its symbols and sections
	cache   map[string][]Location
}

// New returns a Symbolizer for modules.
func New(modules []Module) *Symbolizer {
	s := &Symbolizer{modules: map[string]Module{}, kos: map[string]*koIndex{}, cache: map[string][]Location{}}
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

// koIndex is what the symbolizer reads once from a .ko: its function
// symbols by name and by section, and its section names and sizes.
type koIndex struct {
	byName    map[string]elf.Symbol
	bySection map[string][]elf.Symbol // section -> functions by address
	secNames  []string                // by section index
	secSize   map[string]uint64
	machine   elf.Machine
}

// index reads (once) the symbol table and sections of ko.
func (s *Symbolizer) index(ko string) (*koIndex, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ix, ok := s.kos[ko]; ok {
		return ix, nil
	}
	f, err := elf.Open(ko)
	if err != nil {
		return nil, fmt.Errorf("open module %s: %w", ko, err)
	}
	defer f.Close()
	all, err := f.Symbols()
	if err != nil {
		return nil, fmt.Errorf("read symbols of %s: %w", ko, err)
	}
	ix := &koIndex{byName: map[string]elf.Symbol{}, bySection: map[string][]elf.Symbol{}, secSize: map[string]uint64{}, machine: f.Machine}
	for _, sec := range f.Sections {
		ix.secNames = append(ix.secNames, sec.Name)
		ix.secSize[sec.Name] = sec.Size
	}
	for _, sy := range all {
		if elf.ST_TYPE(sy.Info) != elf.STT_FUNC {
			continue
		}
		ix.byName[sy.Name] = sy
		if int(sy.Section) < len(ix.secNames) {
			sec := ix.secNames[sy.Section]
			ix.bySection[sec] = append(ix.bySection[sec], sy)
		}
	}
	// By address; among functions at one address, the module_init() and
	// module_exit() aliases (init_module, cleanup_module) first, so that
	// Locate, which takes the last function at or below an address, names
	// the module's own function, as the kernel does for a live module.
	for _, fns := range ix.bySection {
		sort.Slice(fns, func(i, j int) bool {
			a, b := fns[i], fns[j]
			if a.Value != b.Value {
				return a.Value < b.Value
			}
			if isEntryAlias(a.Name) != isEntryAlias(b.Name) {
				return isEntryAlias(a.Name)
			}
			return a.Name < b.Name
		})
	}
	s.kos[ko] = ix
	return ix, nil
}

func (s *Symbolizer) lookup(ko, symbol string) (elf.Symbol, string, error) {
	ix, err := s.index(ko)
	if err != nil {
		return elf.Symbol{}, "", err
	}
	sy, ok := ix.byName[symbol]
	if !ok {
		return elf.Symbol{}, "", fmt.Errorf("symbol %q not in %s", symbol, ko)
	}
	if int(sy.Section) >= len(ix.secNames) {
		return elf.Symbol{}, "", fmt.Errorf("symbol %q in %s has bad section index %d", symbol, ko, sy.Section)
	}
	return sy, ix.secNames[sy.Section], nil
}

// Load is where one module's sections were loaded, as the guest read
// them from /sys/module/NAME/sections, and the pid of the process that
// loaded it (0 if unknown).
type Load struct {
	Module   string
	PID      int
	Sections map[string]uint64
}

// Place is a raw address named inside a loaded module: the function that
// holds it and the offset into it, as the kernel prints a frame of a live
// module ("func+0x1c/0x30 [mod]").
type Place struct {
	Module string
	Symbol string // as in the .ko's symbol table (mangled for Rust)
	Offset uint64
	Size   uint64
}

// Locate names addr, a raw address the kernel printed because the module
// that held it was gone by then (kmemleak prints the backtraces it saved
// at allocation time only after the scan), from where the modules were
// loaded and their .ko's symbol tables. pid is the process the report
// says the address was recorded in (0 if unknown).
//
// Module memory is reused: every module's .init.text is freed after its
// init and the next module's is often loaded at the same address. So an
// address in .init.text names a module only when pid is the process that
// loaded it, or pid is unknown; and when several loads still claim addr,
// the one pid loaded wins, else addr stays unnamed (ok is false) rather
// than be blamed on the wrong module.
func (s *Symbolizer) Locate(addr uint64, loads []Load, pid int) (Place, bool) {
	var found []Place
	var byPID []Place
	for _, l := range loads {
		m, known := s.modules[l.Module]
		if !known || m.KoPath == "" {
			continue
		}
		ix, err := s.index(m.KoPath)
		if err != nil {
			continue
		}
		samePID := pid != 0 && l.PID == pid
		for sec, base := range l.Sections {
			if addr < base || addr-base >= ix.secSize[sec] {
				continue
			}
			if strings.HasPrefix(sec, ".init") && pid != 0 && l.PID != 0 && !samePID {
				continue
			}
			p, ok := ix.function(sec, addr-base)
			if !ok {
				continue
			}
			p.Module = l.Module
			found = append(found, p)
			if samePID {
				byPID = append(byPID, p)
			}
		}
	}
	switch {
	case len(found) == 1:
		return found[0], true
	case len(byPID) == 1:
		return byPID[0], true
	}
	return Place{}, false
}

// function names the function at off in section sec.
func (ix *koIndex) function(sec string, off uint64) (Place, bool) {
	fns := ix.bySection[sec]
	i := sort.Search(len(fns), func(i int) bool { return fns[i].Value > off }) - 1
	if i < 0 {
		return Place{}, false
	}
	fn := fns[i]
	if fn.Size != 0 && off >= fn.Value+fn.Size {
		return Place{}, false
	}
	return Place{Symbol: fn.Name, Offset: off - fn.Value, Size: fn.Size}, true
}

// isEntryAlias reports whether name is one of the aliases module_init()
// and module_exit() give the module's entry points.
func isEntryAlias(name string) bool { return name == "init_module" || name == "cleanup_module" }

func (s *Symbolizer) addr2line(ctx context.Context, m Module, section string, addr uint64) ([]Location, error) {
	tool := s.Tool
	if tool == "" {
		ix, err := s.index(m.KoPath)
		if err != nil {
			return nil, err
		}
		if tool, err = addr2lineFor(ix.machine); err != nil {
			return nil, err
		}
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
	out := res.Stdout
	if m.BuildDir != "" {
		out = bytes.ReplaceAll(out, []byte(m.BuildDir+"/"), []byte(m.SourceDir+"/"))
	}
	return parseAddr2line(out, m.SourceDir), nil
}

// addr2lineFor finds a binutils addr2line that reads objects of machine:
// the architecture's own (aarch64-linux-gnu-addr2line), else the plain
// addr2line when the object is of the host's machine. A host's plain
// addr2line reads a foreign .ko only as generic ELF, without applying the
// relocations of its debug info, and so names wrong lines.
func addr2lineFor(machine elf.Machine) (string, error) {
	t := target.ForELFMachine(machine)
	if t != nil && t.Binutils != "" {
		if p, err := run.LookPath(t.Binutils + "addr2line"); err == nil {
			return p, nil
		}
	}
	if t == nil || t.ELFMachine == target.Host().ELFMachine {
		if p, err := run.LookPath("addr2line"); err == nil {
			return p, nil
		}
		return "", ErrNoTool
	}
	return "", fmt.Errorf("%w for %s modules: %saddr2line (fix: apt-get install %s)", ErrNoTool, t.Name, t.Binutils, t.BinutilsPackage)
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
		locs = append(locs, Location{Func: fn, File: Relative(file, srcDir), Line: line})
	}
	return locs
}

// Relative shows file relative to dir when it lies inside it, else as it
// is.
func Relative(file, dir string) string {
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
