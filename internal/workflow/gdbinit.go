package workflow

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/run"
)

// gdbScripts is the kernel's vmlinux-gdb.py (lx-symbols and the other
// lx- commands), made once in rko's own kernel tree with make scripts_gdb
// (a few seconds: symlinks and constants.py; CONFIG_GDB_SCRIPTS is not
// needed for it). A tree of the user's is not written into: the error
// says what to run.
func (e *Env) gdbScripts(ctx context.Context, k *kernel.Kernel) (string, error) {
	py := filepath.Join(k.BuildDir, "vmlinux-gdb.py")
	constants := filepath.Join(k.BuildDir, "scripts/gdb/linux/constants.py")
	if _, err := os.Stat(constants); err == nil {
		return py, nil
	}
	if !k.InCache() {
		return "", fmt.Errorf("kernel %s has no gdb scripts: run make scripts_gdb in %s (then rko debug again)", k.Describe(), k.BuildDir)
	}
	unlock, err := k.Lock(ctx, func() { e.UI.Logf("waiting for another rko using kernel %s", k.Key) })
	if err != nil {
		return "", err
	}
	defer unlock()
	vars, err := k.MakeVars()
	if err != nil {
		return "", err
	}
	done := e.UI.Phase("kernel gdb scripts (make scripts_gdb)")
	argv := append(append(append([]string{"make"}, vars...), k.Target().MakeArgs()...), "-C", k.BuildDir, "scripts_gdb")
	if _, err := e.Toolchain.Run(ctx, run.Opts{Timeout: 10 * time.Minute}, k.Dirs(), argv...); err != nil {
		return "", fmt.Errorf("make scripts_gdb in %s: %+v", k.BuildDir, err)
	}
	done()
	return py, nil
}

// rustPrinters is the Rust pretty printers' loader of the toolchain's
// rust-src, or "" when it has none.
func (e *Env) rustPrinters() string {
	root := "/"
	if e.Toolchain != nil && e.Toolchain.Root != "" {
		root = e.Toolchain.Root
	}
	matches, _ := filepath.Glob(filepath.Join(root, "usr/src/rustc-*/src/etc/gdb_load_rust_pretty_printers.py"))
	if len(matches) == 0 {
		matches, _ = filepath.Glob(filepath.Join(root, "usr/lib/rustlib/etc/gdb_load_rust_pretty_printers.py"))
	}
	if len(matches) == 0 {
		return ""
	}
	return matches[len(matches)-1]
}

// gdbInitParams are what the gdb command file says.
type gdbInitParams struct {
	VMLinux, GDBScripts, RustPrinters, Addr string
	ModuleDirs                              []string
	// Running: the guest was not stopped at its first instruction (a
	// debugger attaching to --listen), so its kernel is up already.
	Running bool
}

