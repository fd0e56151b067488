// Package workflow strings rko's parts together for the commands: it picks
// and provisions the toolchain, finds the kernel source, builds or loads
// the kernel, and runs modules and their tests in a guest. The commands in
// internal/cli stay thin; the parts below know nothing of each other
// beyond the types they hand on.
package workflow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rkodev/rko/internal/cache"
	"github.com/rkodev/rko/internal/debian"
	"github.com/rkodev/rko/internal/job"
	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/run"
	"github.com/rkodev/rko/internal/toolchain"
	"github.com/rkodev/rko/internal/ui"
)

// Env is a chosen toolchain and kernel source.
type Env struct {
	Toolchain *toolchain.Toolchain
	Source    *kernel.Source
	UI        *ui.Printer
}

// HostToolchain returns the host toolchain and its doctor checks against
// min.
func HostToolchain(ctx context.Context, tree string, min toolchain.Minima) (*toolchain.Toolchain, []toolchain.Check) {
	tc := &toolchain.Toolchain{Kind: toolchain.Host}
	f, checks := tc.Checks(ctx, tree, min, toolchain.DebianHint)
	tc.ID = cache.Key([]byte(f.Rustc), []byte(f.Bindgen), []byte(f.Libclang), []byte(f.Clang), []byte(f.RustSrcCore))
	return tc, checks
}

// SelectToolchain resolves --toolchain: "host" uses the host's tools and
// fails if doctor fails; "rootfs" uses the pinned rootfs, installing it if
// install is set; "auto" uses the host when every doctor check passes and
// the rootfs otherwise. rustc names another compiler than the pinned one
// (toolchain.Compilers: --rustc 1.98), which is a rootfs of its own.
func SelectToolchain(ctx context.Context, mode, rustc string, install bool, p *ui.Printer) (*toolchain.Toolchain, error) {
	compiler, err := toolchain.LookupCompiler(rustc)
	if err != nil {
		return nil, &job.Error{Field: "--rustc (kernel.rustc)", Msg: err.Error()}
	}
	if rustc != "" {
		if mode == "host" {
			return nil, &job.Error{Field: "--rustc (kernel.rustc)", Msg: "--rustc picks one of rko's rootfs compilers; the host's is the one it has: drop --rustc, or use --toolchain rootfs"}
		}
		mode = "rootfs"
	}
	switch mode {
	case "", "auto", "host":
		tc, checks := HostToolchain(ctx, "", toolchain.Minima73)
		if toolchain.Passed(checks) {
			return tc, nil
		}
		if mode == "host" {
			var first toolchain.Check
			for _, c := range checks {
				if c.Status == toolchain.Fail {
					first = c
					break
				}
			}
			return nil, fmt.Errorf("--toolchain host: the host toolchain fails its checks (first: %s: %s; fix: %s); run rko doctor for all of them, or use --toolchain rootfs", first.Name, first.Detail, first.Fix)
		}
		p.Logf("the host's Rust toolchain fails its checks (rko doctor lists them): using the pinned rootfs toolchain")
	case "rootfs":
	default:
		return nil, fmt.Errorf("unknown --toolchain %q, want auto, host or rootfs", mode)
	}
	tc, err := toolchain.Load("", compiler.Name)
	damaged := errors.Is(err, toolchain.ErrDamaged)
	if (errors.Is(err, toolchain.ErrNotInstalled) || damaged) && install {
		o := toolchain.InstallOpts{Progress: p.Logf, Compiler: compiler}
		if damaged {
			// The same package versions again, so that the kernels built
			// with it stay valid (their key is the lock's).
			p.Warnf("%v: reinstalling it with the versions of its lock file", err)
			o.Force, o.FromLock = true, tc.Lock
		}
		done := p.Phase("toolchain install (Debian trixie rootfs, rustc " + compiler.Version + ")")
		logPath, logf := LogFile("toolchain")
		defer logf.Close()
		o.Log = logf
		tc, err = toolchain.Install(ctx, o)
		if err != nil {
			return nil, fmt.Errorf("%w (log: %s)", err, logPath)
		}
		done()
	}
	if err == nil {
		if missing := tc.Lock.Missing(toolchain.DefaultPackages); len(missing) > 0 {
			p.Warnf("the toolchain at %s predates rko's %s: run rko toolchain install to rebuild it (kernels are rebuilt after)", tc.Root, strings.Join(missing, ", "))
		}
	}
	return tc, err
}

