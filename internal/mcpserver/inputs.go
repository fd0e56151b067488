package mcpserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/rkodev/rko/internal/job"
)

// KernelInput is the kernel request of a tool call: the kernel fields of
// a job (docs/schemas.md#the-job), named as rko's flags name them.
type KernelInput struct {
	Kernel    string   `json:"kernel,omitempty" jsonschema:"the kernel: empty for rko's own (see profile), a version (6.12, 7.2, 7.3 or a full one such as 6.12.117) for rko's own build of that version, debian or debian:RELEASE for Debian's Rust-enabled kernel, or the absolute path of a kernel tree you built"`
	Arch      string   `json:"arch,omitempty" jsonschema:"guest architecture: x86_64, arm64, riscv64 or um (default: the host's, or the kernel tree's own)"`
	Profile   string   `json:"profile,omitempty" jsonschema:"rko's kernel profile: default, debug (KASAN, lockdep, kmemleak) or bench; rko's own kernel only"`
	Fragments []string `json:"fragments,omitempty" jsonschema:"extra kernel config fragment files (CONFIG_ lines), absolute; rko's own kernel only"`
	Source    string   `json:"source,omitempty" jsonschema:"linux-source tree or tarball for rko's own kernel (default: found)"`
	Toolchain string   `json:"toolchain,omitempty" jsonschema:"toolchain: auto (default: the host's if rko doctor passes, else the pinned rootfs), host or rootfs"`
	Rustc     string   `json:"rustc,omitempty" jsonschema:"the rootfs compiler that builds kernel and modules: 1.85 (the pinned one, default) or 1.98"`
}

// BootInput are the boot options and the plan's parameters of a tool
// call: the boot fields of a job, named as rko's flags name them.
type BootInput struct {
	Accel          string            `json:"accel,omitempty" jsonschema:"accelerator: auto (default: KVM if it really works, else TCG), kvm or tcg"`
	Timeout        string            `json:"timeout,omitempty" jsonschema:"stop a guest that has not finished after this long, a Go duration such as 90s or 5m (default 3m, 10m for the debug profile)"`
	MemoryMB       int               `json:"memory_mb,omitempty" jsonschema:"guest memory in MiB (default 512, 1024 for debug)"`
	CPUs           int               `json:"cpus,omitempty" jsonschema:"guest CPUs (default 1, 2 for debug)"`
	Append         []string          `json:"append,omitempty" jsonschema:"extra kernel command-line arguments, one per item, no spaces (e.g. dyndbg=+p)"`
	Params         map[string]string `json:"params,omitempty" jsonschema:"insmod parameters by module name, e.g. {\"hello\": \"count=3 debug=1\"}"`
	Kmemleak       string            `json:"kmemleak,omitempty" jsonschema:"scan for leaks after unloading: auto (default: on with the debug profile), on or off"`
	ConsoleLimitMB int               `json:"console_limit_mb,omitempty" jsonschema:"stop a guest that prints more than this many MiB (default 256)"`
	Devices        []string          `json:"devices,omitempty" jsonschema:"devices to attach to the guest besides those the modules' Kbuild declares (# rko-device: lines): pci-testdev, rust-test-platform, or acpi-ssdt=FILE / dt-node=FILE with an absolute file (docs/devices.md)"`
	FailNth        bool              `json:"fail_nth,omitempty" jsonschema:"test only: load each module with its 1st, 2nd, ... fault-injectable call failing, until a load injects nothing; crashes and leaks are reported with the call (needs profile debug; docs/fail-nth.md)"`
}

// JobInput is what the tools that boot take: module directories with
// the kernel and boot fields, or a whole job document.
type JobInput struct {
	Dirs []string `json:"dirs,omitempty" jsonschema:"module directories (each with a Kbuild or Makefile), absolute; relative ones are taken from the server's working directory"`
	KernelInput
	BootInput
	Job json.RawMessage `json:"job,omitempty" jsonschema:"a whole job document (docs/schemas.md#the-job; rko test --print-job writes one) instead of dirs and the other fields"`
}

// BuildInput is the build tool's input: module directories and the
// kernel to build them against.
type BuildInput struct {
	Dirs []string `json:"dirs" jsonschema:"module directories (each with a Kbuild or Makefile), absolute; relative ones are taken from the server's working directory"`
	KernelInput
}

// argNames maps the flag a job.Error names to the tool argument of the
// same meaning, so that a message names what the caller gave.
var argNames = []struct{ flag, arg string }{
	{"--kernel", "kernel"}, {"--arch", "arch"}, {"--profile", "profile"}, {"--fragment", "fragments"},
	{"--source", "source"}, {"--toolchain", "toolchain"}, {"--rustc", "rustc"}, {"module directory", "dirs"},
	{"--accel", "accel"}, {"--timeout", "timeout"}, {"--memory", "memory_mb"}, {"--cpus", "cpus"},
	{"--append", "append"}, {"--console-limit", "console_limit_mb"}, {"--kmemleak", "kmemleak"},
	{"--param", "params"}, {"--job", "job"}, {"--device", "devices"}, {"--fail-nth", "fail_nth"},
}

// argError is err with a job.Error's field named as the tool's argument
// ("--arch (kernel.arch)" becomes "arch (kernel.arch)").
func argError(err error) error {
	je, ok := err.(*job.Error)
	if !ok {
		return err
	}
	f := je.Field
	for _, a := range argNames {
		if strings.HasPrefix(f, a.flag) {
			f = a.arg + strings.TrimPrefix(f, a.flag)
			break
		}
	}
	return &job.Error{Field: f, Msg: je.Msg}
}

// absPath is p made absolute against the server's working directory.
func absPath(p string) string { return job.AbsPath(p) }

