package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// docAnswer is the part of rko doc --json these tests read.
type docAnswer struct {
	Results []struct {
		Path, Kind, Signature, Doc, File string
		Line                             int
	} `json:"results"`
	Absent []struct {
		Path    string   `json:"path"`
		Options []string `json:"options"`
	} `json:"absent"`
	Closest []string `json:"closest"`
}

func docJSON(t *testing.T, wantCode int, query string) docAnswer {
	t.Helper()
	r := rko(t, coldTimeout, "doc", "--json", query)
	var a docAnswer
	if err := json.Unmarshal([]byte(r.stdout), &a); err != nil || r.code != wantCode {
		t.Fatalf("rko doc --json %s: exit %d (want %d), %v\nstdout:\n%s\nstderr:\n%s", query, r.code, wantCode, err, r.stdout, r.stderr)
	}
	return a
}

// TestDoc: rko doc builds the kernel's rustdoc and answers from it with
// paths, signatures and source lines that exist; an item the config
// leaves out is named with its option; a typo gets the closest names;
// --serve serves the HTML and a second server on the same port is
// refused.
func TestDoc(t *testing.T) {
	requireRealPath(t)
	r := rko(t, coldTimeout, "kernel", "build", "--json")
	if r.code != 0 {
		t.Fatalf("rko kernel build: exit %d\n%s", r.code, r.stderr)
	}
	var k struct {
		BuildDir string `json:"build_dir"`
	}
	json.Unmarshal([]byte(r.stdout), &k)

	tests := []struct{ query, first, sig string }{
		{"KVec::push", "kernel::alloc::kvec::Vec::push", "pub fn push(&mut self"},
		{"miscdevice", "kernel::miscdevice", "mod miscdevice"},
		{"kernel::sync::Mutex", "kernel::sync::lock::mutex::Mutex", "pub type Mutex<T>"},
	}
	for _, tt := range tests {
		a := docJSON(t, 0, tt.query)
		if len(a.Results) == 0 {
			t.Errorf("%s: no results", tt.query)
			continue
		}
		got := a.Results[0]
		if got.Path != tt.first || !strings.HasPrefix(got.Signature, tt.sig) || got.Doc == "" || got.Line == 0 {
			t.Errorf("%s: first result %+v, want %s with signature %q..., a doc and a line", tt.query, got, tt.first, tt.sig)
		}
		if _, err := os.Stat(got.File); err != nil || !strings.HasPrefix(got.File, "/") {
			t.Errorf("%s: source file %q does not exist: %v", tt.query, got.File, err)
		}
	}
	if a := docJSON(t, 0, "mutex"); len(a.Results) < 3 {
		t.Errorf("mutex: %d results, want several", len(a.Results))
	}

	// USB is out of the default kernel (the block layer is in it since it
	// carries bench's options): its API is absent, with the option that
	// brings it in.
	cfg, _ := os.ReadFile(filepath.Join(k.BuildDir, ".config"))
	if bytes.Contains(cfg, []byte("\nCONFIG_USB=y")) {
		t.Fatalf("the default kernel has CONFIG_USB: pick another absent API for this test")
	}
	a := docJSON(t, 1, "kernel::usb::Device")
	if len(a.Results) != 0 || len(a.Absent) == 0 || strings.Join(a.Absent[0].Options, ",") != "CONFIG_USB=y" {
		t.Errorf("kernel::usb::Device on a kernel without CONFIG_USB: %+v", a)
	}
	a = docJSON(t, 1, "Mutx")
	if len(a.Results) != 0 || !strings.Contains(strings.Join(a.Closest, " "), "Mutex") {
		t.Errorf("Mutx: closest %q, want Mutex among them", a.Closest)
	}

	// --serve: the URL comes on stdout; the page is there.
	cmd := exec.Command(rkoBin, "doc", "--serve", "127.0.0.1:0")
	stdout, _ := cmd.StdoutPipe()
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	urlc := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		urlc <- strings.TrimSpace(line)
	}()
	var url string
	select {
	case url = <-urlc:
	case <-time.After(2 * time.Minute):
		t.Fatalf("rko doc --serve printed no URL\n%s", errb.String())
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("<title>kernel - Rust")) {
		t.Errorf("GET %s: status %d, %d bytes without the crate's title", url, resp.StatusCode, len(body))
	}
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/kernel/index.html")
	if r := rko(t, time.Minute, "doc", "--serve", addr); r.code != 2 || !strings.Contains(r.stderr, "is in use") {
		t.Errorf("a second rko doc --serve %s: exit %d, stderr %q", addr, r.code, r.stderr)
	}
}
