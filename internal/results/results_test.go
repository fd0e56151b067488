package results

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/rkodev/rko/internal/symbolize"
)

// consoles are real KTAP logs and crash consoles from the sibling
// packages' testdata, so the schema is checked on what rko really prints.
func consoles(t *testing.T) []string {
	var files []string
	for _, g := range []string{"../ktap/testdata/kunit/*.log", "../report/testdata/report/*", "../report/testdata/real/*", "testdata/*.log"} {
		m, _ := filepath.Glob(g)
		files = append(files, m...)
	}
	var out []string
	for _, f := range files {
		if !strings.HasSuffix(f, ".md") {
			out = append(out, f)
		}
	}
	if len(out) < 10 {
		t.Fatalf("found only %d consoles", len(out))
	}
	return out
}

func TestJSONMatchesSchema(t *testing.T) {
	c := jsonschema.NewCompiler()
	sch, err := c.Compile("../../docs/results.schema.json")
	if err != nil {
		t.Fatalf("compile schema: %v", err)
	}
	for _, path := range consoles(t) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := FromConsole(data, Options{}).WriteJSON(&buf); err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(&buf)
		if err != nil {
			t.Fatalf("%s: output is not JSON: %v", path, err)
		}
		if err := sch.Validate(doc); err != nil {
			t.Errorf("%s: output does not match docs/results.schema.json: %v", path, err)
		}
	}
	// The document of a log that could not be triaged.
	var buf bytes.Buffer
	if err := Failed(errors.New("the console log on x is empty")).WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(doc); err != nil {
		t.Errorf("Failed's document does not match docs/results.schema.json: %v", err)
	}
}

func TestJUnitIsXML(t *testing.T) {
	for _, path := range consoles(t) {
		data, _ := os.ReadFile(path)
		var buf bytes.Buffer
		r := FromConsole(data, Options{})
		if err := r.WriteJUnit(&buf); err != nil {
			t.Fatal(err)
		}
		var doc junitSuites
		if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
			t.Fatalf("%s: JUnit does not parse: %v\n%s", path, err, buf.String())
		}
		wantFail := r.Tests.Failed + len(r.Crashes)
		if doc.Failures != wantFail || doc.Errors != r.Tests.Crashed {
			t.Errorf("%s: junit failures=%d errors=%d, want %d and %d", path, doc.Failures, doc.Errors, wantFail, r.Tests.Crashed)
		}
	}
}

