package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mattn/go-shellwords"
	"github.com/rhysd/actionlint"

	"github.com/rkodev/rko/internal/job"
	"github.com/rkodev/rko/internal/testutil"
)

// lintWorkflow checks a workflow with actionlint (as a library), with
// shellcheck on its run: scripts when shellcheck is installed (it is in
// CI: scripts/setup installs it).
func lintWorkflow(t *testing.T, path string) {
	t.Helper()
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		if testutil.InCI() {
			t.Fatal("shellcheck is not installed (scripts/setup installs it)")
		}
		t.Log("shellcheck not found: actionlint checks the workflow without it")
	}
	l, err := actionlint.NewLinter(os.Stderr, &actionlint.LinterOptions{Shellcheck: sc})
	if err != nil {
		t.Fatal(err)
	}
	errs, err := l.LintFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		t.Errorf("actionlint: %s", e)
	}
}

// TestCIGitHubWorkflow writes the workflow of examples/hello's matrix,
// lints it with actionlint, and replays each cell's commands: the job
// the workflow's "rko matrix --print-job" step prints and its "rko test
// --job" step runs is the job the local rko matrix runs for that cell.
func TestCIGitHubWorkflow(t *testing.T) {
	root, _ := filepath.Abs("../..")
	matrixFile := filepath.Join(root, "examples/hello/rko-matrix.json")
	out := filepath.Join(t.TempDir(), "rko.yml")
	f, stdout, _ := testStreams("")
	c := NewCmdCIGitHub(f, nil)
	c.SetArgs([]string{matrixFile, "--root", root, "-o", out})
	if err := c.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "6 cells") {
		t.Errorf("stdout: %s", stdout)
	}
	lintWorkflow(t, out)

	data, _ := os.ReadFile(out)
	wf, perrs := actionlint.Parse(data)
	if len(perrs) > 0 {
		t.Fatal(perrs[0])
	}
	// The local matrix: each cell's job.
	o, _, err := runMatrixCmd(t, matrixFile, "--print-jobs")
	if err != nil {
		t.Fatal(err)
	}
	local := map[string]*job.Job{}
	for _, c := range o.Cells {
		local[c.ID] = c.Job
	}
	cellJob := wf.Jobs["cell"]
	incl := cellJob.Strategy.Matrix.Include.Combinations
	if len(incl) != len(local) {
		t.Fatalf("%d cells in the workflow, %d in the matrix", len(incl), len(local))
	}
	t.Chdir(root) // the runner's checkout
	for _, comb := range incl {
		id := comb.Assigns["id"].Value.(*actionlint.RawYAMLString).Value
		env := map[string]string{"RKO_MATRIX": wf.Env.Vars["rko_matrix"].Value.Value, "RKO_CELL": id}
		if v := cellJob.Env.Vars["rko_cell"].Value.Value; v != "${{ matrix.id }}" {
			t.Fatalf("RKO_CELL is %q", v)
		}
		jobFile := filepath.Join(t.TempDir(), "job.json")
		var ran []string
		for _, st := range cellJob.Steps {
			run, ok := st.Exec.(*actionlint.ExecRun)
			if !ok {
				continue
			}
			for _, line := range strings.Split(run.Run.Value, "\n") {
				line = strings.TrimSpace(line)
				if !strings.HasPrefix(line, "rko ") {
					continue
				}
				cmdline, _, _ := strings.Cut(line, " > ")
				cmdline, _, _ = strings.Cut(cmdline, " || ")
				p := shellwords.NewParser()
				p.ParseEnv, p.Getenv = true, func(k string) string { return env[k] }
				argv, err := p.Parse(cmdline)
				if err != nil {
					t.Fatal(err)
				}
				ran = append(ran, argv[1])
				switch argv[1] {
				case "matrix":
					f, out, _ := testStreams("")
					mc := NewCmdMatrix(f, nil)
					mc.SetArgs(argv[2:])
					if err := mc.Execute(); err != nil {
						t.Fatalf("%s: %q: %v", id, argv, err)
					}
					os.WriteFile(jobFile, out.Bytes(), 0o644)
				case "test":
					if argv[2] != "--job" {
						t.Fatalf("%s: the test step runs %q, want rko test --job", id, argv)
					}
					argv[3] = jobFile
					f, _, _ := testStreams("")
					var got *TestOptions
					tc := NewCmdTest(f, func(_ context.Context, o *TestOptions) error { got = o; return nil })
					tc.SetArgs(argv[2:])
					if err := tc.Execute(); err != nil {
						t.Fatalf("%s: %q: %v", id, argv, err)
					}
					if !reflect.DeepEqual(got.Job, local[id]) {
						t.Errorf("%s: the workflow's job differs from the local matrix's:\n got %s\nwant %s", id, got.Job.JSON(), local[id].JSON())
					}
					if !got.JSON || got.JUnit == "" {
						t.Errorf("%s: the cell writes no JSON or JUnit: %q", id, argv)
					}
				}
			}
		}
		if !reflect.DeepEqual(ran, []string{"matrix", "test"}) {
			t.Errorf("%s: the cell's steps ran rko %q, want matrix then test", id, ran)
		}
	}
}

