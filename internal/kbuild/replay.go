package kbuild

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rkodev/rko/internal/cache"
	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/run"
	"github.com/rkodev/rko/internal/toolchain"
)

// Replay: when only a module's own sources changed since rko's last make
// of it, the build runs again the commands Kbuild recorded in the
// module's .cmd files (compile, fixdep, modules.order, modpost, the
// .mod.c compile, the final link), in make's order and under make's
// conditions, instead of walking the kernel's makefiles: make M= spends
// most of a warm module build reading them. Anything else (a Kbuild or
// Makefile edit, a source file added or deleted, another kernel,
// toolchain, make command line or environment, a .cmd file missing, not
// parsing or not the one rko's make wrote, a kernel file newer than what
// was built from it) goes through make, which then records again. The
// .ko is byte for byte make's (e2e TestReplayMatchesMake).

// Build paths (Result.Path).
const (
	PathReplay = "replay"
	PathMake   = "make"
)

// replayVersion changes when the record's meaning does.
const replayVersion = 1

// replayRecord is what a make build of a module directory leaves for the
// next build to replay, in rko's cache (one file per directory).
type replayRecord struct {
	Version int `json:"version"`
	replayIdentity
	// Sources are the module's source files (relative paths): the
	// sha256 of Kbuild and Makefile, "" for the others.
	Sources map[string]string `json:"sources"`
	// Modules are the modules modules.order lists, with their parts.
	Modules []replayModule `json:"modules"`
	// Targets holds the sha256 of each target's saved command.
	Targets map[string]string `json:"targets"`
}

// replayIdentity is what must not have changed since the make build for
// its commands to be replayed.
type replayIdentity struct {
	Dir       string   `json:"dir"`
	RunDir    string   `json:"run_dir"` // where the commands ran (Dir, or its mount point)
	Make      []string `json:"make"`    // make's argv
	Env       string   `json:"env"`     // hash of the environment make ran in
	Kernel    string   `json:"kernel"`  // the kernel's key and build tree stamps
	Toolchain string   `json:"toolchain"`
}

// replayModule is one module of modules.order: NAME.o ("hello.o") and the
// objects it is linked from (itself for a single-source module).
type replayModule struct {
	Object string   `json:"object"`
	Parts  []string `json:"parts"`
}

func (m replayModule) stem() string { return strings.TrimSuffix(m.Object, ".o") }

// composite reports whether the module is linked from several objects
// (NAME-y := a.o b.o).
func (m replayModule) composite() bool { return len(m.Parts) != 1 || m.Parts[0] != m.Object }

// targets lists what Kbuild makes for the module, besides its parts.
func (m replayModule) targets() []string {
	t := []string{m.stem() + ".mod.o", m.stem() + ".ko"}
	if m.composite() {
		t = append(t, m.Object)
	}
	return t
}

// sharedTargets are made once per module directory.
var sharedTargets = []string{"modules.order", "Module.symvers", ".module-common.o"}

// replayPlan is what a replay runs.
type replayPlan struct {
	dir, runDir string
	// compile are the objects to compile again, link the composite
	// objects to link again.
	compile, link []*CmdFile
	cmds          map[string]*CmdFile
	mods          []replayModule
	// downstream: modules.order, modpost and the final links may need
	// to run (an object is newer than what was made from it).
	downstream bool
}

// empty reports whether there is nothing to run.
func (p *replayPlan) empty() bool {
	return len(p.compile) == 0 && len(p.link) == 0 && !p.downstream
}

// recordFile is where the record of dir is kept.
func recordFile(dir string) (string, error) {
	d, err := cache.Sub("kbuild-replay")
	if err != nil {
		return "", err
	}
	return filepath.Join(d, cache.Key([]byte(dir))+".json"), nil
}

func loadRecord(dir string) *replayRecord {
	f, err := recordFile(dir)
	if err != nil {
		return nil
	}
	data, err := os.ReadFile(f)
	if err != nil {
		return nil
	}
	var r replayRecord
	if json.Unmarshal(data, &r) != nil {
		return nil
	}
	return &r
}