// request is the job's kernel request the fields name (unchecked), made
// as the kernel flags make one (job.Request).
func (in KernelInput) request() job.Kernel {
	return job.Request{Spec: in.Kernel, Arch: in.Arch, Profile: in.Profile, Source: in.Source, Fragments: in.Fragments, Rustc: in.Rustc}.Kernel()
}

// set reports whether any field is given.
func (in KernelInput) set() []string {
	var s []string
	add := func(name string, ok bool) {
		if ok {
			s = append(s, name)
		}
	}
	add("kernel", in.Kernel != "")
	add("arch", in.Arch != "")
	add("profile", in.Profile != "")
	add("fragments", len(in.Fragments) > 0)
	add("source", in.Source != "")
	add("toolchain", in.Toolchain != "")
	add("rustc", in.Rustc != "")
	return s
}

// set names the fields that are given.
func (in BootInput) set() []string {
	var s []string
	add := func(name string, ok bool) {
		if ok {
			s = append(s, name)
		}
	}
	add("accel", in.Accel != "")
	add("timeout", in.Timeout != "")
	add("memory_mb", in.MemoryMB != 0)
	add("cpus", in.CPUs != 0)
	add("append", len(in.Append) > 0)
	add("params", len(in.Params) > 0)
	add("kmemleak", in.Kmemleak != "")
	add("console_limit_mb", in.ConsoleLimitMB != 0)
	add("devices", len(in.Devices) > 0)
	add("fail_nth", in.FailNth)
	return s
}

// boot is the job's boot options the fields name.
func (in BootInput) boot() (job.Boot, error) {
	b := job.Boot{Accel: in.Accel, MemoryMB: in.MemoryMB, CPUs: in.CPUs, Append: in.Append,
		Kmemleak: in.Kmemleak, ConsoleLimitMB: in.ConsoleLimitMB}
	if in.Timeout != "" {
		d, err := time.ParseDuration(in.Timeout)
		if err != nil {
			return b, &job.Error{Field: "timeout (boot.timeout)", Msg: fmt.Sprintf("%q is not a duration: give a Go duration such as 90s or 5m", in.Timeout)}
		}
		b.Timeout = job.Duration(d)
	}
	if in.ConsoleLimitMB < 0 {
		return b, &job.Error{Field: "console_limit_mb (boot.console_limit_mb)", Msg: fmt.Sprintf("invalid limit %d, want at least 1 (MiB; 0: the default)", in.ConsoleLimitMB)}
	}
	return b, nil
}

// params are the insmod parameters by module name, with the kernel's
// spelling of module names (dashes become underscores, as insmod does).
func (in BootInput) params() map[string]string {
	if len(in.Params) == 0 {
		return nil
	}
	p := make(map[string]string, len(in.Params))
	for mod, v := range in.Params {
		p[strings.ReplaceAll(mod, "-", "_")] = v
	}
	return p
}

// toJob is the one place a tool's input becomes a job, as jobFlags.toJob
// is for the command line: from the job document (no other field may go
// with it) or from the fields, with rko's defaults filled in and checked
// (job.Check), so that a bad combination is refused before anything is
// built. The error names the argument and the fix.
func (in JobInput) toJob() (*job.Job, error) {
	j, err := in.makeJob()
	if err != nil {
		return nil, argError(err)
	}
	return j, nil
}

func (in JobInput) makeJob() (*job.Job, error) {
	if len(bytes.TrimSpace(in.Job)) > 0 && !bytes.Equal(bytes.TrimSpace(in.Job), []byte("null")) {
		set := append(in.KernelInput.set(), in.BootInput.set()...)
		if len(in.Dirs) > 0 {
			set = append(set, "dirs")
		}
		if len(set) > 0 {
			return nil, &job.Error{Field: "job", Msg: fmt.Sprintf("the job object holds the whole job: drop %s, or put them in the job", strings.Join(set, ", "))}
		}
		j, err := job.Read(bytes.NewReader(in.Job))
		if err != nil {
			if je, ok := err.(*job.Error); ok && !strings.HasPrefix(je.Field, "job") {
				return nil, &job.Error{Field: "job." + je.Field, Msg: je.Msg}
			}
			return nil, err
		}
		j.Defaults()
		return j, j.Check()
	}
	if len(in.Dirs) == 0 {
		return nil, &job.Error{Field: "dirs (modules)", Msg: "no module directory: give dirs (absolute paths of module directories), or a whole job"}
	}
	b, err := in.BootInput.boot()
	if err != nil {
		return nil, err
	}
	j := &job.Job{Kernel: in.KernelInput.request(), Toolchain: in.Toolchain, Boot: b,
		Plan: job.Plan{Params: in.BootInput.params(), FailNth: in.FailNth}}
	if j.Devices, err = job.ParseDevices(in.Devices); err != nil {
		return nil, err
	}
	for _, d := range in.Dirs {
		j.Modules = append(j.Modules, absPath(d))
	}
	j.Defaults()
	return j, j.Check()
}

// toJob is the build's job: the modules and the kernel, with rko's
// defaults for the rest (a build boots nothing).
func (in BuildInput) toJob() (*job.Job, error) {
	return JobInput{Dirs: in.Dirs, KernelInput: in.KernelInput}.toJob()
}

// kernelJob is the job of a tool that needs only a kernel (doc, new):
// the kernel request and the toolchain, checked as job.CheckKernel does.
func (in KernelInput) kernelJob() (*job.Job, error) {
	j := &job.Job{Kernel: in.request(), Toolchain: in.Toolchain}
	j.Defaults()
	if _, err := j.CheckKernel(); err != nil {
		return nil, argError(err)
	}
	return j, nil
}
