package workflow

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/rkodev/rko/internal/testutil"
)

func TestIsSourceEvent(t *testing.T) {
	dirs := []string{"/m/hello"}
	tests := []struct {
		name string
		op   fsnotify.Op
		want bool
	}{
		{"/m/hello/hello.rs", fsnotify.Write, true},
		{"/m/hello/hello.c", fsnotify.Create, true},
		{"/m/hello/util.h", fsnotify.Rename, true},
		{"/m/hello/Kbuild", fsnotify.Write, true},
		{"/m/hello/tests/smoke.sh", fsnotify.Write, true},
		{"/m/hello", fsnotify.Remove, true},
		{"/m/hello/hello.o", fsnotify.Write, false},
		{"/m/hello/hello.ko", fsnotify.Create, false},
		{"/m/hello/hello.mod.c", fsnotify.Write, false},
		{"/m/hello/.hello.o.cmd", fsnotify.Write, false},
		{"/m/hello/rmetaAbC123", fsnotify.Create, false},
		{"/m/hello/rust-project.json", fsnotify.Write, false},
		{"/m/hello/hello.rs.swp", fsnotify.Write, false},
		{"/m/hello/hello.rs~", fsnotify.Write, false},
		{"/m/hello/hello.rs", fsnotify.Chmod, false},
		{"/m/other/x.rs", fsnotify.Write, false},
		{"/m/hello/sub/x.rs", fsnotify.Write, false},
	}
	for _, tt := range tests {
		if got := isSourceEvent(fsnotify.Event{Name: tt.name, Op: tt.op}, dirs); got != tt.want {
			t.Errorf("isSourceEvent(%s %v) = %v, want %v", tt.name, tt.op, got, tt.want)
		}
	}
}

// TestSourceSum: the digest a cycle checks its build against changes with
// a module source or a test, and not with what the build writes.
func TestSourceSum(t *testing.T) {
	dir := testutil.WriteTree(t, map[string]string{
		"Kbuild": "obj-m := hello.o\n", "hello.rs": "// v1\n", "tests/smoke.sh": "#!/bin/sh\n",
	})
	base := sourceSum([]string{dir})
	for _, tc := range []struct {
		name, file, data string
		changes          bool
	}{
		{"an object", "hello.o", "\x7fELF", false},
		{"the module", "hello.ko", "\x7fELF", false},
		{"a .cmd file", ".hello.o.cmd", "savedcmd_hello.o := rustc", false},
		{"the .mod.c", "hello.mod.c", "#include <linux/module.h>", false},
		{"a swap file", ".hello.rs.swp", "vim", false},
		{"the source", "hello.rs", "// v2\n", true},
		{"a truncated source", "hello.rs", "", true},
		{"a new header", "util.h", "#define X 1\n", true},
		{"a test", "tests/smoke.sh", "#!/bin/sh\nexit 0\n", true},
		{"the Kbuild", "Kbuild", "obj-m := hello.o\nccflags-y := -DX\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := testutil.WriteTree(t, map[string]string{
				"Kbuild": "obj-m := hello.o\n", "hello.rs": "// v1\n", "tests/smoke.sh": "#!/bin/sh\n",
			})
			before := sourceSum([]string{d})
			if err := os.WriteFile(filepath.Join(d, tc.file), []byte(tc.data), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := sourceSum([]string{d}) != before; got != tc.changes {
				t.Errorf("digest changed = %v, want %v", got, tc.changes)
			}
		})
	}
	if sourceSum([]string{dir}) != base {
		t.Error("the digest of an unchanged directory changed")
	}
}

// TestWatchFilesLeadingEdge: with no debounce, the first event of a save
// triggers at once (with its time); with a debounce, one trigger follows
// the quiet after a burst.
func TestWatchFilesLeadingEdge(t *testing.T) {
	for _, tc := range []struct {
		name     string
		debounce time.Duration
		want     int // triggers for a burst of three writes
	}{
		{"leading edge", 0, 3},
		{"debounced", 150 * time.Millisecond, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := testutil.WriteTree(t, map[string]string{"Kbuild": "obj-m := hello.o\n", "hello.rs": "// v1\n"})
			got := make(chan time.Time, 10)
			startWatchFiles(t, dir, tc.debounce, func(at time.Time) { got <- at })
			start := time.Now()
			for i := 0; i < 3; i++ {
				os.WriteFile(filepath.Join(dir, "hello.rs"), []byte(fmt.Sprintf("// v%d\n", i+2)), 0o644)
				os.WriteFile(filepath.Join(dir, "hello.o"), []byte("object"), 0o644) // not an edit
				time.Sleep(20 * time.Millisecond)
			}
			var ats []time.Time
			deadline := time.After(tc.debounce + 2*time.Second)
		wait:
			for {
				select {
				case at := <-got:
					ats = append(ats, at)
				case <-deadline:
					break wait
				}
			}
			// A write can be two events (truncate, write): count at
			// least the writes, and for the leading edge no more than
			// two per write.
			if tc.debounce == 0 && (len(ats) < tc.want || len(ats) > 2*tc.want) || tc.debounce > 0 && len(ats) != tc.want {
				t.Fatalf("%d triggers, want %d", len(ats), tc.want)
			}
			if ats[0].Before(start) || ats[0].Sub(start) > time.Second {
				t.Errorf("first trigger at %v after the first write: want the burst's first event", ats[0].Sub(start))
			}
		})
	}
}

// TestWatchFilesTruncateThenWrite: a save that truncates the file, then
// writes it a moment later, starts no cycle on the empty file: the first
// trigger comes with the content there.
func TestWatchFilesTruncateThenWrite(t *testing.T) {
	dir := testutil.WriteTree(t, map[string]string{"Kbuild": "obj-m := hello.o\n", "hello.rs": "// v1\n"})
	src := filepath.Join(dir, "hello.rs")
	sizes := make(chan int64, 10)
	startWatchFiles(t, dir, 0, func(time.Time) {
		st, _ := os.Stat(src)
		sizes <- st.Size()
	})
	if err := os.Truncate(src, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(truncateWait / 4)
	if err := os.WriteFile(src, []byte("// v2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-sizes:
		if n == 0 {
			t.Error("a cycle was triggered on the truncated, empty file")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no trigger")
	}
	// A file that stays empty gets its cycle once the wait is over.
	if err := os.Truncate(src, 0); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(2 * time.Second)
	for {
		select {
		case n := <-sizes:
			if n == 0 {
				return
			}
		case <-deadline:
			t.Fatal("no trigger for a file emptied for good")
		}
	}
}

// startWatchFiles runs watchFiles on dir until the test ends.
func startWatchFiles(t *testing.T, dir string, debounce time.Duration, trigger func(time.Time)) {
	t.Helper()
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	if err := fw.Add(dir); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); fw.Close() })
	go watchFiles(ctx, fw, []string{dir}, debounce, trigger)
}
