// Package kbuild builds out-of-tree kernel modules with the kernel's own
// Kbuild (make -C KDIR M=DIR) and pulls the compiler's diagnostics out of
// make's output, so that an error reads as file:line: message.
package kbuild

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rkodev/rko/internal/cache"
	"github.com/rkodev/rko/internal/guest"
	"github.com/rkodev/rko/internal/kapi"
	"github.com/rkodev/rko/internal/kdoc"
	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/run"
	"github.com/rkodev/rko/internal/target"
	"github.com/rkodev/rko/internal/toolchain"
)

// ccmemoSource is the compiler-probe memo (see ccmemo/main.go), built
// for the host on first use like the guest programs.
//
//go:embed ccmemo/*.go
var ccmemoSource embed.FS

// Diagnostic is one compiler message.
type Diagnostic struct {
	File     string `json:"file"`
	Line     int    `json:"line"`
	Col      int    `json:"col,omitempty"`
	Severity string `json:"severity"`       // error, warning
	Code     string `json:"code,omitempty"` // rustc's error code, or "modpost"
	Message  string `json:"message"`
	// Hint says how to fix a message whose cause is not obvious from it.
	Hint string `json:"hint,omitempty"`
}

// String prints the diagnostic as compilers do: "file:line:col: error: msg"
// (modpost's messages have no line: "file: error[modpost]: msg").
func (d Diagnostic) String() string {
	code := ""
	if d.Code != "" {
		code = "[" + d.Code + "]"
	}
	var s string
	switch {
	case d.Col > 0:
		s = fmt.Sprintf("%s:%d:%d: %s%s: %s", d.File, d.Line, d.Col, d.Severity, code, d.Message)
	case d.Line > 0:
		s = fmt.Sprintf("%s:%d: %s%s: %s", d.File, d.Line, d.Severity, code, d.Message)
	default:
		s = fmt.Sprintf("%s: %s%s: %s", d.File, d.Severity, code, d.Message)
	}
	if d.Hint != "" {
		s += " (" + d.Hint + ")"
	}
	return s
}

// Result is a finished module build.
type Result struct {
	Dir string `json:"dir"`
	// BuildPath is where the compilers saw the module directory, when
	// not at Dir (see makeSafePath); debug info names files under it.
	BuildPath   string       `json:"build_path,omitempty"`
	Modules     []string     `json:"modules"` // .ko paths
	Diagnostics []Diagnostic `json:"diagnostics,omitempty"`
	// Path is how the module was built: PathReplay (the commands Kbuild
	// recorded, run again without make) or PathMake; Reason says why.
	Path   string `json:"-"`
	Reason string `json:"-"`
	// Compile is, for a replay, the time of the compile commands of the
	// module's changed sources (each with its objtool pass and fixdep).
	Compile time.Duration `json:"-"`
}

// Error is a failed module build: the diagnostics found, and make's output
// for %+v.
type Error struct {
	Dir         string
	Diagnostics []Diagnostic
	Output      []byte
	Err         error
	// Reason says why make ran rather than a replay (Result.Reason).
	Reason string
	// Drift are the kernel-crate items the module's Rust code uses that
	// the kernel lacks, with the kernels that have them (kapi.Drift).
	Drift []kapi.Finding
}

func (e *Error) Error() string {
	var errs []string
	for _, d := range e.Diagnostics {
		if d.Severity == "error" {
			errs = append(errs, d.String())
		}
	}
	msg := fmt.Sprintf("module build in %s failed: %v", e.Dir, e.Err)
	if len(errs) > 0 {
		msg = fmt.Sprintf("module build in %s failed with %d error(s):\n  %s", e.Dir, len(errs), strings.Join(errs, "\n  "))
	}
	if len(e.Drift) > 0 {
		msg += "\nthe module uses kernel-crate items this kernel lacks or has otherwise (gate them with rko's cfgs, docs/kernels.md#one-module-source-for-several-kernels):"
		for _, f := range e.Drift {
			msg += "\n  " + f.String()
		}
	}
	return msg
}

