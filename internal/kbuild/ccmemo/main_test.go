package main

import "testing"

func TestProbe(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		out   string
		stdin bool
		ok    bool
	}{
		{"cc-option", []string{"-Werror", "-D__KERNEL__", "-mno-sse", "-c", "-x", "c", "/dev/null", "-o", ".tmp_26/tmp"}, ".tmp_26/tmp", false, true},
		{"cc-option, absolute scratch", []string{"-Werror", "-c", "-x", "c", "/dev/null", "-o", "/m/.tmp_9/tmp"}, "/m/.tmp_9/tmp", false, true},
		{"as-instr from stdin", []string{"-Werror", "-Wa,--fatal-warnings", "-c", "-x", "assembler-with-cpp", "-o", ".tmp_7/tmp", "-"}, ".tmp_7/tmp", true, true},
		{"scratch file with a suffix", []string{"-x", "c", "-", "-c", "-o", ".tmp_7/tmp.base"}, ".tmp_7/tmp.base", true, true},
		{"output to /dev/null", []string{"-E", "-x", "c", "/dev/null", "-o", "/dev/null"}, "", false, true},
		{"--version", []string{"--version"}, "", false, true},
		{"a real compile", []string{"-Wp,-MMD,./.hello.mod.o.d", "-c", "-o", "hello.mod.o", "hello.mod.c"}, "", false, false},
		{"a real input with a scratch output", []string{"-c", "-o", ".tmp_1/tmp", "hello.c"}, "", false, false},
		{"-include reads a file", []string{"-include", "/k/include/linux/kconfig.h", "-c", "-x", "c", "/dev/null", "-o", ".tmp_1/tmp"}, "", false, false},
		{"a response file", []string{"@args", "-c", "-x", "c", "/dev/null", "-o", ".tmp_1/tmp"}, "", false, false},
		{"joined -o", []string{"-c", "-x", "c", "/dev/null", "-o.tmp_1/tmp"}, "", false, false},
		{"no input", []string{"-print-file-name=include"}, "", false, false},
		{"an output elsewhere", []string{"-c", "-x", "c", "/dev/null", "-o", "probe.o"}, "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, stdin, ok := probe(tt.args)
			if ok != tt.ok || (ok && (out != tt.out || stdin != tt.stdin)) {
				t.Errorf("probe(%q) = %q, %v, %v; want %q, %v, %v", tt.args, out, stdin, ok, tt.out, tt.stdin, tt.ok)
			}
		})
	}
}

func TestMemoKeyIgnoresTheScratchPID(t *testing.T) {
	a, err := memoKey("/bin/sh", []string{"-c", "/dev/null", "-o", ".tmp_26/tmp"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := memoKey("/bin/sh", []string{"-c", "/dev/null", "-o", ".tmp_4711/tmp"}, nil)
	c, _ := memoKey("/bin/sh", []string{"-c", "/dev/null", "-o", ".tmp_26/tmp", "-mno-sse"}, nil)
	d, _ := memoKey("/bin/sh", []string{"-c", "/dev/null", "-o", ".tmp_26/tmp"}, []byte("nop"))
	if a != b {
		t.Errorf("keys differ by the scratch directory's PID")
	}
	if a == c || a == d {
		t.Errorf("keys ignore an option or the input")
	}
}
