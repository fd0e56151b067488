package workflow

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rkodev/rko/internal/job"
	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/rustproject"
	"github.com/rkodev/rko/internal/toolchain"
	"github.com/rkodev/rko/internal/ui"
)

// CachedKernel returns the kernel Kernel would return for o when it is
// already built; when it is not, the error says what to run. The editor
// commands (rko rust-analyzer, rko doc, rko new) use it: they describe a
// kernel and never start a five-minute build on their own.
func (e *Env) CachedKernel(ctx context.Context, o job.Kernel) (*kernel.Kernel, error) {
	if o.Kind != job.KindRko && o.Kind != "" {
		// A Debian kernel or a tree the user built: the same value the
		// build and the boot take (Debian's is fetched and prepared once).
		return e.Kernel(ctx, o)
	}
	extra, err := readFragments(o.Fragments)
	if err != nil {
		return nil, err
	}
	k, err := kernel.Lookup(kernel.Params{Target: o.Target(), Source: e.Source, Toolchain: e.Toolchain, Profile: o.Profile, Extra: extra})
	if errors.Is(err, kernel.ErrNotBuilt) {
		flags := ""
		if o.Profile != "" && o.Profile != "default" {
			flags += " --profile " + o.Profile
		}
		for _, f := range o.Fragments {
			flags += " --fragment " + f
		}
		return nil, fmt.Errorf("%w: run rko kernel build%s (or rko build DIR%s, which builds it first)", err, flags, flags)
	}
	return k, err
}

// RustProjects writes rust-project.json into each Rust module directory
// for k (rustproject.Write), under the same per-directory lock as module
// builds. A user's own file is kept, and said so on the printer.
func (e *Env) RustProjects(ctx context.Context, k *kernel.Kernel, dirs []string, force bool) ([]*rustproject.Result, error) {
	var out []*rustproject.Result
	for _, d := range dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return nil, err
		}
		unlock, err := e.lockModuleDir(ctx, abs, "working in")
		if err != nil {
			return nil, err
		}
		r, err := rustproject.Write(ctx, rustproject.Params{Toolchain: e.Toolchain, Kernel: k, Dir: abs, Force: force})
		unlock()
		if err != nil {
			return out, err
		}
		switch r.Status {
		case rustproject.Written:
			e.UI.Logf("%s: %d crates, for kernel %s", r.Path, r.Crates, k.Key)
			if r.Backup != "" {
				e.UI.Logf("your earlier %s is kept as %s", rustproject.FileName, r.Backup)
			}
		case rustproject.Kept:
			e.UI.Warnf("%s", r.Note)
		}
		out = append(out, r)
	}
	return out, nil
}

// ServerCommand returns the argv that runs the toolchain's rust-analyzer
// for the workspace at dir (the editor's working directory) with args,
// for run.Exec: inside the rootfs toolchain, with the workspace, the
// kernel source and build tree, and the rootfs itself (the rewritten
// sysroot paths point there) bound at their host paths. The directories
// come from the marker of the nearest rust-project.json rko wrote (dir or
// a parent); without one, from the toolchain and kernel of o.
func ServerCommand(ctx context.Context, dir string, mode string, o job.Kernel, args []string, p *ui.Printer) ([]string, error) {
	ws, m := findProject(dir)
	binds := []string{ws}
	var tc *toolchain.Toolchain
	if m != nil {
		binds = append(binds, m.KernelDir, m.SourceDir)
		if m.ToolchainRoot == "" {
			tc = &toolchain.Toolchain{Kind: toolchain.Host}
		} else {
			t, err := toolchain.Load("", "")
			if err != nil {
				return nil, err
			}
			if t.Root != m.ToolchainRoot {
				p.Warnf("%s was made with the toolchain at %s, not the installed %s: run rko rust-analyzer %s", filepath.Join(ws, rustproject.FileName), m.ToolchainRoot, t.Root, ws)
			}
			tc = t
		}
	} else {
		p.Warnf("no %s written by rko in %s or above: rust-analyzer will not know the kernel crate (run: rko rust-analyzer %s)", rustproject.FileName, dir, dir)
		env, err := Prepare(ctx, mode, "", false, p)
		if err != nil {
			return nil, err
		}
		tc = env.Toolchain
		if k, err := env.CachedKernel(ctx, o); err == nil {
			binds = append(binds, k.Dir, k.Source.Dir)
		}
	}
	if tc.LookPath("rust-analyzer") == "" {
		if tc.Kind == toolchain.Rootfs {
			return nil, fmt.Errorf("the toolchain at %s has no rust-analyzer (it was built before rko added it): run rko toolchain install, which rebuilds it", tc.Root)
		}
		return nil, errors.New("rust-analyzer is not on the host's PATH: install it (apt-get install rust-analyzer, or rustup component add rust-analyzer), or use --toolchain rootfs")
	}
	if tc.Kind == toolchain.Rootfs {
		binds = append(binds, tc.Root)
	}
	for _, b := range binds {
		if b == "/" {
			return nil, errors.New("the workspace is /: open the module's directory in the editor, not the root")
		}
	}
	return tc.Command(binds, dir, append([]string{"rust-analyzer"}, args...)...), nil
}

// findProject returns the directory of the nearest rust-project.json at
// or above dir (dir itself when there is none) and its marker if rko
// wrote it (edited or not: the directories it names are still the ones
// to bind).
func findProject(dir string) (string, *rustproject.Marker) {
	for d := dir; ; d = filepath.Dir(d) {
		if data, err := os.ReadFile(filepath.Join(d, rustproject.FileName)); err == nil {
			if m, _ := rustproject.ReadMarker(data); m.KernelDir != "" {
				return d, &m
			}
			return d, nil
		}
		if d == filepath.Dir(d) {
			return dir, nil
		}
	}
}