// Format prints make's full output with %+v.
func (e *Error) Format(s fmt.State, verb rune) {
	io.WriteString(s, e.Error())
	if verb == 'v' && s.Flag('+') {
		fmt.Fprintf(s, "\n%s", e.Output)
	}
}

// Unwrap returns the make error.
func (e *Error) Unwrap() error { return e.Err }

// CheckDir verifies that dir is a module directory Kbuild can build.
func CheckDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("module directory %s: %w", dir, err)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("%s is not a directory: pass the module's directory", dir)
	}
	for _, f := range []string{"Kbuild", "Makefile"} {
		if _, err := os.Stat(filepath.Join(abs, f)); err == nil {
			return abs, nil
		}
	}
	return "", fmt.Errorf("%s has neither a Kbuild nor a Makefile: an out-of-tree module needs one with obj-m := NAME.o (rko new NAME creates a module with both)", abs)
}

// Build builds the modules of dir against k with tc, and returns the .ko
// files: it replays the commands Kbuild recorded when only the module's
// sources changed since rko's last make of dir (see replay.go), and runs
// make M=dir modules otherwise. Result.Path and Result.Reason say which
// and why; RKO_KBUILD_REPLAY=0 always runs make. A replayed command that
// fails is followed by make, whose error is the one returned.
func Build(ctx context.Context, tc *toolchain.Toolchain, k *kernel.Kernel, dir string, log io.Writer) (*Result, error) {
	abs, err := CheckDir(dir)
	if err != nil {
		return nil, err
	}
	if err := kernel.CheckFloors([]string{abs}, k.Version()); err != nil {
		return nil, err
	}
	if log == nil {
		log = io.Discard
	}
	binds := append(k.Dirs(), abs)
	mdir := abs
	var mounts []toolchain.Mount
	if !makeSafe(abs) {
		// Kbuild cannot take an M= path with spaces or make's special
		// characters: the rootfs toolchain sees the directory at a plain
		// path instead, and messages are mapped back.
		if tc.Kind != toolchain.Rootfs {
			return nil, fmt.Errorf("module directory %q: Kbuild cannot build a module whose path has spaces or any of :#$%%=\\'\" (fix: move it, or use the rootfs toolchain, which mounts it at a plain path)", abs)
		}
		mdir = "/rko-extmod/" + cache.Key([]byte(abs))
		mounts = []toolchain.Mount{{Host: abs, At: mdir}}
		binds = binds[:len(binds)-1]
	}
	// The compilers the kernel's config was made with: LLVM=1 for rko's
	// own kernel, CC=gcc-14 (and its prefix) for Debian's.
	vars, err := k.MakeVars()
	if err != nil {
		return nil, err
	}
	// Debug info for the module even when the kernel has none, so that
	// crash frames inside it resolve to file:line (rko test symbolizes
	// with the .ko). It costs the module build little.
	// ARCH= is the kernel's (a build tree does not remember it): a module
	// for an arm64 kernel is cross-compiled like the kernel was; the
	// compilers (LLVM=1, or Debian's GCC) come from the kernel's .config.
	var env []string
	if memo, err := probeMemo(ctx); err != nil {
		fmt.Fprintf(log, "rko: compiler probes are not remembered for this build: %v\n", err)
	} else if memo != nil {
		vars = memo.wrap(vars)
		binds = append(binds, memo.progDir, memo.dir)
		env = append(env, "RKO_CCMEMO_DIR="+memo.dir)
	}
	// The module cfgs (kernel.ModuleCfgs: rko_kernel_6_12, ...) let one
	// source build on several kernels.
	cfgs, err := k.ModuleCfgs()
	if err != nil {
		return nil, err
	}
	rustflags := append(append([]string{"-Cdebuginfo=2"}, k.Target().ModuleRustFlags...), kernel.CfgFlags(cfgs)...)
	argv := append(append(append([]string{"make"}, vars...), k.Target().MakeArgs()...), "-C", k.BuildDir, "M="+mdir, fmt.Sprintf("-j%d", runtime.NumCPU()),
		"KCFLAGS=-g", "KRUSTFLAGS="+strings.Join(rustflags, " "), "modules")
	if mdir != abs {
		log = &replaceWriter{w: log, old: []byte(mdir), new: []byte(abs)}
	}
	id := replayIdentity{Dir: abs, RunDir: mdir, Make: argv, Env: envStamp(env), Kernel: kernelStamp(k), Toolchain: string(tc.Kind) + "|" + tc.ID + "|" + tc.Root}
	reason := "RKO_KBUILD_REPLAY=0"
	if os.Getenv("RKO_KBUILD_REPLAY") != "0" {
		reason = replayUnsupported(k)
		if reason == "" {
			var plan *replayPlan
			plan, reason = planReplay(loadRecord(abs), id)
			if plan != nil {
				res, err := replay(ctx, tc, k, plan, binds, mounts, env, mdir, log)
				if err == nil {
					res.Reason = reason
					return res, nil
				}
				if errors.Is(err, context.Canceled) {
					return nil, err
				}
				reason = "a replayed command failed (" + err.Error() + "): make reports it"
				fmt.Fprintf(log, "rko: %s\n", reason)
			}
		}
	}
	res, err := makeModules(ctx, tc, k, abs, mdir, binds, mounts, env, argv, log)
	if err != nil {
		// The record stays: it describes the last make that worked, and
		// each target's command is checked against it before a replay.
		var be *Error
		if errors.As(err, &be) {
			be.Reason = reason
			be.Drift = drift(k, abs)
		}
		return nil, err
	}
	res.Path, res.Reason = PathMake, reason
	if err := saveRecord(id); err != nil {
		fmt.Fprintf(log, "rko: the next build of %s runs make again: %v\n", abs, err)
	}
	return res, nil
}

