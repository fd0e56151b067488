package symbolize

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// testdata/buggy_null.ko is examples/buggy/null_c built with ccflags-y=-g
// against the linux 7.3 prototype build tree (LLVM=1), source path
// /tmp/bb/null_c.
func TestResolve(t *testing.T) {
	if _, err := exec.LookPath("addr2line"); err != nil {
		t.Skip("binutils addr2line not installed; symbolization cannot be tested here")
	}
	s := New([]Module{{Name: "buggy_null", KoPath: "testdata/buggy_null.ko", SourceDir: "/tmp/bb/null_c"}})
	tests := []struct {
		symbol string
		off    uint64
		ip     bool
		want   string
	}{
		{"item_set", 0x4, true, "buggy_null.c:12"},       // the faulting write
		{"init_module", 0x4, false, "buggy_null.c:16"},   // a return address in .init.text
		{"cleanup_module", 0x0, true, "buggy_null.c:26"}, // .exit.text
	}
	for _, tt := range tests {
		locs, err := s.Resolve(context.Background(), "buggy_null", tt.symbol, tt.off, tt.ip)
		if err != nil {
			t.Errorf("Resolve(%s+%#x): %v", tt.symbol, tt.off, err)
			continue
		}
		if len(locs) == 0 || locs[0].String() != tt.want {
			t.Errorf("Resolve(%s+%#x) = %v, want %s first", tt.symbol, tt.off, locs, tt.want)
		}
	}
	if _, err := s.Resolve(context.Background(), "other", "x", 0, true); err == nil {
		t.Error("Resolve of an unknown module succeeded")
	}
	if _, err := s.Resolve(context.Background(), "buggy_null", "nosuch", 0, true); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("Resolve of an unknown symbol: err = %v, want one naming it", err)
	}
}

func TestNoTool(t *testing.T) {
	s := New([]Module{{Name: "buggy_null", KoPath: "testdata/buggy_null.ko"}})
	s.Tool = "/nonexistent/addr2line"
	_, err := s.Resolve(context.Background(), "buggy_null", "item_set", 4, true)
	if err == nil {
		t.Fatal("Resolve with a missing tool succeeded")
	}
	var _ = errors.Is(err, ErrNoTool)
}

func TestParseAddr2line(t *testing.T) {
	out := "inner\n/src/m/a.h:3\nouter\n/src/m/m.c:10 (discriminator 2)\n??\n??:0\n"
	locs := parseAddr2line([]byte(out), "/src/m")
	if len(locs) != 2 || locs[0].String() != "a.h:3" || locs[1].String() != "m.c:10" || locs[1].Func != "outer" {
		t.Errorf("parseAddr2line = %v", locs)
	}
}
