// Package rustproject writes the rust-project.json that rust-analyzer needs
// to understand an out-of-tree Rust kernel module: the kernel's crates
// (kernel, macros, pin_init, bindings...), the sysroot, and the cfgs the
// kernel was built with. It is made by the kernel's own rule (make
// rust-analyzer M=DIR, scripts/generate_rust_analyzer.py) run in the
// toolchain, then its toolchain paths are rewritten so that they resolve
// on the host too: the rootfs is bound at / inside the sandbox, so its
// /usr/lib/rustlib/... is <rootfs>/usr/lib/rustlib/... outside. The kernel
// source, the build tree and the module are at the same paths inside and
// out and are left alone.
//
// The file carries a marker (the "rko" key, which rust-analyzer ignores)
// with the hash of what rko wrote and of the inputs it was made from, so
// that rko refreshes its own file when the kernel or the module's Kbuild
// changes and never overwrites a file the user wrote or edited.
package rustproject

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rkodev/rko/internal/cache"
	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/run"
	"github.com/rkodev/rko/internal/toolchain"
)

// FileName is the file rust-analyzer looks for in a workspace.
const FileName = "rust-project.json"

// markerKey is the top-level key of rko's marker in the file.
const markerKey = "rko"

// format changes when what rko writes changes, so files from an older rko
// are refreshed.
const format = "1"

// Marker is what rko records in the files it writes.
type Marker struct {
	// Written is the hash of the file's content without the marker.
	Written string `json:"sha256"`
	// Inputs is the hash of what the file was made from (see inputsKey).
	Inputs string `json:"inputs"`
	// Kernel is the key of the kernel cache entry it describes.
	Kernel string `json:"kernel"`
	// KernelDir, SourceDir and ToolchainRoot are the host directories the
	// file points into; rko rust-analyzer --server binds them.
	KernelDir     string `json:"kernel_dir"`
	SourceDir     string `json:"source_dir"`
	ToolchainRoot string `json:"toolchain_root,omitempty"`
	// Regenerate says how to make the file again.
	Regenerate string `json:"regenerate"`
}

// Status says what Write did.
type Status string

// Statuses of Write.
const (
	// Written: the file was (re)generated.
	Written Status = "written"
	// UpToDate: rko's file was already made from the same inputs.
	UpToDate Status = "up-to-date"
	// Kept: a file rko did not write, or one edited since, was left alone.
	Kept Status = "kept"
	// NoRust: the directory has no Rust crate root, so there is nothing
	// for rust-analyzer.
	NoRust Status = "no-rust"
)

// Params configures Write.
type Params struct {
	Toolchain *toolchain.Toolchain
	Kernel    *kernel.Kernel
	// Dir is the module directory.
	Dir string
	// Force replaces a file rko did not write or that was edited; the old
	// file is kept as rust-project.json.orig.
	Force bool
}

// Result is what Write did.
type Result struct {
	Dir    string `json:"dir"`
	Path   string `json:"path"`
	Status Status `json:"status"`
	// Crates is the number of crates in the file (written or up to date).
	Crates int `json:"crates,omitempty"`
	// Note explains a kept file and how to regenerate it.
	Note string `json:"note,omitempty"`
	// Backup is where --force moved the user's file.
	Backup string `json:"backup,omitempty"`
}

