package initramfs

import (
	"bytes"
	"debug/elf"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// newcEntry is one decoded archive member.
type newcEntry struct {
	ino, mode, uid, gid, nlink, mtime uint32
	rmajor, rminor                    uint32
	name                              string
	body                              []byte
}

// readNewc decodes a newc archive strictly: magic, alignment, NUL after
// every name, TRAILER!!! last and nothing after it.
func readNewc(t *testing.T, b []byte) []newcEntry {
	t.Helper()
	var out []newcEntry
	off := 0
	align := func(n int) int { return (n + 3) &^ 3 }
	for {
		if off+110 > len(b) {
			t.Fatalf("truncated header at %d", off)
		}
		h := string(b[off : off+110])
		if h[:6] != "070701" {
			t.Fatalf("bad magic %q at %d", h[:6], off)
		}
		field := func(i int) uint32 {
			v, err := strconv.ParseUint(h[6+8*i:14+8*i], 16, 32)
			if err != nil {
				t.Fatalf("bad header field %d at %d: %v", i, off, err)
			}
			return uint32(v)
		}
		e := newcEntry{ino: field(0), mode: field(1), uid: field(2), gid: field(3), nlink: field(4), mtime: field(5),
			rmajor: field(9), rminor: field(10)}
		size, namesize := int(field(6)), int(field(11))
		if field(12) != 0 {
			t.Errorf("check field is %d", field(12))
		}
		nameEnd := off + 110 + namesize
		if b[nameEnd-1] != 0 {
			t.Fatalf("name at %d not NUL-terminated", off)
		}
		e.name = string(b[off+110 : nameEnd-1])
		bodyOff := align(nameEnd)
		e.body = b[bodyOff : bodyOff+size]
		off = align(bodyOff + size)
		if e.name == "TRAILER!!!" {
			if off != len(b) {
				t.Errorf("%d bytes after the trailer", len(b)-off)
			}
			return out
		}
		out = append(out, e)
	}
}

func tiny() *Archive {
	a := New()
	a.AddFile("init", []byte("#!/bin/sh\necho hi\n"), 0o755)
	a.AddDir("dev")
	a.AddCharDev("dev/console", 5, 1, 0o600)
	a.AddSymlink("bin/sh", "busybox")
	a.AddFile("/rko/plan.json", []byte("{}\n"), 0o644)
	return a
}

func archiveBytes(t *testing.T, a *Archive) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := a.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Errorf("WriteTo returned %d, wrote %d bytes", n, buf.Len())
	}
	if buf.Len()%4 != 0 {
		t.Errorf("archive length %d is not a multiple of 4", buf.Len())
	}
	return buf.Bytes()
}

func TestReproducible(t *testing.T) {
	first := archiveBytes(t, tiny())
	// Same entries added in another order, and written again.
	a := New()
	a.AddFile("rko/plan.json", []byte("{}\n"), 0o644)
	a.AddSymlink("/bin/sh", "busybox")
	a.AddCharDev("/dev/console", 5, 1, 0o600)
	a.AddDir("/dev/")
	a.AddFile("./init", []byte("#!/bin/sh\necho hi\n"), 0o755)
	for i := 0; i < 5; i++ {
		if got := archiveBytes(t, a); !bytes.Equal(got, first) {
			t.Fatalf("round %d: same inputs gave different bytes", i)
		}
	}
	a.AddFile("init", []byte("#!/bin/sh\necho bye\n"), 0o755)
	if bytes.Equal(archiveBytes(t, a), first) {
		t.Error("different content gave the same bytes")
	}
}

