package matrix

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rkodev/rko/internal/job"
)

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, data, want string }{
		{"syntax", `{"schema": 1, "modules": ["a",]}`, "not JSON: invalid character ']' looking for beginning of value at line 1"},
		{"unknown field", `{"schema": 1, "modules": ["a"], "kernel": ["6.12"]}`, `m.json: kernel: unknown field`},
		{"type", `{"schema": 1, "modules": "a"}`, "modules: want a JSON []string, got string"},
		{"schema", `{"modules": ["a"]}`, "schema: 0 is not a matrix schema rko reads: want 1"},
		{"no modules", `{"schema": 1}`, "modules: no module directory"},
		{"twice", `{"schema": 1, "modules": ["a"], "kernels": ["6.12", "6.12"]}`, `kernels: "6.12" is listed twice`},
		{"empty kernel", `{"schema": 1, "modules": ["a"], "kernels": [""]}`, `kernels: an empty value`},
		{"timeout", `{"schema": 1, "modules": ["a"], "test": {"timeout": "5"}}`, `test.timeout: "5" is not a duration`},
		{"two values", `{"schema": 1, "modules": ["a"]} {}`, "more than one JSON value"},
		{"truncated", `{"schema": 1, "modules": ["a"]`, "the file ends before the matrix object does"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.data), "m.json")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse: got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestCells(t *testing.T) {
	s, err := Parse([]byte(`{"schema": 1, "modules": ["rust", "c"], "kernels": ["default", "6.12", "debian", "../tree"],
		"arches": ["x86_64", "um"], "exclude": [{"kernel": "6.12", "arch": "um"}, {"module": "c", "kernel": "debian"}],
		"test": {"accel": "tcg", "memory_mb": 256, "fragments": ["extra.config"], "params": ["hello.count=3"],
		"devices": ["pci-testdev", "acpi-ssdt=ssdt.dsl"], "fail_nth": true}}`), "m.json")
	if err != nil {
		t.Fatal(err)
	}
	s.Path, s.Dir = "/m/hello/m.json", "/m/hello"
	cells, err := s.Cells()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cells {
		names = append(names, c.Name)
	}
	want := []string{
		"rust/default/x86_64/default", "rust/default/um/default", "rust/6.12/x86_64/default",
		"rust/debian/x86_64/default", "rust/debian/um/default", "rust/../tree/x86_64/default", "rust/../tree/um/default",
		"c/default/x86_64/default", "c/default/um/default", "c/6.12/x86_64/default",
		"c/../tree/x86_64/default", "c/../tree/um/default",
	}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("cells:\n got %q\nwant %q", names, want)
	}
	if got, want := cells[2].Args, []string{"--kernel", "6.12", "--arch", "x86_64", "--profile", "default", "--accel", "tcg",
		"--memory", "256", "--fragment", "/m/hello/extra.config", "--param", "hello.count=3",
		"--device", "pci-testdev", "--device", "acpi-ssdt=/m/hello/ssdt.dsl", "--fail-nth", "--", "/m/hello/rust"}; !reflect.DeepEqual(got, want) {
		t.Errorf("args of %s:\n got %q\nwant %q", cells[2].Name, got, want)
	}
	if got := cells[0].Args[:2]; got[0] != "--arch" {
		t.Errorf("the default kernel takes no --kernel: %q", cells[0].Args)
	}
	if got := cells[5].Args[:2]; !reflect.DeepEqual(got, []string{"--kernel", "/m/tree"}) {
		t.Errorf("a kernel directory is relative to the file: %q", got)
	}
	if cells[5].ID != "rust-..-tree-x86_64-default" {
		t.Errorf("id %q", cells[5].ID)
	}
}

func TestCellsErrors(t *testing.T) {
	for _, tc := range []struct{ name, data, want string }{
		{"unused exclude", `{"schema": 1, "modules": ["a"], "exclude": [{"kernel": "6.1"}]}`, "exclude[0]: matches no cell"},
		{"same id", `{"schema": 1, "modules": ["a b", "a-b"]}`, "cells a b/default/host/default and a-b/default/host/default have the same id a-b-default-host-default"},
		{"no cells", `{"schema": 1, "modules": ["a"], "exclude": [{"module": "a"}]}`, "no cells: the excludes drop every combination"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse([]byte(tc.data), "m.json")
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Cells()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Cells: got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestReadMissing(t *testing.T) {
	_, err := Read(filepath.Join(t.TempDir(), "none.json"))
	if err == nil || !strings.Contains(err.Error(), "cannot read the matrix file: no such file or directory") {
		t.Fatalf("got %v", err)
	}
}

// TestExample checks the matrix file the docs show (examples/hello).
func TestExample(t *testing.T) {
	s, err := Read("../../examples/hello/rko-matrix.json")
	if err != nil {
		t.Fatal(err)
	}
	cells, err := s.Cells()
	if err != nil {
		t.Fatal(err)
	}
	if len(cells) != 6 {
		t.Fatalf("examples/hello/rko-matrix.json: %d cells, want 6", len(cells))
	}
	for _, c := range cells {
		if _, err := os.Stat(c.Args[len(c.Args)-1]); err != nil {
			t.Errorf("%s: %v", c.Name, err)
		}
	}
}

// TestRunRefusedAndCancelled runs cells that boot nothing: refused
// cells are reported with their reason, and cells of a cancelled run are
// cancelled, the run's error the context's.
func TestRunRefusedAndCancelled(t *testing.T) {
	refused := Planned{Cell: Cell{Name: "a/debian/um/default"}, Refused: "--arch (kernel.arch): Debian's kernel is x86_64 only"}
	rep, err := Run(context.Background(), []Planned{refused}, Options{Guests: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Passed || rep.Cells[0].Verdict != Refused || rep.Cells[0].Reason != refused.Refused {
		t.Fatalf("refused cell: %+v", rep.Cells[0])
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	j := &job.Job{Kernel: job.Kernel{Kind: job.KindRko, Arch: "x86_64", Profile: "default"}, Modules: []string{t.TempDir()}}
	rep, err = Run(ctx, []Planned{refused, {Cell: Cell{Name: "a/default/x86_64/default"}, Job: j}}, Options{Guests: 1})
	if err != context.Canceled {
		t.Fatalf("cancelled run: err %v", err)
	}
	if got := []string{rep.Cells[0].Verdict, rep.Cells[1].Verdict}; !reflect.DeepEqual(got, []string{Refused, Cancelled}) {
		t.Fatalf("verdicts %q", got)
	}
}

func TestSlots(t *testing.T) {
	if n := Slots(1 << 30); n != 1 {
		t.Errorf("Slots(1 TiB per guest) = %d, want 1", n)
	}
	if n := Slots(1); n < 1 {
		t.Errorf("Slots(1) = %d", n)
	}
}
