// Package matrix is rko's test matrix: a small JSON file names module
// directories x kernels x architectures x profiles (with excludes), and
// each cell of it is exactly one rko test job. The file is expanded here
// into cells, each with the rko test arguments that make its job; the
// command (internal/cli) turns those arguments into a job.Job through
// rko test's own flags, so a cell's job is the job rko test --print-job
// writes for the same arguments, here and on a CI runner. Run runs the
// cells on a bounded local pool.
package matrix

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rkodev/rko/internal/job"
)

// FileSchema is the version of the matrix file; a change that breaks a
// reader of the old one increments it.
const FileSchema = 1

// DefaultKernel names rko's default kernel in a matrix file (the --kernel
// flag left out). A directory of that name is given as ./default.
const DefaultKernel = "default"

// File is a matrix file (docs/scale.md#the-matrix-file). Every list but
// modules may be left out: kernels defaults to ["default"], arches to
// the host's architecture, profiles to ["default"].
type File struct {
	// Schema is FileSchema.
	Schema int `json:"schema"`
	// Modules are module directories, relative to the file's directory;
	// each is one cell dimension value (a cell tests one directory).
	Modules []string `json:"modules"`
	// Kernels are --kernel values: "default", a version ("6.12",
	// "7.3.4"), "debian", "debian:RELEASE" or a kernel tree's directory
	// (relative to the file's directory).
	Kernels []string `json:"kernels,omitempty"`
	// Arches are --arch values ("" means the host's, or a debian or dir
	// kernel's own).
	Arches []string `json:"arches,omitempty"`
	// Profiles are --profile values.
	Profiles []string `json:"profiles,omitempty"`
	// Exclude drops the cells that match one of its entries.
	Exclude []Selector `json:"exclude,omitempty"`
	// Test are rko test options every cell shares.
	Test TestOptions `json:"test,omitempty"`
}

// Selector matches cells: every field given must equal the cell's.
type Selector struct {
	Module  string `json:"module,omitempty"`
	Kernel  string `json:"kernel,omitempty"`
	Arch    string `json:"arch,omitempty"`
	Profile string `json:"profile,omitempty"`
}

// TestOptions are rko test flags shared by every cell, each named as the
// flag is (docs/commands.md#rko-test-dir).
type TestOptions struct {
	Accel     string `json:"accel,omitempty"`
	Timeout   string `json:"timeout,omitempty"`
	MemoryMB  int    `json:"memory_mb,omitempty"`
	CPUs      int    `json:"cpus,omitempty"`
	Toolchain string `json:"toolchain,omitempty"`
	Rustc     string `json:"rustc,omitempty"`
	Kmemleak  string `json:"kmemleak,omitempty"`
	// KernelStore is --kernel-store: a registry repository of kernels.
	KernelStore string   `json:"kernel_store,omitempty"`
	Fragments   []string `json:"fragments,omitempty"`
	Append      []string `json:"append,omitempty"`
	Params      []string `json:"params,omitempty"`
	// Devices are --device values (NAME, or NAME=FILE with FILE relative
	// to the matrix file), FailNth is --fail-nth.
	Devices []string `json:"devices,omitempty"`
	FailNth bool     `json:"fail_nth,omitempty"`
}

// Error is a matrix file that cannot be used: where, and what was wrong.
type Error struct {
	// File is the matrix file, Field the JSON field ("" for the whole).
	File, Field string
	Msg         string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return e.File + ": " + e.Msg
	}
	return e.File + ": " + e.Field + ": " + e.Msg
}

// Spec is a matrix file read and checked, with the directory its
// relative paths are relative to.
type Spec struct {
	File
	// Path is the file, absolute; Dir its directory.
	Path, Dir string
}

var unknownField = regexp.MustCompile(`unknown field "([^"]+)"`)

// Read reads and checks the matrix file at path.
func Read(path string) (*Spec, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, &Error{File: path, Msg: err.Error()}
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, &Error{File: path, Msg: "cannot read the matrix file: " + strings.TrimPrefix(err.Error(), "open "+abs+": ")}
	}
	s, err := Parse(data, path)
	if err != nil {
		return nil, err
	}
	s.Path, s.Dir = abs, filepath.Dir(abs)
	return s, nil
}

