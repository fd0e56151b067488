package workflow

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rkodev/rko/internal/target"
	"github.com/rkodev/rko/internal/toolchain"
)

// TestFirmware: riscv64's OpenSBI is taken from the toolchain rootfs
// (the target table's path is inside it); a target without firmware
// gets QEMU's default, whatever the rootfs holds.
func TestFirmware(t *testing.T) {
	root := t.TempDir()
	rv, _ := target.Lookup("riscv64")
	fw := filepath.Join(root, rv.Firmware[0])
	os.MkdirAll(filepath.Dir(fw), 0o755)
	os.WriteFile(fw, []byte("opensbi"), 0o644)
	e := &Env{Toolchain: &toolchain.Toolchain{Kind: toolchain.Rootfs, Root: root}}
	if got := e.Firmware(rv); got != fw {
		t.Errorf("riscv64 firmware = %q, want the rootfs's %q", got, fw)
	}
	arm, _ := target.Lookup("arm64")
	if got := e.Firmware(arm); got != "" {
		t.Errorf("arm64 firmware = %q, want none (QEMU's default)", got)
	}
	empty := &Env{Toolchain: &toolchain.Toolchain{Kind: toolchain.Rootfs, Root: t.TempDir()}}
	if got := empty.Firmware(rv); got != "" && got != rv.Firmware[0] {
		t.Errorf("riscv64 firmware without it in the rootfs = %q, want the host's or none", got)
	}
}
