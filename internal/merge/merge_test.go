package merge

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// The inputs in testdata are real documents recorded on 2026-12-07 with
// paths shortened (/src/rko, /cache/rko):
//   - matrix.json: rko matrix examples/hello/rko-matrix.json --json
//     (x86_64 7.3.4 and 6.12.117, UML; hello.rs does not build on 6.12);
//   - hello-c.json: rko test --json --accel tcg examples/hello/c;
//   - kernels.json: rko test --json --accel tcg --kernel 6.12,7.3 examples/hello/rust.
var inputs = []string{"testdata/matrix.json", "testdata/hello-c.json", "testdata/kernels.json"}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		os.WriteFile(path, got, 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it):\n%s", path, got)
	}
}

func TestMerge(t *testing.T) {
	m, err := Files(inputs)
	if err != nil {
		t.Fatal(err)
	}
	if m.Passed || len(m.Runs) != 9 {
		t.Fatalf("passed %v, %d runs; want not passed, 9 runs", m.Passed, len(m.Runs))
	}
	var md, junit bytes.Buffer
	if err := m.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	golden(t, "merged.md", md.Bytes())
	if err := m.WriteJUnit(&junit); err != nil {
		t.Fatal(err)
	}
	golden(t, "merged.xml", junit.Bytes())

	// A merged document merges again into the same runs.
	js, _ := json.Marshal(m)
	again, err := Parse(js, "merged.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != len(m.Runs) || again[2].Reason != m.Runs[2].Reason {
		t.Errorf("merging a merged document: %d runs", len(again))
	}
}

func TestMergeErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, data, want string }{
		{"notjson.json", "{", "notjson.json: not a JSON object"},
		{"other.json", `{"hello": 1}`, "other.json: not an rko document"},
		{"schema.json", `{"schema": 7, "runs": []}`, "schema.json: merged schema 7, want 1"},
		{"type.json", `{"verdict": "yes"}`, "type.json: json: cannot unmarshal string"},
	} {
		p := filepath.Join(dir, tc.name)
		os.WriteFile(p, []byte(tc.data), 0o644)
		if _, err := Files([]string{p}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := Files([]string{filepath.Join(dir, "none.json")}); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
}

func TestStem(t *testing.T) {
	for in, want := range map[string]string{"a/b/cell-1.json": "cell-1", "results/rust-default-x86_64-default/report.json": "rust-default-x86_64-default"} {
		if got := stem(in); got != want {
			t.Errorf("stem(%q) = %q, want %q", in, got, want)
		}
	}
}