// replay runs plan (replay.go) and checks its .ko files as make's are.
func replay(ctx context.Context, tc *toolchain.Toolchain, k *kernel.Kernel, plan *replayPlan, binds []string, mounts []toolchain.Mount, env []string, mdir string, log io.Writer) (*Result, error) {
	abs := plan.dir
	var res *Result
	var compile time.Duration
	if !plan.empty() {
		r, err := runReplay(ctx, tc, k, plan, binds, mounts, env, log)
		if err != nil {
			return nil, err
		}
		compile = r.compile
		out := bytes.ReplaceAll(r.output, []byte(mdir), []byte(abs))
		res = &Result{Diagnostics: absDiagnostics(ParseDiagnostics(string(out)), abs, k.BuildDir)}
	} else {
		res = &Result{}
	}
	mods, err := checkedModules(k, abs)
	if err != nil {
		return nil, err
	}
	res.Dir, res.Modules, res.Path, res.Compile = abs, mods, PathReplay, compile
	if mdir != abs {
		res.BuildPath = mdir
	}
	return res, nil
}

// makeModules runs make M=mdir modules (argv) and checks the .ko files.
func makeModules(ctx context.Context, tc *toolchain.Toolchain, k *kernel.Kernel, abs, mdir string, binds []string, mounts []toolchain.Mount, env, argv []string, log io.Writer) (*Result, error) {
	r, err := tc.RunMounted(ctx, run.Opts{Stdout: log, Stderr: log, Env: env}, binds, mounts, argv...)
	var out []byte
	if r != nil {
		out = append(append(out, r.Stdout...), r.Stderr...)
	}
	if err != nil {
		var re *run.Error
		if errors.As(err, &re) {
			out = re.Output
		}
	}
	out = bytes.ReplaceAll(out, []byte(mdir), []byte(abs))
	diags := absDiagnostics(ParseDiagnostics(string(out)), abs, k.BuildDir)
	if err != nil {
		return nil, &Error{Dir: abs, Diagnostics: diags, Output: out, Err: err}
	}
	mods, err := checkedModules(k, abs)
	if errors.Is(err, errNoModule) {
		return nil, &Error{Dir: abs, Output: out, Err: err}
	}
	if err != nil {
		return nil, err
	}
	res := &Result{Dir: abs, Modules: mods, Diagnostics: diags}
	if mdir != abs {
		res.BuildPath = mdir
	}
	return res, nil
}