// forgetRecord removes dir's record: the next build uses make.
func forgetRecord(dir string) {
	if f, err := recordFile(dir); err == nil {
		os.Remove(f)
	}
}

// saveRecord records, after make built dir, what a replay needs. An error
// means the build left nothing replay can use (the next build uses make).
func saveRecord(id replayIdentity) error {
	forgetRecord(id.Dir)
	r, err := newRecord(id)
	if err != nil {
		return err
	}
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	f, err := recordFile(id.Dir)
	if err != nil {
		return err
	}
	return cache.WriteFileAtomic(f, data, 0o644)
}

// newRecord reads what make left in id.Dir.
func newRecord(id replayIdentity) (*replayRecord, error) {
	r := &replayRecord{Version: replayVersion, replayIdentity: id, Targets: map[string]string{}}
	var err error
	if r.Sources, err = scanSources(id.Dir); err != nil {
		return nil, err
	}
	if r.Modules, err = readModules(id.Dir); err != nil {
		return nil, err
	}
	var targets []string
	for _, m := range r.Modules {
		targets = append(append(targets, m.Parts...), m.targets()...)
	}
	for _, t := range append(targets, sharedTargets...) {
		c, err := ReadCmdFile(id.Dir, t)
		if err != nil {
			return nil, err
		}
		r.Targets[t] = hashString(c.Saved)
	}
	return r, nil
}

// readModules reads modules.order and each module's NAME.mod (its parts).
func readModules(dir string) ([]replayModule, error) {
	data, err := os.ReadFile(filepath.Join(dir, "modules.order"))
	if err != nil {
		return nil, err
	}
	var mods []replayModule
	for _, line := range strings.Fields(string(data)) {
		obj := strings.TrimPrefix(line, "./")
		mod, err := os.ReadFile(filepath.Join(dir, strings.TrimSuffix(obj, ".o")+".mod"))
		if err != nil {
			return nil, err
		}
		m := replayModule{Object: obj}
		for _, p := range strings.Fields(string(mod)) {
			m.Parts = append(m.Parts, filepath.Clean(strings.TrimPrefix(p, "./")))
		}
		if len(m.Parts) == 0 {
			return nil, fmt.Errorf("%s.mod lists no objects", m.stem())
		}
		mods = append(mods, m)
	}
	if len(mods) == 0 {
		return nil, errors.New("modules.order lists no module")
	}
	return mods, nil
}

// isSourceName reports whether a file name is one a module is built
// from: Kbuild, Makefile, C, Rust, assembler and header files (not the
// .mod.c modpost writes).
func isSourceName(name string) bool {
	if name == "Kbuild" || name == "Makefile" {
		return true
	}
	if strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".mod.c") {
		return false
	}
	switch filepath.Ext(name) {
	case ".rs", ".c", ".h", ".S":
		return true
	}
	return false
}

// scanSources lists the module's source files under dir (not in hidden
// directories or tests/): relative path to the sha256 of a Kbuild or
// Makefile, "" for the other sources.
func scanSources(dir string) (map[string]string, error) {
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			if p != dir && (strings.HasPrefix(d.Name(), ".") || rel == "tests") {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !isSourceName(d.Name()) {
			return nil
		}
		out[rel] = ""
		if d.Name() == "Kbuild" || d.Name() == "Makefile" {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = hashString(string(data))
		}
		return nil
	})
	return out, err
}

