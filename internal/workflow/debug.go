package workflow

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rkodev/rko/internal/cache"
	"github.com/rkodev/rko/internal/guest"
	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/run"
	"github.com/rkodev/rko/internal/target"
	"github.com/rkodev/rko/internal/vm"
)

// DebugOptions configure Debug.
type DebugOptions struct {
	// Breaks are where the guest stops: "init" (every module's init),
	// "panic" (a Rust panic or an oops), or a function (hello::checked_sum,
	// a C function name).
	Breaks []string
	// Batch is a gdb script to run instead of an interactive gdb; rko
	// exits with gdb's status when it is not 0.
	Batch string
	// Listen only opens the gdb stub at this address (host:port) and
	// says how to attach; the guest runs without waiting for a debugger.
	Listen string
	// Debugger is the gdb to run ("": gdb-multiarch, else gdb for the
	// host's architecture).
	Debugger string
	// In, Out and Err are gdb's terminal.
	In       io.Reader
	Out, Err io.Writer
}

// DebugResult is what Debug gives back: the run's report, gdb's exit
// status, and the files it made.
type DebugResult struct {
	Report *Report
	// GDBStatus is gdb's exit status (0 in --listen mode).
	GDBStatus int
	// Script is the gdb command file rko wrote (vmlinux, the kernel's gdb
	// scripts, the Rust pretty printers, the stub, lx-symbols, breaks).
	Script string
}

// ErrNoDebugInfo is a kernel without the debug info a debugger needs.
var ErrNoDebugInfo = errors.New("the kernel has no debug info")

// Debug is rko debug: it builds the job's modules, boots the guest with
// QEMU's gdb stub, stopped at its first instruction, and runs gdb with
// vmlinux, the kernel's own gdb scripts (lx-symbols loads each module's
// symbols at its real addresses as the module is loaded), the toolchain's
// Rust pretty printers and the breakpoints asked for; when gdb ends, the
// guest runs to its verdict.
func Debug(ctx context.Context, r *Resolved, o DebugOptions) (*DebugResult, error) {
	k := r.Kernel
	t := k.Target()
	if t.UML() {
		return nil, fmt.Errorf("rko debug: a UML kernel is a host process, not a QEMU guest with a gdb stub: debug it under --arch x86_64 (or run gdb on UML's linux binary inside the toolchain yourself)")
	}
	gdb, err := findGDB(o.Debugger, t.Name)
	if err != nil && o.Listen == "" {
		return nil, err
	}
	vmlinux, err := debugVmlinux(k)
	if err != nil {
		return nil, err
	}
	mods, err := r.BuildModules(ctx)
	if err != nil {
		return nil, err
	}
	for _, m := range mods {
		for _, ko := range m.KoPaths {
			if !hasDebugInfo(ko) {
				return nil, fmt.Errorf("%s has no debug info (.debug_info): rko builds modules with -g and -Cdebuginfo=2; was it built by hand? rebuild it with rko build", ko)
			}
		}
	}
	scripts, err := r.Env.gdbScripts(ctx, k)
	if err != nil {
		return nil, err
	}
	addr := o.Listen
	if addr == "" {
		if addr, err = freeAddr(); err != nil {
			return nil, err
		}
	}
	bo := r.BootOpts()
	plan := MakePlan(mods, bo)
	dir, err := NewRunDir("debug")
	if err != nil {
		return nil, err
	}
	cfg, err := r.Env.bootConfig(ctx, k, plan, mods, bo, dir)
	if err != nil {
		return nil, err
	}
	// Software breakpoints and single steps are TCG's; the guest waits
	// for the debugger at its first instruction (-S) unless it only
	// listens. A session under a debugger has no time limit.
	cfg.Accel = vm.TCG
	cfg.Extra = append(cfg.Extra, "-gdb", "tcp:"+addr)
	if o.Listen == "" {
		cfg.Extra = append(cfg.Extra, "-S")
	}
	if r.Job.Boot.Timeout == 0 {
		cfg.Timeout = 0
	}
	var dirs []string
	for _, m := range mods {
		dirs = append(dirs, m.Dir)
	}
	script := filepath.Join(dir, "gdbinit")
	if err := cache.WriteFileAtomic(script, []byte(gdbInit(gdbInitParams{
		VMLinux: vmlinux, GDBScripts: scripts, RustPrinters: r.Env.rustPrinters(), Addr: addr,
		ModuleDirs: dirs, Running: o.Listen != "",
	})), 0o644); err != nil {
		return nil, err
	}
	if err := cache.WriteFileAtomic(script+"-breaks", []byte(gdbBreaks(o.Breaks, o.Listen == "" && o.Batch == "")), 0o644); err != nil {
		return nil, err
	}
	in, err := vm.Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	res := &DebugResult{Script: script}
	if o.Listen != "" {
		r.Env.UI.Logf("the guest's gdb stub listens on %s; attach with:\n    %s -x %s -x %s-breaks", addr, gdbOrDefault(gdb), script, script)
	} else {
		res.GDBStatus, err = runGDB(ctx, gdb, script, o)
		if err != nil {
			in.Stop()
			return nil, err
		}
	}
	vres, err := in.Wait()
	if err != nil {
		return nil, fmt.Errorf("%w (console: %s)", err, cfg.ConsoleLog)
	}
	tr := &TestRun{RunDir: dir, ConsoleLog: cfg.ConsoleLog, Accel: vres.Accel, Boot: vres,
		Session: guest.ReadSession(vres.Console, plan), Token: plan.Token}
	res.Report = NewReport(ctx, k, mods, tr)
	res.Report.Timings = Timings{Kernel: seconds(r.KernelTime), Boot: seconds(time.Since(start))}
	res.Report.Timings.Total = res.Report.Timings.Kernel + res.Report.Timings.Boot
	return res, nil
}