// TestCIGitHubNeverOverwrites checks that an existing workflow is kept:
// refused without --force, moved to a backup with it.
func TestCIGitHubNeverOverwrites(t *testing.T) {
	path := writeMatrix(t, `{"schema": 1, "modules": ["m"]}`)
	root := filepath.Dir(path)
	wf := filepath.Join(root, ".github", "workflows", "rko.yml")
	os.MkdirAll(filepath.Dir(wf), 0o755)
	os.WriteFile(wf, []byte("mine\n"), 0o644)
	run := func(args ...string) error {
		f, _, _ := testStreams("")
		c := NewCmdCIGitHub(f, nil)
		c.SilenceUsage, c.SilenceErrors = true, true
		c.SetArgs(append([]string{path, "--root", root}, args...))
		return c.Execute()
	}
	if err := run(); err == nil || !strings.Contains(err.Error(), "rko.yml exists: rko never overwrites a workflow") {
		t.Fatalf("got %v", err)
	}
	if b, _ := os.ReadFile(wf); string(b) != "mine\n" {
		t.Fatal("the user's workflow changed")
	}
	if err := run("--force"); err != nil {
		t.Fatal(err)
	}
	baks, _ := filepath.Glob(wf + ".bak-*")
	if len(baks) != 1 {
		t.Fatalf("backups: %q", baks)
	}
	if b, _ := os.ReadFile(baks[0]); string(b) != "mine\n" {
		t.Error("the backup is not the user's workflow")
	}
	lintWorkflow(t, wf)
	if err := run("--root", t.TempDir()); err == nil || !strings.Contains(err.Error(), "is not inside") {
		t.Errorf("a matrix outside --root: %v", err)
	}
}

// TestCIGitHubKernelStore: a matrix whose cells pull and push kernels
// through GHCR gets the job token as the registry's credentials and the
// packages permission; the workflow still lints.
func TestCIGitHubKernelStore(t *testing.T) {
	path := writeMatrix(t, `{"schema": 1, "modules": ["m"], "test": {"kernel_store": "ghcr.io/you/rko-kernels"}}`)
	out := filepath.Join(t.TempDir(), "rko.yml")
	f, _, _ := testStreams("")
	c := NewCmdCIGitHub(f, nil)
	c.SetArgs([]string{path, "--root", filepath.Dir(path), "-o", out})
	if err := c.Execute(); err != nil {
		t.Fatal(err)
	}
	lintWorkflow(t, out)
	data, _ := os.ReadFile(out)
	for _, want := range []string{"  packages: write\n", "RKO_REGISTRY_PASSWORD: ${{ secrets.GITHUB_TOKEN }}"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("the workflow has no %q", want)
		}
	}
}

func TestKernelStoreFlag(t *testing.T) {
	dir := moduleDir(t, "m")
	for _, ref := range []string{"127.0.0.1:5000/rko/kernels", "ghcr.io/you/k@sha256:" + strings.Repeat("ab", 32)} {
		j, err := captureJob(t, "test", []string{"--kernel-store", ref, dir}, "")
		if err != nil || j.Kernel.Store != ref {
			t.Fatalf("job %+v, %v", j, err)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--kernel-store", "ghcr.io/you/rko-kernels:tag", dir}, `--kernel-store (kernel.store): "ghcr.io/you/rko-kernels:tag" is not a registry repository`},
		{[]string{"--kernel-store", "ghcr.io/you/k", "--kernel", "debian", dir}, "--kernel-store (kernel.store): a registry holds the kernels rko builds"},
	} {
		if _, err := captureJob(t, "test", tc.args, ""); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.args, err, tc.want)
		}
	}
}
