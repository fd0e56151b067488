package results

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
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
	for _, want := range []string{"1 passed, 0 failed, 2 crashed", "Rust panic: index out of bounds", "at buggy_oob.rs:21:17"} {
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
