package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sample is one of the kernel's own Rust samples (samples/rust of the
// linux-source rko builds, 7.3), built out of tree by rko and tested with
// its device attached.
type sample struct {
	name string
	// devices are the --device values per architecture ("" key: every
	// architecture); an architecture absent from a non-empty map where
	// the device does not exist loads the sample without it.
	devices map[string][]string
	// want are lines the sample itself prints (its dmesg), per
	// architecture ("" key: every architecture), checked in the console
	// in order.
	want map[string][]string
	// test is a guest shell script that exercises it (tests/exercise.sh),
	// or "".
	test string
}

var pciTestdev = map[string][]string{"": {"pci-testdev"}}

// samples are the 7.3 samples of issue 20. Each must load, bind where it
// has a device, print its own lines, pass its exercise and unload.
var samples = []sample{
	{name: "rust_minimal", want: map[string][]string{"": {"Rust minimal sample (init)", "Am I built-in? false", "My numbers are [72, 108, 200]", "Rust minimal sample (exit)"}}},
	{name: "rust_driver_pci", devices: pciTestdev, want: map[string][]string{"": {"pci-testdev data-match count:", "pci-testdev config space read16 vendor ID: 1b36"}}},
	{name: "rust_dma", devices: pciTestdev, want: map[string][]string{"": {"Probe DMA test driver.", "Unload DMA test driver."}}},
	{name: "rust_driver_auxiliary", devices: pciTestdev, want: map[string][]string{"": {
		"Probing auxiliary driver for auxiliary device with id=0",
		"Connected to auxiliary device with index 0.",
		"Probing auxiliary driver for auxiliary device with id=1",
		"Connected to auxiliary device with index 1 (via Mutex).",
	}}},
	{name: "rust_driver_faux", want: map[string][]string{"": {"Initialising Rust Faux Device Sample", "Hello from faux device!"}}},
	{name: "rust_misc_device", want: map[string][]string{"": {"Initialising Rust Misc Device Sample", "Opening Rust Misc Device Sample", "Writing to Rust Misc Device Sample", "Reading from Rust Misc Device Sample", "Exiting the Rust Misc Device Sample"}},
		test: "printf hello > /dev/rust-misc-device\ncat /dev/rust-misc-device\n"},
	{name: "rust_configfs", want: map[string][]string{"": {"Rust configfs sample (init)", "Show message"}},
		test: "mount -t configfs none /sys/kernel/config\ntest -d /sys/kernel/config/rust_configfs\ncat /sys/kernel/config/rust_configfs/message\numount /sys/kernel/config\n"},
	// rust_debugfs matches by ACPI only: on arm64 and riscv64 it loads
	// with nothing to bind.
	{name: "rust_debugfs", devices: map[string][]string{"x86_64": {"rust-test-platform"}},
		want: map[string][]string{"x86_64": {"driver platform:rust_debugfs bound LNUXBEEF:00"}},
		test: "if [ -d /sys/kernel/debug/sample_debugfs ]; then\n  test \"$(cat /sys/kernel/debug/sample_debugfs/counter)\" = 91\n  cat /sys/kernel/debug/sample_debugfs/compatible\nfi\n"},
	{name: "rust_driver_platform", devices: map[string][]string{"": {"rust-test-platform"}}, want: map[string][]string{
		"x86_64":  {"LNUXBEEF:00: Probed with info: '0'."},
		"arm64":   {"Probed with info: '42'.", "'test,u32-prop'='0xdeadbeef'", "'test,i16-array'='[1, 2, -3, -4]'", "'test,ref-arg'='[32, 50]'", "'test,ref-arg'='[16, 100]'"},
		"riscv64": {"Probed with info: '42'.", "'test,u32-prop'='0xdeadbeef'", "'test,i16-array'='[1, 2, -3, -4]'", "'test,ref-arg'='[32, 50]'", "'test,ref-arg'='[16, 100]'"},
	}},
}

func (s sample) devicesOn(arch string) []string {
	if d, ok := s.devices[arch]; ok {
		return d
	}
	return s.devices[""]
}

func (s sample) wantOn(arch string) []string {
	if w, ok := s.want[arch]; ok {
		return w
	}
	return s.want[""]
}

