package toolchain

import (
	"strings"
	"testing"
)

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in      string
		want    Version
		wantErr bool
	}{
		{trixieRustc, Version{1, 85, 1}, false},
		{"rustc 1.85.0 (4d91de4e4 2025-02-17)", Version{1, 85, 0}, false},
		{"rustc 1.90.0-nightly (abcdef 2025-07-01)", Version{1, 90, 0}, false},
		{trixieBindgen, Version{0, 71, 1}, false},
		{"bindgen-cli 0.72.1", Version{0, 72, 1}, false},
		{trixieClang, Version{19, 1, 7}, false},
		{"Ubuntu clang version 18.1.3 (1ubuntu1)\nTarget: x86_64-pc-linux-gnu", Version{18, 1, 3}, false},
		{"clang version 22.0.0git (https://github.com/llvm/llvm-project.git 1.2.3)", Version{22, 0, 0}, false},
		{"12.345.6789", Version{12, 345, 6789}, false},
		{"", Version{}, true},
		{"rustc 1.85", Version{}, true},
		{"no digits here", Version{}, true},
	}
	for _, tt := range tests {
		got, err := ParseVersion(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseVersion(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseVersion(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseVersionErrorNamesFirstLine(t *testing.T) {
	_, err := ParseVersion("garbage first\nsecond line")
	if err == nil || !strings.Contains(err.Error(), `"garbage first"`) || strings.Contains(err.Error(), "second") {
		t.Errorf("err = %v, want it to quote only the first line", err)
	}
}

func TestParseLibclangVersion(t *testing.T) {
	tests := []struct {
		in      string
		want    Version
		wantErr bool
	}{
		{libclangOut("19.1.7"), Version{19, 1, 7}, false},
		{"scripts/rust_is_available_bindgen_libclang.h:2:9: warning: clang version 11.1.0  [-W#pragma-messages], err: false\n", Version{11, 1, 0}, false},
		// The x.y.z of the file position must not be taken.
		{"a/b/1.2.3/x.h:2:9: warning: clang version 17.0.6 [-W#pragma-messages]", Version{17, 0, 6}, false},
		{"first line\nx.h:2:9: warning: clang version 20.1.8 (Fedora 20.1.8-1.fc42) [-W#pragma-messages]\n", Version{20, 1, 8}, false},
		{"", Version{}, true},
		{"bindgen 0.71.1", Version{}, true},
		{"warning: clang version 19 [-W#pragma-messages]", Version{}, true},
	}
	for _, tt := range tests {
		got, err := ParseLibclangVersion(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseLibclangVersion(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseLibclangVersion(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestVersionLess(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"1.84.9", "1.85.0", true},
		{"1.85.0", "1.85.0", false},
		{"1.85.1", "1.85.0", false},
		{"0.71.0", "0.71.1", true},
		{"0.9.9", "0.71.1", true},
		{"17.0.1", "16.99.99", false},
		{"2.0.0", "10.0.0", true},
	}
	for _, tt := range tests {
		if got := MustVersion(tt.a).Less(MustVersion(tt.b)); got != tt.want {
			t.Errorf("%s.Less(%s) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestVersionStringAndZero(t *testing.T) {
	if s := (Version{1, 85, 1}).String(); s != "1.85.1" {
		t.Errorf("String = %q", s)
	}
	if !(Version{}).IsZero() || (Version{0, 0, 1}).IsZero() {
		t.Error("IsZero wrong")
	}
}

func TestMustVersionPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustVersion(\"x\") did not panic")
		}
	}()
	MustVersion("x")
}

func TestMinima73(t *testing.T) {
	// From linux-7.3's scripts/min-tool-version.sh for x86_64.
	want := Minima{Rustc: Version{1, 85, 0}, Bindgen: Version{0, 71, 1}, LLVM: Version{17, 0, 1}}
	if Minima73 != want {
		t.Errorf("Minima73 = %+v, want %+v", Minima73, want)
	}
}