func hashString(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// planReplay decides whether the build of dir can replay rec's commands,
// and what it runs. It returns nil and the reason when make must run;
// else the plan, and what changed.
func planReplay(rec *replayRecord, id replayIdentity) (*replayPlan, string) {
	switch {
	case rec == nil:
		return nil, "no make build of this directory recorded yet"
	case rec.Version != replayVersion:
		return nil, "the record is from another version of rko"
	case rec.Dir != id.Dir || rec.RunDir != id.RunDir:
		return nil, "the module directory moved"
	case rec.Kernel != id.Kernel:
		return nil, "another kernel, or its build tree changed"
	case rec.Toolchain != id.Toolchain:
		return nil, "another toolchain"
	case !slices.Equal(rec.Make, id.Make):
		return nil, "make's command line changed"
	case rec.Env != id.Env:
		return nil, "the environment changed"
	}
	dir := id.Dir
	src, err := scanSources(dir)
	if err != nil {
		return nil, "reading the module's sources: " + err.Error()
	}
	if reason := sourcesChanged(rec.Sources, src); reason != "" {
		return nil, reason
	}
	mods, err := readModules(dir)
	if err != nil {
		return nil, "reading what make made: " + err.Error()
	}
	if !slices.EqualFunc(mods, rec.Modules, func(a, b replayModule) bool {
		return a.Object == b.Object && slices.Equal(a.Parts, b.Parts)
	}) {
		return nil, "modules.order or a .mod file changed"
	}
	p := &replayPlan{dir: dir, runDir: id.RunDir, cmds: map[string]*CmdFile{}, mods: mods}
	names := make([]string, 0, len(rec.Targets))
	for t := range rec.Targets {
		names = append(names, t)
	}
	sort.Strings(names)
	for _, t := range names {
		c, err := ReadCmdFile(dir, t)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, cmdFileOf(t) + " is missing"
		}
		if err != nil {
			return nil, err.Error()
		}
		if hashString(c.Saved) != rec.Targets[t] {
			return nil, "the command in " + cmdFileOf(t) + " is not the one rko's make recorded (did another make run here?)"
		}
		p.cmds[t] = c
	}
	host := func(f string) string { return hostPath(dir, id.RunDir, f) }
	// Objects compiled from the module's sources.
	var changed []string
	for _, m := range mods {
		for _, part := range m.Parts {
			c := p.cmds[part]
			if c.Source == "" {
				return nil, cmdFileOf(part) + " is not a compile command"
			}
			newer, outside := staleness(dir, host, c)
			if outside != "" {
				return nil, outside + " changed since " + part + " was built"
			}
			if len(newer) > 0 {
				p.compile = append(p.compile, c)
				changed = append(changed, newer...)
			}
		}
	}
	// What is made from them: anything the kernel changed under it
	// needs make.
	for _, t := range append(slices.Clone(sharedTargets), moduleTargets(mods)...) {
		c := p.cmds[t]
		if _, err := os.Stat(host(t)); err != nil {
			return nil, t + " is missing"
		}
		if c.Source == "" {
			continue
		}
		if _, outside := staleness(dir, host, c); outside != "" {
			return nil, outside + " changed since " + t + " was built"
		}
	}
	symvers := mtime(host("Module.symvers"))
	// Composite objects whose parts changed, and anything downstream of
	// an object newer than what was made from it.
	for _, m := range mods {
		if m.composite() {
			obj := mtime(host(m.Object))
			for _, part := range m.Parts {
				if p.compiles(part) || mtime(host(part)).After(obj) {
					p.link = append(p.link, p.cmds[m.Object])
					break
				}
			}
		}
		ko := mtime(host(m.stem() + ".ko"))
		for _, f := range []string{m.Object, m.stem() + ".mod.o", ".module-common.o"} {
			if mtime(host(f)).After(ko) {
				p.downstream = true
			}
		}
		if mtime(host(m.stem() + ".mod.c")).After(mtime(host(m.stem() + ".mod.o"))) {
			p.downstream = true
		}
		if mtime(host(m.Object)).After(mtime(host("modules.order"))) {
			p.downstream = true
		}
	}
	if mtime(host("modules.order")).After(symvers) {
		p.downstream = true
	}
	if p.empty() {
		return p, "nothing changed since the last build"
	}
	if len(changed) == 0 {
		return p, "finishing the last build"
	}
	return p, "only module sources changed: " + strings.Join(dedupe(changed), ", ")
}

// moduleTargets lists what Kbuild makes for mods besides their parts.
func moduleTargets(mods []replayModule) []string {
	var t []string
	for _, m := range mods {
		t = append(t, m.targets()...)
	}
	return t
}

