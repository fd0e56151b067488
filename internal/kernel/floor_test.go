package kernel

import (
	"strings"
	"testing"

	"github.com/rkodev/rko/internal/testutil"
)

func TestDeclaredFloor(t *testing.T) {
	for _, tc := range []struct {
		name, kbuild string
		version      string
		refused      string // "" admitted; else a part of the error
	}{
		{"no line", "obj-m := m.o\n", "6.12.117", ""},
		{"newer kernel", "# rko-kernel: >=7.2\nobj-m := m.o\n", "7.3.4", ""},
		{"same series", "#rko-kernel:>= 7.2\nobj-m := m.o\n", "7.2.12", ""},
		{"next major", "# rko-kernel: >=6.19\n", "7.0.1", ""},
		{"older kernel", "# SPDX\n# rko-kernel: >=7.2\nobj-m := m.o\n", "6.12.117", "needs Linux 7.2 or newer ("},
		{"older minor", "# rko-kernel: >=7.3\n", "7.2", "the kernel is 7.2: use --kernel 7.3 or newer"},
		{"a release", "# rko-kernel: >=7.3\n", "6.12.57+deb13-amd64", "6.12.57+deb13-amd64"},
		{"unreadable version", "# rko-kernel: >=7.3\n", "", ""},
		{"malformed", "# rko-kernel: 7.2\n", "7.3.4", "Kbuild:1: want one # rko-kernel: >=X.Y"},
		{"malformed bound", "# rko-kernel: <=7.2\n", "7.3.4", "not \"<=7.2\""},
		{"two lines", "# rko-kernel: >=7.2\n# rko-kernel: >=7.3\n", "7.3.4", "want one # rko-kernel"},
		{"qualified", "# rko-kernel(arm64): >=7.2\n", "7.3.4", "want one # rko-kernel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := testutil.WriteTree(t, map[string]string{"Kbuild": tc.kbuild})
			err := CheckFloors([]string{dir}, tc.version)
			switch {
			case tc.refused == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.refused != "" && (err == nil || !strings.Contains(err.Error(), tc.refused)):
				t.Errorf("error %v, want one containing %q", err, tc.refused)
			}
		})
	}
	if err := CheckFloors([]string{t.TempDir()}, "6.1.0"); err != nil {
		t.Errorf("a directory without Kbuild: %v", err)
	}
}