// errNoModule: a build that made no .ko.
var errNoModule = errors.New("make succeeded but built no .ko: check obj-m in the Kbuild file")

// checkedModules lists the .ko files built in dir (builtModules), sorted,
// each checked as the kernel will (CheckModule).
func checkedModules(k *kernel.Kernel, dir string) ([]string, error) {
	mods, err := builtModules(dir)
	if err != nil {
		return nil, err
	}
	if len(mods) == 0 {
		return nil, errNoModule
	}
	sort.Strings(mods)
	for _, ko := range mods {
		if err := CheckModule(k, ko); err != nil {
			return nil, err
		}
	}
	return mods, nil
}

// memo is the compiler-probe memo for module builds: the ccmemo program
// and the directory of remembered answers.
type memo struct {
	prog, progDir, dir string
	cache              string // the cache root it is in
}

// probeMemo returns the memo, building ccmemo on first use; nil when
// RKO_CCMEMO=0 turns it off. It is found (and its checksum checked) once
// per process: rko watch builds on every save.
func probeMemo(ctx context.Context) (*memo, error) {
	if os.Getenv("RKO_CCMEMO") == "0" {
		return nil, nil
	}
	root, err := cache.Dir()
	if err != nil {
		return nil, err
	}
	probeMemoFound.Lock()
	defer probeMemoFound.Unlock()
	if m := probeMemoFound.m; m != nil && m.cache == root {
		if _, err := os.Stat(m.prog); err == nil {
			return m, nil
		}
	}
	prog, err := guest.BuildStatic(ctx, target.Host(), "ccmemo", ccmemoSource, "ccmemo")
	if err != nil {
		return nil, err
	}
	dir, err := cache.Sub("ccmemo")
	if err != nil {
		return nil, err
	}
	probeMemoFound.m = &memo{prog: prog, progDir: filepath.Dir(prog), dir: dir, cache: root}
	return probeMemoFound.m, nil
}

// probeMemoFound is the memo probeMemo found, for the cache root it was
// found in (tests change RKO_CACHE).
var probeMemoFound struct {
	sync.Mutex
	m *memo
}

// wrap puts the C compiler that vars select (MakeVars: LLVM=1 means
// clang) behind ccmemo. Kbuild takes a CC of several words, as it does
// for CC="ccache gcc".
func (m *memo) wrap(vars []string) []string {
	out := make([]string, 0, len(vars)+1)
	cc := ""
	for _, v := range vars {
		switch {
		case strings.HasPrefix(v, "CC="):
			cc = strings.TrimPrefix(v, "CC=")
		case v == "LLVM=1":
			if cc == "" {
				cc = "clang"
			}
			out = append(out, v)
		default:
			out = append(out, v)
		}
	}
	if cc == "" || !makeSafe(m.prog) {
		return vars
	}
	return append(out, "CC="+m.prog+" "+cc)
}