func (p *replayPlan) compiles(target string) bool {
	for _, c := range p.compile {
		if c.Target == target || c.Target == "./"+target {
			return true
		}
	}
	return false
}

// sourcesChanged says how the module's source files changed in a way
// replay cannot follow (a file added or deleted, a Kbuild or Makefile
// edited), or "".
func sourcesChanged(was, now map[string]string) string {
	var added, gone, edited []string
	for f, h := range now {
		old, ok := was[f]
		switch {
		case !ok:
			added = append(added, f)
		case old != h:
			edited = append(edited, f)
		}
	}
	for f := range was {
		if _, ok := now[f]; !ok {
			gone = append(gone, f)
		}
	}
	sort.Strings(added)
	sort.Strings(gone)
	sort.Strings(edited)
	switch {
	case len(edited) > 0:
		return edited[0] + " changed"
	case len(added) > 0:
		return "new source file " + added[0]
	case len(gone) > 0:
		return "source file " + gone[0] + " deleted"
	}
	return ""
}

// staleness compares a compiled target with what it was compiled from,
// as make does (a dependency newer than the target, or missing): newer
// lists the module's own files that are newer (the target must be
// compiled again; its source when the target itself is missing); outside
// names a file outside the module directory that is newer, or any
// dependency that is missing (make must run).
func staleness(dir string, host func(string) string, c *CmdFile) (newer []string, outside string) {
	target := mtime(host(c.Target))
	check := func(f string, must bool) string {
		t := mtime(host(f))
		h := host(f)
		inside := strings.HasPrefix(h, dir+string(filepath.Separator))
		switch {
		case t.IsZero() && !must:
			// A $(wildcard) that does not exist.
		case t.IsZero():
			return f + " (missing)"
		case target.IsZero():
			if inside {
				newer = append(newer, f)
			}
		case t.After(target):
			if !inside {
				return f
			}
			newer = append(newer, f)
		}
		return ""
	}
	if o := check(c.Source, true); o != "" {
		return nil, o
	}
	for _, d := range c.Deps {
		if o := check(d, true); o != "" {
			return nil, o
		}
	}
	for _, w := range c.Wildcards {
		if o := check(w, false); o != "" {
			return nil, o
		}
	}
	if target.IsZero() && len(newer) == 0 {
		newer = append(newer, c.Source)
	}
	return newer, ""
}

// hostPath is where the host finds a file a command in runDir named:
// relative names are in dir; names under runDir (the mount point of a
// directory make could not take as M=) are under dir.
func hostPath(dir, runDir, f string) string {
	if !filepath.IsAbs(f) {
		return filepath.Join(dir, f)
	}
	if runDir != dir && (f == runDir || strings.HasPrefix(f, runDir+"/")) {
		return dir + strings.TrimPrefix(f, runDir)
	}
	return f
}