// findGDB is the debugger for guests of arch: the one asked for, else
// gdb-multiarch (any architecture), else the host's gdb for guests of
// the host's architecture.
func findGDB(want, arch string) (string, error) {
	if want != "" {
		p, err := exec.LookPath(want)
		if err != nil {
			return "", fmt.Errorf("gdb %q: %w", want, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("gdb-multiarch"); err == nil {
		return p, nil
	}
	if p, err := exec.LookPath("gdb"); err == nil && arch == hostArchName() {
		return p, nil
	}
	return "", errors.New("no gdb-multiarch on the host: install it (apt-get install gdb-multiarch; scripts/setup does), or use --listen and attach a debugger of your own")
}

func hostArchName() string { return target.Host().Name }

func gdbOrDefault(g string) string {
	if g == "" {
		return "gdb-multiarch"
	}
	return g
}

// debugVmlinux is the kernel's vmlinux, which must carry DWARF: lx-symbols
// reads the kernel's own structures (struct module) through it.
func debugVmlinux(k *kernel.Kernel) (string, error) {
	cfg, err := k.Config()
	if err != nil {
		return "", err
	}
	if cfg.Get("DEBUG_INFO") != "y" {
		return "", fmt.Errorf("%w: kernel %s (profile %q) has CONFIG_DEBUG_INFO off, and gdb needs the kernel's types to find modules: use --profile debug (DWARF5; built like any profile), or a --fragment with CONFIG_DEBUG_INFO_DWARF5=y", ErrNoDebugInfo, k.Describe(), k.Profile)
	}
	v := filepath.Join(k.BuildDir, "vmlinux")
	if !hasDebugInfo(v) {
		return "", fmt.Errorf("%w: %s has no .debug_info (Debian's packaged kernel ships none; build one with rko)", ErrNoDebugInfo, v)
	}
	return v, nil
}

// hasDebugInfo reports whether the ELF file at path has DWARF.
func hasDebugInfo(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	return f.Section(".debug_info") != nil
}

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

// freeAddr is a free TCP port on the loopback interface.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
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
	w("def rko_load(m):")
	w("    name = m['name'].string()")
	w("    rko_lx._update_module_files()")
	w("    f = rko_lx._get_module_file(name)")
	w("    if not f:")
	w("        gdb.write('rko: no .ko found for module %%s\\n' %% name)")
	w("        return")
	w("    addr = str(m['mem'][linux.constants.LX_MOD_TEXT]['base']).split()[0]")
	w("    gdb.write('rko: symbols of %%s at %%s from %%s\\n' %% (name, addr, f))")
	w("    gdb.execute('add-symbol-file -readnow %%s %%s' %% (f, rko_lx._section_arguments(m, addr)), to_string=True)")
	w("end")
	if p.Running {
		w("python [rko_load(m) for m in linux.modules.module_list()]")
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
// session. It is its own file, sourced after gdbInit's: gdb 13 leaves a
// pending breakpoint made in the same file as lx-symbols pending after
// the module's symbols are loaded, and resolves one made in a later file
// (seen with rko debug on examples/debug). A Rust path
// (points::scaled) resolves like a C++ qualified name.
func gdbBreaks(breaks []string, cont bool) string {
	var b strings.Builder
	for _, br := range breaks {
		for _, loc := range breakLocations(br) {
			fmt.Fprintf(&b, "break %s\n", loc)
		}
	}
	if cont {
		b.WriteString("continue\n")
	}
	return b.String()
}

// breakLocations are gdb locations of a --break: init is every module's
// init function, panic a Rust panic (the kernel crate's panic handler)
// and any oops (oops_enter, called on every architecture's die path).
func breakLocations(br string) []string {
	switch br {
	case "init":
		return []string{"init_module"}
	case "panic":
		return []string{"rust_begin_unwind", "oops_enter"}
	}
	return []string{br}
}

// runGDB runs gdb on the command file: interactive on the user's
// terminal (gdb's own process group in the foreground, so Ctrl-C is
// gdb's), or in batch mode with the user's script.
func runGDB(ctx context.Context, gdb, script string, o DebugOptions) (int, error) {
	args := []string{"-q", "-nx", "-x", script, "-x", script + "-breaks"}
	if o.Batch != "" {
		args = append([]string{"-batch"}, append(args, "-x", o.Batch)...)
	}
	cmd := exec.CommandContext(ctx, gdb, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = o.In, o.Out, o.Err
	// lx-symbols looks for .ko files under its paths and under gdb's
	// working directory too: the run directory keeps that scan short.
	cmd.Dir = filepath.Dir(script)
	tty, isTTY := o.In.(*os.File)
	if o.Batch == "" && isTTY && isTerminalFD(int(tty.Fd())) {
		// gdb gets the terminal: its own process group in the
		// foreground, so that Ctrl-C interrupts the guest in gdb and
		// does not end rko. The terminal comes back to rko after.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Foreground: true, Ctty: int(tty.Fd())}
		defer func() {
			signal.Ignore(syscall.SIGTTOU)
			defer signal.Reset(syscall.SIGTTOU)
			unix.IoctlSetPointerInt(int(tty.Fd()), unix.TIOCSPGRP, unix.Getpgrp())
		}()
	}
	err := cmd.Run()
	var xe *exec.ExitError
	if errors.As(err, &xe) {
		return xe.ExitCode(), nil
	}
	return 0, err
}

func isTerminalFD(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}

// gdbStub is a boot with QEMU's gdb stub open (rko test/run/shell --gdb,
// rko test --keep-on-crash).
type gdbStub struct {
	e       *Env
	addr    string
	script  string
	keep    bool
	timeout time.Duration
	crashed chan struct{}
	once    bool
}

// openStub checks that k can be debugged, writes the gdb command file
// into dir and adds the stub (and, for keep-on-crash, panic_on_oops) to
// cfg. The guest runs under TCG, with no time limit of QEMU's own: run
// enforces the timeout unless the guest crashed and is kept.
func (e *Env) openStub(ctx context.Context, k *kernel.Kernel, cfg *vm.Config, o BootOpts, dir string) (*gdbStub, error) {
	vmlinux, err := debugVmlinux(k)
	if err != nil {
		return nil, err
	}
	scripts, err := e.gdbScripts(ctx, k)
	if err != nil {
		return nil, err
	}
	addr := o.GDB
	if addr == "" {
		if addr, err = freeAddr(); err != nil {
			return nil, err
		}
	}
	s := &gdbStub{e: e, addr: addr, script: filepath.Join(dir, "gdbinit"), keep: o.KeepOnCrash, timeout: cfg.Timeout, crashed: make(chan struct{})}
	if err := cache.WriteFileAtomic(s.script, []byte(gdbInit(gdbInitParams{VMLinux: vmlinux, GDBScripts: scripts,
		RustPrinters: e.rustPrinters(), Addr: addr, ModuleDirs: o.ModuleDirs, Running: true})), 0o644); err != nil {
		return nil, err
	}
	cfg.Accel = vm.TCG
	cfg.Extra = append(cfg.Extra, "-gdb", "tcp:"+addr)
	if o.KeepOnCrash {
		// oops=panic is panic_on_oops on the command line; panic=0 (after
		// vm's panic=-1) keeps a panicked kernel where it stopped.
		cfg.Cmdline = append(cfg.Cmdline, "oops=panic", "panic=0")
	}
	cfg.Timeout = 0
	if o.GDB != "" {
		e.UI.Logf("the guest's gdb stub listens on %s; attach with: gdb-multiarch -x %s", addr, s.script)
	}
	return s, nil
}

// watch looks at a console line for the kernel's panic.
func (s *gdbStub) watch(line string) {
	if s.keep && !s.once && strings.Contains(line, "Kernel panic - not syncing") {
		s.once = true
		close(s.crashed)
	}
}

// run boots cfg and waits for the guest's end, the timeout, or, after a
// crash it keeps, ctx.
func (s *gdbStub) run(ctx context.Context, cfg vm.Config) (*vm.Result, error) {
	in, err := vm.Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	var timeout <-chan time.Time
	if s.timeout > 0 {
		t := time.NewTimer(s.timeout)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-in.Done():
	case <-timeout:
		in.Stop()
	case <-s.crashed:
		s.e.UI.Warnf("the kernel crashed and the guest is kept stopped there: attach with\n    gdb-multiarch -x %s\n(bt shows the crash; Ctrl-C here ends the guest)", s.script)
		select {
		case <-in.Done():
		case <-ctx.Done():
			res, _ := in.Stop()
			if res != nil {
				res.TimedOut = false
			}
			return res, nil
		}
	}
	return in.Wait()
}
