package kdoc

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rkodev/rko/internal/cache"
	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/run"
	"github.com/rkodev/rko/internal/toolchain"
	"github.com/rkodev/rko/internal/ui"
)

// Docs is the rustdoc output of one kernel.
type Docs struct {
	// Dir is the doc root (kernel/index.html, search-index.js...).
	Dir string
	// Built says that this call built them; Took is how long that took.
	Built bool
	Took  time.Duration
}

// Dir is where a kernel's docs live: in its cache entry, so they go when
// the kernel goes; for a kernel built outside rko's cache (a tree of the
// user's), under <cache>/docs, so that nothing is written into the user's
// tree but the build products make rustdoc itself leaves there.
func Dir(k *kernel.Kernel) string {
	if inCache(k) {
		return filepath.Join(k.Dir, "rustdoc")
	}
	d, err := cache.Sub("docs")
	if err != nil {
		return filepath.Join(k.Dir, "rustdoc")
	}
	return filepath.Join(d, cache.Key([]byte(k.BuildDir)))
}

// inCache reports whether k is an entry of rko's kernel cache.
func inCache(k *kernel.Kernel) bool {
	root, err := cache.Sub("kernels")
	if err != nil {
		return false
	}
	rel, err := filepath.Rel(root, k.Dir)
	return err == nil && rel != "." && !strings.HasPrefix(rel, "..")
}

// Params configures Build.
type Params struct {
	Toolchain *toolchain.Toolchain
	Kernel    *kernel.Kernel
	// Rebuild makes the docs again even if they exist.
	Rebuild bool
	// Log receives make's output; Progress one-line phases.
	Log      io.Writer
	Progress func(format string, args ...any)
}

// Build returns the kernel's docs, making them first with the kernel's
// make rustdoc if they are not there. The kernel's cache entry lock is
// held while make runs in its build tree; the output goes to a
// temporary directory in the entry and is renamed into place complete.
func Build(ctx context.Context, p Params) (*Docs, error) {
	if p.Progress == nil {
		p.Progress = func(string, ...any) {}
	}
	if p.Log == nil {
		p.Log = io.Discard
	}
	k := p.Kernel
	final := Dir(k)
	if !p.Rebuild && complete(final) {
		return &Docs{Dir: final}, nil
	}
	cfg, err := k.Config()
	if err != nil {
		return nil, fmt.Errorf("kernel %s: %w", k.BuildDir, err)
	}
	if cfg.Get("RUST") != "y" {
		return nil, fmt.Errorf("kernel %s (%s) was built without CONFIG_RUST: it has no kernel crate to document", k.Release, k.BuildDir)
	}
	waiting := func() { p.Progress("waiting for another rko using kernel %s", k.Key) }
	var unlock func()
	if inCache(k) {
		unlock, err = k.Lock(ctx, waiting)
	} else {
		unlock, err = cache.Lock(ctx, final, waiting)
	}
	if err != nil {
		return nil, err
	}
	defer unlock()
	if !p.Rebuild && complete(final) {
		return &Docs{Dir: final}, nil
	}
	tmp, err := os.MkdirTemp(filepath.Dir(final), ".tmp-rustdoc-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "rustdoc")
	start := time.Now()
	p.Progress("building the rustdoc of kernel %s (core, kernel, macros, pin_init...; a few minutes, once per kernel)", k.Key)
	// rustdoc_output is rust/Makefile's own variable for where the docs
	// go; set on the command line, it wins over the Makefile's.
	argv := []string{"make", "LLVM=1", "-C", k.Source.Dir, "O=" + k.BuildDir, fmt.Sprintf("-j%d", runtime.NumCPU()),
		"rustdoc_output=" + out, "rustdoc"}
	var crates atomic.Int64
	log := io.MultiWriter(p.Log, lineCounter{prefix: []byte("  RUSTDOC"), n: &crates})
	defer ui.Every(10*time.Second, func() {
		p.Progress("rustdoc: %d crates documented, %s elapsed", crates.Load(), time.Since(start).Round(time.Second))
	})()
	if _, err := p.Toolchain.Run(ctx, run.Opts{Stdout: log, Stderr: log}, []string{k.Source.Dir, k.Dir, tmp}, argv...); err != nil {
		return nil, fmt.Errorf("make rustdoc for kernel %s: %w", k.Key, err)
	}
	if !complete(out) {
		return nil, fmt.Errorf("make rustdoc for kernel %s succeeded but wrote no kernel/index.html and search-index.js in %s", k.Key, out)
	}
	if p.Rebuild {
		old := final + ".old"
		os.RemoveAll(old)
		if err := os.Rename(final, old); err == nil {
			defer os.RemoveAll(old)
		}
	}
	if err := cache.Publish(out, final); err != nil {
		return nil, err
	}
	return &Docs{Dir: final, Built: true, Took: time.Since(start)}, nil
}

// lineCounter counts the lines of make's output that start with prefix
// (Kbuild's "  RUSTDOC [H] path" lines, one per crate). It is progress,
// not a count to rely on: a line split between two writes is missed.
type lineCounter struct {
	prefix []byte
	n      *atomic.Int64
}

func (c lineCounter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(p, []byte("\n")) {
		if bytes.HasPrefix(line, c.prefix) {
			c.n.Add(1)
		}
	}
	return len(p), nil
}

// complete reports whether dir holds a finished doc tree.
func complete(dir string) bool {
	for _, f := range []string{"kernel/index.html", "search-index.js"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return false
		}
	}
	return true
}

// Built returns the index of k's docs if they were built already (rko
// doc, rko doc --diff), and false otherwise: it never builds them.
func Built(k *kernel.Kernel) (*Index, bool) {
	dir := Dir(k)
	if !complete(dir) {
		return nil, false
	}
	ix, err := LoadIndex(dir)
	return ix, err == nil
}
