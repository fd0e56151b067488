package lint

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/golden")

// lintBad lints examples/lint-bad with paths relative to the repo root,
// so golden output does not depend on where the test runs.
func lintBad(t *testing.T) *Result {
	t.Helper()
	wd, _ := os.Getwd()
	root := filepath.Join(wd, "..", "..")
	t.Chdir(root)
	res, err := Run(context.Background(), Options{Paths: []string{"examples/lint-bad"}})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestSARIFValidatesAgainstSchema(t *testing.T) {
	res := lintBad(t)
	var buf bytes.Buffer
	if err := WriteSARIF(&buf, res); err != nil {
		t.Fatal(err)
	}
	schemaFile, err := os.Open(filepath.Join("internal", "lint", "testdata", "sarif-schema-2.1.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer schemaFile.Close()
	schemaDoc, err := jsonschema.UnmarshalJSON(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	const url = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
	if err := c.AddResource(url, schemaDoc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("sarif output is not JSON: %v", err)
	}
	if err := sch.Validate(doc); err != nil {
		t.Fatalf("sarif output does not validate against SARIF 2.1.0: %v\n%s", err, buf.String())
	}
	// What GitHub code scanning needs beyond the schema: a version, a
	// tool name, results with a rule id, a message and a region with
	// startLine, and relative URIs.
	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name  string `json:"name"`
					Rules []struct {
						ID string `json:"id"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string                `json:"ruleId"`
				Message   struct{ Text string } `json:"message"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string } `json:"artifactLocation"`
						Region           struct {
							StartLine int `json:"startLine"`
						} `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(buf.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	if log.Version != "2.1.0" || len(log.Runs) != 1 || log.Runs[0].Tool.Driver.Name == "" {
		t.Fatalf("sarif header: version %q, %d runs", log.Version, len(log.Runs))
	}
	if len(log.Runs[0].Tool.Driver.Rules) != len(Rules) {
		t.Errorf("sarif has %d rules, want %d", len(log.Runs[0].Tool.Driver.Rules), len(Rules))
	}
	if len(log.Runs[0].Results) != len(res.Findings) {
		t.Fatalf("sarif has %d results, want %d", len(log.Runs[0].Results), len(res.Findings))
	}
	for _, r := range log.Runs[0].Results {
		l := r.Locations[0].PhysicalLocation
		if r.RuleID == "" || r.Message.Text == "" || l.Region.StartLine < 1 ||
			filepath.IsAbs(l.ArtifactLocation.URI) || strings.HasPrefix(l.ArtifactLocation.URI, "./") {
			t.Errorf("bad sarif result %+v", r)
		}
	}
}

func TestSARIFEmptyRunValidates(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteSARIF(&buf, &Result{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"results": []`) {
		t.Errorf("an empty run must still carry results: [] for GitHub:\n%s", buf.String())
	}
}

// TestGolden checks the text and JSON output for examples/lint-bad
// against testdata/golden; run with -update to rewrite them.
func TestGolden(t *testing.T) {
	res := lintBad(t)
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteReport(&buf, format, res); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join("internal", "lint", "testdata", "golden", "lint-bad."+format)
			if *update {
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(p)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("%s output differs from %s (run go test -update if intended):\n%s", format, p, buf.String())
			}
		})
	}
}

func TestEveryRuleOnceInLintBad(t *testing.T) {
	res := lintBad(t)
	counts := res.Counts()
	for _, r := range Rules {
		if counts[r.ID] != 1 {
			t.Errorf("rule %s: %d findings in examples/lint-bad, want exactly 1", r.ID, counts[r.ID])
		}
	}
}

func TestWriteReportRejectsFormat(t *testing.T) {
	err := WriteReport(&bytes.Buffer{}, "xml", &Result{})
	if err == nil || !strings.Contains(err.Error(), `"xml"`) || !strings.Contains(err.Error(), "sarif") {
		t.Fatalf("err = %v, want it to name xml and the allowed formats", err)
	}
}