// gdbInit writes the gdb command file: vmlinux and its scripts, the Rust
// pretty printers, the stub, lx-symbols over the module directories (it
// stops at each module load, adds the module's symbols at the addresses
// of its sections, and goes on), and the breakpoints, pending until the
// module that has them is loaded.
func gdbInit(p gdbInitParams) string {
	var b strings.Builder
	w := func(f string, a ...any) { fmt.Fprintf(&b, f+"\n", a...) }
	w("# written by rko debug")
	w("set pagination off")
	w("set confirm off")
	w("set breakpoint pending on")
	w("set auto-load safe-path /")
	w("file %s", p.VMLinux)
	if p.RustPrinters != "" {
		w("python import sys; sys.path.insert(0, %q)", filepath.Dir(p.RustPrinters))
		w("source %s", p.RustPrinters)
	}
	w("source %s", p.GDBScripts)
	w("target remote %s", p.Addr)
	if !p.Running {
		// The guest waits at its first instruction, before the kernel
		// maps itself: lx-symbols reads the kernel's module list, so the
		// kernel runs to start_kernel first (a hardware breakpoint: a
		// software one cannot be written to a kernel not mapped yet).
		w("hbreak start_kernel")
		w("continue")
		w("delete")
	}
	// The module symbols: the kernel's own lx-symbols code finds the .ko
	// and reads the module's section addresses; rko adds the symbol file
	// with -readnow from a breakpoint on do_init_module (before the
	// module's init runs). gdb 13 does not find a Rust path such as
	// points::scaled through the .debug_names index clang and rustc
	// write into a .ko, so a breakpoint on one stays pending unless the
	// module's symbols are read whole (-readnow; a module's are small).
	var quoted []string
	for _, d := range p.ModuleDirs {
		quoted = append(quoted, fmt.Sprintf("%q", d))
	}
	w("python")
	w("import gdb, linux.symbols, linux.modules, linux.constants")
	w("rko_lx = linux.symbols.LxSymbols()")
	w("rko_lx.module_paths = [%s]", strings.Join(quoted, ", "))
	w("rko_lx.module_files, rko_lx.module_files_updated = [], False")
	w("rko_break_init = False")
	// Every section the kernel placed (.init.text too, which lx-symbols'
	// own argument list leaves out: init_module lives there), read from
	// the module's sect_attrs as lx-symbols reads them; lx-symbols' list
	// when that layout differs.
	w("def rko_sections(m, addr):")
	w("    try:")
	w("        sa = m['sect_attrs'].dereference()")
	w("        secs, i = {}, 0")
	w("        while sa['grp']['bin_attrs'][i] != 0:")
	w("            a = sa['grp']['bin_attrs'][i].dereference()")
	w("            secs[a['attr']['name'].string()] = str(a['private']).split()[0]")
	w("            i += 1")
	w("    except gdb.error:")
	w("        return rko_lx._section_arguments(m, addr)")
	w("    text = secs.pop('.text', addr)")
	w("    return text + ''.join(' -s %%s %%s' %% kv for kv in sorted(secs.items()) if kv[1] != '0x0')")
	w("def rko_load(m):")
	w("    name = m['name'].string()")
	w("    rko_lx._update_module_files()")
	w("    f = rko_lx._get_module_file(name)")
	w("    if not f:")
	w("        gdb.write('rko: no .ko found for module %%s\\n' %% name)")
	w("        return")
	w("    addr = str(m['mem'][linux.constants.LX_MOD_TEXT]['base']).split()[0]")
	w("    gdb.write('rko: symbols of %%s at %%s from %%s\\n' %% (name, addr, f))")
	w("    gdb.execute('add-symbol-file -readnow %%s %%s' %% (f, rko_sections(m, addr)), to_string=True)")
	w("    if rko_break_init and int(m['init']) != 0:")
	w("        gdb.Breakpoint('*%%d' %% int(m['init']))")
	w("end")
	if p.Running {
		w("python [rko_load(m) for m in linux.modules.module_list()]")
		// A guest stopped at a panic: gdb shows the CPU it attached to
		// first, which on an SMP guest may be one the panic stopped
		// (stop_this_cpu); select the CPU whose stack has the panic.
		w("python")
		w("def rko_select_panic():")
		w("    for th in gdb.selected_inferior().threads():")
		w("        th.switch()")
		w("        try:")
		w("            f = gdb.newest_frame()")
		w("            while f is not None:")
		w("                if f.name() in ('vpanic', 'panic'):")
		w("                    gdb.write('rko: the panic is on thread %%d\\n' %% th.num)")
		w("                    return")
		w("                f = f.older()")
		w("        except gdb.error:")
		w("            pass")
		w("rko_select_panic()")
		w("end")
	}
	w("break do_init_module")
	w("commands")
	w("silent")
	w("python rko_load(gdb.parse_and_eval('mod'))")
	w("continue")
	w("end")
	return b.String()
}

// gdbBreaks is the second command file: the breakpoints, pending until
// the module that has them is loaded, and continue for an interactive
// session (its own file, so that a debugger attaching with --listen's
// gdbinit starts with none). A Rust path (points::scaled) resolves like a
// C++ qualified name. init is a breakpoint on each module's own init
// function (mod->init), made by the module hook once the module is
// loaded: the init_module symbol is in .init.text, which the module's
// symbol file may place elsewhere.
func gdbBreaks(breaks []string, cont bool) string {
	var b strings.Builder
	for _, br := range breaks {
		if br == "init" {
			b.WriteString("python rko_break_init = True\n")
			continue
		}
		for _, loc := range breakLocations(br) {
			fmt.Fprintf(&b, "break %s\n", loc)
		}
	}
	if cont {
		b.WriteString("continue\n")
	}
	return b.String()
}

// breakLocations are gdb locations of a --break: panic is a Rust panic
// (the kernel crate's panic handler) and any oops (oops_enter, called on
// every architecture's die path); anything else is a location.
func breakLocations(br string) []string {
	switch br {
	case "panic":
		return []string{"rust_begin_unwind", "oops_enter"}
	}
	return []string{br}
}
