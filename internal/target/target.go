// Package target is rko's table of guest architectures: for each one, what
// the kernel build, the guest init, the initramfs and QEMU (or UML) need
// to know. Every other package asks this table instead
// of spelling out x86_64 (the shape of syzkaller's sys/targets and the
// archConfigs of its vm/qemu).
package target

import (
	"debug/elf"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
)

// Target is one guest architecture.
type Target struct {
	// Name is rko's name (--arch): x86_64, arm64, riscv64, um.
	Name string
	// KernelArch is the kernel's ARCH= (x86, arm64, riscv, um).
	KernelArch string
	// Kconfig is the symbol (without CONFIG_) that every kernel config of
	// this architecture sets and no other's does: the top option of its
	// arch/*/Kconfig (X86, ARM64, RISCV, UML). Not X86_64: a UML kernel on
	// the x86 subarchitecture sets X86_64 too, and X86 only in a real x86
	// kernel. Every target is 64-bit, so its kernels set 64BIT as well.
	Kconfig string
	// Image is the boot image in the build tree, relative to it; the
	// image make builds (the make target is its base name).
	Image string
	// GOARCH of the static guest programs (init, bench driver).
	GOARCH string
	// LibDir is the multiarch library directory of Debian's packages
	// for this architecture (dynamic test programs copied into the guest).
	LibDir string
	// DebianArch is Debian's name of the architecture (busybox-static:ARCH).
	DebianArch string

	// QEMU is the emulator binary; empty for UML, which runs as a host
	// process.
	QEMU string
	// QEMUPackage is the Debian package that ships QEMU.
	QEMUPackage string
	// Machine is QEMU's -machine value ("" for the default PC).
	Machine string
	// CPU is QEMU's -cpu under TCG; KVMCPU under KVM.
	CPU, KVMCPU string
	// Console is the kernel's console device.
	Console string
	// Cmdline are kernel arguments every guest of this architecture
	// gets (after vm.DefaultCmdline).
	Cmdline []string
	// ConsoleLine is the longest line rko writes to the guest's console
	// input at once, 0 for no limit: rko watch's commands are split to
	// fit (a put in parts).
	ConsoleLine int
	// ConsoleConfig are the options the console needs (checked on every
	// kernel rko boots, kernel.BootNeedsFor).
	ConsoleConfig []string
	// VermagicArch is the kernel's MODULE_ARCH_VERMAGIC
	// (arch/*/include/asm/vermagic.h), the last word of a module's
	// vermagic.
	VermagicArch string
	// Firmware is QEMU's -bios, searched in order (the first that exists
	// is used); "" means QEMU's default.
	Firmware []string
	// ExitDevice are QEMU arguments of a device the guest writes to end
	// the VM, if any.
	ExitDevice []string

	// HostArch is the runtime.GOARCH of hosts that can run this target
	// under KVM; "" means never (UML needs no virtualisation at all).
	HostArch string

	// Fragment is the name of the architecture's kernel config fragment
	// (configs/NAME.config), applied right after the base fragment: the
	// console driver, the boot path and the options the architecture needs
	// that the others do not have. A profile fragment P gets NAME-P.config
	// after it too, when rko ships one.
	Fragment string
	// Profiles says why a kernel profile is not offered on this target
	// (profile -> reason); absent profiles are offered.
	Profiles map[string]string
	// MakeArch are the extra make variables of a kernel or module build
	// beyond ARCH= (UML's SUBARCH).
	MakeArch []string

	// ModuleRustFlags are rustc flags an out-of-tree module's Rust code
	// needs on this target beyond the kernel's own (Kbuild's KRUSTFLAGS).
	ModuleRustFlags []string

	// ELFMachine is the e_machine of the architecture's kernel objects.
	ELFMachine elf.Machine
	// Binutils is the GNU triplet prefix of the binutils that read its
	// objects (aarch64-linux-gnu-addr2line); BinutilsPackage, the Debian
	// package that ships them on an x86_64 host.
	Binutils, BinutilsPackage string
}

// MakeArgs are the make variables that select this target in a kernel or
// module build (ARCH= and, for UML, SUBARCH=).
func (t *Target) MakeArgs() []string {
	return append([]string{"ARCH=" + t.KernelArch}, t.MakeArch...)
}

// ProfileError says why profile cannot be built for t, or nil.
func (t *Target) ProfileError(profile string) error {
	if why, ok := t.Profiles[profile]; ok {
		return fmt.Errorf("--profile %s is not available on --arch %s: %s", profile, t.Name, why)
	}
	return nil
}

// UML reports whether the target is User-Mode Linux (no QEMU).
func (t *Target) UML() bool { return t.KernelArch == "um" }

