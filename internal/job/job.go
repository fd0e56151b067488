// Package job is rko's unit of work as one value: this kernel (which
// source, which architecture, which profile), these modules, these
// devices, these boot options, this plan. The commands parse their flags
// into a Job in one place (internal/cli), a Job round-trips through JSON
// (rko test --print-job, rko test --job FILE), and Check refuses a
// combination that cannot work before anything is built or booted. A
// matrix is a list of jobs; a CI job or an MCP tool call carries one.
package job

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/rkodev/rko/internal/device"
	"github.com/rkodev/rko/internal/target"
)

// Schema is the version of the job document; a change that breaks a
// reader of the old one increments it.
const Schema = 1

// Kernel kinds: where the kernel comes from.
const (
	// KindRko is rko's own build of a linux-source (profile, fragments).
	KindRko = "rko"
	// KindDebian is Debian's own Rust-enabled kernel package.
	KindDebian = "debian"
	// KindDir is a kernel tree the user built.
	KindDir = "dir"
)

// Accelerators a job may ask for; vm decides what auto means.
const (
	AccelAuto = "auto"
	AccelKVM  = "kvm"
	AccelTCG  = "tcg"
)

// Job is one run of rko: everything a test, run, shell, watch or bench
// needs, resolved by workflow.Resolve.
type Job struct {
	// Schema is the document's version (Schema).
	Schema int `json:"schema"`
	// Kernel is the kernel to build modules against and boot.
	Kernel Kernel `json:"kernel"`
	// Toolchain is auto (the host's when rko doctor passes, else the
	// pinned rootfs), host or rootfs.
	Toolchain string `json:"toolchain"`
	// Modules are the module directories, absolute.
	Modules []string `json:"modules"`
	// Devices are attached to the guest (package device's table), beside
	// those the module directories declare ("# rko-device:" lines in
	// their Kbuild; AllDevices).
	Devices []Device `json:"devices,omitempty"`
	// Boot is how the guest boots.
	Boot Boot `json:"boot"`
	// Plan is what the guest runs.
	Plan Plan `json:"plan"`
}

// Kernel is a kernel request: which one, for which architecture.
type Kernel struct {
	// Kind is rko, debian or dir.
	Kind string `json:"kind"`
	// Release is Debian's kernel release (debian; "" for the newest on
	// the mirror).
	Release string `json:"release,omitempty"`
	// Dir is the tree the user built (dir), absolute.
	Dir string `json:"dir,omitempty"`
	// Version is the kernel version rko builds (rko): a series ("6.12",
	// the newest of it in Debian's archive) or a full version
	// ("6.12.117"), built from Debian's linux-source package of it; ""
	// is the toolchain's own linux-source (the newest, 7.3).
	Version string `json:"version,omitempty"`
	// Source is the linux-source tree or tarball rko builds from (rko;
	// "" finds one: $RKO_LINUX_SRC, /usr/src, the toolchain's).
	Source string `json:"source,omitempty"`
	// Arch is the guest architecture (package target); "" for a debian
	// or dir kernel means the kernel's own.
	Arch string `json:"arch,omitempty"`
	// Profile is rko's kernel profile (rko): default, debug or bench.
	Profile string `json:"profile,omitempty"`
	// Fragments are extra config fragment files (rko), absolute.
	Fragments []string `json:"fragments,omitempty"`
	// Rustc is the compiler that builds the kernel and the modules: ""
	// for the pinned one (rustc 1.85), "1.98" for the newest Debian ships
	// (toolchain.Compilers). A kernel is never used with modules of
	// another compiler.
	Rustc string `json:"rustc,omitempty"`
	// Store is an OCI registry repository of built kernels (rko): the
	// kernel is pulled from it when it is there, tagged with its cache
	// key, and pushed to it after rko had to build it
	// (docs/scale.md#kernels-in-an-oci-registry).
	Store string `json:"store,omitempty"`
}

// Device is a device attached to the guest: a name in rko's device
// table (package device) and, for a device made from a source file
// (acpi-ssdt, dt-node), the file.
type Device = device.Spec

// ParseDevices reads --device values (NAME or NAME=FILE, device.Parse)
// into the job's devices; a bad one is an error on --device.
func ParseDevices(specs []string) ([]Device, error) {
	var out []Device
	for _, d := range specs {
		sp, err := device.Parse(d)
		if err != nil {
			return nil, &Error{Field: "--device (devices)", Msg: err.Error()}
		}
		out = append(out, sp)
	}
	return out, nil
}

// AllDevices are the job's devices and those its module directories
// declare for the architecture arch ("" for the lines of every
// architecture only), each once, in order: what the guest gets.
func (j *Job) AllDevices(arch string) ([]Device, error) {
	var decl []Device
	for _, m := range j.Modules {
		d, err := device.Declared(m, arch)
		if err != nil {
			return nil, err
		}
		decl = append(decl, d...)
	}
	return device.Merge(j.Devices, decl...), nil
}

