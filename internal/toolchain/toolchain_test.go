package toolchain

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestCommandHost(t *testing.T) {
	tc := &Toolchain{Kind: Host}
	argv := []string{"make", "-C", "/src", "M=/mod"}
	got := tc.Command([]string{"/src", "/mod"}, "/mod", argv...)
	if !slices.Equal(got, argv) {
		t.Errorf("host Command = %q, want argv unchanged %q", got, argv)
	}
}

func TestCommandRootfs(t *testing.T) {
	tc := &Toolchain{Kind: Rootfs, Root: "/cache/toolchain/trixie/rootfs"}
	argv := []string{"make", "LLVM=1", "-C", "/build", "--", "modules"}
	binds := []string{"/src", "/mod", "", "/src", "/build", "/mod"}
	got := tc.Command(binds, "/mod", argv...)

	if got[0] != "bwrap" {
		t.Fatalf("Command = %q, want bwrap first", got)
	}
	// The argv follows the first "--", unchanged (even its own "--").
	sep := slices.Index(got, "--")
	if sep < 0 {
		t.Fatalf("Command = %q: no -- separator", got)
	}
	if !slices.Equal(got[sep+1:], argv) {
		t.Errorf("after --: %q, want %q", got[sep+1:], argv)
	}
	opts := got[1:sep]

	// The rootfs is the root; every host directory is bound once at the
	// same path.
	binded := map[string]int{}
	var root string
	for i := 0; i < len(opts); i++ {
		if opts[i] == "--bind" {
			if i+2 >= len(opts) {
				t.Fatalf("--bind without two arguments in %q", opts)
			}
			src, dst := opts[i+1], opts[i+2]
			i += 2
			if dst == "/" {
				root = src
				continue
			}
			if src != dst {
				t.Errorf("--bind %s %s: want the same path inside", src, dst)
			}
			binded[src]++
		}
	}
	if root != tc.Root {
		t.Errorf("root bind = %q, want %q", root, tc.Root)
	}
	for _, b := range []string{"/src", "/mod", "/build"} {
		if binded[b] != 1 {
			t.Errorf("%s bound %d times, want once", b, binded[b])
		}
	}
	if len(binded) != 3 {
		t.Errorf("binds = %v, want exactly /src, /mod and /build (no empty bind)", binded)
	}
	if i := slices.Index(opts, "--chdir"); i < 0 || opts[i+1] != "/mod" {
		t.Errorf("no --chdir /mod in %q", opts)
	}
	for _, want := range [][]string{{"--dev", "/dev"}, {"--proc", "/proc"}, {"--setenv", "PATH", rootfsPath}, {"--die-with-parent"}} {
		i := slices.Index(opts, want[0])
		if i < 0 || !slices.Equal(opts[i:i+len(want)], want) {
			t.Errorf("options %q lack %q", opts, want)
		}
	}
	unshareUser := slices.Contains(opts, "--unshare-user")
	if unshareUser != (os.Geteuid() != 0) {
		t.Errorf("--unshare-user present = %v, want %v for euid %d", unshareUser, os.Geteuid() != 0, os.Geteuid())
	}

	// Same binds in another order give the same command.
	slices.Reverse(binds)
	if again := tc.Command(binds, "/mod", argv...); !slices.Equal(again, got) {
		t.Errorf("Command depends on bind order:\n %q\n %q", got, again)
	}
}

func TestCommandRootfsNoDir(t *testing.T) {
	tc := &Toolchain{Kind: Rootfs, Root: "/r"}
	got := tc.Command(nil, "", "true")
	if slices.Contains(got, "--chdir") {
		t.Errorf("Command = %q: --chdir without a dir", got)
	}
	if got[len(got)-2] != "--" || got[len(got)-1] != "true" {
		t.Errorf("Command = %q, want it to end in -- true", got)
	}
}

func TestLockID(t *testing.T) {
	names := []string{"rustc", "bindgen", "clang-19", "make", "libc6", "linux-source-7.3", "lld-19", "zlib1g"}
	mk := func(order []string) *Lock {
		l := &Lock{Suite: "trixie", Packages: map[string]string{}}
		for _, n := range order {
			l.Packages[n] = "1.0-" + n
		}
		return l
	}
	id := mk(names).ID()
	if len(id) != 16 {
		t.Errorf("ID = %q, want 16 hex digits", id)
	}
	rev := slices.Clone(names)
	slices.Reverse(rev)
	for i := 0; i < 20; i++ {
		if got := mk(rev).ID(); got != id {
			t.Fatalf("ID changed with insertion order: %s vs %s", got, id)
		}
		if got := mk(names).ID(); got != id {
			t.Fatalf("ID not stable: %s vs %s", got, id)
		}
	}
	// Only the package set counts, not when or whence.
	l := mk(names)
	l.Mirror, l.Requested = "http://elsewhere", []string{"x"}
	if l.ID() != id {
		t.Error("ID depends on more than the packages")
	}
	l.Packages["rustc"] = "1.85.1+dfsg1-1"
	if l.ID() == id {
		t.Error("ID did not change with a package version")
	}
	l = mk(names)
	delete(l.Packages, "zlib1g")
	if l.ID() == id {
		t.Error("ID did not change with the package set")
	}
}