// Prepare selects the toolchain and finds the kernel source.
func Prepare(ctx context.Context, mode, source string, install bool, p *ui.Printer) (*Env, error) {
	return PrepareFor(ctx, mode, job.Kernel{Kind: job.KindRko, Source: source}, install, p)
}

// PrepareFor is Prepare for a kernel request: a kernel from elsewhere (a
// tree the user built, Debian's) brings its own source, so none is looked
// for unless --source names one; a version (--kernel 6.12) is Debian's
// linux-source of that version, fetched from the archive once.
func PrepareFor(ctx context.Context, mode string, jk job.Kernel, install bool, p *ui.Printer) (*Env, error) {
	tc, err := SelectToolchain(ctx, mode, jk.Rustc, install, p)
	if err != nil {
		return nil, err
	}
	env := &Env{Toolchain: tc, UI: p}
	switch {
	case jk.Kind != "" && jk.Kind != job.KindRko && jk.Source == "":
		return env, nil
	case jk.Version != "":
		logPath, logf := LogFile("source")
		defer logf.Close()
		src, rel, err := debian.LinuxSource(ctx, debian.Params{Toolchain: tc, Log: logf, Progress: p.Logf, Warn: p.Warnf}, jk.Version)
		var ve *debian.VersionError
		if errors.As(err, &ve) {
			os.Remove(logPath)
			return nil, &job.Error{Field: "--kernel (kernel.version)", Msg: ve.Msg}
		}
		if err != nil {
			return nil, fmt.Errorf("--kernel %s: %w (log: %s)", jk.Version, err, logPath)
		}
		os.Remove(logPath)
		p.Logf("kernel source %s", rel)
		env.Source = src
		return env, nil
	}
	if env.Source, err = kernel.FindSource(ctx, jk.Source, tc, p.Logf); err != nil {
		return nil, err
	}
	return env, nil
}

// Kernel returns the kernel jk requests, from whichever source, checked
// for what rko's build and boot need (kernel.BootNeeds) and for the
// architecture the job asked for: a tree built for another one is
// refused, never booted as if it were the asked one.
func (e *Env) Kernel(ctx context.Context, jk job.Kernel) (*kernel.Kernel, error) {
	var k *kernel.Kernel
	var err error
	switch jk.Kind {
	case job.KindRko, "":
		k, err = e.ownKernel(ctx, jk)
	case job.KindDebian:
		k, err = e.debianKernel(ctx, jk.Release)
	case job.KindDir:
		k, err = kernel.FromDir(jk.Dir)
		if err == nil {
			e.UI.Logf("kernel %s", k.Describe())
			err = e.sameCompiler(ctx, k)
		}
	default:
		return nil, fmt.Errorf("unknown kernel kind %q, want rko, debian or dir", jk.Kind)
	}
	if err != nil {
		return nil, err
	}
	if jk.Arch != "" && k.Target().Name != jk.Arch {
		return nil, &job.Error{Field: "--arch (kernel.arch)", Msg: fmt.Sprintf("kernel %s is built for %s, not %s: drop --arch (the kernel's own is used), or give a kernel built for %s", k.Describe(), k.Target().Name, jk.Arch, jk.Arch)}
	}
	unmet, err := k.CheckNeeds(kernel.BootNeedsFor(k.Target()))
	if err != nil {
		return nil, err
	}
	if len(unmet) > 0 {
		return nil, &kernel.NeedsError{Kernel: k.Describe(), Unmet: unmet}
	}
	return k, nil
}

// sameCompiler refuses a kernel built by another rustc than the
// toolchain's: rustc cannot read the kernel crate's metadata of another
// compiler ("compiled by an incompatible version of rustc"), so modules
// must be built by the kernel's own.
func (e *Env) sameCompiler(ctx context.Context, k *kernel.Kernel) error {
	cfg, err := k.Config()
	if err != nil {
		return err
	}
	built, err := strconv.Atoi(cfg.Get("RUSTC_VERSION"))
	if err != nil || built == 0 {
		return nil // no Rust: kernel.BootNeeds says so
	}
	have, err := toolchainRustc(ctx, e.Toolchain)
	if err != nil {
		return nil // the build will say what is wrong with the toolchain
	}
	if kernel.RustcVersionNumber(have.Major, have.Minor, have.Patch) != built {
		b := kernel.RustcVersionText(built)
		return fmt.Errorf("kernel %s was built with rustc %s (CONFIG_RUSTC_VERSION=%d), and the toolchain has rustc %s: a module must be built by the compiler of its kernel (fix: the toolchain that built the tree, or --rustc %s for one of rko's)",
			k.Describe(), b, built, have, b[:strings.LastIndex(b, ".")])
	}
	return nil
}