// Boot are the guest's boot options.
type Boot struct {
	// Accel is auto, kvm or tcg.
	Accel string `json:"accel"`
	// Timeout stops a guest that has not finished (0: the profile's
	// default, 3 minutes, 10 for debug).
	Timeout Duration `json:"timeout,omitempty"`
	// MemoryMB is the guest's memory (0: 512, 1024 for debug).
	MemoryMB int `json:"memory_mb,omitempty"`
	// CPUs is the guest's CPU count (0: 1, 2 for debug).
	CPUs int `json:"cpus,omitempty"`
	// Append are extra kernel command-line arguments, one each.
	Append []string `json:"append,omitempty"`
	// ConsoleLimitMB stops a guest that prints more (0: 256).
	ConsoleLimitMB int `json:"console_limit_mb,omitempty"`
	// Kmemleak is auto (on with a kernel that has kmemleak and the debug
	// profile), on or off.
	Kmemleak string `json:"kmemleak"`
	// GDB opens QEMU's gdb stub at HOST:PORT (test, run, shell; the
	// guest does not wait for the debugger).
	GDB string `json:"gdb,omitempty"`
	// KeepOnCrash keeps a crashed guest stopped at the crash, its gdb
	// stub open, instead of ending the run (test).
	KeepOnCrash bool `json:"keep_on_crash,omitempty"`
}

// Plan is what the guest runs: every module loaded with its parameters,
// then the modules' tests (test, watch), one command (run) or a shell
// (shell), then the unloads.
type Plan struct {
	// Params are insmod's parameters by module name ("a=1 b=2").
	Params map[string]string `json:"params,omitempty"`
	// Run is a command to run instead of the modules' tests (rko run).
	Run []string `json:"run,omitempty"`
	// Shell runs a shell on the console instead of the tests (rko shell).
	Shell bool `json:"shell,omitempty"`
	// Bench are rko bench's workloads, run on their own twins: a bench
	// job has no module directories.
	Bench []string `json:"bench,omitempty"`
	// FailNth loads each module first with its N-th fault-injectable
	// call failing, N = 1, 2, ... (rko test --fail-nth).
	FailNth bool `json:"fail_nth,omitempty"`
}

// Duration is a time.Duration written as Go writes one ("3m0s") in JSON.
type Duration time.Duration

// MarshalJSON writes d as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a string such as "90s" or "3m".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration string such as \"90s\" or \"3m\", got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration such as \"90s\" or \"3m\": %v", err)
	}
	*d = Duration(v)
	return nil
}

// Error is a job that cannot run: which field, what was wrong, and how
// to fix it. Nothing was built or booted.
type Error struct {
	// Field is the job's field, as a flag name when the job came from
	// flags ("--arch") or a JSON path when it came from a file
	// ("kernel.arch").
	Field string
	Msg   string
}

func (e *Error) Error() string { return e.Field + ": " + e.Msg }

// versionRE is a kernel version as --kernel takes it: "6.12" or
// "6.12.117".
var versionRE = regexp.MustCompile(`^[0-9]+\.[0-9]+(\.[0-9]+)?$`)

// IsVersion reports whether spec names a kernel version ("7.3",
// "6.12.117") rather than a directory; a directory of that name is
// given as ./7.3.
func IsVersion(spec string) bool { return versionRE.MatchString(spec) }

// KernelSpec parses --kernel: "" for rko's own kernel, a version ("6.12",
// "6.12.117") for rko's own kernel of that version, "debian" or
// "debian:RELEASE" for Debian's, anything else the directory of a tree
// the user built.
func KernelSpec(spec string) Kernel {
	switch {
	case spec == "":
		return Kernel{Kind: KindRko}
	case IsVersion(spec):
		return Kernel{Kind: KindRko, Version: spec}
	case spec == "debian":
		return Kernel{Kind: KindDebian}
	case strings.HasPrefix(spec, "debian:"):
		rel := strings.TrimPrefix(spec, "debian:")
		if rel != "" && !strings.Contains(rel, "-") {
			rel += "-" + debianFlavour
		}
		return Kernel{Kind: KindDebian, Release: rel}
	}
	abs, err := filepath.Abs(spec)
	if err != nil {
		abs = spec
	}
	return Kernel{Kind: KindDir, Dir: abs}
}

// debianFlavour is the flavour of Debian's kernel rko boots (its amd64
// build, the only one of the target table's architectures Debian's
// Rust-enabled kernel is packaged and tested for here).
var debianFlavour = func() string {
	t, _ := target.Lookup("x86_64")
	return t.DebianArch
}()