// builtModules lists the .ko files the build made: those Kbuild's
// modules.order names ("NAME.o" for NAME.ko, relative to the module
// directory), so that a .ko left from before a rename is not loaded; all
// *.ko when there is no modules.order.
func builtModules(dir string) ([]string, error) {
	data, err := os.ReadFile(filepath.Join(dir, "modules.order"))
	if errors.Is(err, os.ErrNotExist) {
		return filepath.Glob(filepath.Join(dir, "*.ko"))
	}
	if err != nil {
		return nil, err
	}
	var mods []string
	for _, line := range strings.Fields(string(data)) {
		line = orderEntry(dir, line)
		ko := filepath.Join(dir, strings.TrimSuffix(line, filepath.Ext(line))+".ko")
		if _, err := os.Stat(ko); err != nil {
			return nil, fmt.Errorf("modules.order names %s, which the build did not make: %w", line, err)
		}
		mods = append(mods, ko)
	}
	return mods, nil
}

// drift is what the Rust sources in dir use that k's kernel crate lacks,
// with the versions of the other sources rko has that have it.
func drift(k *kernel.Kernel, dir string) []kapi.Finding {
	src := k.SourceDir()
	if src == "" {
		return nil
	}
	uses, err := kapi.Uses(dir)
	if err != nil || len(uses) == 0 {
		return nil
	}
	version := k.Release
	if v, err := kernel.MakefileVersion(filepath.Join(src, "Makefile")); err == nil {
		version = v
	}
	var others []*kapi.Tree
	srcs := kernel.ExtractedSources()
	for i := len(srcs) - 1; i >= 0; i-- { // oldest first, as the hint lists them
		if s := srcs[i]; s.Version != version {
			others = append(others, kapi.NewTree(s.Version, s.Dir))
		}
	}
	tree := kapi.NewTree(version, src)
	out := kapi.Drift(uses, tree, others)
	return append(out, changed(k, uses, tree, version)...)
}

// changed is what the module uses that k has with another signature
// than another kernel of another version, from the rustdoc of both when
// it was built already (rko doc builds it; a failed build never waits
// for one).
func changed(k *kernel.Kernel, uses []string, tree *kapi.Tree, version string) []kapi.Finding {
	mine, ok := kdoc.Built(k)
	if !ok {
		return nil
	}
	var out []kapi.Finding
	seen := map[string]bool{}
	for _, o := range kernel.AllCached() {
		ov := o.Release
		if o.Source != nil && o.Source.Version != "" {
			ov = o.Source.Version
		}
		if ov == version || seen[ov] {
			continue
		}
		theirs, ok := kdoc.Built(o)
		if !ok {
			continue
		}
		seen[ov] = true
		for _, u := range uses {
			if !tree.Has(u) {
				continue
			}
			a, okA := mine.Signature("kernel", u)
			b, okB := theirs.Signature("kernel", u)
			if okA && okB && a != b {
				out = append(out, kapi.Finding{Path: u, Missing: version, In: []string{ov}, Changed: true, Signature: a, Other: b})
			}
		}
	}
	return out
}

// orderEntry is a modules.order line relative to the module directory
// dir: Linux 7.x writes "hello.o" (or "./hello.o"), 6.12 the object's
// absolute path as make saw it (dir itself, or the plain path a rootfs
// build mounts it at, /rko-extmod/KEY).
func orderEntry(dir, line string) string {
	if !filepath.IsAbs(line) {
		return strings.TrimPrefix(line, "./")
	}
	if rel, err := filepath.Rel(dir, line); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	if rest, ok := strings.CutPrefix(line, "/rko-extmod/"); ok {
		if _, after, ok := strings.Cut(rest, "/"); ok {
			return after
		}
	}
	return line
}

// makeSafe reports whether make can take path as M=: no white space and
// none of the characters make gives a meaning to.
func makeSafe(path string) bool { return !strings.ContainsAny(path, " \t\n:#$%=\\'\"") }

// replaceWriter writes to w with old replaced by new in each write (make
// writes whole lines).
type replaceWriter struct {
	w        io.Writer
	old, new []byte
}

