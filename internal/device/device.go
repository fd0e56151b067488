// Package device is rko's table of the devices a guest can have attached
// (rko test --device NAME, a module directory's "# rko-device:" lines, a
// job's devices): for each device, how each guest machine expresses it (a
// QEMU -device, an ACPI table compiled with iasl and passed with
// -acpitable, a device-tree node added with dtc to the machine's own tree
// and booted with -dtb), what the kernel needs for it, and why a machine
// cannot have it. Package workflow turns a checked list into QEMU
// arguments (Build), on the one boot path.
package device

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/rkodev/rko/internal/kbuilddecl"
	"github.com/rkodev/rko/internal/target"
)

// Spec is a device as a job names it: a table name, and for the devices
// made from a user's source (acpi-ssdt, dt-node) the file, absolute.
type Spec struct {
	// Name is the device's name in the table.
	Name string `json:"name"`
	// File is the source the device is made from (acpi-ssdt, dt-node).
	File string `json:"file,omitempty"`
}

// String is the spec as --device takes it: NAME or NAME=FILE.
func (s Spec) String() string {
	if s.File != "" {
		return s.Name + "=" + s.File
	}
	return s.Name
}

// Form is how a machine expresses a device.
type Form struct {
	// Args are QEMU arguments added as they are (-device pci-testdev).
	Args []string
	// ASL is the source of an ACPI table (an SSDT), compiled with iasl
	// and passed with -acpitable file=; FromFile takes it from the
	// spec's File instead.
	ASL string
	// DTS is a device-tree fragment put inside the root node of the
	// machine's own tree (QEMU's -machine dumpdtb=, decompiled and
	// recompiled with dtc, booted with -dtb); FromFile takes it from
	// the spec's File instead.
	DTS string
	// FromFile says the form's source is the spec's File (ASL or DTS by
	// Kind).
	FromFile bool
	// Kind is "args", "acpi" or "dt".
	Kind string
	// Needs are the kernel options (without CONFIG_) the device needs on
	// this machine.
	Needs []string
}

// Form kinds.
const (
	KindArgs = "args"
	KindACPI = "acpi"
	KindDT   = "dt"
)

// Device is one entry of the table.
type Device struct {
	// Name is the device's name (--device NAME).
	Name string
	// Summary says what it is and who binds to it, for the list of
	// known devices.
	Summary string
	// File says the device is made from a file the user gives
	// (--device NAME=FILE); what the file holds.
	File string
	// Forms are the device on each target, by target name.
	Forms map[string]Form
	// Missing says why a target has no form of the device (target name
	// -> reason); a target in neither map has no QEMU machine (UML).
	Missing map[string]string
}

// umlReason is why no device can be attached to a UML guest.
const umlReason = "UML guests are host processes with no QEMU machine: no PCI bus, no ACPI and no device tree; test device drivers under --arch x86_64, arm64 or riscv64"

// rustTestPlatformASL is the SSDT of the kernel's rust_driver_platform
// sample (samples/rust/rust_driver_platform.rs, 7.3), with the _DSD
// "compatible" property of rust_debugfs's (samples/rust/rust_debugfs.rs),
// which reads it in probe: one device that both samples bind to.
const rustTestPlatformASL = `DefinitionBlock ("", "SSDT", 2, "TEST", "VIRTACPI", 0x00000001)
{
    Scope (\_SB)
    {
        Device (T432)
        {
            Name (_HID, "LNUXBEEF")  // ACPI hardware ID to match
            Name (_UID, 1)
            Name (_STA, 0x0F)        // Device present, enabled
            Name (_DSD, Package () { // Sample attribute
                ToUUID("daffd814-6eba-4d8c-8a91-bc9bbf4aa301"),
                Package() {
                    Package(2) {"compatible", "sample-debugfs"}
                }
            })
            Name (_CRS, ResourceTemplate ()
            {
                Memory32Fixed (ReadWrite, 0xFED00000, 0x1000)
            })
        }
    }
}
`

