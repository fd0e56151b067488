package cache

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDir(t *testing.T) {
	tests := []struct {
		name     string
		rkoCache string // relative to a temp dir; "" leaves RKO_CACHE unset
		xdg      string
		want     string
	}{
		{"RKO_CACHE wins", "mine", "xdg", "mine"},
		{"RKO_CACHE nested is created", "a/b/c", "xdg", "a/b/c"},
		{"XDG_CACHE_HOME", "", "xdg", "xdg/rko"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			t.Setenv("RKO_CACHE", "")
			if tt.rkoCache != "" {
				t.Setenv("RKO_CACHE", filepath.Join(base, tt.rkoCache))
			}
			t.Setenv("XDG_CACHE_HOME", filepath.Join(base, tt.xdg))
			got, err := Dir()
			if err != nil {
				t.Fatalf("Dir: %v", err)
			}
			if want := filepath.Join(base, tt.want); got != want {
				t.Errorf("Dir = %q, want %q", got, want)
			}
			if st, err := os.Stat(got); err != nil || !st.IsDir() {
				t.Errorf("Dir %s was not created: %v", got, err)
			}
		})
	}
}

func TestDirRelativeIsMadeAbsolute(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("RKO_CACHE", "rel")
	got, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(got) || filepath.Base(got) != "rel" {
		t.Errorf("Dir = %q, want an absolute path ending in rel", got)
	}
}

func TestDirUnwritable(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o644)
	t.Setenv("RKO_CACHE", filepath.Join(f, "sub"))
	_, err := Dir()
	if err == nil || !strings.Contains(err.Error(), "RKO_CACHE") {
		t.Errorf("Dir under a file: err = %v, want an error suggesting RKO_CACHE", err)
	}
}

func TestSub(t *testing.T) {
	root := t.TempDir()
	t.Setenv("RKO_CACHE", root)
	got, err := Sub("guest", "abc")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "guest", "abc"); got != want {
		t.Errorf("Sub = %q, want %q", got, want)
	}
	if st, err := os.Stat(got); err != nil || !st.IsDir() {
		t.Errorf("Sub did not create %s: %v", got, err)
	}
}

func TestLockExclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "entry")
	ctx := context.Background()
	unlock1, err := Lock(ctx, path, func() { t.Error("first Lock should not wait") })
	if err != nil {
		t.Fatalf("first Lock: %v", err)
	}
	if _, err := os.Stat(path + ".lock"); err != nil {
		t.Errorf("lock file: %v", err)
	}
	waiting := make(chan struct{})
	acquired := make(chan func(), 1)
	errc := make(chan error, 1)
	go func() {
		// A second flock object on the same path, as another process
		// would have.
		unlock2, err := Lock(ctx, path, func() { close(waiting) })
		if err != nil {
			errc <- err
			return
		}
		acquired <- unlock2
	}()
	// The second Lock must report that it waits, and must not get the
	// lock while the first is held.
	select {
	case <-waiting:
	case <-acquired:
		t.Fatal("second Lock got the lock while the first held it")
	case err := <-errc:
		t.Fatalf("second Lock: %v", err)
	}
	select {
	case <-acquired:
		t.Fatal("second Lock got the lock while the first held it")
	default:
	}
	unlock1()
	select {
	case unlock2 := <-acquired:
		unlock2()
	case err := <-errc:
		t.Fatalf("second Lock: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("second Lock did not get the lock after the first was released")
	}
}

func TestLockContextEnds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "entry")
	unlock, err := Lock(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		u, err := Lock(ctx, path, cancel) // cancel as soon as it waits
		if u != nil {
			u()
		}
		errc <- err
	}()
	err = <-errc
	if err == nil {
		t.Fatal("Lock with a cancelled context got a held lock")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want it to wrap context.Canceled", err)
	}
	if !strings.Contains(err.Error(), path+".lock") {
		t.Errorf("err = %v, want it to name the lock file", err)
	}
}