// Write makes dir/rust-project.json for p.Kernel unless it is up to date
// or is the user's own.
func Write(ctx context.Context, p Params) (*Result, error) {
	dir, err := filepath.Abs(p.Dir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, FileName)
	res := &Result{Dir: dir, Path: path}
	roots, err := CrateRoots(dir)
	if err != nil {
		return nil, err
	}
	if len(roots) == 0 {
		res.Status = NoRust
		res.Note = "no Rust crate root (a NAME.rs named as NAME.o in Kbuild or Makefile): nothing for rust-analyzer"
		return res, nil
	}
	if err := checkKernel(p.Kernel); err != nil {
		return nil, err
	}
	inputs, err := inputsKey(p.Toolchain, p.Kernel, dir, roots)
	if err != nil {
		return nil, err
	}
	old, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		m, ok := ReadMarker(old)
		if !ok && !p.Force {
			res.Status = Kept
			res.Note = fmt.Sprintf("%s was not written by rko, or was edited since: kept as it is (to have rko write it: rko rust-analyzer --force %s, which keeps yours as %s.orig)", path, dir, FileName)
			return res, nil
		}
		if ok && m.Inputs == inputs && !p.Force {
			res.Status = UpToDate
			res.Crates = countCrates(old)
			return res, nil
		}
		if !ok {
			res.Backup = path + ".orig"
		}
	}
	data, err := Generate(ctx, p.Toolchain, p.Kernel, dir, inputs)
	if err != nil {
		return nil, err
	}
	if res.Backup != "" {
		// RENAME_NOREPLACE semantics by hand: never replace an older backup.
		if _, err := os.Lstat(res.Backup); err == nil {
			return nil, fmt.Errorf("%s exists: move it away before rko rust-analyzer --force replaces %s again", res.Backup, path)
		}
		if err := os.Rename(path, res.Backup); err != nil {
			return nil, err
		}
	}
	if err := cache.WriteFileAtomic(path, data, 0o644); err != nil {
		return nil, err
	}
	res.Status = Written
	res.Crates = countCrates(data)
	return res, nil
}

// checkKernel refuses a kernel that has no Rust: its build tree has no
// kernel crate to point rust-analyzer at.
func checkKernel(k *kernel.Kernel) error {
	cfg, err := k.Config()
	if err != nil {
		return fmt.Errorf("kernel %s: reading its .config: %w", k.BuildDir, err)
	}
	if cfg.Get("RUST") != "y" {
		return fmt.Errorf("kernel %s (%s) was built without CONFIG_RUST: it has no kernel crate for rust-analyzer (rko's profiles all enable Rust; a --fragment may have turned it off)", k.Release, k.BuildDir)
	}
	if _, err := os.Stat(filepath.Join(k.BuildDir, "include/generated/rustc_cfg")); err != nil {
		return fmt.Errorf("kernel build tree %s has no include/generated/rustc_cfg: it is not fully built (run rko kernel build)", k.BuildDir)
	}
	return nil
}

// Generate runs the kernel's rust-analyzer rule for dir in the toolchain
// and returns the file to write, with host paths and rko's marker. The
// rule writes into its output directory, so it is given a temporary one
// (MO=): the user's file is never touched by make.
func Generate(ctx context.Context, tc *toolchain.Toolchain, k *kernel.Kernel, dir, inputs string) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "rko-rust-project-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	binds := []string{k.Dir, k.Source.Dir, dir, tmp}
	argv := []string{"make", "LLVM=1", "-C", k.BuildDir, "M=" + dir, "MO=" + tmp, "rust-analyzer"}
	out := tmp
	if major, minor, err := kernel.Series(k.Release); err == nil && (major < 6 || major == 6 && minor < 13) {
		// Before 6.13 (no MO=) the rule writes into M= itself: it runs
		// on a copy of the module's sources, whose paths are then
		// those of the module.
		// Its rule also fails for an external module with an O= tree,
		// so its generator is run as the rule would run it.
		out = filepath.Join(tmp, "module")
		if err := copySources(dir, out); err != nil {
			return nil, err
		}
		sr, err := tc.Run(ctx, run.Opts{}, nil, "rustc", "--print", "sysroot")
		if err != nil {
			return nil, fmt.Errorf("rustc --print sysroot: %w", err)
		}
		sysroot := strings.TrimSpace(string(sr.Stdout))
		f, err := os.Create(filepath.Join(out, FileName))
		if err != nil {
			return nil, err
		}
		_, err = tc.Run(ctx, run.Opts{Stdout: f}, binds, "python3", filepath.Join(k.Source.Dir, "scripts/generate_rust_analyzer.py"),
			"--cfgs=core=--cfg no_fp_fmt_parse", "2021", k.Source.Dir, k.BuildDir, sysroot, filepath.Join(sysroot, "lib/rustlib/src/rust/library"), out)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("generate_rust_analyzer.py for %s: %w", dir, err)
		}
	} else if _, err := tc.Run(ctx, run.Opts{}, binds, argv...); err != nil {
		return nil, fmt.Errorf("make rust-analyzer for %s: %w", dir, err)
	}
	raw, err := os.ReadFile(filepath.Join(out, FileName))
	if err != nil {
		return nil, fmt.Errorf("make rust-analyzer for %s wrote no %s: %w", dir, FileName, err)
	}
	if out != tmp {
		raw = bytes.ReplaceAll(raw, []byte(out), []byte(dir))
	}
	// The module's crates see the cfgs rko builds them with
	// (kernel.ModuleCfgs), so that the editor takes the same #[cfg]
	// branches as the build.
	cfgs, err := k.ModuleCfgs()
	if err != nil {
		return nil, err
	}
	if raw, err = AddCfgs(raw, dir, cfgs); err != nil {
		return nil, fmt.Errorf("make rust-analyzer for %s: %w", dir, err)
	}
	root := ""
	if tc.Kind == toolchain.Rootfs {
		root = tc.Root
	}
	m := Marker{Inputs: inputs, Kernel: k.Key, KernelDir: k.Dir, SourceDir: k.Source.Dir, ToolchainRoot: root,
		Regenerate: "rko rust-analyzer " + dir}
	data, err := Rewrite(raw, root, []string{k.Dir, k.Source.Dir, dir}, m)
	if err != nil {
		return nil, fmt.Errorf("make rust-analyzer for %s: %w", dir, err)
	}
	if err := CheckPaths(data); err != nil {
		return nil, fmt.Errorf("the %s made for %s is wrong: %w", FileName, dir, err)
	}
	return data, nil
}