// rustTestPlatformDTS is the OF node the kernel's rust_driver_platform
// sample matches, with the properties it reads in probe (after
// drivers/of/unittest-data/tests-platform.dtsi, 7.3: test-device@2).
const rustTestPlatformDTS = `rust-test-device {
	compatible = "test,rust-device";
	test,u32-prop = <0xdeadbeef>;
	test,i16-array = /bits/ 16 <1 2 (-3) (-4)>;
	rko_ref_child_0: child-0 {
		test,ref-arg = <&rko_ref_child_1 0x20 0x32>;
	};
	rko_ref_child_1: child-1 {
		test,ref-arg = <&rko_ref_child_0 0x10 0x64>;
	};
};
`

// pciVirt are the options a PCI device needs behind -M virt's ECAM host
// bridge.
var pciVirt = []string{"PCI", "PCI_HOST_GENERIC"}

var table = map[string]*Device{
	"pci-testdev": {
		Name:    "pci-testdev",
		Summary: "QEMU's PCI test device (1b36:0005; BAR0 memory, BAR1 I/O): the kernel's rust_driver_pci, rust_dma and rust_driver_auxiliary samples bind to it",
		Forms: map[string]Form{
			"x86_64":  {Kind: KindArgs, Args: []string{"-device", "pci-testdev"}, Needs: []string{"PCI"}},
			"arm64":   {Kind: KindArgs, Args: []string{"-device", "pci-testdev"}, Needs: pciVirt},
			"riscv64": {Kind: KindArgs, Args: []string{"-device", "pci-testdev"}, Needs: pciVirt},
		},
	},
	"rust-test-platform": {
		Name:    "rust-test-platform",
		Summary: "the platform device of the kernel's Rust samples: ACPI LNUXBEEF on x86_64 (an SSDT; rust_driver_platform, rust_debugfs), OF \"test,rust-device\" on arm64 and riscv64 (a device-tree node; rust_driver_platform)",
		Forms: map[string]Form{
			"x86_64":  {Kind: KindACPI, ASL: rustTestPlatformASL, Needs: []string{"ACPI"}},
			"arm64":   {Kind: KindDT, DTS: rustTestPlatformDTS, Needs: []string{"OF"}},
			"riscv64": {Kind: KindDT, DTS: rustTestPlatformDTS, Needs: []string{"OF"}},
		},
	},
	"acpi-ssdt": {
		Name:    "acpi-ssdt",
		Summary: "an ACPI SSDT from your ASL source (acpi-ssdt=FILE.dsl), compiled with iasl and passed with -acpitable: platform devices matched by ACPI ID",
		File:    "ASL source of one SSDT (DefinitionBlock (\"\", \"SSDT\", ...))",
		Forms: map[string]Form{
			"x86_64": {Kind: KindACPI, FromFile: true, Needs: []string{"ACPI"}},
		},
		Missing: map[string]string{
			"arm64":   "rko boots arm64 guests (-M virt) with a device tree, not ACPI: describe the device as a node, --device dt-node=FILE",
			"riscv64": "rko boots riscv64 guests (-M virt) with a device tree, not ACPI: describe the device as a node, --device dt-node=FILE",
		},
	},
	"dt-node": {
		Name:    "dt-node",
		Summary: "device-tree nodes from your source (dt-node=FILE.dtsi), put in the root node of the machine's own tree with dtc and booted with -dtb: platform devices matched by OF compatible",
		File:    "device-tree source of nodes for the root node (name { compatible = \"...\"; ... };)",
		Forms: map[string]Form{
			"arm64":   {Kind: KindDT, FromFile: true, Needs: []string{"OF"}},
			"riscv64": {Kind: KindDT, FromFile: true, Needs: []string{"OF"}},
		},
		Missing: map[string]string{
			"x86_64": "x86_64 guests describe platform devices in ACPI, not a device tree: write an SSDT, --device acpi-ssdt=FILE",
		},
	},
}

// Names lists the devices, sorted.
func Names() []string { return slices.Sorted(maps.Keys(table)) }

// Lookup returns the device called name.
func Lookup(name string) (*Device, error) {
	if d, ok := table[name]; ok {
		return d, nil
	}
	return nil, fmt.Errorf("unknown device %q: rko knows %s (docs/devices.md)", name, strings.Join(Names(), ", "))
}

// List describes every device, one line each ("NAME: summary"), for
// help and errors.
func List() string {
	var b strings.Builder
	for _, n := range Names() {
		fmt.Fprintf(&b, "  %s: %s\n", n, table[n].Summary)
	}
	return b.String()
}

