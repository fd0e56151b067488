package console

import "testing"

func TestStripPrefix(t *testing.T) {
	tests := []struct{ in, want string }{
		{"[    1.234567] ok 1 test", "ok 1 test"},
		{"<6>[    1.234567] ok 1 test", "ok 1 test"},
		{"[    1.234567][    T1] BUG: x", "BUG: x"},
		{"[    1.234567][  C0] WARNING: y", "WARNING: y"},
		{"<4>hello", "hello"},
		{"[    1.234567]     # Subtest: s", "    # Subtest: s"},
		{"[not a time] x", "[not a time] x"},
		{"<abc>x", "<abc>x"},
		{"plain", "plain"},
		{"", ""},
		{"[", "["},
		{"[    1.0]", ""},
	}
	for _, tt := range tests {
		if got := StripPrefix(tt.in); got != tt.want {
			t.Errorf("StripPrefix(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDigits(t *testing.T) {
	for s, want := range map[string]bool{"0": true, "123": true, "": false, "1a": false, " 1": false} {
		if Digits(s) != want {
			t.Errorf("Digits(%q) = %v", s, !want)
		}
	}
}
