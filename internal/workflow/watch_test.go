package workflow

import (
	"testing"

	"github.com/fsnotify/fsnotify"
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