func TestEntries(t *testing.T) {
	es := readNewc(t, archiveBytes(t, tiny()))
	type row struct {
		name  string
		mode  uint32
		nlink uint32
		dev   string
		body  string
	}
	var got []row
	for i, e := range es {
		got = append(got, row{e.name, e.mode, e.nlink, fmt.Sprintf("%d,%d", e.rmajor, e.rminor), string(e.body)})
		if e.ino != uint32(i+1) {
			t.Errorf("%s: ino %d, want %d", e.name, e.ino, i+1)
		}
		if e.uid != 0 || e.gid != 0 || e.mtime != 0 {
			t.Errorf("%s: uid %d gid %d mtime %d, want all 0", e.name, e.uid, e.gid, e.mtime)
		}
	}
	// Sorted, with the implied parents bin and rko before their children.
	want := []row{
		{"bin", 0o040755, 2, "0,0", ""},
		{"bin/sh", 0o120777, 1, "0,0", "busybox"},
		{"dev", 0o040755, 2, "0,0", ""},
		{"dev/console", 0o020600, 1, "5,1", ""},
		{"init", 0o100755, 1, "0,0", "#!/bin/sh\necho hi\n"},
		{"rko", 0o040755, 2, "0,0", ""},
		{"rko/plan.json", 0o100644, 1, "0,0", "{}\n"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("entries:\n got  %v\n want %v", got, want)
	}
}

func TestDeepParents(t *testing.T) {
	a := New()
	a.AddFile("a/b/c/d/file", []byte("x"), 0o600)
	a.AddDir("a/b") // explicit; must not be duplicated
	var names []string
	for _, e := range readNewc(t, archiveBytes(t, a)) {
		names = append(names, e.name)
	}
	want := []string{"a", "a/b", "a/b/c", "a/b/c/d", "a/b/c/d/file"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("names = %q, want %q", names, want)
	}
}

func TestEmptyArchive(t *testing.T) {
	b := archiveBytes(t, New())
	if es := readNewc(t, b); len(es) != 0 {
		t.Errorf("empty archive has %d entries", len(es))
	}
	if !bytes.Contains(b, []byte("TRAILER!!!\x00")) {
		t.Error("no trailer")
	}
}

func TestCleanAndHas(t *testing.T) {
	tests := map[string]string{
		"init": "init", "/init": "init", "./init": "init", "a//b/": "a/b", "/a/../b": "b", "../../etc/x": "etc/x",
	}
	for in, want := range tests {
		if got := clean(in); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
	a := tiny()
	for _, n := range []string{"init", "/init", "dev/console", "/rko/plan.json", "bin/sh"} {
		if !a.Has(n) {
			t.Errorf("Has(%q) = false", n)
		}
	}
	// Implied parents exist only in the written archive.
	for _, n := range []string{"rko", "bin", "nope"} {
		if a.Has(n) {
			t.Errorf("Has(%q) = true", n)
		}
	}
}

// TestGolden pins the exact bytes of a tiny archive; run with -update
// after an intended format change.
func TestGolden(t *testing.T) {
	got := hex.Dump(archiveBytes(t, tiny()))
	p := filepath.Join("testdata", "tiny.cpio.hex")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("archive differs from %s (run go test -update if intended):\n%s", p, got)
	}
}

// TestHostCpio lets the host's GNU cpio read the archive.
func TestHostCpio(t *testing.T) {
	cpio, err := exec.LookPath("cpio")
	if err != nil {
		t.Skip("cpio not installed")
	}
	cmd := exec.Command(cpio, "-t", "-v", "--quiet")
	cmd.Stdin = bytes.NewReader(archiveBytes(t, tiny()))
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("cpio -t -v: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	// e.g. "crw-------   1 root     root       5,   1 Jan  1  1970 dev/console"
	var names []string
	byName := map[string][]string{}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 2 {
			t.Fatalf("odd cpio line %q", l)
		}
		name := f[len(f)-1]
		if i := slicesIndex(f, "->"); i > 0 {
			name = f[i-1]
		}
		names = append(names, name)
		byName[name] = f
	}
	want := []string{"bin", "bin/sh", "dev", "dev/console", "init", "rko", "rko/plan.json"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("cpio lists %q, want %q\n%s", names, want, out)
	}
	check := func(name, wantPrefix string, wantSub ...string) {
		f := byName[name]
		if len(f) == 0 {
			return
		}
		line := strings.Join(f, " ")
		if !strings.HasPrefix(f[0], wantPrefix) {
			t.Errorf("%s: mode %s, want %s...", name, f[0], wantPrefix)
		}
		for _, s := range wantSub {
			if !strings.Contains(line, s) {
				t.Errorf("%s: %q lacks %q", name, line, s)
			}
		}
	}
	check("dev/console", "crw-------", "root root 5, 1", "1970")
	check("bin/sh", "lrwxrwxrwx", "bin/sh -> busybox")
	check("init", "-rwxr-xr-x", "root root 18 ")
	check("dev", "drwxr-xr-x")
	check("rko", "drwxr-xr-x")
}

func slicesIndex(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func TestAddHostFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "script.sh")
	os.WriteFile(p, []byte("#!/bin/sh\n"), 0o750)
	os.Chmod(p, 0o750)
	a := New()
	if err := a.AddHostFile("rko/tests/m/script.sh", p); err != nil {
		t.Fatal(err)
	}
	es := readNewc(t, archiveBytes(t, a))
	last := es[len(es)-1]
	if last.name != "rko/tests/m/script.sh" || last.mode != 0o100750 || string(last.body) != "#!/bin/sh\n" {
		t.Errorf("entry = %s %o %q", last.name, last.mode, last.body)
	}
	if err := a.AddHostFile("x", filepath.Join(dir, "missing")); err == nil {
		t.Error("AddHostFile of a missing file: no error")
	}
}

