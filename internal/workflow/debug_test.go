package workflow

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rkodev/rko/internal/kernel"
)

// TestGDBInit checks the command files rko debug writes: the kernel runs
// to start_kernel before the module hook is set when gdb starts the
// guest, not when it attaches to a running one; breakpoints live in the
// second file.
func TestGDBInit(t *testing.T) {
	p := gdbInitParams{VMLinux: "/k/vmlinux", GDBScripts: "/k/vmlinux-gdb.py", RustPrinters: "/r/etc/gdb_load_rust_pretty_printers.py",
		Addr: "127.0.0.1:1234", ModuleDirs: []string{"/m/a", "/m/b"}}
	stopped := gdbInit(p)
	for _, want := range []string{"file /k/vmlinux\n", "source /k/vmlinux-gdb.py\n", "source /r/etc/gdb_load_rust_pretty_printers.py\n",
		"target remote 127.0.0.1:1234\nhbreak start_kernel\ncontinue\ndelete\n", `rko_lx.module_paths = ["/m/a", "/m/b"]`,
		"add-symbol-file -readnow", "break do_init_module\ncommands\nsilent\npython rko_load(gdb.parse_and_eval('mod'))\ncontinue\nend\n"} {
		if !strings.Contains(stopped, want) {
			t.Errorf("gdbinit lacks %q:\n%s", want, stopped)
		}
	}
	if strings.Index(stopped, "target remote") > strings.Index(stopped, "break do_init_module") {
		t.Error("the module hook comes before the connection")
	}
	p.Running = true
	running := gdbInit(p)
	if strings.Contains(running, "hbreak start_kernel") || !strings.Contains(running, "module_list()") {
		t.Errorf("attaching to a running guest must load the loaded modules, not wait for start_kernel:\n%s", running)
	}
	p.RustPrinters = ""
	if strings.Contains(gdbInit(p), "pretty_printers") {
		t.Error("printers sourced though there are none")
	}
	tests := []struct {
		breaks []string
		cont   bool
		want   string
	}{
		{nil, false, ""},
		{nil, true, "continue\n"},
		{[]string{"init"}, true, "python rko_break_init = True\ncontinue\n"},
		{[]string{"panic", "points::scaled"}, false, "break rust_begin_unwind\nbreak oops_enter\nbreak points::scaled\n"},
	}
	for _, tt := range tests {
		if got := gdbBreaks(tt.breaks, tt.cont); got != tt.want {
			t.Errorf("gdbBreaks(%q, %v) = %q, want %q", tt.breaks, tt.cont, got, tt.want)
		}
	}
}

// A kernel without debug info is refused with the fix; so is a gdb that
// is not there.
func TestDebugRefusals(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ".config"), []byte("CONFIG_RUST=y\n"), 0o644)
	_, err := debugVmlinux(&kernel.Kernel{BuildDir: dir, Dir: dir, Profile: "default"})
	if !errors.Is(err, ErrNoDebugInfo) || !strings.Contains(err.Error(), "--profile debug") {
		t.Errorf("debugVmlinux(no DEBUG_INFO) = %v", err)
	}
	os.WriteFile(filepath.Join(dir, ".config"), []byte("CONFIG_DEBUG_INFO=y\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "vmlinux"), []byte("not an ELF"), 0o644)
	if _, err := debugVmlinux(&kernel.Kernel{BuildDir: dir, Dir: dir}); !errors.Is(err, ErrNoDebugInfo) {
		t.Errorf("debugVmlinux(vmlinux without DWARF) = %v", err)
	}
	if _, err := findGDB("no-such-gdb-rko", "x86_64"); err == nil {
		t.Error("findGDB found a gdb that does not exist")
	}
	t.Setenv("PATH", t.TempDir())
	if _, err := findGDB("", "arm64"); err == nil || !strings.Contains(err.Error(), "apt-get install gdb-multiarch") {
		t.Errorf("findGDB without any gdb = %v, want the package named", err)
	}
}
