package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rkodev/rko/internal/job"
)

// writeMatrix writes a matrix file beside a module directory "m" and
// returns the file.
func writeMatrix(t *testing.T, body string) string {
	t.Helper()
	mod := moduleDir(t, "m")
	path := filepath.Join(filepath.Dir(mod), "rko-matrix.json")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func runMatrixCmd(t *testing.T, args ...string) (*MatrixOptions, string, error) {
	t.Helper()
	f, out, _ := testStreams("")
	var got *MatrixOptions
	c := NewCmdMatrix(f, func(ctx context.Context, o *MatrixOptions) error { got = o; return runMatrix(ctx, o) })
	c.SilenceUsage, c.SilenceErrors = true, true
	c.SetArgs(args)
	err := c.ExecuteContext(context.Background())
	return got, out.String(), err
}

// TestMatrixCellIsTestJob checks that every cell's job is the job rko
// test --print-job writes for the same flags, and that an impossible
// cell is refused with job.Check's reason while the others stand.
func TestMatrixCellIsTestJob(t *testing.T) {
	path := writeMatrix(t, `{"schema": 1, "modules": ["m"], "kernels": ["default", "6.12", "debian"],
		"arches": ["x86_64", "arm64"], "test": {"accel": "tcg", "timeout": "4m"}}`)
	o, _, err := runMatrixCmd(t, path, "--print-jobs")
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Cells) != 6 {
		t.Fatalf("%d cells, want 6", len(o.Cells))
	}
	dir := filepath.Join(filepath.Dir(path), "m")
	flags := map[string][]string{
		"m/default/x86_64/default": {"--arch", "x86_64"},
		"m/default/arm64/default":  {"--arch", "arm64"},
		"m/6.12/x86_64/default":    {"--kernel", "6.12", "--arch", "x86_64"},
		"m/6.12/arm64/default":     {"--kernel", "6.12", "--arch", "arm64"},
		"m/debian/x86_64/default":  {"--kernel", "debian", "--arch", "x86_64"},
	}
	for _, c := range o.Cells {
		if c.Name == "m/debian/arm64/default" {
			if c.Job != nil || !strings.Contains(c.Refused, "--arch (kernel.arch): Debian's Rust-enabled kernel is rko's for x86_64") {
				t.Errorf("%s: want refused by job.Check, got job %v, refused %q", c.Name, c.Job, c.Refused)
			}
			continue
		}
		args := append(append([]string{"--print-job"}, flags[c.Name]...), "--accel", "tcg", "--timeout", "4m", dir)
		f, out, _ := testStreams("")
		tc := NewCmdTest(f, nil)
		tc.SetArgs(args)
		if err := tc.Execute(); err != nil {
			t.Fatalf("rko test %q: %v", args, err)
		}
		want, err := job.Read(strings.NewReader(out.String()))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(c.Job, want) {
			t.Errorf("%s: the cell's job differs from rko test %q's:\n got %s\nwant %s", c.Name, args, c.Job.JSON(), want.JSON())
		}
	}
}

func TestMatrixPrintJob(t *testing.T) {
	path := writeMatrix(t, `{"schema": 1, "modules": ["m"], "kernels": ["default", "6.12"]}`)
	_, out, err := runMatrixCmd(t, path, "--cell", "m-6.12-host-default", "--print-job")
	if err != nil {
		t.Fatal(err)
	}
	j, err := job.Read(strings.NewReader(out))
	if err != nil {
		t.Fatalf("--print-job wrote no job document: %v\n%s", err, out)
	}
	if j.Kernel.Version != "6.12" {
		t.Errorf("kernel %+v", j.Kernel)
	}
	var all []PlannedJob
	_, out, err = runMatrixCmd(t, path, "--print-jobs")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(out), &all); err != nil || len(all) != 2 {
		t.Fatalf("--print-jobs: %v, %d cells", err, len(all))
	}
}

func TestMatrixBadInput(t *testing.T) {
	path := writeMatrix(t, `{"schema": 1, "modules": ["m"], "kernels": ["default", "6.12"]}`)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{path, "--cell", "m/7.1/host/default"}, `--cell: no cell "m/7.1/host/default" in the matrix: want one of m-default-host-default, m-6.12-host-default`},
		{[]string{path, "--print-job"}, "--print-job: prints one cell's job and 2 cells are selected"},
		{[]string{filepath.Join(t.TempDir(), "x.json")}, "cannot read the matrix file"},
		{[]string{}, "accepts 1 arg(s), received 0"},
	} {
		_, _, err := runMatrixCmd(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("rko matrix %q: got %v, want %q", tc.args, err, tc.want)
		}
	}
}

// TestMatrixRefusedCellsFail checks that a matrix whose only cell is
// refused runs nothing, reports the reason and exits 1.
func TestMatrixRefusedCellsFail(t *testing.T) {
	path := writeMatrix(t, `{"schema": 1, "modules": ["m"], "kernels": ["debian"], "arches": ["riscv64"]}`)
	_, out, err := runMatrixCmd(t, path, "-q")
	if ee, ok := err.(exitError); !ok || ee.code != ExitFail {
		t.Fatalf("want exit 1, got %v", err)
	}
	if !strings.Contains(out, "m/debian/riscv64/default") || !strings.Contains(out, "REFUSED: --arch (kernel.arch)") || !strings.Contains(out, "FAIL: 1 cells (1 refused)") {
		t.Fatalf("table:\n%s", out)
	}
}
