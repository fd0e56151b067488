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
