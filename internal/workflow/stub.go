package workflow

import (
	"context"
	"path/filepath"
	"strings"
	"time"

	"github.com/rkodev/rko/internal/cache"
	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/vm"
)

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
