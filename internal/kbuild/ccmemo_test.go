package kbuild

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestProbeMemo runs the real ccmemo program in front of a fake compiler
// that counts its runs: a probe runs once and is then answered from the
// memo (status, output and -o file alike); a real compile always runs.
func TestProbeMemo(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go is not on PATH: ccmemo cannot be built")
	}
	t.Setenv("RKO_CACHE", t.TempDir())
	m, err := probeMemo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	count := filepath.Join(dir, "runs")
	cc := filepath.Join(dir, "fakecc")
	script := `#!/bin/sh
echo run >> ` + count + `
out=
while [ $# -gt 0 ]; do
  case "$1" in
    -o) out=$2; shift;;
    -mbad) echo "error: unknown option -mbad" >&2; exit 1;;
  esac
  shift
done
[ -n "$out" ] && echo object > "$out"
echo "fakecc 1.0"
exit 0
`
	if err := os.WriteFile(cc, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	runs := func() int {
		b, _ := os.ReadFile(count)
		return strings.Count(string(b), "run")
	}
	call := func(args ...string) (string, int) {
		cmd := exec.Command(m.prog, append([]string{cc}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "RKO_CCMEMO_DIR="+m.dir)
		out, err := cmd.CombinedOutput()
		status := 0
		if ee, ok := err.(*exec.ExitError); ok {
			status = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), status
	}
	if err := os.MkdirAll(filepath.Join(dir, ".tmp_1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, ".tmp_2"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		wantOut    string
		wantStatus int
		wantRuns   int // the fake compiler's runs after this call
	}{
		{"a probe runs", []string{"-c", "-x", "c", "/dev/null", "-o", ".tmp_1/tmp"}, "fakecc 1.0\n", 0, 1},
		{"the same probe in another scratch directory is remembered", []string{"-c", "-x", "c", "/dev/null", "-o", ".tmp_2/tmp"}, "fakecc 1.0\n", 0, 1},
		{"a failing probe runs", []string{"-mbad", "-c", "-x", "c", "/dev/null", "-o", ".tmp_1/tmp"}, "error: unknown option -mbad\n", 1, 2},
		{"and its failure is remembered", []string{"-mbad", "-c", "-x", "c", "/dev/null", "-o", ".tmp_2/tmp"}, "error: unknown option -mbad\n", 1, 2},
		{"--version runs", []string{"--version"}, "fakecc 1.0\n", 0, 3},
		{"--version is remembered", []string{"--version"}, "fakecc 1.0\n", 0, 3},
		{"a real compile runs", []string{"-c", "-o", "x.o", "x.c"}, "fakecc 1.0\n", 0, 4},
		{"every time", []string{"-c", "-o", "x.o", "x.c"}, "fakecc 1.0\n", 0, 5},
	}
	for _, tt := range tests {
		os.Remove(filepath.Join(dir, ".tmp_2/tmp"))
		out, status := call(tt.args...)
		if out != tt.wantOut || status != tt.wantStatus || runs() != tt.wantRuns {
			t.Errorf("%s: got %q, status %d, %d runs; want %q, %d, %d", tt.name, out, status, runs(), tt.wantOut, tt.wantStatus, tt.wantRuns)
		}
		if tt.name == "the same probe in another scratch directory is remembered" {
			// The remembered probe writes its -o file as the compiler had.
			if b, err := os.ReadFile(filepath.Join(dir, ".tmp_2/tmp")); err != nil || string(b) != "object\n" {
				t.Errorf("the replayed probe's -o file = %q, %v; want \"object\\n\"", b, err)
			}
		}
	}
	// Without the memo directory, ccmemo is the compiler.
	cmd := exec.Command(m.prog, cc, "--version")
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	if out, err := cmd.Output(); err != nil || string(out) != "fakecc 1.0\n" || runs() != 6 {
		t.Errorf("without RKO_CCMEMO_DIR: %q, %v, %d runs", out, err, runs())
	}
}

func TestMemoWrap(t *testing.T) {
	m := &memo{prog: "/c/ccmemo"}
	tests := []struct {
		vars, want []string
	}{
		{[]string{"LLVM=1"}, []string{"LLVM=1", "CC=/c/ccmemo clang"}},
		{[]string{"CC=clang"}, []string{"CC=/c/ccmemo clang"}},
		{[]string{"CROSS_COMPILE=x86_64-linux-gnu-", "CC=x86_64-linux-gnu-gcc-14"}, []string{"CROSS_COMPILE=x86_64-linux-gnu-", "CC=/c/ccmemo x86_64-linux-gnu-gcc-14"}},
	}
	for _, tt := range tests {
		if got := m.wrap(tt.vars); strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("wrap(%q) = %q, want %q", tt.vars, got, tt.want)
		}
	}
	if got := (&memo{prog: "/my cache/ccmemo"}).wrap([]string{"LLVM=1"}); len(got) != 1 {
		t.Errorf("a ccmemo path with a space must not be put in CC: %q", got)
	}
}
