package workflow

import (
	"bytes"
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
	"regexp"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rkodev/rko/internal/cache"
	"github.com/rkodev/rko/internal/guest"
	"github.com/rkodev/rko/internal/job"
	"github.com/rkodev/rko/internal/kernel"
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
	if gdb != "" {
		var kos []string
		for _, m := range mods {
			kos = append(kos, m.KoPaths...)
		}
		if err := checkBreaks(ctx, gdb, o.Breaks, kos, vmlinux); err != nil {
			return nil, err
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

// checkBreaks refuses a --break function that neither a module nor the
// kernel has, before anything boots: gdb itself looks each one up in the
// modules' debug info (inlined functions included), then in vmlinux. A
// location that is not a plain name (FILE:LINE, *ADDR) is left to gdb.
func checkBreaks(ctx context.Context, gdb string, breaks, kos []string, vmlinux string) error {
	for _, br := range breaks {
		if br == "init" || br == "panic" || strings.ContainsAny(br, "*/") || lineSpec.MatchString(br) {
			continue
		}
		found := false
		for _, obj := range append(append([]string(nil), kos...), vmlinux) {
			out, _ := exec.CommandContext(ctx, gdb, "-q", "-batch", "-nx", "-readnow", "-ex", "info line "+br, obj).CombinedOutput()
			if bytes.Contains(out, []byte("starts at address")) || bytes.Contains(out, []byte("is at address")) {
				found = true
				break
			}
		}
		if !found {
			return &job.Error{Field: "--break", Msg: fmt.Sprintf("no function %s in the modules (%s) or the kernel: give a function of the module's source, such as points::scaled for a Rust module, or init or panic", br, strings.Join(kos, ", "))}
		}
	}
	return nil
}

// lineSpec is a FILE:LINE or LINE breakpoint location.
var lineSpec = regexp.MustCompile(`(^|:)[0-9]+$`)

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
	if p, err := exec.LookPath("gdb"); err == nil && arch == target.Host().Name {
		return p, nil
	}
	return "", errors.New("no gdb-multiarch on the host: install it (apt-get install gdb-multiarch; scripts/setup does), or use --listen and attach a debugger of your own")
}

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

// freeAddr is a free TCP port on the loopback interface.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
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