// KVMEligible reports whether KVM can run this target on this host: the
// host is of the same architecture. Whether KVM then works is for the
// boot to prove (package vm).
func (t *Target) KVMEligible() bool { return t.HostArch != "" && t.HostArch == runtime.GOARCH }

// String is the target's name.
func (t *Target) String() string { return t.Name }

var table = map[string]*Target{
	"x86_64": {
		Name: "x86_64", KernelArch: "x86", Kconfig: "X86", Image: "arch/x86/boot/bzImage", GOARCH: "amd64",
		LibDir: "x86_64-linux-gnu", DebianArch: "amd64",
		QEMU: "qemu-system-x86_64", QEMUPackage: "qemu-system-x86", CPU: "max", KVMCPU: "host",
		Console: "ttyS0", ConsoleConfig: []string{"SERIAL_8250", "SERIAL_8250_CONSOLE"},
		// With an IO-APIC (ACPI kernels), the boot checks that the timer
		// interrupt arrives in time and panics ("IO-APIC + timer doesn't
		// work!") when a loaded host slows a TCG guest down: seen here at
		// load 12. no_timer_check skips the check, as libguestfs does.
		Cmdline: []string{"no_timer_check"},
		// qboot starts a -kernel guest in a few milliseconds; SeaBIOS,
		// QEMU's default, takes a few hundred under TCG.
		Firmware: []string{"/usr/share/qemu/qboot.rom", "/usr/share/qemu-kvm/qboot.rom"},
		HostArch: "amd64", Fragment: "arch-x86_64",
		ELFMachine: elf.EM_X86_64, Binutils: "x86_64-linux-gnu-", BinutilsPackage: "binutils-x86-64-linux-gnu",
	},
	"arm64": {
		Name: "arm64", KernelArch: "arm64", Kconfig: "ARM64", Image: "arch/arm64/boot/Image", GOARCH: "arm64",
		LibDir: "aarch64-linux-gnu", DebianArch: "arm64",
		QEMU: "qemu-system-aarch64", QEMUPackage: "qemu-system-arm", Machine: "virt", CPU: "max", KVMCPU: "host",
		Console: "ttyAMA0", HostArch: "arm64", Fragment: "arch-arm64",
		ConsoleConfig: []string{"SERIAL_AMBA_PL011", "SERIAL_AMBA_PL011_CONSOLE"}, VermagicArch: "aarch64",
		ELFMachine: elf.EM_AARCH64, Binutils: "aarch64-linux-gnu-", BinutilsPackage: "binutils-aarch64-linux-gnu",
	},
	"riscv64": {
		Name: "riscv64", KernelArch: "riscv", Kconfig: "RISCV", Image: "arch/riscv/boot/Image", GOARCH: "riscv64",
		LibDir: "riscv64-linux-gnu", DebianArch: "riscv64",
		QEMU: "qemu-system-riscv64", QEMUPackage: "qemu-system-misc", Machine: "virt", CPU: "rv64", KVMCPU: "host",
		Console: "ttyS0", ConsoleConfig: []string{"SERIAL_8250", "SERIAL_8250_CONSOLE"}, VermagicArch: "riscv",
		// OpenSBI, from Debian's opensbi package (in the toolchain rootfs,
		// else on the host).
		Firmware: []string{"/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin"},
		HostArch: "riscv64", Fragment: "arch-riscv64",
		ELFMachine: elf.EM_RISCV, Binutils: "riscv64-linux-gnu-", BinutilsPackage: "binutils-riscv64-linux-gnu",
	},
	"um": {
		Name: "um", KernelArch: "um", Kconfig: "UML", Image: "linux", GOARCH: "amd64",
		LibDir: "x86_64-linux-gnu", DebianArch: "amd64", Console: "tty0",
		// UML's line driver stops reading its input for good once the
		// tty throttles it: line_throttle deactivates the channel's IRQ
		// and line_unthrottle (arch/um/drivers/line.c, 7.3) reads what is
		// there but never activates it again. N_TTY throttles when more
		// than 4096-128 bytes wait unread, so no write may be bigger:
		// a 27 KB put stalled the console for good (seen on 7.3.4).
		ConsoleLine: 2048,
		// UML on the x86 subarchitecture (SUBARCH=x86, as scripts/Makefile.clang
		// spells it); a 64-bit kernel is what Rust needs
		// (tinyconfig for ARCH=um is 32-bit otherwise: base sets 64BIT).
		MakeArch: []string{"SUBARCH=x86"}, Fragment: "arch-um",
		// arch/um/Makefile builds Rust with -Crelocation-model=pie, which
		// in a module makes rustc reach kernel symbols through the GOT
		// (R_X86_64_GOTPCREL), and UML's x86_64 module loader
		// (arch/x86/kernel/module.c) refuses that relocation: "Unknown rela
		// relocation: 9", insmod fails with ENOEXEC (seen on 7.3.4; kunit.py
		// builds its Rust code into the UML kernel, so never loads one).
		// Static relocations with the large code model are what UML's C
		// modules get (-mcmodel=large): absolute R_X86_64_64.
		ModuleRustFlags: []string{"-Crelocation-model=static", "-Ccode-model=large"},
		ELFMachine:      elf.EM_X86_64, Binutils: "x86_64-linux-gnu-", BinutilsPackage: "binutils-x86-64-linux-gnu",
		Profiles: map[string]string{"bench": "rko bench's profile and rounds (null_blk and rnull, ACPI/HPET clocks, fio) are made for QEMU guests and were never measured on UML; benchmark under --arch x86_64"},
	},
}

