package ktap

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/rkodev/rko/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite golden files from the current output")

// agreeDirs hold logs with the counts kunit.py gives on them
// (counts.golden): kunit's own test_data, and consoles that interleave
// printk lines, repeat lines or are cut off.
var agreeDirs = []string{"testdata/kunit", "testdata/agree"}

func kunitLogs(t *testing.T, dir string) []string {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(logs) == 0 {
		t.Fatalf("no logs in %s: %v", dir, err)
	}
	sort.Strings(logs)
	return logs
}

func countsLine(name string, c Counts) string {
	return fmt.Sprintf("%s passed=%d failed=%d crashed=%d skipped=%d errors=%d",
		name, c.Passed, c.Failed, c.Crashed, c.Skipped, c.Errors)
}

func readGoldenCounts(t *testing.T, dir string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "counts.golden"))
	if err != nil {
		t.Fatalf("read golden: %v", err)
	}
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if name, _, ok := strings.Cut(l, " "); ok {
			m[name] = l
		}
	}
	return m
}

// TestKunitGolden checks our counts, in both modes, against the counts
// that kunit.py gave on the same logs (recorded in counts.golden).
func TestKunitGolden(t *testing.T) {
	for _, dir := range agreeDirs {
		testKunitGolden(t, dir)
	}
}

func testKunitGolden(t *testing.T, dir string) {
	golden := readGoldenCounts(t, dir)
	for _, compat := range []bool{true, false} {
		for _, path := range kunitLogs(t, dir) {
			name := filepath.Base(path)
			t.Run(fmt.Sprintf("compat=%v/%s", compat, name), func(t *testing.T) {
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				got := countsLine(name, Parse(data, Options{Compat: compat}).Counts)
				if want, ok := golden[name]; !ok {
					t.Errorf("%s missing from counts.golden", name)
				} else if got != want {
					t.Errorf("counts differ from kunit.py:\n got %s\nwant %s", got, want)
				}
			})
		}
	}
}

// TestKunitAgreement runs kunit.py itself on every log and compares its
// counts with ours. With -update it rewrites counts.golden from kunit.py.
func TestKunitAgreement(t *testing.T) {
	kunit := filepath.Join(testutil.KernelSource(t), "tools/testing/kunit/kunit.py")
	if _, err := os.Stat(kunit); err != nil {
		t.Fatalf("the kernel tree has no kunit.py: %v", err)
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		testutil.SkipOrFail(t, "python3 not found; counts.golden is still checked by TestKunitGolden")
	}
	for _, dir := range agreeDirs {
		testKunitAgreement(t, py, kunit, dir)
	}
}

func testKunitAgreement(t *testing.T, py, kunit, dir string) {
	var golden []string
	agree := 0
	logs := kunitLogs(t, dir)
	for _, path := range logs {
		name := filepath.Base(path)
		abs, _ := filepath.Abs(path)
		out := filepath.Join(t.TempDir(), "out.json")
		cmd := exec.Command(py, kunit, "parse", "--json="+out, abs)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		_ = cmd.Run() // exits 1 when tests fail; the JSON is still written
		b, err := os.ReadFile(out)
		if err != nil {
			t.Errorf("%s: kunit.py wrote no JSON: %v\n%s", name, err, stderr.String())
			continue
		}
		var doc struct {
			Misc struct{ Passed, Failed, Crashed, Skipped, Errors int } `json:"misc"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Errorf("%s: bad kunit.py JSON: %v", name, err)
			continue
		}
		want := countsLine(name, Counts(doc.Misc))
		golden = append(golden, want)
		ok := true
		for _, compat := range []bool{true, false} {
			got := countsLine(name, Parse(readFile(t, path), Options{Compat: compat}).Counts)
			if got != want {
				t.Errorf("disagree with kunit.py (compat=%v):\n got %s\nwant %s", compat, got, want)
				ok = false
			}
		}
		if ok {
			agree++
		}
	}
	t.Logf("%s: agreement with kunit.py: %d of %d logs", dir, agree, len(logs))
	if *update {
		if err := os.WriteFile(filepath.Join(dir, "counts.golden"), []byte(strings.Join(golden, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