// toolchainRustc is the version of tc's rustc.
func toolchainRustc(ctx context.Context, tc *toolchain.Toolchain) (toolchain.Version, error) {
	if tc.Lock != nil && tc.Lock.Packages["rustc"] != "" {
		return toolchain.ParseVersion(tc.Lock.Packages["rustc"])
	}
	r, err := tc.Run(ctx, run.Opts{}, nil, "rustc", "--version")
	if err != nil {
		return toolchain.Version{}, err
	}
	return toolchain.ParseVersion(string(r.Stdout))
}

// debianKernel fetches and prepares Debian's kernel of release.
func (e *Env) debianKernel(ctx context.Context, release string) (*kernel.Kernel, error) {
	logPath, logf := LogFile("debian")
	defer logf.Close()
	start := time.Now()
	k, err := debian.Kernel(ctx, debian.Params{Release: release, Toolchain: e.Toolchain, Log: logf,
		Progress: e.UI.Logf, Warn: e.UI.Warnf})
	if err != nil {
		var be *kernel.BuildError
		if errors.As(err, &be) {
			return nil, fmt.Errorf("%w\nfull log: %s", err, logPath)
		}
		return nil, err
	}
	if !k.Built.Before(start) {
		e.UI.Logf("kernel %s ready in %s", k.Describe(), time.Since(start).Round(time.Second))
	} else {
		os.Remove(logPath)
		e.UI.Logf("kernel %s from cache", k.Describe())
	}
	return k, nil
}

// readFragments reads the --fragment files.
func readFragments(paths []string) ([]kernel.Fragment, error) {
	var out []kernel.Fragment
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config fragment: %w", err)
		}
		out = append(out, kernel.Fragment{Name: filepath.Base(path), Data: data})
	}
	return out, nil
}

// ownKernel builds (or loads from the cache) rko's kernel for jk.
func (e *Env) ownKernel(ctx context.Context, jk job.Kernel) (*kernel.Kernel, error) {
	extra, err := readFragments(jk.Fragments)
	if err != nil {
		return nil, err
	}
	t := jk.Target()
	if jk.Profile != "" {
		// A bad profile name is the user's input: no build log for it.
		if _, err := kernel.TargetFragments(jk.Profile, t); err != nil {
			return nil, err
		}
	}
	params := kernel.Params{Target: t, Source: e.Source, Toolchain: e.Toolchain, Profile: jk.Profile, Extra: extra}
	if jk.Store != "" {
		if k, err := e.pullKernel(ctx, jk.Store, params); k != nil || err != nil {
			return k, err
		}
	}
	logPath, logf := LogFile("kernel")
	defer logf.Close()
	start := time.Now()
	built := false
	params.Log = logf
	params.Progress = func(f string, a ...any) { built = true; e.UI.Logf(f, a...) }
	k, err := kernel.Build(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("%w\nfull build log: %s", err, logPath)
	}
	if built && jk.Store != "" {
		e.pushKernel(ctx, jk.Store, k)
	}
	if built {
		e.UI.Logf("kernel %s %s (%s, profile %s) built in %s", k.Target().Name, k.Release, k.Key, k.Profile, time.Since(start).Round(time.Second))
	} else {
		os.Remove(logPath)
		e.UI.Logf("kernel %s %s (%s, profile %s) from cache", k.Target().Name, k.Release, k.Key, k.Profile)
	}
	return k, nil
}

// LogFile opens a new log file under the cache's logs directory; on
// failure it returns a discarding writer.
func LogFile(what string) (string, io.WriteCloser) {
	dir, err := cache.Sub("logs")
	if err != nil {
		return "", nopCloser{io.Discard}
	}
	f, err := os.CreateTemp(dir, what+"-"+time.Now().Format("20060102-150405")+"-*.log")
	if err != nil {
		return "", nopCloser{io.Discard}
	}
	return f.Name(), f
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
