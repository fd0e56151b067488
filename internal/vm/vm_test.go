package vm

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
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
		{"tcg defaults", Config{Kernel: "/k/bzImage", Accel: TCG},
			"qemu-system-x86_64", "tcg", "max", "512", "1", "", ""},
		{"kvm", Config{QEMU: "/usr/bin/qemu-system-x86_64", Kernel: "/k/bzImage", Initrd: "/r/initramfs.cpio", Accel: KVM, MemoryMB: 2048, CPUs: 2,
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
			want := strings.Join(DefaultCmdline, " ")
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
	for _, want := range []string{"console=ttyS0", "panic=-1", "rdinit=/init", "nokaslr"} {
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

func TestProbeBootSector(t *testing.T) {
	b := probeBootSector()
	if len(b) != 512 {
		t.Fatalf("boot sector is %d bytes, want 512", len(b))
	}
	if b[510] != 0x55 || b[511] != 0xAA {
		t.Errorf("signature %#x %#x, want 0x55 0xAA", b[510], b[511])
	}
	// mov al, 0x2a; out 0xf4, al: QEMU exits with (0x2a<<1)|1.
	if !bytes.HasPrefix(b, []byte{0xB0, 0x2A, 0xE6, 0xF4}) {
		t.Errorf("code % x", b[:8])
	}
	if probeExitCode != (0x2a<<1)|1 {
		t.Errorf("probeExitCode = %d", probeExitCode)
	}
}

func TestLastLine(t *testing.T) {
	tests := map[string]string{"": "", "one": "one", "a\nb\n": "b", "a\nb": "b", "a\n\n": "a"}
	for in, want := range tests {
		if got := lastLine(in); got != want {
			t.Errorf("lastLine(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestProbeKVM runs the real probe: whatever the host, it must answer nil
// or an error wrapping ErrNotSupported, and the answer is cached.
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

func TestProbeQEMUKVM(t *testing.T) {
	qemu, lerr := exec.LookPath("qemu-system-x86_64")
	if lerr != nil {
		t.Skip("qemu-system-x86_64 not installed")
	}
	err := ProbeQEMUKVM(context.Background(), qemu)
	if err != nil && !errors.Is(err, ErrNotSupported) {
		t.Errorf("ProbeQEMUKVM = %v, want nil or ErrNotSupported", err)
	}
	t.Logf("ProbeQEMUKVM: %v", err)
	if err != nil && ProbeKVM() == nil && !strings.Contains(err.Error(), "-cpu host") {
		t.Errorf("KVM works but QEMU failed: %v; want the error to name -accel kvm -cpu host", err)
	}

	accel, note, cerr := ChooseAccel(context.Background(), qemu, "auto")
	if cerr != nil {
		t.Fatalf("ChooseAccel auto: %v", cerr)
	}
	if (err == nil) != (accel == KVM) || (accel == TCG && note == "") {
		t.Errorf("ChooseAccel auto = %q, %q with probe %v", accel, note, err)
	}
	_, _, kerr := ChooseAccel(context.Background(), qemu, KVM)
	if (err == nil) != (kerr == nil) {
		t.Errorf("ChooseAccel kvm = %v with probe %v", kerr, err)
	}
	if kerr != nil && !errors.Is(kerr, ErrNotSupported) {
		t.Errorf("ChooseAccel kvm = %v, want it to wrap ErrNotSupported", kerr)
	}
}

func TestProbeQEMUKVMMissingQEMU(t *testing.T) {
	if ProbeKVM() != nil {
		t.Skip("KVM unavailable: the probe stops before QEMU")
	}
	err := ProbeQEMUKVM(context.Background(), filepath.Join(t.TempDir(), "no-qemu"))
	if !errors.Is(err, ErrNotSupported) {
		t.Errorf("ProbeQEMUKVM with no QEMU = %v, want ErrNotSupported", err)
	}
}

func TestChooseAccel(t *testing.T) {
	accel, note, err := ChooseAccel(context.Background(), "unused", TCG)
	if err != nil || accel != TCG || note == "" {
		t.Errorf("ChooseAccel tcg = %q, %q, %v", accel, note, err)
	}
	if _, _, err := ChooseAccel(context.Background(), "unused", "hvf"); err == nil || !strings.Contains(err.Error(), "hvf") {
		t.Errorf("ChooseAccel hvf: err = %v", err)
	}
}

func TestBootQEMUMissing(t *testing.T) {
	log := filepath.Join(t.TempDir(), "console.log")
	res, err := Boot(context.Background(), Config{QEMU: filepath.Join(t.TempDir(), "no-qemu"), Kernel: "/nonexistent", ConsoleLog: log})
	if err == nil {
		t.Fatal("Boot with no QEMU: no error")
	}
	if res == nil || res.Accel != TCG || res.LogPath != log || res.TimedOut {
		t.Errorf("Boot result = %+v", res)
	}
	if _, serr := os.Stat(log); serr != nil {
		t.Errorf("console log not created: %v", serr)
	}
}

// TestBootFakeQEMU boots a shell script that prints like a serial console
// and exits, to check console capture without a real guest.
func TestBootFakeQEMU(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "qemu")
	os.WriteFile(fake, []byte("#!/bin/sh\nprintf 'Linux version 7.3\\r\\n@@rko {\"ev\":\"boot\"}\\r\\nno newline'\necho 'qemu: warning' >&2\n"), 0o755)
	log := filepath.Join(dir, "console.log")
	var lines []string
	res, err := Boot(context.Background(), Config{QEMU: fake, Kernel: "/k", Accel: KVM, ConsoleLog: log,
		OnLine: func(l string) { lines = append(lines, l) }})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Linux version 7.3", `@@rko {"ev":"boot"}`, "no newline"}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("lines = %q, want %q", lines, want)
	}
	wantText := strings.Join(want, "\n") + "\n"
	if string(res.Console) != wantText {
		t.Errorf("Console = %q", res.Console)
	}
	if data, _ := os.ReadFile(log); string(data) != wantText {
		t.Errorf("console log = %q", data)
	}
	if res.Accel != KVM || res.ExitCode != 0 || res.TimedOut || res.QEMUError != "" {
		t.Errorf("result = %+v", res)
	}

	// A QEMU that fails after printing keeps its console and complaint.
	os.WriteFile(fake, []byte("#!/bin/sh\necho 'some console'\necho 'qemu: cannot set up guest memory' >&2\nexit 1\n"), 0o755)
	res, err = Boot(context.Background(), Config{QEMU: fake, Kernel: "/k"})
	if err != nil {
		t.Fatalf("Boot after console output: %v", err)
	}
	if res.ExitCode != 1 || res.QEMUError != "qemu: cannot set up guest memory" || string(res.Console) != "some console\n" {
		t.Errorf("result = %+v", res)
	}

	// A QEMU that fails before any console output is an error with its
	// complaint.
	os.WriteFile(fake, []byte("#!/bin/sh\necho 'qemu: -accel kvm: failed to initialize kvm' >&2\nexit 1\n"), 0o755)
	_, err = Boot(context.Background(), Config{QEMU: fake, Kernel: "/k"})
	if err == nil || !strings.Contains(err.Error(), "failed to initialize kvm") {
		t.Errorf("err = %v", err)
	}
}
