package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// rkoIn runs the binary with args in dir.
func rkoIn(t *testing.T, dir string, timeout time.Duration, args ...string) result {
	t.Helper()
	cmd := exec.Command(rkoBin, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(timeout, func() { cmd.Process.Signal(os.Interrupt) })
	err := cmd.Wait()
	timer.Stop()
	r := result{stdout: out.String(), stderr: errb.String(), took: time.Since(start)}
	if xe, ok := err.(*exec.ExitError); ok {
		r.code = xe.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

// unresolvedRE is a line of rust-analyzer unresolved-references:
// "path:line:col: name".
var unresolvedRE = regexp.MustCompile(`(?m)^(/\S+?):(\d+):(\d+): (\S+)$`)

// unresolvedIn runs the toolchain's rust-analyzer (through rko, as an
// editor would) on the workspace dir and returns the unresolved
// references in files under dir; it fails the test unless rust-analyzer
// analysed the module crate named crate.
func unresolvedIn(t *testing.T, dir, crate string) []string {
	t.Helper()
	r := rkoIn(t, dir, 20*time.Minute, "rust-analyzer", "--server", "--", "unresolved-references", ".")
	if r.code != 0 || !strings.Contains(r.stdout+r.stderr, "processing crate: "+crate+",") {
		t.Fatalf("rust-analyzer unresolved-references in %s: exit %d, crate %s not analysed\nstdout:\n%s\nstderr:\n%s", dir, r.code, crate, r.stdout, r.stderr)
	}
	var out []string
	for _, m := range unresolvedRE.FindAllStringSubmatch(r.stdout+r.stderr, -1) {
		if strings.HasPrefix(m[1], dir+"/") {
			out = append(out, m[0])
		}
	}
	t.Logf("rust-analyzer on %s took %s: %d unresolved in the module", dir, r.took.Round(time.Second), len(out))
	return out
}

// checkHostPaths fails unless every crate root and the sysroot of dir's
// rust-project.json exist on the host (outside the toolchain sandbox).
func checkHostPaths(t *testing.T, dir string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "rust-project.json"))
	if err != nil {
		t.Fatalf("no rust-project.json: %v", err)
	}
	var doc struct {
		Sysroot string `json:"sysroot"`
		Crates  []struct {
			Name string `json:"display_name"`
			Root string `json:"root_module"`
		} `json:"crates"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, c := range doc.Crates {
		names[c.Name] = true
		if _, err := os.Stat(c.Root); err != nil {
			t.Errorf("crate %s: root %s does not exist on the host", c.Name, c.Root)
		}
	}
	if _, err := os.Stat(filepath.Join(doc.Sysroot, "lib/rustlib/src/rust/library/core/src/lib.rs")); err != nil {
		t.Errorf("sysroot %s has no rust-src on the host: %v", doc.Sysroot, err)
	}
	for _, want := range []string{"kernel", "macros", "pin_init", "core"} {
		if !names[want] {
			t.Errorf("rust-project.json has no %s crate", want)
		}
	}
	return data
}

// onlyModule rewrites dir's rust-project.json so that only the crate
// named crate is a workspace member; dropDeps also takes its
// dependencies away (the broken control).
func onlyModule(t *testing.T, dir, crate string, dropDeps bool) {
	t.Helper()
	path := filepath.Join(dir, "rust-project.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range doc["crates"].([]any) {
		c := c.(map[string]any)
		c["is_workspace_member"] = c["display_name"] == crate
		if c["display_name"] == crate {
			found = true
			if dropDeps {
				c["deps"] = []any{}
			}
		}
	}
	if !found {
		t.Fatalf("%s has no crate %s", path, crate)
	}
	data, _ = json.Marshal(doc)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRustAnalyzer: rko build and rko new write a rust-project.json with
// which the toolchain's real rust-analyzer resolves every path of
// examples/hello and of a fresh module; a broken file makes the same
// check fail; a file the user edited is kept.
func TestRustAnalyzer(t *testing.T) {
	requireRealPath(t)
	hello := copyDir(t, "../examples/hello/rust")
	if r := rko(t, coldTimeout, "build", hello); r.code != 0 {
		t.Fatalf("rko build: exit %d\n%s", r.code, r.stderr)
	}
	good := checkHostPaths(t, hello)

	parent := t.TempDir()
	if r := rko(t, time.Minute, "new", "--dir", parent, "ra_fresh"); r.code != 0 {
		t.Fatalf("rko new: exit %d\n%s", r.code, r.stderr)
	}
	fresh := filepath.Join(parent, "ra_fresh")
	checkHostPaths(t, fresh)

	// examples/hello with the file exactly as written: rust-analyzer
	// analyses every workspace member (the kernel crates too: minutes).
	if u := unresolvedIn(t, hello, "hello"); len(u) > 0 {
		t.Errorf("rust-analyzer leaves %d reference(s) unresolved in %s:\n%s", len(u), hello, strings.Join(u, "\n"))
	}
	// The fresh module, and the control, with only the module a workspace
	// member, so that rust-analyzer analyses it alone (seconds): name
	// resolution does not depend on membership.
	onlyModule(t, fresh, "ra_fresh", false)
	if u := unresolvedIn(t, fresh, "ra_fresh"); len(u) > 0 {
		t.Errorf("rust-analyzer leaves %d reference(s) unresolved in %s:\n%s", len(u), fresh, strings.Join(u, "\n"))
	}
	// The control: the same module with a file whose module crate lost
	// its dependencies (kernel, pin_init...) must fail the check, or the
	// check proves nothing.
	broken := copyDir(t, "../examples/hello/rust")
	os.WriteFile(filepath.Join(broken, "rust-project.json"), bytes.ReplaceAll(good, []byte(hello+"/"), []byte(broken+"/")), 0o644)
	onlyModule(t, broken, "hello", true)
	u := unresolvedIn(t, broken, "hello")
	if len(u) == 0 || !strings.Contains(strings.Join(u, "\n"), ": kernel") {
		t.Errorf("a rust-project.json without the kernel crate left %d unresolved references (%q): the check cannot fail", len(u), u)
	}

	// A file the user edited is never overwritten: rko build keeps it and
	// says how to regenerate; rko rust-analyzer exits 1.
	path := filepath.Join(hello, "rust-project.json")
	edited := bytes.Replace(good, []byte(`"edition": "2021"`), []byte(`"edition": "2024"`), 1)
	os.WriteFile(path, edited, 0o644)
	r := rko(t, coldTimeout, "build", hello)
	if now, _ := os.ReadFile(path); r.code != 0 || !bytes.Equal(now, edited) || !strings.Contains(r.stderr, "rko rust-analyzer --force") {
		t.Errorf("rko build over an edited rust-project.json: exit %d, file kept %v, stderr:\n%s", r.code, bytes.Equal(now, edited), r.stderr)
	}
	if r := rko(t, time.Minute, "rust-analyzer", hello); r.code != 1 || !strings.Contains(r.stdout, "kept") {
		t.Errorf("rko rust-analyzer over an edited file: exit %d, stdout %q", r.code, r.stdout)
	}
}