func (r *replaceWriter) Write(p []byte) (int, error) {
	if _, err := r.w.Write(bytes.ReplaceAll(p, r.old, r.new)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// absDiagnostics makes relative file names absolute: Kbuild runs the
// compilers from the kernel build tree or the module directory, so a
// relative name is looked up in the module directory first.
func absDiagnostics(ds []Diagnostic, moduleDir, buildDir string) []Diagnostic {
	for i := range ds {
		if filepath.IsAbs(ds[i].File) {
			continue
		}
		for _, base := range []string{moduleDir, buildDir} {
			p := filepath.Join(base, ds[i].File)
			if _, err := os.Stat(p); err == nil {
				ds[i].File = p
				break
			}
		}
	}
	return ds
}

var (
	// clang: "path/x.c:12:5: error: message"
	cDiagRE = regexp.MustCompile(`^(\S+?):(\d+):(\d+): (error|warning|fatal error): (.*)$`)
	// rustc: "error[E0425]: message" then "  --> path:line:col"
	rustHeadRE = regexp.MustCompile(`^(error|warning)(?:\[(\w+)\])?: (.*)$`)
	rustLocRE  = regexp.MustCompile(`^\s*--> (\S+?):(\d+):(\d+)$`)
	// modpost: "ERROR: modpost: m.ko: symbol 'x' undefined!" (6.x and
	// later), or "ERROR: modpost: "x" [/path/m.ko] undefined!" (older).
	modpostRE    = regexp.MustCompile(`^(ERROR|WARNING): modpost: (?:(\S+?\.k?o): )?(.*)$`)
	modpostObjRE = regexp.MustCompile(`(?:\[| in )(\S+?\.k?o)(?:\]|$)`)
)

// undefinedHint explains modpost's "symbol 'x' undefined!".
const undefinedHint = "a module can use only symbols the kernel exports (EXPORT_SYMBOL, EXPORT_SYMBOL_GPL), and a Rust module only the kernel crate's abstractions; or the symbol's code is not built in this kernel's config"

// modpostDiagnostic reads one modpost message.
func modpostDiagnostic(m []string) Diagnostic {
	d := Diagnostic{File: m[2], Severity: strings.ToLower(m[1]), Code: "modpost", Message: m[3]}
	if d.File == "" {
		if o := modpostObjRE.FindStringSubmatch(d.Message); o != nil {
			d.File = o[1]
		}
	}
	if strings.Contains(d.Message, "undefined!") {
		d.Hint = undefinedHint
	}
	return d
}

// ParseDiagnostics finds clang, rustc and modpost messages in make's output.
func ParseDiagnostics(out string) []Diagnostic {
	var ds []Diagnostic
	lines := strings.Split(out, "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimRight(lines[i], "\r")
		if m := cDiagRE.FindStringSubmatch(line); m != nil {
			ln, _ := strconv.Atoi(m[2])
			col, _ := strconv.Atoi(m[3])
			sev := m[4]
			if sev == "fatal error" {
				sev = "error"
			}
			ds = append(ds, Diagnostic{File: m[1], Line: ln, Col: col, Severity: sev, Message: m[5]})
			continue
		}
		if m := modpostRE.FindStringSubmatch(line); m != nil {
			ds = append(ds, modpostDiagnostic(m))
			continue
		}
		if m := rustHeadRE.FindStringSubmatch(line); m != nil {
			// A summary such as "error: aborting due to 2 previous errors"
			// has no location line.
			// The lookahead stops at the next message, so that a summary
			// never takes the location of another rustc's error.
			for j := i + 1; j < len(lines) && j <= i+3; j++ {
				next := strings.TrimRight(lines[j], "\r")
				if rustHeadRE.MatchString(next) || cDiagRE.MatchString(next) {
					break
				}
				if l := rustLocRE.FindStringSubmatch(next); l != nil {
					ln, _ := strconv.Atoi(l[2])
					col, _ := strconv.Atoi(l[3])
					ds = append(ds, Diagnostic{File: l[1], Line: ln, Col: col, Severity: m[1], Code: m[2], Message: m[3]})
					i = j
					break
				}
			}
		}
	}
	return ds
}
