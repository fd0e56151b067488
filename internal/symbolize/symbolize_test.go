package symbolize

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/rkodev/rko/internal/testutil"
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

// TestLocate names raw addresses from section load addresses and the .ko's
// symbol table (.text: item_set, 8 bytes; .init.text: init_module, 14;
// .exit.text: cleanup_module, 5).
func TestLocate(t *testing.T) {
	s := New([]Module{{Name: "buggy_null", KoPath: "testdata/buggy_null.ko"}, {Name: "other", KoPath: "testdata/buggy_null.ko"}, {Name: "no_ko"}})
	one := []Load{
		{Module: "buggy_null", PID: 700, Sections: map[string]uint64{".text": 0xffffffffa0000000, ".init.text": 0xffffffffa0001000, ".exit.text": 0xffffffffa0000100}},
		{Module: "no_ko", PID: 701, Sections: map[string]uint64{".text": 0xffffffffa0010000}},
		{Module: "unknown", PID: 702, Sections: map[string]uint64{".text": 0xffffffffa0020000}},
	}
	// Two modules whose .init.text was loaded at the same address.
	reused := []Load{
		{Module: "buggy_null", PID: 700, Sections: map[string]uint64{".text": 0xffffffffa0000000, ".init.text": 0xffffffffa0001000}},
		{Module: "other", PID: 800, Sections: map[string]uint64{".text": 0xffffffffa0002000, ".init.text": 0xffffffffa0001000}},
	}
	tests := []struct {
		name  string
		loads []Load
		addr  uint64
		pid   int
		want  Place
		ok    bool
	}{
		{"text", one, 0xffffffffa0000004, 0, Place{Module: "buggy_null", Symbol: "item_set", Offset: 4, Size: 8}, true},
		{"init text, pid unknown", one, 0xffffffffa000100a, 0, Place{Module: "buggy_null", Symbol: "init_module", Offset: 0xa, Size: 14}, true},
		{"init text, loader's pid", one, 0xffffffffa000100a, 700, Place{Module: "buggy_null", Symbol: "init_module", Offset: 0xa, Size: 14}, true},
		{"init text, another pid", one, 0xffffffffa000100a, 999, Place{}, false},
		{"exit text", one, 0xffffffffa0000100, 0, Place{Module: "buggy_null", Symbol: "cleanup_module", Offset: 0, Size: 5}, true},
		{"just past .text", one, 0xffffffffa0000008, 0, Place{}, false},
		{"between sections", one, 0xffffffffa0000fff, 0, Place{}, false},
		{"module without a .ko", one, 0xffffffffa0010000, 0, Place{}, false},
		{"module the symbolizer does not know", one, 0xffffffffa0020000, 0, Place{}, false},
		{"kernel image", one, 0xffffffff81000000, 0, Place{}, false},
		{"reused init text, first loader", reused, 0xffffffffa0001004, 700, Place{Module: "buggy_null", Symbol: "init_module", Offset: 4, Size: 14}, true},
		{"reused init text, second loader", reused, 0xffffffffa0001004, 800, Place{Module: "other", Symbol: "init_module", Offset: 4, Size: 14}, true},
		{"reused init text, pid unknown: ambiguous", reused, 0xffffffffa0001004, 0, Place{}, false},
		{"core text of the second module, any pid", reused, 0xffffffffa0002002, 700, Place{Module: "other", Symbol: "item_set", Offset: 2, Size: 8}, true},
	}
	for _, tt := range tests {
		got, ok := s.Locate(tt.addr, tt.loads, tt.pid)
		if ok != tt.ok || got != tt.want {
			t.Errorf("%s: Locate(%#x, pid %d) = %+v, %v; want %+v, %v", tt.name, tt.addr, tt.pid, got, ok, tt.want, tt.ok)
		}
	}
}

// testdata/buggy_null_{arm64,riscv64}.ko are examples/buggy/null_c built by
// rko build --arch (KCFLAGS=-g) against rko's 7.3.4 default kernels for
// those architectures, source path /tmp/issue10-src/ARCH/null_c. The
// host's own addr2line reads them only as generic ELF, without their
// debug-info relocations (it names _hash/wait.h:16 for item_set+0x4 on
// arm64), so the symbolizer must pick the architecture's binutils.
func TestResolveArches(t *testing.T) {
	for _, tt := range []struct{ arch, tool, ko string }{
		{"arm64", "aarch64-linux-gnu-addr2line", "testdata/buggy_null_arm64.ko"},
		{"riscv64", "riscv64-linux-gnu-addr2line", "testdata/buggy_null_riscv64.ko"},
	} {
		if _, err := exec.LookPath(tt.tool); err != nil {
			if testutil.InCI() {
				t.Fatalf("%s: %s is not installed (scripts/setup installs it)", tt.arch, tt.tool)
			}
			t.Logf("%s: %s not installed: checking only that the error names the package", tt.arch, tt.tool)
			s := New([]Module{{Name: "buggy_null", KoPath: tt.ko}})
			if _, err := s.Resolve(context.Background(), "buggy_null", "item_set", 4, true); err == nil || !errors.Is(err, ErrNoTool) || !strings.Contains(err.Error(), "apt-get install binutils-") {
				t.Errorf("%s: err = %v, want ErrNoTool naming the binutils package", tt.arch, err)
			}
			continue
		}
		s := New([]Module{{Name: "buggy_null", KoPath: tt.ko, SourceDir: "/tmp/issue10-src/" + tt.arch + "/null_c"}})
		locs, err := s.Resolve(context.Background(), "buggy_null", "item_set", 4, true)
		if err != nil || len(locs) == 0 || locs[0].String() != "buggy_null.c:12" {
			t.Errorf("%s: Resolve(item_set+0x4) = %v, %v; want buggy_null.c:12", tt.arch, locs, err)
		}
	}
}

// TestResolveForeignWithoutBinutils: with no addr2line for the module's
// architecture on PATH, the error says which package to install rather
// than asking the host's addr2line, which would name wrong lines.
func TestResolveForeignWithoutBinutils(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	s := New([]Module{{Name: "buggy_null", KoPath: "testdata/buggy_null_arm64.ko"}})
	_, err := s.Resolve(context.Background(), "buggy_null", "item_set", 4, true)
	if !errors.Is(err, ErrNoTool) || !strings.Contains(err.Error(), "apt-get install binutils-aarch64-linux-gnu") {
		t.Errorf("err = %v, want ErrNoTool naming binutils-aarch64-linux-gnu", err)
	}
}
