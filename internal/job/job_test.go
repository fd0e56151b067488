package job

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rkodev/rko/internal/target"
	"github.com/rkodev/rko/internal/testutil"
)

func module(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Makefile"), []byte("obj-m := m.o\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestKernelSpec(t *testing.T) {
	abs, _ := filepath.Abs("tree")
	tests := []struct {
		spec string
		want Kernel
		back string
	}{
		{"", Kernel{Kind: KindRko}, ""},
		{"debian", Kernel{Kind: KindDebian}, "debian"},
		{"debian:7.3.4+deb13", Kernel{Kind: KindDebian, Release: "7.3.4+deb13-amd64"}, "debian:7.3.4+deb13-amd64"},
		{"debian:7.3.4+deb13-cloud-amd64", Kernel{Kind: KindDebian, Release: "7.3.4+deb13-cloud-amd64"}, "debian:7.3.4+deb13-cloud-amd64"},
		{"tree", Kernel{Kind: KindDir, Dir: abs}, abs},
		{"6.12", Kernel{Kind: KindRko, Version: "6.12"}, "6.12"},
		{"6.12.117", Kernel{Kind: KindRko, Version: "6.12.117"}, "6.12.117"},
	}
	for _, tt := range tests {
		got := KernelSpec(tt.spec)
		if got.Kind != tt.want.Kind || got.Release != tt.want.Release || got.Dir != tt.want.Dir || got.Version != tt.want.Version {
			t.Errorf("KernelSpec(%q) = %+v, want %+v", tt.spec, got, tt.want)
		}
		if s := got.Spec(); s != tt.back {
			t.Errorf("KernelSpec(%q).Spec() = %q, want %q", tt.spec, s, tt.back)
		}
	}
}

// A job written and read back is the same job; Duration reads Go's
// duration strings.
func TestRoundTrip(t *testing.T) {
	j := &Job{Kernel: Kernel{Kind: KindRko, Arch: "arm64", Profile: "debug", Fragments: []string{"/x.config"}},
		Modules: []string{"/m"}, Boot: Boot{Timeout: Duration(90 * time.Second), Append: []string{"a=1"}},
		Plan: Plan{Params: map[string]string{"m": "n=1"}, Run: []string{"cat", "/proc/modules"}}}
	j.Defaults()
	got, err := Read(strings.NewReader(string(j.JSON())))
	if err != nil {
		t.Fatal(err)
	}
	if string(got.JSON()) != string(j.JSON()) {
		t.Errorf("round trip:\n%s\nwant\n%s", got.JSON(), j.JSON())
	}
	if !strings.Contains(string(j.JSON()), `"timeout": "1m30s"`) {
		t.Errorf("timeout not written as a duration string:\n%s", j.JSON())
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct {
		in, field, want string
	}{
		{"{", "job", "not JSON"},
		{"[1]", "", "want a JSON"},
		{`{"schema":1,"kernal":{}}`, "kernal", "unknown field"},
		{`{"schema":1,"boot":{"timeout":"soon"}}`, "job", "duration"},
		{`{"schema":1,"boot":{"memory_mb":"lots"}}`, "boot.memory_mb", "want a JSON int"},
		{`{"schema":2}`, "schema", "want 1"},
		{`{"schema":1} {"schema":1}`, "job", "one job"},
	}
	for _, tt := range tests {
		_, err := Read(strings.NewReader(tt.in))
		var je *Error
		if !errors.As(err, &je) || je.Field != tt.field || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Read(%s) = %v, want field %q and %q", tt.in, err, tt.field, tt.want)
		}
	}
}

// Check refuses what cannot work, naming the field; the defaults pass.
func TestCheck(t *testing.T) {
	m := module(t)
	floored := testutil.WriteTree(t, map[string]string{"Kbuild": "# rko-kernel: >=7.2\nobj-m := d.o\n", "d.rs": "// SPDX-License-Identifier: GPL-2.0\n"})
	badFloor := testutil.WriteTree(t, map[string]string{"Kbuild": "# rko-kernel: 7.2\nobj-m := d.o\n", "d.rs": "// SPDX-License-Identifier: GPL-2.0\n"})
	foreign := "arm64"
	if target.Host().Name == "arm64" {
		foreign = "x86_64"
	}
	tests := []struct {
		name  string
		edit  func(*Job)
		field string // "" means the job is fine
	}{
		{"defaults", func(j *Job) {}, ""},
		{"every arch", func(j *Job) { j.Kernel.Arch = "riscv64" }, ""},
		{"kind", func(j *Job) { j.Kernel.Kind = "oci" }, "--kernel"},
		{"arch", func(j *Job) { j.Kernel.Arch = "sparc" }, "--arch"},
		{"debian arm64", func(j *Job) { j.Kernel = Kernel{Kind: KindDebian, Arch: "arm64"} }, "--arch"},
		{"debian any arch", func(j *Job) { j.Kernel = Kernel{Kind: KindDebian} }, ""},
		{"dir missing", func(j *Job) { j.Kernel = Kernel{Kind: KindDir, Dir: "/nonexistent"} }, "--kernel"},
		{"dir with source", func(j *Job) { j.Kernel = Kernel{Kind: KindDir, Dir: m, Source: m} }, "--source"},
		{"dir with profile", func(j *Job) { j.Kernel = Kernel{Kind: KindDir, Dir: m, Profile: "debug"} }, "--profile"},
		{"uml bench", func(j *Job) { j.Kernel.Arch, j.Kernel.Profile = "um", "bench" }, "--profile"},
		{"no modules", func(j *Job) { j.Modules = nil }, "module directory"},
		{"bench with modules", func(j *Job) { j.Plan.Bench = []string{"kv"} }, "module directory"},
		{"pci-testdev", func(j *Job) { j.Devices = []Device{{Name: "pci-testdev"}} }, ""},
		{"pci-testdev on riscv64", func(j *Job) { j.Kernel.Arch, j.Devices = "riscv64", []Device{{Name: "pci-testdev"}} }, ""},
		{"unknown device", func(j *Job) { j.Devices = []Device{{Name: "nvme"}} }, "--device"},
		{"device on uml", func(j *Job) { j.Kernel.Arch, j.Devices = "um", []Device{{Name: "pci-testdev"}} }, "--device"},
		{"ssdt on arm64", func(j *Job) { j.Kernel.Arch, j.Devices = "arm64", []Device{{Name: "acpi-ssdt", File: m + "/Kbuild"}} }, "--device"},
		{"ssdt without file", func(j *Job) { j.Devices = []Device{{Name: "acpi-ssdt"}} }, "--device"},
		{"ssdt file missing", func(j *Job) { j.Devices = []Device{{Name: "acpi-ssdt", File: "/nonexistent.dsl"}} }, "--device"},
		{"devices on bench", func(j *Job) {
			j.Modules, j.Plan.Bench, j.Devices = nil, []string{"kv"}, []Device{{Name: "pci-testdev"}}
		}, "--device"},
		{"fail-nth with run", func(j *Job) { j.Plan.FailNth, j.Plan.Run = true, []string{"ls"} }, "plan"},
		{"kvm foreign", func(j *Job) { j.Kernel.Arch, j.Boot.Accel = foreign, AccelKVM }, "--accel"},
		{"negative timeout", func(j *Job) { j.Boot.Timeout = -1 }, "--timeout"},
		{"param name", func(j *Job) { j.Plan.Params = map[string]string{"a-b c": "x=1"} }, "--param"},
		{"run and shell", func(j *Job) { j.Plan.Run, j.Plan.Shell = []string{"ls"}, true }, "plan"},
		{"version", func(j *Job) { j.Kernel.Version = "6.12" }, ""},
		{"version under a module's floor", func(j *Job) { j.Kernel.Version, j.Modules = "6.12", []string{floored} }, "--kernel"},
		{"version at a module's floor", func(j *Job) { j.Kernel.Version, j.Modules = "7.2", []string{floored} }, ""},
		{"malformed floor", func(j *Job) { j.Modules = []string{badFloor} }, "module directory"},
		{"full version", func(j *Job) { j.Kernel.Version = "6.12.117" }, ""},
		{"bad version", func(j *Job) { j.Kernel.Version = "6.12-rc1" }, "--kernel"},
		{"version and source", func(j *Job) { j.Kernel.Version, j.Kernel.Source = "6.12", m }, "--source"},
		{"version of debian", func(j *Job) { j.Kernel = Kernel{Kind: KindDebian, Version: "6.12"} }, "--kernel"},
		{"rustc", func(j *Job) { j.Kernel.Rustc = "1.98" }, ""},
		{"bad rustc", func(j *Job) { j.Kernel.Rustc = "nightly" }, "--rustc"},
		{"rustc of debian", func(j *Job) { j.Kernel = Kernel{Kind: KindDebian, Rustc: "1.98"} }, "--rustc"},
		{"rustc on the host", func(j *Job) { j.Kernel.Rustc, j.Toolchain = "1.98", "host" }, "--rustc"},
	}
	for _, tt := range tests {
		j := &Job{Modules: []string{m}}
		j.Defaults()
		tt.edit(j)
		err := j.Check()
		var je *Error
		switch {
		case tt.field == "" && err != nil:
			t.Errorf("%s: %v, want none", tt.name, err)
		case tt.field != "" && (!errors.As(err, &je) || !strings.HasPrefix(je.Field, tt.field)):
			t.Errorf("%s: %v, want an error on %s", tt.name, err, tt.field)
		}
	}
}

func TestParseDevices(t *testing.T) {
	got, err := ParseDevices([]string{"pci-testdev", "rust-test-platform"})
	if err != nil || len(got) != 2 || got[0].Name != "pci-testdev" || got[1].Name != "rust-test-platform" {
		t.Errorf("ParseDevices = %+v, %v", got, err)
	}
	var je *Error
	if _, err := ParseDevices([]string{"pci-testdev", "nvme"}); !errors.As(err, &je) || !strings.HasPrefix(je.Field, "--device") || !strings.Contains(je.Msg, "nvme") {
		t.Errorf("unknown device: %v, want an error on --device naming it", err)
	}
}