// aliases are other names users type for a target.
var aliases = map[string]string{"amd64": "x86_64", "x86": "x86_64", "aarch64": "arm64", "riscv": "riscv64", "uml": "um"}

// unsupported are kernel architectures with Rust support
// (Documentation/rust/arch-support.rst) that rko does not boot yet.
var unsupported = map[string]string{
	"loongarch": "the kernel supports Rust on loongarch, but rko has no QEMU recipe for it yet",
	"arm":       "the kernel supports Rust on 32-bit arm (ARMv7), but rko has no QEMU recipe for it yet",
	"s390":      "the kernel supports Rust on s390 (without CONFIG_EXPOLINE, rustc 1.96 or newer), but rko has no QEMU recipe for it yet",
	"powerpc":   "the kernel supports Rust on powerpc (ppc32 and little-endian ppc64, rustc 1.95 or newer), but rko has no QEMU recipe for it yet",
	"ppc64le":   "the kernel supports Rust on little-endian ppc64 (rustc 1.95 or newer), but rko has no QEMU recipe for it yet",
}

// Names lists the supported targets, sorted.
func Names() []string { return slices.Sorted(maps.Keys(table)) }

// Lookup returns the target called name ("" means the host's).
func Lookup(name string) (*Target, error) {
	if name == "" {
		return Host(), nil
	}
	n := strings.ToLower(name)
	if a, ok := aliases[n]; ok {
		n = a
	}
	if t, ok := table[n]; ok {
		if t.UML() && runtime.GOARCH != "amd64" {
			return nil, fmt.Errorf("--arch %s: rko's UML kernels are x86_64 programs and this host is %s; use --arch %s", name, runtime.GOARCH, Host().Name)
		}
		return t, nil
	}
	if why, ok := unsupported[n]; ok {
		return nil, fmt.Errorf("--arch %s: %s; supported: %s", name, why, strings.Join(Names(), ", "))
	}
	return nil, fmt.Errorf("unknown --arch %q, want one of %s", name, strings.Join(Names(), ", "))
}

// Known returns the target called name or one of its aliases, whatever
// the host, or nil: for names rko itself recorded (a cached kernel's
// architecture), where Lookup's checks of a user's choice do not apply.
func Known(name string) *Target {
	n := strings.ToLower(name)
	if a, ok := aliases[n]; ok {
		n = a
	}
	return table[n]
}

// ForConfig returns the target of the kernel whose .config sets the
// symbols isSet reports true for (names without CONFIG_): the one whose
// Kconfig symbol is set. The error says what the config is when it is no
// kernel rko boots: of another architecture, or 32-bit.
func ForConfig(isSet func(symbol string) bool) (*Target, error) {
	var syms []string
	for _, n := range Names() {
		t := table[n]
		syms = append(syms, "CONFIG_"+t.Kconfig)
		if !isSet(t.Kconfig) {
			continue
		}
		if !isSet("64BIT") {
			return nil, fmt.Errorf("the config is of a 32-bit %s kernel (CONFIG_%s without CONFIG_64BIT); rko boots 64-bit kernels only: rebuild it with CONFIG_64BIT=y", t.KernelArch, t.Kconfig)
		}
		return t, nil
	}
	return nil, fmt.Errorf("the config sets none of %s: it is of an architecture rko does not boot (rko boots %s)", strings.Join(syms, ", "), strings.Join(Names(), ", "))
}

// ForELFMachine returns the first target (by name) whose objects have
// ELF machine m, or nil.
func ForELFMachine(m elf.Machine) *Target {
	for _, n := range Names() {
		if t := table[n]; t.ELFMachine == m {
			return t
		}
	}
	return nil
}

// Host returns the target of the host's own architecture, x86_64 when
// the host is of none rko knows.
func Host() *Target {
	for _, t := range table {
		if t.HostArch == runtime.GOARCH {
			return t
		}
	}
	return table["x86_64"]
}