func TestParseDpkg(t *testing.T) {
	got := parseDpkg("rustc\t1.85.1+dfsg1-1\nbindgen\t0.71.1-4\n\nbroken line\n\t1.0\nclang-19\t1:19.1.7-3+b1\n")
	want := map[string]string{"rustc": "1.85.1+dfsg1-1", "bindgen": "0.71.1-4", "clang-19": "1:19.1.7-3+b1"}
	if len(got) != len(want) {
		t.Errorf("parseDpkg = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("parseDpkg[%s] = %q, want %q", k, got[k], v)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir, "trixie"); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("Load of nothing: %v, want ErrNotInstalled", err)
	}
	base := filepath.Join(dir, "trixie")
	os.MkdirAll(base, 0o755)
	os.WriteFile(filepath.Join(base, "lock.json"), []byte("{not json"), 0o644)
	if _, err := Load(dir, "trixie"); err == nil || errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "corrupt lock file") {
		t.Errorf("Load of a corrupt lock: %v", err)
	}
	os.WriteFile(filepath.Join(base, "lock.json"), []byte(`{"suite":"trixie","mirror":"m","packages":{"rustc":"1.85.1+dfsg1-1","clang-19":"1:19.1.7-3+b1","bindgen":"0.71.1-4"}}`), 0o644)
	// A rootfs whose tools are gone is damaged, and says what is missing.
	os.MkdirAll(filepath.Join(base, "rootfs/usr/bin"), 0o755)
	_, err := Load(dir, "")
	var de *DamagedError
	if !errors.As(err, &de) || !errors.Is(err, ErrDamaged) || len(de.Missing) != len(essentialTools) || !strings.Contains(err.Error(), "/usr/bin/rustc") {
		t.Errorf("Load of an empty rootfs: %v, want a DamagedError naming every tool", err)
	}
	for _, p := range essentialTools {
		os.WriteFile(filepath.Join(base, "rootfs", p), nil, 0o755)
	}
	tc, err := Load(dir, "") // "" is the default suite
	if err != nil {
		t.Fatal(err)
	}
	if tc.Kind != Rootfs || tc.Root != filepath.Join(base, "rootfs") {
		t.Errorf("Load = %+v", tc)
	}
	if tc.ID != tc.Lock.ID() || tc.ID == "" {
		t.Errorf("ID = %q, want the lock's %q", tc.ID, tc.Lock.ID())
	}
	d := tc.Describe()
	for _, want := range []string{"trixie", "rustc 1.85.1+dfsg1-1", "bindgen 0.71.1-4", "clang 1:19.1.7-3+b1"} {
		if !strings.Contains(d, want) {
			t.Errorf("Describe = %q, want %q in it", d, want)
		}
	}
	if got := (&Toolchain{Kind: Host}).Describe(); got != "host" {
		t.Errorf("host Describe = %q", got)
	}
}