func TestFromConsole(t *testing.T) {
	data, err := os.ReadFile("testdata/mixed.log")
	if err != nil {
		t.Fatal(err)
	}
	r := FromConsole(data, Options{Modules: []symbolize.Module{{Name: "buggy_oob", SourceDir: "/work/examples/buggy/oob_rust"}}})
	if r.Tests.Passed != 1 || r.Tests.Crashed != 2 || r.Tests.Total != 3 {
		t.Errorf("tests = %+v, want 1 passed and 2 crashed of 3", r.Tests)
	}
	if len(r.Crashes) != 1 {
		t.Fatalf("crashes = %d, want 1", len(r.Crashes))
	}
	c := r.Crashes[0]
	if c.Type != "rust-panic" || c.Source != "buggy_oob.rs:21:17" || !c.InModule || c.Frame != "buggy_oob::pick" {
		t.Errorf("crash = %+v", c)
	}
	if r.OK() {
		t.Error("OK() = true for a run with a crash")
	}
	var text bytes.Buffer
	r.WriteText(&text, false)
	for _, want := range []string{"1 passed, 0 failed, 2 crashed", "index out of bounds: the len is NUM but the index is NUM in buggy_oob::pick", "at buggy_oob.rs:21:17"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	if strings.Contains(text.String(), "\x1b[") {
		t.Error("text has colour without a terminal")
	}
}

// TestSymbolized resolves a NULL dereference in the real buggy_null.ko
// (examples/buggy/null_c built with -g) to its source line.
func TestSymbolized(t *testing.T) {
	if _, err := exec.LookPath("addr2line"); err != nil {
		t.Skip("binutils addr2line not installed")
	}
	data, err := os.ReadFile("testdata/null.log")
	if err != nil {
		t.Fatal(err)
	}
	r := FromConsole(data, Options{Modules: []symbolize.Module{{
		Name: "buggy_null", KoPath: "../symbolize/testdata/buggy_null.ko", SourceDir: "/tmp/bb/null_c"}}})
	if len(r.Crashes) != 1 {
		t.Fatalf("crashes = %d, want 1", len(r.Crashes))
	}
	c := r.Crashes[0]
	if c.Title != "BUG: unable to handle kernel NULL pointer dereference in item_set" || c.Source != "buggy_null.c:12" {
		t.Errorf("title %q source %q, want item_set at buggy_null.c:12 (warnings %v)", c.Title, c.Source, r.Warnings)
	}
	var caller string
	for _, f := range c.Frames {
		if f.Func == "init_module" {
			caller = f.Source
		}
	}
	if caller != "buggy_null.c:20" {
		t.Errorf("init_module frame source = %q, want buggy_null.c:20", caller)
	}
	var buf bytes.Buffer
	r.WriteJSON(&buf)
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
}

// TestUnloadedModuleLeak names the raw addresses of kmemleak backtraces
// (printed after the module was unloaded) from the load addresses the
// guest recorded, in the real consoles of `rko test --profile debug` on
// examples/buggy/leak_c, leak_rust, and examples/hello/rust + hello/c +
// buggy/leak_rust together (../report/testdata/real). The .ko files are
// those runs' modules; all but buggy_leak.ko are stripped of debug info
// (objcopy --strip-debug) to keep them small, so only their names resolve.
func TestUnloadedModuleLeak(t *testing.T) {
	cLeak := symbolize.Module{Name: "buggy_leak", KoPath: "testdata/buggy_leak.ko", SourceDir: "/work/main/examples/buggy/leak_c"}
	rustLeak := symbolize.Module{Name: "buggy_leak_rust", KoPath: "testdata/buggy_leak_rust.ko"}
	tests := []struct {
		name       string
		console    string
		modules    []symbolize.Module
		dropFrames bool // remove the guest's "module" frames
		wantTitle  string
		wantSource string // "" when not checked
		needTool   bool
	}{
		{"C leak named and symbolized", "leak_c", []symbolize.Module{cLeak}, false,
			"memory leak in init_module", "buggy_leak.c:23", true},
		{"Rust leak skips the kernel crate's allocator", "leak_rust", []symbolize.Module{rustLeak}, false,
			"memory leak in buggy_leak_rust::make_buffer", "", false},
		{"reused module memory: hello_c's freed .init.text became buggy_leak_rust's .text", "leak_multi", []symbolize.Module{
			{Name: "hello", KoPath: "testdata/hello.ko"}, {Name: "hello_c", KoPath: "testdata/hello_c.ko"}, rustLeak}, false,
			"memory leak in buggy_leak_rust::make_buffer", "", false},
		{"no .ko: raw addresses stay", "leak_c", nil, false, "memory leak", "", false},
		{"no load frames: raw addresses stay", "leak_rust", []symbolize.Module{rustLeak}, true, "memory leak", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.needTool {
				if _, err := exec.LookPath("addr2line"); err != nil {
					t.Skip("binutils addr2line not installed")
				}
			}
			data, err := os.ReadFile("../report/testdata/real/" + tt.console)
			if err != nil {
				t.Fatal(err)
			}
			_, body, _ := bytes.Cut(data, []byte("\n\n")) // drop the golden's header
			if tt.dropFrames {
				var kept [][]byte
				for _, l := range bytes.Split(body, []byte("\n")) {
					if !bytes.Contains(l, []byte(`"ev":"module"`)) {
						kept = append(kept, l)
					}
				}
				body = bytes.Join(kept, []byte("\n"))
			}
			r := FromConsole(body, Options{Modules: tt.modules})
			if len(r.Crashes) != 4 {
				t.Fatalf("crashes = %d, want the 4 leaked buffers", len(r.Crashes))
			}
			for _, c := range r.Crashes {
				if c.Type != "kmemleak" || c.Title != tt.wantTitle {
					t.Errorf("crash %s %q, want kmemleak %q (warnings %v)", c.Type, c.Title, tt.wantTitle, r.Warnings)
				}
				if tt.wantSource != "" && c.Source != tt.wantSource {
					t.Errorf("source %q, want %q (warnings %v)", c.Source, tt.wantSource, r.Warnings)
				}
			}
			// The text shows the four same reports once, with a count.
			var text bytes.Buffer
			r.WriteText(&text, false)
			if got := strings.Count(text.String(), tt.wantTitle+" (4 reports)"); got != 1 || strings.Contains(text.String(), "[2]") {
				t.Errorf("text shows the leak %d times with its count, or lists it again:\n%s", got, text.String())
			}
		})
	}
}