// Parse reads --device's value: NAME or NAME=FILE (FILE made absolute).
func Parse(s string) (Spec, error) {
	name, file, hasFile := strings.Cut(s, "=")
	d, err := Lookup(name)
	if err != nil {
		return Spec{}, err
	}
	if err := d.checkFile(hasFile, file); err != nil {
		return Spec{}, err
	}
	sp := Spec{Name: name}
	if hasFile {
		if sp.File, err = filepath.Abs(file); err != nil {
			sp.File = file
		}
	}
	return sp, nil
}

func (d *Device) checkFile(hasFile bool, file string) error {
	switch {
	case d.File != "" && (!hasFile || file == ""):
		return fmt.Errorf("device %s is made from a file: give it as %s=FILE (%s)", d.Name, d.Name, d.File)
	case d.File == "" && hasFile:
		return fmt.Errorf("device %s takes no file: give it as %s", d.Name, d.Name)
	}
	return nil
}

// Form returns how t expresses the device named by s, or an error that
// says why t cannot have it (UML, a machine without the bus) or what is
// wrong with the spec (an unknown name, a missing file).
func (s Spec) Form(t *target.Target) (Form, error) {
	d, err := Lookup(s.Name)
	if err != nil {
		return Form{}, err
	}
	if err := d.checkFile(s.File != "", s.File); err != nil {
		return Form{}, err
	}
	if s.File != "" {
		if st, err := os.Stat(s.File); err != nil || !st.Mode().IsRegular() {
			return Form{}, fmt.Errorf("device %s: %s is not a readable file", s.Name, s.File)
		}
	}
	if f, ok := d.Forms[t.Name]; ok {
		return f, nil
	}
	if why, ok := d.Missing[t.Name]; ok {
		return Form{}, fmt.Errorf("device %s is not available on --arch %s: %s", s.Name, t.Name, why)
	}
	if t.UML() {
		return Form{}, fmt.Errorf("device %s is not available on --arch %s: %s", s.Name, t.Name, umlReason)
	}
	var on []string
	for n := range d.Forms {
		on = append(on, n)
	}
	sort.Strings(on)
	return Form{}, fmt.Errorf("device %s is not available on --arch %s: rko has it on %s", s.Name, t.Name, strings.Join(on, ", "))
}

// Declared are the devices a module directory asks for on the
// architecture arch: each "# rko-device: NAME" or "# rko-device: NAME=FILE"
// line of its Kbuild (FILE relative to the directory), and each
// "# rko-device(ARCH,...): ..." line that names arch, in order. arch ""
// (not known yet) takes the lines for every architecture only. A
// directory without a Kbuild, or without such lines, asks for none.
func Declared(dir, arch string) ([]Spec, error) {
	decls, err := kbuilddecl.Read(dir, declWord, "# rko-device(ARCH,...): NAME")
	if err != nil {
		return nil, err
	}
	var out []Spec
	for _, d := range decls {
		if d.Qualifier != "" {
			arches := strings.Split(d.Qualifier, ",")
			for _, a := range arches {
				if target.Known(strings.TrimSpace(a)) == nil {
					return nil, fmt.Errorf("%s: unknown architecture %q in rko-device(...), want one of %s", d.Where, strings.TrimSpace(a), strings.Join(target.Names(), ", "))
				}
			}
			if !slices.ContainsFunc(arches, func(a string) bool { return arch != "" && target.Known(strings.TrimSpace(a)) == target.Known(arch) }) {
				continue
			}
		}
		val := d.Value
		name, file, hasFile := strings.Cut(val, "=")
		if hasFile && file != "" && !filepath.IsAbs(file) {
			val = name + "=" + filepath.Join(dir, file)
		}
		sp, err := Parse(val)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", d.Where, err)
		}
		out = append(out, sp)
	}
	return out, nil
}

// declWord starts a Kbuild comment that declares a device.
const declWord = "rko-device"

// Merge is specs with those of more added that it does not have yet, in
// order: the job's devices and its modules' declared ones, each once.
func Merge(specs []Spec, more ...Spec) []Spec {
	seen := map[Spec]bool{}
	var out []Spec
	for _, s := range append(append([]Spec(nil), specs...), more...) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