// writeScript writes an executable shell script.
func writeScript(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestProbeHostFake probes a host whose PATH holds only fake tools that
// print what trixie's print.
func TestProbeHostFake(t *testing.T) {
	bin := t.TempDir()
	sysroot := t.TempDir()
	core := filepath.Join(sysroot, "lib/rustlib/src/rust/library/core/src/lib.rs")
	os.MkdirAll(filepath.Dir(core), 0o755)
	os.WriteFile(core, nil, 0o644)
	writeScript(t, filepath.Join(bin, "rustc"), `case "$1" in
--version) printf '%s' '`+trixieRustc+`';;
--print) echo '`+sysroot+`';;
esac
`)
	// bindgen prints the pragma message on stderr, as the real one does,
	// naming the header it was given.
	writeScript(t, filepath.Join(bin, "bindgen"), `case "$1" in
--version) echo 'bindgen 0.71.1';;
*) test -f "$1" || exit 1; echo "$1:2:9: warning: clang version 19.1.7 [-W#pragma-messages]" >&2;;
esac
`)
	writeScript(t, filepath.Join(bin, "clang"), `printf '%s' '`+trixieClang+`'`+"\n")
	writeScript(t, filepath.Join(bin, "make"), "")
	t.Setenv("PATH", bin)
	t.Setenv("RUSTC", "")
	t.Setenv("BINDGEN", "")
	t.Setenv("RUST_LIB_SRC", "")

	tc := &Toolchain{Kind: Host}
	f := tc.Probe(context.Background(), "")
	if f.Rustc != trixieRustc || f.Bindgen != trixieBindgen || f.Clang != trixieClang {
		t.Errorf("versions: %q %q %q", f.Rustc, f.Bindgen, f.Clang)
	}
	if v, err := ParseLibclangVersion(f.Libclang); err != nil || v != (Version{19, 1, 7}) {
		t.Errorf("Libclang = %q (err %q): %v %v", f.Libclang, f.LibclangErr, v, err)
	}
	if !strings.Contains(f.Libclang, "rust_is_available_bindgen_libclang.h") {
		t.Errorf("Libclang = %q: bindgen was not given the probe header", f.Libclang)
	}
	if f.RustSrcCore != core || !f.RustSrcFound {
		t.Errorf("rust-src: %q found=%v, want %q", f.RustSrcCore, f.RustSrcFound, core)
	}
	if f.Tools["make"] != filepath.Join(bin, "make") || f.Tools["flex"] != "" {
		t.Errorf("Tools = %v", f.Tools)
	}
	cs := RustAvailable(f, Minima73, testHint)
	if !Passed(cs) {
		t.Errorf("RustAvailable on the fake trixie host failed: %+v", cs)
	}

	// RUST_LIB_SRC overrides the sysroot's library on the host.
	lib := t.TempDir()
	t.Setenv("RUST_LIB_SRC", lib)
	f = tc.Probe(context.Background(), "")
	if f.RustLibSrc != lib || f.RustSrcCore != filepath.Join(lib, "core/src/lib.rs") || f.RustSrcFound {
		t.Errorf("with RUST_LIB_SRC: %q %q found=%v", f.RustLibSrc, f.RustSrcCore, f.RustSrcFound)
	}
	var src Check
	for _, c := range RustAvailable(f, Minima73, testHint) {
		if c.Name == "rust-src" {
			src = c
		}
	}
	if src.Status != Fail || !strings.Contains(src.Fix, "RUST_LIB_SRC is set to "+lib) {
		t.Errorf("rust-src check = %+v", src)
	}
}

func TestProbeHostNothing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("RUSTC", "")
	t.Setenv("BINDGEN", "")
	f := (&Toolchain{Kind: Host}).Probe(context.Background(), "")
	if f.Rustc != "" || f.RustcErr == "" || f.Bindgen != "" || f.BindgenErr == "" || f.Clang != "" {
		t.Errorf("Probe with an empty PATH: %+v", f)
	}
	cs := RustAvailable(f, Minima73, testHint)
	if Passed(cs) {
		t.Errorf("RustAvailable passed with no tools: %+v", cs)
	}
}

// TestProbeRealRootfs checks rko's pinned Debian trixie toolchain, if it
// was installed on this machine (rko toolchain install).
func TestProbeRealRootfs(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: not probing the real rootfs")
	}
	home, _ := os.UserHomeDir()
	dir := filepath.Join(home, ".cache/rko/toolchain")
	if d := os.Getenv("RKO_CACHE"); d != "" {
		dir = filepath.Join(d, "toolchain")
	}
	tc, err := Load(dir, DefaultSuite)
	if errors.Is(err, ErrNotInstalled) {
		t.Skipf("no rootfs toolchain at %s (rko toolchain install creates it)", dir)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/usr/bin/bwrap"); err != nil {
		if _, err := os.Stat("/bin/bwrap"); err != nil {
			t.Skip("bwrap not installed")
		}
	}
	f := tc.Probe(context.Background(), "")
	cs := RustAvailable(f, Minima73, DebianHint)
	for _, c := range cs {
		t.Logf("%-20s %-4s %s %s", c.Name, c.Status, c.Found, c.Detail)
	}
	if !Passed(cs) {
		t.Errorf("the pinned rootfs fails rust_is_available's rules (facts %+v)", f)
	}
	if !Passed(BuildToolChecks(f, DebianHint)) {
		t.Errorf("the pinned rootfs lacks build tools: %+v", BuildToolChecks(f, DebianHint))
	}
	v, _ := ParseVersion(f.Rustc)
	if v != (Version{1, 85, 1}) {
		t.Logf("note: rustc in the rootfs is %v (trixie ships 1.85.1)", v)
	}
}