// samplesSource is the samples/rust directory of the linux-source rko's
// kernel of arch is built from (the kernel is built if it is not cached).
func samplesSource(t *testing.T, arch string) string {
	t.Helper()
	r := rko(t, coldTimeout, "kernel", "build", "--json", "--arch", arch)
	if r.code != 0 {
		t.Fatalf("rko kernel build --arch %s: exit %d\n%s", arch, r.code, r.stderr)
	}
	var k struct {
		Source struct {
			Dir     string `json:"dir"`
			Version string `json:"version"`
		} `json:"source"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &k); err != nil {
		t.Fatalf("rko kernel build --json: %v\n%s", err, r.stdout)
	}
	if !strings.HasPrefix(k.Source.Version, "7.3") {
		t.Skipf("the kernel is %s: the sample suite is written for 7.3's samples/rust", k.Source.Version)
	}
	return filepath.Join(k.Source.Dir, "samples", "rust")
}

// sampleDir makes a module directory of one sample: its source as the
// kernel ships it, a Kbuild that declares its devices for arch, and its
// exercise.
func sampleDir(t *testing.T, src string, s sample, arch string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), s.name)
	if err := os.MkdirAll(filepath.Join(dir, "tests"), 0o755); err != nil {
		t.Fatal(err)
	}
	code, err := os.ReadFile(filepath.Join(src, s.name+".rs"))
	if err != nil {
		t.Fatal(err)
	}
	kb := "# SPDX-License-Identifier: GPL-2.0\n# " + s.name + " from the kernel's samples/rust, built out of tree.\n"
	for _, d := range s.devicesOn(arch) {
		kb += "# rko-device: " + d + "\n"
	}
	kb += "obj-m := " + s.name + ".o\n"
	files := map[string]string{s.name + ".rs": string(code), "Kbuild": kb,
		"Makefile": "KDIR ?= /lib/modules/$(shell uname -r)/build\nall:\n\t$(MAKE) -C $(KDIR) M=$(CURDIR) modules\n"}
	if s.test != "" {
		files["tests/exercise.sh"] = "#!/bin/sh\nset -ex\n" + s.test
	}
	for name, data := range files {
		mode := os.FileMode(0o644)
		if strings.HasPrefix(name, "tests/") {
			mode = 0o755
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestKernelRustSamples builds the kernel's own Rust samples with rko
// and tests each with its device attached (issue 20): on x86_64's
// default kernel, which CI builds anyway; on arm64 and riscv64 with
// RKO_E2E_ARCHES (docs/ci.md). Each sample must pass: loaded, every
// driver bound (rko's "bound" step), its exercise passed, unloaded, and
// the lines it prints found in the console in order.
func TestKernelRustSamples(t *testing.T) {
	requireRealPath(t)
	for _, arch := range []string{"x86_64", "arm64", "riscv64"} {
		t.Run(arch, func(t *testing.T) {
			if arch != "x86_64" {
				skipArch(t, arch)
			}
			src := samplesSource(t, arch)
			for _, s := range samples {
				t.Run(s.name, func(t *testing.T) {
					dir := sampleDir(t, src, s, arch)
					r := rko(t, coldTimeout, "test", "--json", "--accel", "tcg", "--arch", arch, dir)
					rep := decode(t, r)
					if r.code != 0 || !rep.Verdict.Passed {
						t.Fatalf("exit %d, verdict %+v\nstderr:\n%s\nstdout:\n%s", r.code, rep.Verdict, r.stderr, r.stdout)
					}
					var bound bool
					for _, st := range rep.Steps {
						bound = bound || st.Name == "bound "+s.name && st.Status == "passed"
					}
					if len(s.devicesOn(arch)) > 0 && !bound {
						t.Errorf("no passed bound step with devices %v: %+v", s.devicesOn(arch), rep.Steps)
					}
					console, err := os.ReadFile(rep.ConsoleLog)
					if err != nil {
						t.Fatal(err)
					}
					rest := string(console)
					for _, w := range s.wantOn(arch) {
						i := strings.Index(rest, w)
						if i < 0 {
							t.Fatalf("%q not in the console (after the lines before it): %s", w, rep.ConsoleLog)
						}
						rest = rest[i+len(w):]
					}
					t.Logf("%s on %s: passed, devices %v, %s", s.name, arch, s.devicesOn(arch), fmt.Sprint(len(rep.Steps), " steps"))
				})
			}
		})
	}
}