func TestAddBinaryHostShell(t *testing.T) {
	sh, err := filepath.EvalSymlinks("/bin/sh")
	if err != nil {
		t.Skip("no /bin/sh")
	}
	f, err := elf.Open(sh)
	if err != nil {
		t.Skipf("/bin/sh is not ELF: %v", err)
	}
	var interp string
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			buf := make([]byte, p.Filesz)
			p.ReadAt(buf, 0)
			interp = strings.TrimRight(string(buf), "\x00")
		}
	}
	libs, _ := f.ImportedLibraries()
	f.Close()
	if interp == "" {
		t.Skip("/bin/sh is static")
	}

	a := New()
	if err := a.AddBinary([]string{"/"}, "/bin/sh"); err != nil {
		t.Fatalf("AddBinary(/, /bin/sh): %v", err)
	}
	if !a.Has("bin/sh") {
		t.Error("bin/sh not added")
	}
	if !a.Has(interp) {
		t.Errorf("interpreter %s not added", interp)
	}
	var names []string
	for n := range a.entries {
		names = append(names, n)
	}
	hasLibc := false
	for _, n := range names {
		if strings.HasSuffix(n, "/libc.so.6") {
			hasLibc = true
		}
	}
	if !hasLibc {
		t.Errorf("no libc.so.6 among %q", names)
	}
	for _, lib := range libs {
		found := false
		for _, n := range names {
			if filepath.Base(n) == lib {
				found = true
			}
		}
		if !found {
			t.Errorf("needed library %s not added (have %q)", lib, names)
		}
	}
	// The shell is stored as the real file's content, not as a link.
	data, _ := os.ReadFile(sh)
	if e := a.entries["bin/sh"]; e == nil || !bytes.Equal(e.data, data) || e.isLink {
		t.Error("bin/sh is not a copy of the real shell")
	}
}

func TestAddBinaryFakeRoot(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "usr/bin"), 0o755)
	os.WriteFile(filepath.Join(root, "usr/bin/tool"), []byte("#!/bin/sh\necho tool\n"), 0o755)
	os.Symlink("tool", filepath.Join(root, "usr/bin/alias"))
	a := New()
	// A script is copied as is (not ELF, so no libraries).
	if err := a.AddBinary([]string{root}, "/usr/bin/alias"); err != nil {
		t.Fatal(err)
	}
	if e := a.entries["usr/bin/alias"]; e == nil || string(e.data) != "#!/bin/sh\necho tool\n" || e.mode != modeReg|0o755 {
		t.Errorf("alias entry = %+v", e)
	}
	if len(a.entries) != 1 {
		t.Errorf("%d entries, want 1", len(a.entries))
	}
	// A missing program is an error naming it.
	err := a.AddBinary([]string{root}, "/usr/bin/missing")
	if err == nil || !strings.Contains(err.Error(), "/usr/bin/missing") {
		t.Errorf("err = %v", err)
	}
	// An ELF whose library is missing in root is an error naming both.
	sh, err := filepath.EvalSymlinks("/bin/sh")
	if err != nil {
		t.Skip("no /bin/sh")
	}
	if f, err := elf.Open(sh); err != nil {
		t.Skip("/bin/sh is not ELF")
	} else if libs, _ := f.ImportedLibraries(); len(libs) == 0 {
		f.Close()
		t.Skip("/bin/sh needs no libraries")
	} else {
		f.Close()
	}
	data, _ := os.ReadFile(sh)
	os.MkdirAll(filepath.Join(root, "bin"), 0o755)
	os.WriteFile(filepath.Join(root, "bin/sh"), data, 0o755)
	err = New().AddBinary([]string{root}, "/bin/sh")
	if err == nil {
		t.Fatal("AddBinary with no libraries in root: no error")
	}
	if !strings.Contains(err.Error(), "not in "+root) && !strings.Contains(err.Error(), "no such file") {
		t.Errorf("err = %v, want it to say what is missing from %s", err, root)
	}
}

type failWriter struct{ after int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.after <= 0 {
		return 0, errors.New("disk full")
	}
	w.after--
	return len(p), nil
}

func TestWriteToError(t *testing.T) {
	for after := 0; after < 6; after++ {
		_, err := tiny().WriteTo(&failWriter{after: after})
		if err == nil || err.Error() != "disk full" {
			t.Errorf("after %d writes: err = %v, want disk full", after, err)
		}
	}
}