// copySources copies the files of module directory dir that the rule
// reads (Kbuild, Makefile, *.rs) into to.
func copySources(dir, to string) error {
	if err := os.MkdirAll(to, 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		n := e.Name()
		if !e.Type().IsRegular() || !(n == "Kbuild" || n == "Makefile" || strings.HasSuffix(n, ".rs")) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(to, n), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// crateList is the "crates" of a rust-project.json document.
func crateList(doc map[string]any) ([]map[string]any, error) {
	list, ok := doc["crates"].([]any)
	if !ok {
		return nil, errors.New(`no "crates" list in the kernel's rust-project.json`)
	}
	var out []map[string]any
	for _, c := range list {
		if crate, ok := c.(map[string]any); ok {
			out = append(out, crate)
		}
	}
	return out, nil
}

// AddCfgs adds cfgs to the crates of raw whose root module is in dir
// (the module's own, not the kernel's).
func AddCfgs(raw []byte, dir string, cfgs []string) ([]byte, error) {
	doc, err := decode(raw)
	if err != nil {
		return nil, err
	}
	crates, err := crateList(doc)
	if err != nil {
		return nil, err
	}
	for _, crate := range crates {
		if rm, _ := crate["root_module"].(string); filepath.Dir(rm) != dir {
			continue
		}
		have, _ := crate["cfg"].([]any)
		for _, c := range cfgs {
			have = append(have, c)
		}
		crate["cfg"] = have
	}
	return encode(doc)
}

// Rewrite turns the rule's output into the file rko writes: every path
// into the toolchain's file system (not under one of hostDirs, which are
// bound at their own paths) is prefixed with root, the rootfs's host
// directory (empty for the host toolchain: nothing to rewrite), and the
// marker m is added with the hash of the rest.
func Rewrite(raw []byte, root string, hostDirs []string, m Marker) ([]byte, error) {
	doc, err := decode(raw)
	if err != nil {
		return nil, err
	}
	delete(doc, markerKey)
	host := func(p string) string {
		if root == "" || !filepath.IsAbs(p) {
			return p
		}
		for _, d := range hostDirs {
			if d != "" && (p == d || strings.HasPrefix(p, d+"/")) {
				return p
			}
		}
		return filepath.Join(root, p)
	}
	for _, k := range []string{"sysroot", "sysroot_src"} {
		if s, ok := doc[k].(string); ok {
			doc[k] = host(s)
		}
	}
	crates, err := crateList(doc)
	if err != nil {
		return nil, err
	}
	for _, crate := range crates {
		for _, k := range []string{"root_module", "proc_macro_dylib_path"} {
			if s, ok := crate[k].(string); ok {
				crate[k] = host(s)
			}
		}
		if src, ok := crate["source"].(map[string]any); ok {
			for _, k := range []string{"include_dirs", "exclude_dirs"} {
				if l, ok := src[k].([]any); ok {
					for i, v := range l {
						if s, ok := v.(string); ok {
							l[i] = host(s)
						}
					}
				}
			}
		}
		if env, ok := crate["env"].(map[string]any); ok {
			for k, v := range env {
				if s, ok := v.(string); ok {
					env[k] = host(s)
				}
			}
		}
	}
	body, err := encode(doc)
	if err != nil {
		return nil, err
	}
	m.Written = hash(body)
	doc[markerKey] = m
	return encode(doc)
}

// ReadMarker returns rko's marker from a file's content, and whether the
// file is exactly what rko wrote (the marker's hash matches the rest).
// Whitespace does not count: the content is compared re-encoded.
func ReadMarker(data []byte) (Marker, bool) {
	var m Marker
	doc, err := decode(data)
	if err != nil {
		return m, false
	}
	raw, ok := doc[markerKey]
	if !ok {
		return m, false
	}
	b, _ := json.Marshal(raw)
	if json.Unmarshal(b, &m) != nil || m.Written == "" {
		return m, false
	}
	delete(doc, markerKey)
	body, err := encode(doc)
	if err != nil {
		return m, false
	}
	return m, hash(body) == m.Written
}

// CheckPaths verifies that every crate root and proc-macro library a
// rust-project.json names exists on the host, and that the kernel crate
// is among them: a file that fails this leaves rust-analyzer blind.
func CheckPaths(data []byte) error {
	doc, err := decode(data)
	if err != nil {
		return err
	}
	crates, _ := doc["crates"].([]any)
	var missing []string
	hasKernel := false
	for _, c := range crates {
		crate, _ := c.(map[string]any)
		if crate["display_name"] == "kernel" {
			hasKernel = true
		}
		for _, k := range []string{"root_module", "proc_macro_dylib_path"} {
			if s, ok := crate[k].(string); ok {
				if _, err := os.Stat(s); err != nil {
					missing = append(missing, s)
				}
			}
		}
	}
	if s, ok := doc["sysroot"].(string); ok {
		if _, err := os.Stat(s); err != nil {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("%d path(s) it names do not exist on the host, e.g. %s", len(missing), missing[0])
	}
	if !hasKernel {
		return errors.New("it has no kernel crate")
	}
	return nil
}

// CrateRoots lists the Rust crate roots under dir the way the kernel's
// generator finds them: NAME.rs whose directory's Kbuild or Makefile
// names NAME.o.
func CrateRoots(dir string) ([]string, error) {
	var roots []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != dir && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".rs") {
			return nil
		}
		obj := strings.TrimSuffix(d.Name(), ".rs") + ".o"
		for _, f := range []string{"Kbuild", "Makefile"} {
			b, err := os.ReadFile(filepath.Join(filepath.Dir(p), f))
			if err == nil && bytes.Contains(b, []byte(obj)) {
				roots = append(roots, p)
				break
			}
		}
		return nil
	})
	return roots, err
}

// inputsKey hashes what the file depends on: rko's format, the toolchain,
// the kernel, the module's path, its Kbuild and Makefile files and its
// crate roots.
func inputsKey(tc *toolchain.Toolchain, k *kernel.Kernel, dir string, roots []string) (string, error) {
	parts := [][]byte{[]byte(format), []byte(tc.ID), []byte(tc.Root), []byte(k.Key), []byte(k.BuildDir), []byte(k.Source.Dir), []byte(dir)}
	for _, r := range roots {
		parts = append(parts, []byte(r))
		for _, f := range []string{"Kbuild", "Makefile"} {
			b, err := os.ReadFile(filepath.Join(filepath.Dir(r), f))
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return "", err
			}
			parts = append(parts, b)
		}
	}
	return cache.Key(parts...), nil
}

func decode(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("not a rust-project.json: %w", err)
	}
	return doc, nil
}

// encode writes the document as the kernel's generator does: sorted keys,
// four-space indent.
func encode(doc map[string]any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "    ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func hash(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func countCrates(data []byte) int {
	doc, err := decode(data)
	if err != nil {
		return 0
	}
	l, _ := doc["crates"].([]any)
	return len(l)
}
