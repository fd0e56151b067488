package toolchain

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rkodev/rko/internal/run"
)

func TestLockMissing(t *testing.T) {
	l := &Lock{
		Requested: []string{"rustc", "clang=1:19.1.7-3", "make"},
		Packages:  map[string]string{"rustc": "1.85.1", "clang": "1:19.1.7-3", "make": "4.4", "gcc": "14.2"},
	}
	tests := []struct {
		want []string
		miss []string
	}{
		{[]string{"rustc", "make"}, nil},
		{[]string{"clang"}, nil}, // asked for with a version
		{[]string{"gcc"}, nil},   // installed as a dependency
		{[]string{"rustc=1.85.1", "rust-analyzer"}, []string{"rust-analyzer"}},
		{DefaultPackages, slices.DeleteFunc(slices.Clone(DefaultPackages), func(p string) bool {
			return p == "rustc" || p == "clang" || p == "make" || p == "gcc"
		})},
	}
	for _, tt := range tests {
		if got := l.Missing(tt.want); !slices.Equal(got, tt.miss) {
			t.Errorf("Missing(%q) = %q, want %q", tt.want, got, tt.miss)
		}
	}
}

// recordRunner records every argv and fails it, so that Install stops
// at its first command.
type recordRunner struct{ argvs [][]string }

func (r *recordRunner) Run(_ context.Context, _ run.Opts, argv ...string) (*run.Result, error) {
	r.argvs = append(r.argvs, argv)
	return &run.Result{}, &run.Error{Argv: argv, ExitCode: 1, Err: errors.New("stubbed")}
}

// TestInstallCompletesOldRootfs: a rootfs whose lock lacks a package that
// DefaultPackages gained since is rebuilt, not reused; a complete one is
// reused without running anything.
func TestInstallCompletesOldRootfs(t *testing.T) {
	if _, err := run.LookPath("mmdebstrap"); err != nil {
		t.Skip("mmdebstrap is not installed: Install stops before building")
	}
	if _, err := run.LookPath("bwrap"); err != nil {
		t.Skip("bwrap is not installed: Install stops before building")
	}
	writeLock := func(dir string, requested []string) {
		base := filepath.Join(dir, "trixie")
		for _, tool := range essentialTools {
			p := filepath.Join(base, "rootfs", tool)
			os.MkdirAll(filepath.Dir(p), 0o755)
			os.WriteFile(p, nil, 0o755)
		}
		pk := map[string]string{}
		for _, p := range requested {
			pk[p] = "1"
		}
		data, _ := json.Marshal(Lock{Suite: "trixie", Requested: requested, Packages: pk})
		os.WriteFile(filepath.Join(base, "lock.json"), data, 0o644)
	}
	complete := t.TempDir()
	writeLock(complete, DefaultPackages)
	rec := &recordRunner{}
	if _, err := Install(context.Background(), InstallOpts{Dir: complete, Runner: rec}); err != nil {
		t.Fatalf("Install of a complete rootfs: %v", err)
	}
	if len(rec.argvs) != 0 {
		t.Errorf("Install of a complete rootfs ran %q", rec.argvs)
	}

	stale := t.TempDir()
	writeLock(stale, slices.DeleteFunc(slices.Clone(DefaultPackages), func(p string) bool { return p == "rust-analyzer" }))
	rec = &recordRunner{}
	var said []string
	_, err := Install(context.Background(), InstallOpts{Dir: stale, Runner: rec, Progress: func(f string, a ...any) { said = append(said, f) }})
	if err == nil {
		t.Fatal("Install of a stale rootfs returned it (the stub fails every command, so a rebuild must fail)")
	}
	if len(rec.argvs) == 0 || rec.argvs[0][0] != "mmdebstrap" || !strings.Contains(strings.Join(rec.argvs[0], " "), "rust-analyzer") {
		t.Errorf("Install of a stale rootfs ran %q, want mmdebstrap with rust-analyzer", rec.argvs)
	}
	if !strings.Contains(strings.Join(said, "\n"), "lacks") {
		t.Errorf("progress %q does not say what the rootfs lacks", said)
	}
	if _, err := Load(stale, "trixie"); err != nil {
		t.Errorf("a failed rebuild lost the old rootfs: %v", err)
	}
}