// mtime is a file's modification time, zero when it does not exist.
func mtime(path string) time.Time {
	st, err := os.Stat(path)
	if err != nil {
		return time.Time{}
	}
	return st.ModTime()
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// replayPrelude starts a replay's script: Kbuild's recipes run without
// LC_ALL, with LC_COLLATE and LC_NUMERIC set to C, and with
// RUSTC_BOOTSTRAP=1 (the kernel's top Makefile exports them).
const replayPrelude = "unset LC_ALL; export LC_COLLATE=C LC_NUMERIC=C RUSTC_BOOTSTRAP=1\n"

// compiledMark is the line a replay's script prints once its compile
// part is done: the host times the compile by its arrival.
const compiledMark = "rko replay: compiled"

// replayScripts are the shell scripts of a replay: compile (the objects
// of the changed sources, each followed by fixdep as Kbuild's
// cmd_and_fixdep does) and rest (composite links, modules.order, modpost,
// the .mod.c compiles, the final links, each under the condition make
// would run it on). Each command runs as Kbuild runs it (set -e, in the
// module directory), and a failed one deletes its target as make does.
func (p *replayPlan) scripts(objtree string) (compile, rest string) {
	fixdep := shellQuote(filepath.Join(objtree, "scripts/basic/fixdep"))
	var b strings.Builder
	step := func(b *strings.Builder, c *CmdFile, cond string) {
		if cond != "" {
			fmt.Fprintf(b, "if %s; then\n", cond)
		}
		fmt.Fprintf(b, "if ! (set -e; %s\n); then rm -f %s; echo %s >&2; exit 1; fi\n", c.Command, shellQuote(c.Target),
			shellQuote(failedMark+c.Target+" failed"))
		if c.Source != "" {
			dep := depFileOf(c.Target)
			fmt.Fprintf(b, "%s %s %s %s > %s\nrm -f %s\n", fixdep, shellQuote(dep), shellQuote(c.Target), shellQuote(c.Saved),
				shellQuote(cmdFileOf(c.Target)), shellQuote(dep))
			if c.Tail != "" {
				fmt.Fprintf(b, "printf '%%s' %s >> %s\n", shellQuote(c.Tail), shellQuote(cmdFileOf(c.Target)))
			}
		}
		if cond != "" {
			b.WriteString("fi\n")
		}
	}
	newer := func(target string, prereqs ...string) string {
		var t []string
		for _, pr := range prereqs {
			t = append(t, fmt.Sprintf("[ %s -nt %s ]", shellQuote(pr), shellQuote(target)))
		}
		return strings.Join(t, " || ")
	}
	for _, c := range p.compile {
		step(&b, c, "")
	}
	compile = b.String()
	b.Reset()
	var objs []string
	for _, m := range p.mods {
		objs = append(objs, m.Object)
		if m.composite() {
			step(&b, p.cmds[m.Object], newer(m.Object, m.Parts...))
		}
	}
	step(&b, p.cmds["modules.order"], newer("modules.order", objs...))
	step(&b, p.cmds["Module.symvers"], newer("Module.symvers", "modules.order"))
	for _, m := range p.mods {
		step(&b, p.cmds[m.stem()+".mod.o"], newer(m.stem()+".mod.o", m.stem()+".mod.c"))
		step(&b, p.cmds[m.stem()+".ko"], newer(m.stem()+".ko", m.Object, m.stem()+".mod.o", ".module-common.o"))
	}
	return compile, b.String()
}

// failedMark starts the line a replay script prints when a command fails.
const failedMark = "rko replay: the command of "

// replayed is a replay's outcome.
type replayed struct {
	compile time.Duration
	output  []byte
}

// runReplay runs p's scripts with tc, in one sandbox, with binds and
// mounts as make's build had them. The compile's time is from the start
// to compiledMark on the script's standard error.
func runReplay(ctx context.Context, tc *toolchain.Toolchain, k *kernel.Kernel, p *replayPlan, binds []string, mounts []toolchain.Mount, env []string, log io.Writer) (*replayed, error) {
	compile, rest := p.scripts(k.BuildDir)
	script := replayPrelude + rest
	if len(p.compile) > 0 {
		script = replayPrelude + compile + "echo " + shellQuote(compiledMark) + " >&2\n" + rest
	}
	mark := &markWriter{w: log, mark: []byte(compiledMark)}
	out := &replayed{}
	start := time.Now()
	r, err := tc.RunMounted(ctx, run.Opts{Stdout: log, Stderr: mark, Env: env, Dir: p.runDir}, binds, mounts, "sh", "-c", script)
	if len(p.compile) > 0 {
		out.compile = time.Since(start)
		if at := mark.seen(); !at.IsZero() {
			out.compile = at.Sub(start)
		}
	}
	if r != nil {
		out.output = append(append(out.output, r.Stdout...), r.Stderr...)
	}
	if err != nil {
		var re *run.Error
		if errors.As(err, &re) {
			out.output = append(out.output, re.Output...)
		}
		// The script says which command failed.
		if _, after, ok := strings.Cut(string(out.output), failedMark); ok {
			target, _, _ := strings.Cut(after, " failed")
			return out, fmt.Errorf("the command of %s failed", target)
		}
		return out, err
	}
	return out, nil
}

// markWriter passes writes to w and notes when mark first went through.
type markWriter struct {
	w    io.Writer
	mark []byte
	mu   sync.Mutex
	tail []byte
	at   time.Time
}

func (m *markWriter) Write(p []byte) (int, error) {
	m.mu.Lock()
	if m.at.IsZero() {
		m.tail = append(m.tail, p...)
		if bytes.Contains(m.tail, m.mark) {
			m.at = time.Now()
			m.tail = nil
		} else if n := len(m.tail) - len(m.mark); n > 0 {
			m.tail = m.tail[n:]
		}
	}
	m.mu.Unlock()
	return m.w.Write(p)
}

// seen is when the mark went through (zero: not yet).
func (m *markWriter) seen() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.at
}