// Parse decodes a matrix file's data (name is for messages): unknown
// fields, trailing data and wrong types are errors naming the field.
func Parse(data []byte, name string) (*Spec, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, jsonError(name, data, err)
	}
	if dec.More() {
		return nil, &Error{File: name, Msg: "more than one JSON value: a matrix file holds one object"}
	}
	s := &Spec{File: f}
	return s, s.check(name)
}

func jsonError(name string, data []byte, err error) error {
	if m := unknownField.FindStringSubmatch(err.Error()); m != nil {
		return &Error{File: name, Field: m[1], Msg: "unknown field: a matrix file has schema, modules, kernels, arches, profiles, exclude and test (docs/scale.md#the-matrix-file)"}
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line := 1 + bytes.Count(data[:min(int(se.Offset), len(data))], []byte("\n"))
		return &Error{File: name, Msg: fmt.Sprintf("not JSON: %v at line %d", se, line)}
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return &Error{File: name, Field: te.Field, Msg: fmt.Sprintf("want a JSON %s, got %s", te.Type, te.Value)}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return &Error{File: name, Msg: "not JSON: the file ends before the matrix object does"}
	}
	return &Error{File: name, Msg: err.Error()}
}

func (s *Spec) check(name string) error {
	if s.Schema != FileSchema {
		return &Error{File: name, Field: "schema", Msg: fmt.Sprintf("%d is not a matrix schema rko reads: want %d", s.Schema, FileSchema)}
	}
	if len(s.Modules) == 0 {
		return &Error{File: name, Field: "modules", Msg: "no module directory: name at least one, relative to the file (\"modules\": [\"rust\"])"}
	}
	if len(s.Kernels) == 0 {
		s.Kernels = []string{DefaultKernel}
	}
	if len(s.Arches) == 0 {
		s.Arches = []string{""}
	}
	if len(s.Profiles) == 0 {
		s.Profiles = []string{"default"}
	}
	for _, l := range []struct {
		field string
		vals  []string
	}{{"modules", s.Modules}, {"kernels", s.Kernels}, {"arches", s.Arches}, {"profiles", s.Profiles}} {
		seen := map[string]bool{}
		for _, v := range l.vals {
			if seen[v] {
				return &Error{File: name, Field: l.field, Msg: fmt.Sprintf("%q is listed twice", v)}
			}
			seen[v] = true
			if l.field != "arches" && v == "" {
				return &Error{File: name, Field: l.field, Msg: "an empty value: remove it (rko's default kernel is \"default\")"}
			}
		}
	}
	if s.Test.Timeout != "" {
		if _, err := time.ParseDuration(s.Test.Timeout); err != nil {
			return &Error{File: name, Field: "test.timeout", Msg: fmt.Sprintf("%q is not a duration such as \"90s\" or \"5m\"", s.Test.Timeout)}
		}
	}
	return nil
}

// Cell is one cell of the matrix: one module directory on one kernel,
// architecture and profile.
type Cell struct {
	// Name is module/kernel/arch/profile, as the file names them (the
	// arch "host" when the file leaves it out).
	Name string `json:"cell"`
	// ID is Name with every character but letters, digits, '.' and '_'
	// made '-': usable in file and CI artifact names.
	ID      string `json:"id"`
	Module  string `json:"module"`
	Kernel  string `json:"kernel"`
	Arch    string `json:"arch,omitempty"`
	Profile string `json:"profile"`
	// Args are the rko test arguments of the cell's job: flags, then the
	// module directory, absolute.
	Args []string `json:"args"`
}