// Request is a kernel request as a user names it: the --kernel value and
// the other kernel flags (rko's commands), or an MCP tool's fields.
type Request struct {
	// Spec is --kernel's value (KernelSpec).
	Spec string
	// Arch, Profile and Source are --arch, --profile and --source.
	Arch, Profile, Source string
	// DefaultProfile is --profile's default on the command: a kernel not
	// rko's own takes no profile unless another was asked for.
	DefaultProfile string
	// Fragments are --fragment's files.
	Fragments []string
	// Rustc is --rustc.
	Rustc string
	// Store is --kernel-store.
	Store string
}

// Kernel is the job's Kernel of the request, unchecked (Check does
// that): paths made absolute, rko's own kernel of the host's
// architecture when none is named. The one place a request becomes a
// Kernel, for flags and MCP tools alike.
func (r Request) Kernel() Kernel {
	jk := KernelSpec(r.Spec)
	jk.Arch, jk.Profile = r.Arch, r.Profile
	if jk.Kind == KindRko {
		if jk.Arch == "" {
			jk.Arch = target.Host().Name
		}
		for _, f := range r.Fragments {
			jk.Fragments = append(jk.Fragments, AbsPath(f))
		}
	} else if jk.Profile == r.DefaultProfile {
		jk.Profile = ""
	}
	if r.Source != "" {
		jk.Source = AbsPath(r.Source)
	}
	jk.Rustc = r.Rustc
	jk.Store = r.Store
	return jk
}

// AbsPath is p made absolute (a job names files and directories wherever
// it runs); p itself when that fails.
func AbsPath(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

// Spec is the --kernel value k was parsed from.
func (k Kernel) Spec() string {
	switch k.Kind {
	case KindDebian:
		if k.Release == "" {
			return "debian"
		}
		return "debian:" + k.Release
	case KindDir:
		return k.Dir
	}
	return k.Version
}

// Target is the architecture the request names, once Check passed: the
// host's when none is named (a debian or dir kernel's own is known only
// when it is resolved). This is the one place a job's --arch becomes a
// target.
func (k Kernel) Target() *target.Target {
	if k.Arch == "" {
		return target.Host()
	}
	t, err := target.Lookup(k.Arch)
	if err != nil {
		panic("job: Target of an unchecked job: " + err.Error())
	}
	return t
}

// Describe is a short name of the kernel request for progress lines.
func (k Kernel) Describe() string {
	switch k.Kind {
	case KindRko:
		p := k.Profile
		if p == "" {
			p = "default"
		}
		d := k.Arch + ", profile " + p
		if k.Version != "" {
			d = k.Version + ", " + d
		}
		if k.Rustc != "" {
			d += ", rustc " + k.Rustc
		}
		return d
	default:
		return k.Spec()
	}
}

// Read decodes a job document: unknown fields and trailing data are
// errors, each naming the field.
func Read(r io.Reader) (*Job, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var j Job
	if err := dec.Decode(&j); err != nil {
		return nil, jsonError(data, err)
	}
	if dec.More() {
		return nil, &Error{Field: "job", Msg: "more than one JSON value in the file: a job file holds one job object"}
	}
	if j.Schema != Schema {
		return nil, &Error{Field: "schema", Msg: fmt.Sprintf("%d is not a job schema rko reads: want %d (rko test --print-job writes one)", j.Schema, Schema)}
	}
	return &j, nil
}

var unknownField = regexp.MustCompile(`unknown field "([^"]+)"`)

// jsonError turns encoding/json's error into one that says where.
func jsonError(data []byte, err error) error {
	if m := unknownField.FindStringSubmatch(err.Error()); m != nil {
		return &Error{Field: m[1], Msg: "unknown field: the job schema (docs/schemas.md#the-job) has no such field; rko test --print-job writes a valid job"}
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line := 1 + bytes.Count(data[:min(int(se.Offset), len(data))], []byte("\n"))
		return &Error{Field: "job", Msg: fmt.Sprintf("not JSON: %v at line %d", se, line)}
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return &Error{Field: te.Field, Msg: fmt.Sprintf("want a JSON %s, got %s", te.Type, te.Value)}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return &Error{Field: "job", Msg: "not JSON: the file ends before the job object does"}
	}
	return &Error{Field: "job", Msg: err.Error()}
}

// ReadFile reads a job document from path ("-": standard input).
func ReadFile(path string, stdin io.Reader) (*Job, error) {
	if path == "-" {
		return Read(stdin)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{Field: "--job", Msg: err.Error()}
	}
	defer f.Close()
	return Read(f)
}

// JSON encodes j, indented, with a final newline.
func (j *Job) JSON() []byte {
	b, _ := json.MarshalIndent(j, "", "  ")
	return append(b, '\n')
}

// NoTests reports whether the plan leaves the modules' tests out (rko run
// and rko shell run only what the user asks).
func (p Plan) NoTests() bool { return len(p.Run) > 0 || p.Shell }
