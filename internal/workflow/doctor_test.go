package workflow

import (
	"context"
	"strings"
	"testing"

	"github.com/rkodev/rko/internal/job"
	"github.com/rkodev/rko/internal/toolchain"
)

// rko doctor --kernel DIR fails its "kernel tree" check with FromDir's
// reason when DIR is not a built tree.
func TestDoctorKernelDirNotATree(t *testing.T) {
	cs := kernelChecks(context.Background(), &toolchain.Toolchain{Kind: toolchain.Host}, job.Kernel{Kind: job.KindDir, Dir: t.TempDir()})
	if len(cs) != 1 || cs[0].Name != "kernel tree" || cs[0].Status != toolchain.Fail || !strings.Contains(cs[0].Detail, "it has no .config") {
		t.Errorf("kernelChecks = %+v, want one failed kernel tree check naming the missing .config", cs)
	}
}
