package vm

import (
	"slices"
	"strings"
	"testing"

	"github.com/rkodev/rko/internal/target"
)

// TestConfigArgsPerTarget: the argv of each target comes from its table
// entry: emulator, machine, CPU, console and firmware for QEMU; for UML
// the linux binary with mem=, initrd= and con0 on stdio, wrapped by
// Config.Wrap when set.
func TestConfigArgsPerTarget(t *testing.T) {
	tests := []struct {
		arch, bios                   string
		argv0, machine, cpu, console string
	}{
		{"arm64", "", "qemu-system-aarch64", "virt", "max", "ttyAMA0"},
		{"riscv64", "/rootfs/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin", "qemu-system-riscv64", "virt", "rv64", "ttyS0"},
	}
	for _, tt := range tests {
		tg, _ := target.Lookup(tt.arch)
		args := (&Config{Target: tg, Kernel: "/k/Image", Initrd: "/r/i.cpio", Accel: TCG, BIOS: tt.bios}).Args()
		if args[0] != tt.argv0 || argAfter(args, "-machine") != tt.machine || argAfter(args, "-cpu") != tt.cpu {
			t.Errorf("%s: argv %q, want %s -machine %s -cpu %s", tt.arch, args, tt.argv0, tt.machine, tt.cpu)
		}
		if !strings.HasPrefix(argAfter(args, "-append"), "console="+tt.console+" ") {
			t.Errorf("%s: -append %q, want console=%s first", tt.arch, argAfter(args, "-append"), tt.console)
		}
		if tt.bios != "" && argAfter(args, "-bios") != tt.bios {
			t.Errorf("%s: -bios %q, want %q", tt.arch, argAfter(args, "-bios"), tt.bios)
		}
	}

	um, _ := target.Lookup("um")
	c := Config{Target: um, Kernel: "/k/linux", Initrd: "/r/i.cpio", MemoryMB: 256,
		Wrap: func(argv []string) []string { return append([]string{"bwrap", "--"}, argv...) }}
	args := c.Args()
	for _, want := range []string{"mem=256M", "initrd=/r/i.cpio", "con0=fd:0,fd:1", "console=tty0", "rdinit=/init"} {
		if !slices.Contains(args, want) {
			t.Errorf("um: argv %q lacks %s", args, want)
		}
	}
	if args[0] != "/k/linux" || slices.Contains(args, "-accel") {
		t.Errorf("um: argv %q, want the linux binary and no QEMU flags", args)
	}
	if w := c.Wrap(args); w[0] != "bwrap" || w[2] != "/k/linux" {
		t.Errorf("um: wrapped argv %q", w)
	}
}

// TestConfigArgsICount: -icount and -plugin are QEMU TCG options of the
// config, left out under KVM (where QEMU refuses them), and Boot refuses
// to run an instruction-counted guest under KVM rather than drop the
// count silently.
func TestConfigArgsICount(t *testing.T) {
	for _, arch := range []string{"x86_64", "arm64", "riscv64"} {
		tg, _ := target.Lookup(arch)
		c := Config{Target: tg, Kernel: "/k/Image", Accel: TCG, ICount: true, Plugins: []string{"/p/libinsn.so,out=/r/p.txt"}}
		args := c.Args()
		if argAfter(args, "-icount") != "shift=0,sleep=off" || argAfter(args, "-plugin") != "/p/libinsn.so,out=/r/p.txt" {
			t.Errorf("%s: argv %q, want -icount shift=0,sleep=off and the plugin", arch, args)
		}
		c.Accel = KVM
		if args := c.Args(); slices.Contains(args, "-icount") || slices.Contains(args, "-plugin") {
			t.Errorf("%s under KVM: argv %q has TCG-only options", arch, args)
		}
		c.ICount, c.Plugins = false, nil
		c.Accel = TCG
		if args := c.Args(); slices.Contains(args, "-icount") {
			t.Errorf("%s: argv %q counts instructions unasked", arch, args)
		}
	}
	x86, _ := target.Lookup("x86_64")
	_, err := Boot(t.Context(), Config{Target: x86, Kernel: "/k/bzImage", ICount: true}, KVM)
	if err == nil || !strings.Contains(err.Error(), "need TCG") {
		t.Errorf("Boot(ICount, kvm) = %v, want a refusal saying TCG is needed", err)
	}
}
