package vm

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// argAfter returns the value following flag in args.
func argAfter(args []string, flag string) string {
	i := slices.Index(args, flag)
	if i < 0 || i+1 >= len(args) {
		return ""
	}
	return args[i+1]
}

func TestConfigArgs(t *testing.T) {
	tests := []struct {
		name       string
		c          Config
		qemu       string
		accel, cpu string
		mem, smp   string
		initrd     string
		extra      string // appended to the command line
	}{
		{"tcg defaults", Config{Kernel: "/k/bzImage", Accel: TCG, BIOS: "/none"},
			"qemu-system-x86_64", "tcg", "max", "512", "1", "", ""},
		{"kvm", Config{BIOS: "/none", QEMU: "/usr/bin/qemu-system-x86_64", Kernel: "/k/bzImage", Initrd: "/r/initramfs.cpio", Accel: KVM, MemoryMB: 2048, CPUs: 2,
			Cmdline: []string{"kasan.fault=panic", "quiet"}},
			"/usr/bin/qemu-system-x86_64", "kvm", "host", "2048", "2", "/r/initramfs.cpio", "kasan.fault=panic quiet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.c.Args()
			if args[0] != tt.qemu {
				t.Errorf("argv[0] = %q, want %q", args[0], tt.qemu)
			}
			for flag, want := range map[string]string{"-accel": tt.accel, "-cpu": tt.cpu, "-m": tt.mem, "-smp": tt.smp,
				"-kernel": tt.c.Kernel, "-initrd": tt.initrd, "-serial": "stdio", "-display": "none", "-monitor": "none"} {
				if got := argAfter(args, flag); got != want {
					t.Errorf("%s %q, want %q (argv %q)", flag, got, want, args)
				}
			}
			if tt.initrd == "" && slices.Contains(args, "-initrd") {
				t.Errorf("-initrd without an initrd: %q", args)
			}
			for _, f := range []string{"-nodefaults", "-no-reboot", "-no-user-config"} {
				if !slices.Contains(args, f) {
					t.Errorf("argv lacks %s: %q", f, args)
				}
			}
			cmdline := argAfter(args, "-append")
			want := "console=ttyS0 " + strings.Join(DefaultCmdline, " ") + " no_timer_check" // x86_64's own
			if tt.extra != "" {
				want += " " + tt.extra
			}
			if cmdline != want {
				t.Errorf("-append %q, want %q", cmdline, want)
			}
		})
	}
}

func TestArgsDoesNotChangeDefaultCmdline(t *testing.T) {
	saved := slices.Clone(DefaultCmdline)
	c := &Config{Accel: TCG, Cmdline: []string{"a"}}
	c.Args()
	(&Config{Accel: TCG, Cmdline: []string{"b"}}).Args()
	if !reflect.DeepEqual(DefaultCmdline, saved) {
		t.Errorf("DefaultCmdline changed to %q", DefaultCmdline)
	}
	if got := argAfter(c.Args(), "-append"); strings.HasSuffix(got, " b") {
		t.Errorf("cmdline of one config leaked into another: %q", got)
	}
}

func TestDefaultCmdline(t *testing.T) {
	for _, want := range []string{"panic=-1", "rdinit=/init", "nokaslr"} {
		if !slices.Contains(DefaultCmdline, want) {
			t.Errorf("DefaultCmdline lacks %s", want)
		}
	}
}

func TestLineWriter(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		lines  []string
	}{
		{"one line", []string{"hello\n"}, []string{"hello"}},
		{"split across writes", []string{"hel", "lo\nwor", "ld\n"}, []string{"hello", "world"}},
		{"CRLF", []string{"a\r\nb\r", "\n"}, []string{"a", "b"}},
		{"several in one write", []string{"1\n2\n3\n"}, []string{"1", "2", "3"}},
		{"empty lines", []string{"\n\r\n"}, []string{"", ""}},
		{"unfinished last line flushed", []string{"a\npartial"}, []string{"a", "partial"}},
		{"inner CR kept", []string{"a\rb\n"}, []string{"a\rb"}},
		{"nothing", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			var sink bytes.Buffer
			w := &lineWriter{onLine: func(s string) { got = append(got, s) }, sink: &sink}
			for _, s := range tt.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			w.flush()
			w.flush() // idempotent
			if !reflect.DeepEqual(got, tt.lines) {
				t.Errorf("lines = %q, want %q", got, tt.lines)
			}
			want := ""
			for _, l := range tt.lines {
				want += l + "\n"
			}
			if sink.String() != want {
				t.Errorf("sink = %q, want %q", sink.String(), want)
			}
			if w.all.String() != want {
				t.Errorf("all = %q, want %q", w.all.String(), want)
			}
		})
	}
}

func TestLineWriterNoCallback(t *testing.T) {
	var sink bytes.Buffer
	w := &lineWriter{sink: &sink}
	w.Write([]byte("x\r\ny"))
	w.flush()
	if sink.String() != "x\ny\n" {
		t.Errorf("sink = %q", sink.String())
	}
}

func TestProbeKVM(t *testing.T) {
	err := ProbeKVM()
	if err != nil && !errors.Is(err, ErrNotSupported) {
		t.Errorf("ProbeKVM = %v, want nil or ErrNotSupported", err)
	}
	t.Logf("ProbeKVM: %v", err)
	if again := ProbeKVM(); again != err {
		t.Errorf("second ProbeKVM = %v, want the cached %v", again, err)
	}
}
