package main

import (
	"bytes"
	"os"
	"syscall"
)

// endGuest ends the guest once the plan is done. QEMU runs with
// -no-reboot, so a reboot ends it (a power-off would need ACPI, which the
// x86_64 kernel does not have). User-Mode Linux re-executes itself on a
// reboot (arch/um/os-Linux/main.c), so there the init powers off, which
// ends the process.
func endGuest() {
	cmd := syscall.LINUX_REBOOT_CMD_RESTART
	if isUML() {
		cmd = syscall.LINUX_REBOOT_CMD_POWER_OFF
	}
	syscall.Reboot(cmd)
}

// isUML reports whether the kernel is User-Mode Linux, whose /proc/cpuinfo
// says "vendor_id : User Mode Linux" (arch/um/kernel/um_arch.c).
func isUML() bool {
	data, err := os.ReadFile("/proc/cpuinfo")
	return err == nil && bytes.Contains(data, []byte("User Mode Linux"))
}
