package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseModuleFlag(t *testing.T) {
	tests := []struct {
		in      string
		name    string
		ko, src string
		ok      bool
	}{
		{"m=/a/m.ko", "m", "/a/m.ko", "", true},
		{"m=/a/m.ko:/a", "m", "/a/m.ko", "/a", true},
		{"m", "", "", "", false},
		{"=x.ko", "", "", "", false},
	}
	for _, tt := range tests {
		m, err := parseModuleFlag(tt.in)
		if (err == nil) != tt.ok || (tt.ok && (m.Name != tt.name || m.KoPath != tt.ko || m.SourceDir != tt.src)) {
			t.Errorf("parseModuleFlag(%q) = %+v, %v", tt.in, m, err)
		}
	}
}

// TestTriage runs the command on a saved log and on stdin.
func TestTriage(t *testing.T) {
	log, err := os.ReadFile("../report/testdata/report/2")
	if err != nil {
		t.Fatal(err)
	}
	junit := filepath.Join(t.TempDir(), "out.xml")
	for _, args := range [][]string{{"triage", "--json", "--junit", junit, "-"}, {"triage", "--color", "never", "-"}} {
		root := NewRoot(NewFactory())
		var out bytes.Buffer
		root.SetArgs(args)
		root.SetIn(bytes.NewReader(log))
		root.SetOut(&out)
		err := root.Execute()
		if ee, ok := err.(exitError); !ok || ee.code != ExitFail {
			t.Errorf("%v: err = %v, want exit %d for a log with a crash", args, err, ExitFail)
		}
		if args[1] == "--json" {
			var doc struct {
				Crashes []struct{ Type, Title string } `json:"crashes"`
			}
			if err := json.Unmarshal(out.Bytes(), &doc); err != nil || len(doc.Crashes) != 1 || doc.Crashes[0].Type != "kasan" {
				t.Errorf("json = %s (%v)", out.String(), err)
			}
			if b, err := os.ReadFile(junit); err != nil || !strings.Contains(string(b), "<testsuites") {
				t.Errorf("junit file: %v", err)
			}
		} else if !strings.Contains(out.String(), "KASAN: slab-use-after-free Read in ring_pop") {
			t.Errorf("text = %s", out.String())
		}
	}
	root := NewRoot(NewFactory())
	root.SetArgs([]string{"triage", "--color", "pink", "-"})
	root.SetIn(strings.NewReader(""))
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "pink") {
		t.Errorf("bad --color: err = %v", err)
	}
}

// TestTriageBadInput checks that unreadable, empty and blank logs are
// refused with exit 2 and a message naming the problem.
func TestTriageBadInput(t *testing.T) {
	dir := t.TempDir()
	blank := filepath.Join(dir, "blank.log")
	os.WriteFile(blank, []byte("\n \n"), 0o644)
	tests := []struct {
		name  string
		args  []string
		stdin string
		want  string
	}{
		{"missing file", []string{"triage", filepath.Join(dir, "nope.log")}, "", "no such file"},
		{"directory", []string{"triage", dir}, "", "is a directory"},
		{"blank file", []string{"triage", blank}, "", "is empty"},
		{"empty stdin", []string{"triage", "-"}, "", "standard input is empty"},
		{"bad module flag", []string{"triage", "--module", "x", "-"}, "", "NAME=PATH.ko"},
		{"bad colour", []string{"triage", "--color", "pink", "-"}, "", "--color"},
		{"unwritable junit", []string{"triage", "--junit", filepath.Join(dir, "no/such/dir/x.xml"), "-"}, "[ 1.0] hello\n", "--junit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := NewRoot(NewFactory())
			var out bytes.Buffer
			root.SetArgs(tt.args)
			root.SetIn(strings.NewReader(tt.stdin))
			root.SetOut(&out)
			err := root.Execute()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
			if _, isExit := err.(exitError); isExit {
				t.Errorf("err = %v: a bad input must be an error (exit 2), not a verdict", err)
			}
			if out.Len() != 0 {
				t.Errorf("stdout = %q, want nothing without --json", out.String())
			}
			// With --json the same input gets a document carrying the error.
			root = NewRoot(NewFactory())
			out.Reset()
			root.SetArgs(append([]string{tt.args[0], "--json"}, tt.args[1:]...))
			root.SetIn(strings.NewReader(tt.stdin))
			root.SetOut(&out)
			err = root.Execute()
			if _, isExit := err.(exitError); err == nil || isExit {
				t.Errorf("--json: err = %v, want an error (exit 2)", err)
			}
			var doc struct {
				Schema  int
				Error   string
				Crashes []any
			}
			if jerr := json.Unmarshal(out.Bytes(), &doc); jerr != nil || doc.Schema != 1 || !strings.Contains(doc.Error, tt.want) || doc.Crashes == nil {
				t.Errorf("--json: stdout %q (%v), want a document whose error contains %q", out.String(), jerr, tt.want)
			}
		})
	}
}