func TestLockRelock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "entry")
	for i := 0; i < 3; i++ {
		unlock, err := Lock(context.Background(), path, func() { t.Errorf("round %d waited for a released lock", i) })
		if err != nil {
			t.Fatal(err)
		}
		unlock()
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "data.json")
	for _, tt := range []struct {
		data string
		perm os.FileMode
	}{
		{"first", 0o600},
		{"second, longer content", 0o644},
		{"", 0o755},
	} {
		if err := WriteFileAtomic(path, []byte(tt.data), tt.perm); err != nil {
			t.Fatalf("WriteFileAtomic: %v", err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != tt.data {
			t.Errorf("content = %q, %v; want %q", got, err, tt.data)
		}
		st, _ := os.Stat(path)
		if st.Mode().Perm() != tt.perm {
			t.Errorf("perm = %v, want %v", st.Mode().Perm(), tt.perm)
		}
		ents, _ := os.ReadDir(dir)
		if len(ents) != 1 || ents[0].Name() != "data.json" {
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			t.Errorf("directory holds %q, want only data.json (no temp file left)", names)
		}
	}
}

func TestWriteFileAtomicMissingDir(t *testing.T) {
	if err := WriteFileAtomic(filepath.Join(t.TempDir(), "no", "such", "f"), []byte("x"), 0o644); err == nil {
		t.Error("want an error for a missing directory")
	}
}

func TestPublish(t *testing.T) {
	t.Run("fresh", func(t *testing.T) {
		dir := t.TempDir()
		tmp, final := filepath.Join(dir, ".tmp-x"), filepath.Join(dir, "x")
		os.Mkdir(tmp, 0o755)
		os.WriteFile(filepath.Join(tmp, "f"), []byte("new"), 0o644)
		if err := Publish(tmp, final); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(filepath.Join(final, "f")); string(got) != "new" {
			t.Errorf("final/f = %q, want new", got)
		}
		if _, err := os.Stat(tmp); !os.IsNotExist(err) {
			t.Errorf("tmp still exists: %v", err)
		}
	})
	t.Run("final exists", func(t *testing.T) {
		dir := t.TempDir()
		tmp, final := filepath.Join(dir, ".tmp-x"), filepath.Join(dir, "x")
		os.Mkdir(tmp, 0o755)
		os.WriteFile(filepath.Join(tmp, "f"), []byte("loser"), 0o644)
		os.Mkdir(final, 0o755)
		os.WriteFile(filepath.Join(final, "f"), []byte("winner"), 0o644)
		if err := Publish(tmp, final); err != nil {
			t.Fatalf("Publish over an existing final: %v", err)
		}
		if got, _ := os.ReadFile(filepath.Join(final, "f")); string(got) != "winner" {
			t.Errorf("final/f = %q, want the winner's content kept", got)
		}
		if _, err := os.Stat(tmp); !os.IsNotExist(err) {
			t.Errorf("tmp still exists: %v", err)
		}
	})
	t.Run("missing tmp", func(t *testing.T) {
		dir := t.TempDir()
		err := Publish(filepath.Join(dir, "nope"), filepath.Join(dir, "x"))
		if err == nil || !strings.Contains(err.Error(), "publish") {
			t.Errorf("err = %v, want a publish error", err)
		}
	})
}

func TestKey(t *testing.T) {
	b := func(s ...string) [][]byte {
		var out [][]byte
		for _, x := range s {
			out = append(out, []byte(x))
		}
		return out
	}
	k := Key(b("a", "b")...)
	if len(k) != 16 || strings.Trim(k, "0123456789abcdef") != "" {
		t.Errorf("Key = %q, want 16 hex digits", k)
	}
	if Key(b("a", "b")...) != k {
		t.Error("Key is not stable")
	}
	// Pinned: a change of the hashing invalidates every cache entry, so
	// it should be deliberate.
	// sha256("1:a1:b")[:16], computed with sha256sum.
	if want := "facdde7abf1eac5b"; k != want {
		t.Errorf("Key = %q, want %q", k, want)
	}
	different := []struct {
		name string
		x, y [][]byte
	}{
		{"order", b("a", "b"), b("b", "a")},
		{"boundaries", b("ab", "c"), b("a", "bc")},
		{"empty part", b("a"), b("a", "")},
		{"nothing vs empty", nil, b("")},
	}
	for _, tt := range different {
		if Key(tt.x...) == Key(tt.y...) {
			t.Errorf("%s: Key(%q) == Key(%q)", tt.name, tt.x, tt.y)
		}
	}
}