// kernelStamp identifies k's build tree for a replay record: its key, and
// the size and time of the files a module build reads from it.
func kernelStamp(k *kernel.Kernel) string {
	var b strings.Builder
	b.WriteString(k.Key + "|" + k.BuildDir)
	for _, f := range []string{".config", "Module.symvers", "include/config/auto.conf", "scripts/mod/modpost",
		"scripts/basic/fixdep", "scripts/module.lds", "tools/objtool/objtool", "rust/libkernel.rmeta"} {
		if st, err := os.Stat(filepath.Join(k.BuildDir, f)); err == nil {
			fmt.Fprintf(&b, "|%s:%d:%d", f, st.Size(), st.ModTime().UnixNano())
		}
	}
	return b.String()
}

// envStamp hashes the environment make gets (rko's own, and extra),
// without the variables of a shell session that no build reads.
func envStamp(extra []string) string {
	var vars []string
	for _, kv := range append(os.Environ(), extra...) {
		name, _, _ := strings.Cut(kv, "=")
		if sessionVar(name) {
			continue
		}
		vars = append(vars, kv)
	}
	sort.Strings(vars)
	return hashString(strings.Join(vars, "\x00"))
}

// sessionVar reports whether an environment variable belongs to the
// shell session (the terminal, the directory, the user's desktop) rather
// than to what a build does.
func sessionVar(name string) bool {
	switch name {
	case "PWD", "OLDPWD", "SHLVL", "_", "TERM", "COLUMNS", "LINES", "DISPLAY", "WAYLAND_DISPLAY", "TMUX", "TMUX_PANE",
		"STY", "WINDOWID", "LS_COLORS", "PS1", "PROMPT_COMMAND", "COLORTERM", "TERM_PROGRAM", "TERM_PROGRAM_VERSION",
		"RKO_KBUILD_REPLAY":
		return true
	}
	for _, p := range []string{"SSH_", "XDG_", "DBUS_", "HIST", "GPG_", "KITTY_", "VTE_", "WT_"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// replayUnsupported says why no module build of k can be replayed (its
// config makes Kbuild run commands it does not record), or "".
func replayUnsupported(k *kernel.Kernel) string {
	cfg, err := k.Config()
	if err != nil {
		return "the kernel's config cannot be read: " + err.Error()
	}
	for _, o := range []struct{ sym, why string }{
		{"DEBUG_INFO_BTF_MODULES", "the kernel makes BTF for modules"},
		{"MODVERSIONS", "the kernel versions module symbols"},
		{"LTO_CLANG", "the kernel is built with LTO"},
		{"FTRACE_MCOUNT_USE_RECORDMCOUNT", "the kernel runs recordmcount on objects"},
	} {
		if cfg.Get(o.sym) == "y" {
			return o.why + " (CONFIG_" + o.sym + "), which Kbuild does not record in .cmd files"
		}
	}
	if os.Getenv("WARN_ON_UNUSED_TRACEPOINTS") != "" {
		return "WARN_ON_UNUSED_TRACEPOINTS is set"
	}
	if major, minor, err := kernel.Series(k.Release); err == nil && (major < 6 || major == 6 && minor < 13) {
		return fmt.Sprintf("Linux %d.%d builds an external module with its absolute path in every target (6.13 made them relative), which replay does not map", major, minor)
	}
	return ""
}