// Cells expands the matrix into its cells, in the file's order (modules,
// then kernels, then arches, then profiles), without the excluded ones.
// An exclude entry that matches no cell, and a matrix left with no cell,
// are errors (a typo would otherwise go unnoticed).
func (s *Spec) Cells() ([]Cell, error) {
	name := s.Path
	used := make([]bool, len(s.Exclude))
	var cells []Cell
	for _, m := range s.Modules {
		for _, k := range s.Kernels {
			for _, a := range s.Arches {
				for _, p := range s.Profiles {
					c := Cell{Module: m, Kernel: k, Arch: a, Profile: p}
					excluded := false
					for i, e := range s.Exclude {
						if e.matches(c) {
							used[i], excluded = true, true
						}
					}
					if excluded {
						continue
					}
					arch := a
					if arch == "" {
						arch = "host"
					}
					c.Name = strings.Join([]string{m, k, arch, p}, "/")
					c.ID = idOf(c.Name)
					c.Args = s.args(c)
					cells = append(cells, c)
				}
			}
		}
	}
	for i, u := range used {
		if !u {
			return nil, &Error{File: name, Field: fmt.Sprintf("exclude[%d]", i), Msg: "matches no cell: check its module, kernel, arch and profile against the lists"}
		}
	}
	if len(cells) == 0 {
		return nil, &Error{File: name, Msg: "no cells: the excludes drop every combination"}
	}
	ids := map[string]string{}
	for _, c := range cells {
		if other, ok := ids[c.ID]; ok {
			return nil, &Error{File: name, Msg: fmt.Sprintf("cells %s and %s have the same id %s (ids keep letters, digits, '.' and '_'): rename a module or kernel directory", other, c.Name, c.ID)}
		}
		ids[c.ID] = c.Name
	}
	return cells, nil
}

func (e Selector) matches(c Cell) bool {
	return (e.Module == "" || e.Module == c.Module) && (e.Kernel == "" || e.Kernel == c.Kernel) &&
		(e.Arch == "" || e.Arch == c.Arch) && (e.Profile == "" || e.Profile == c.Profile)
}

var notID = regexp.MustCompile(`[^A-Za-z0-9._]+`)

func idOf(name string) string { return strings.Trim(notID.ReplaceAllString(name, "-"), "-") }

// abs is p relative to the file's directory.
func (s *Spec) abs(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(s.Dir, p)
}

// args are the rko test arguments of c: the same flags a user would type.
func (s *Spec) args(c Cell) []string {
	var a []string
	if c.Kernel != DefaultKernel {
		k := c.Kernel
		if isDir(k) {
			k = s.abs(k)
		}
		a = append(a, "--kernel", k)
	}
	if c.Arch != "" {
		a = append(a, "--arch", c.Arch)
	}
	a = append(a, "--profile", c.Profile)
	t := s.Test
	for _, f := range []struct{ flag, v string }{{"--accel", t.Accel}, {"--timeout", t.Timeout},
		{"--toolchain", t.Toolchain}, {"--rustc", t.Rustc}, {"--kmemleak", t.Kmemleak}, {"--kernel-store", t.KernelStore}} {
		if f.v != "" {
			a = append(a, f.flag, f.v)
		}
	}
	if t.MemoryMB != 0 {
		a = append(a, "--memory", strconv.Itoa(t.MemoryMB))
	}
	if t.CPUs != 0 {
		a = append(a, "--cpus", strconv.Itoa(t.CPUs))
	}
	for _, f := range t.Fragments {
		a = append(a, "--fragment", s.abs(f))
	}
	for _, v := range t.Append {
		a = append(a, "--append", v)
	}
	for _, v := range t.Params {
		a = append(a, "--param", v)
	}
	for _, v := range t.Devices {
		if name, file, ok := strings.Cut(v, "="); ok {
			v = name + "=" + s.abs(file)
		}
		a = append(a, "--device", v)
	}
	if t.FailNth {
		a = append(a, "--fail-nth")
	}
	return append(a, "--", s.abs(c.Module))
}

// isDir reports whether a kernels entry names a directory rather than a
// version or Debian's kernel (job.KernelSpec decides the same way; the
// directory is made relative to the matrix file here, not to the
// current directory).
func isDir(k string) bool {
	return job.KernelSpec(k).Kind == job.KindDir
}
