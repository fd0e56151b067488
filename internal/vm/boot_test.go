package vm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeQEMU writes a shell script that stands in for QEMU: it answers
// --version, records its pid, and behaves as kvm (for -accel kvm) or tcg
// (for -accel tcg) say. The real error texts come from the hosts this
// project met (docs/accel.md).
func fakeQEMU(t *testing.T, kvm, tcg string) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "qemu-system-x86_64")
	script := `#!/bin/sh
if [ "$1" = "--version" ]; then echo "QEMU emulator version 7.2.99 (fake)"; exit 0; fi
echo $$ >> "` + dir + `/pids"
case "$2" in
kvm) ` + kvm + ` ;;
*) ` + tcg + ` ;;
esac
`
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

const (
	guestOK        = `printf 'Linux version 7.3\r\n@@rko {"ev":"boot"}\r\n@@rko {"ev":"done"}\r\n'; exit 0`
	kvmInternalErr = `printf 'Linux version 7.3\r\n'; echo 'KVM internal error. Suberror: 1' >&2; echo 'extra data[0]: 0x0000000000000000' >&2; sleep 600`
	kvmSilent      = `sleep 600`
	msrAbort       = `echo 'qemu-system-x86_64: error: failed to set MSR 0x48f to 0x7fefff00036dfb' >&2; echo 'qemu-system-x86_64: ../../target/i386/kvm/kvm.c:3225: kvm_buf_set_msrs: Assertion failed.' >&2; kill -ABRT $$`
)

// withCache points the cache at a fresh directory.
func withCache(t *testing.T) {
	t.Setenv("RKO_CACHE", t.TempDir())
}

// kvmOK is a Config.ProbeKVM that makes KVM look available to Boot,
// whatever the host has.
func kvmOK() error { return nil }

func isFrame(l string) bool { return strings.Contains(l, "@@rko ") }

func TestBootFallsBackFromBrokenKVM(t *testing.T) {
	for _, tc := range []struct {
		name, kvm string
		kind      BootErrorKind
		cached    bool
	}{
		{"internal error", kvmInternalErr, KVMFailed, true},
		{"msr abort", msrAbort, KVMFailed, true},
		{"silent", kvmSilent, KVMStalled, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			withCache(t)
			saved := KVMStall
			KVMStall = 300 * time.Millisecond
			defer func() { KVMStall = saved }()
			qemu := fakeQEMU(t, tc.kvm, guestOK)
			log := filepath.Join(t.TempDir(), "console.log")
			c := Config{QEMU: qemu, Kernel: "/k", ConsoleLog: log, Timeout: time.Minute, Ready: isFrame, ProbeKVM: kvmOK}
			res, err := Boot(context.Background(), c, "auto")
			if err != nil {
				t.Fatalf("Boot auto: %v", err)
			}
			if res.Accel != TCG || !res.Ready || res.TimedOut {
				t.Errorf("result = %+v, want a TCG boot that came up", res)
			}
			if len(res.Attempts) != 1 || res.Attempts[0].Accel != KVM {
				t.Fatalf("attempts = %+v, want one KVM attempt", res.Attempts)
			}
			if !strings.Contains(res.AccelNote, "KVM dropped") {
				t.Errorf("AccelNote = %q", res.AccelNote)
			}
			if _, err := os.Stat(res.Attempts[0].ConsoleLog); err != nil || res.Attempts[0].ConsoleLog == log {
				t.Errorf("the KVM attempt's console log %q was not kept apart: %v", res.Attempts[0].ConsoleLog, err)
			}
			if data, _ := os.ReadFile(log); !strings.Contains(string(data), `"ev":"done"`) {
				t.Errorf("console.log = %q, want the TCG boot's", data)
			}
			v, ok := LoadKVMVerdict(context.Background(), c.target(), qemu)
			if ok != tc.cached || (ok && v.Works) {
				t.Fatalf("verdict = %+v, %v; want a remembered broken KVM", v, ok)
			}
			// The next run goes straight to TCG, with no KVM attempt.
			res, err = Boot(context.Background(), c, "auto")
			if err != nil || res.Accel != TCG || len(res.Attempts) != 0 || !strings.Contains(res.AccelNote, "broken on this host earlier") {
				t.Errorf("second Boot = %+v, %v", res, err)
			}
			// --accel kvm never falls back.
			_, err = Boot(context.Background(), c, KVM)
			var be *BootError
			if !errors.As(err, &be) || be.Kind != tc.kind || !strings.Contains(err.Error(), "--accel tcg") {
				t.Errorf("Boot kvm = %v, want a %s BootError naming the fix", err, tc.kind)
			}
			assertNoneLeft(t, qemu)
		})
	}
}

func TestBootKVMWorks(t *testing.T) {
	withCache(t)
	qemu := fakeQEMU(t, guestOK, `echo 'tcg must not run' >&2; exit 3`)
	c := Config{QEMU: qemu, Kernel: "/k", ConsoleLog: filepath.Join(t.TempDir(), "console.log"), Ready: isFrame, ProbeKVM: kvmOK}
	res, err := Boot(context.Background(), c, "auto")
	if err != nil || res.Accel != KVM || len(res.Attempts) != 0 || res.AccelNote != "" {
		t.Fatalf("Boot = %+v, %v", res, err)
	}
	if _, err := os.Stat(c.ConsoleLog); err != nil {
		t.Errorf("console log: %v", err)
	}
	if v, ok := LoadKVMVerdict(context.Background(), c.target(), qemu); !ok || !v.Works {
		t.Errorf("verdict = %+v, %v, want works", v, ok)
	}
}

// A guest that fails on its own under KVM says nothing about KVM: no
// fallback, no verdict.
func TestBootGuestFailureIsNotKVMs(t *testing.T) {
	withCache(t)
	qemu := fakeQEMU(t, `printf 'Linux version 7.3\r\nKernel panic - not syncing: VFS\r\n'; exit 0`, guestOK)
	c := Config{QEMU: qemu, Kernel: "/k", Ready: isFrame, ProbeKVM: kvmOK}
	res, err := Boot(context.Background(), c, "auto")
	if err != nil || res.Accel != KVM || res.Ready || len(res.Attempts) != 0 {
		t.Fatalf("Boot = %+v, %v", res, err)
	}
	if _, ok := LoadKVMVerdict(context.Background(), c.target(), qemu); ok {
		t.Error("a verdict was remembered from a boot that told nothing")
	}
}

func TestBootQEMUFailure(t *testing.T) {
	withCache(t)
	qemu := fakeQEMU(t, guestOK, `echo "qemu-system-x86_64: could not load PC BIOS '/nonexistent.rom'" >&2; exit 1`)
	_, err := Boot(context.Background(), Config{QEMU: qemu, Kernel: "/k"}, TCG)
	var be *BootError
	if !errors.As(err, &be) || be.Kind != QEMUFailed || !strings.Contains(err.Error(), "could not load PC BIOS") {
		t.Fatalf("err = %v, want a QEMUFailed BootError with QEMU's complaint", err)
	}
	_, err = Boot(context.Background(), Config{QEMU: filepath.Join(t.TempDir(), "no-qemu"), Kernel: "/k"}, TCG)
	if !errors.As(err, &be) || be.Kind != QEMUMissing || !strings.Contains(err.Error(), "apt-get install qemu-system-x86") {
		t.Errorf("missing QEMU: err = %v", err)
	}
	if _, err := Boot(context.Background(), Config{QEMU: qemu, Kernel: "/k"}, "hvf"); err == nil || !strings.Contains(err.Error(), "hvf") {
		t.Errorf("bad accel: err = %v", err)
	}
}

func TestBootTimeoutAndStop(t *testing.T) {
	withCache(t)
	qemu := fakeQEMU(t, guestOK, `printf 'Linux version 7.3\r\n'; sleep 600`)
	res, err := Boot(context.Background(), Config{QEMU: qemu, Kernel: "/k", Timeout: 300 * time.Millisecond}, TCG)
	if err != nil || !res.TimedOut || !strings.Contains(string(res.Console), "Linux version") {
		t.Errorf("timed-out Boot = %+v, %v", res, err)
	}
	in, err := Start(context.Background(), Config{QEMU: qemu, Kernel: "/k", Accel: TCG})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if res, err := in.Stop(); err != nil || res.TimedOut {
		t.Errorf("Stop = %+v, %v", res, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in, _ = Start(ctx, Config{QEMU: qemu, Kernel: "/k", Accel: TCG})
	cancel()
	var be *BootError
	if _, err := in.Wait(); !errors.As(err, &be) || be.Kind != Interrupted {
		t.Errorf("cancelled Wait = %v, want Interrupted", err)
	}
	assertNoneLeft(t, qemu)
}

// assertNoneLeft checks that every fake QEMU process started is gone.
func assertNoneLeft(t *testing.T, qemu string) {
	t.Helper()
	data, _ := os.ReadFile(filepath.Join(filepath.Dir(qemu), "pids"))
	for _, f := range strings.Fields(string(data)) {
		pid, _ := strconv.Atoi(f)
		if pid > 0 && syscall.Kill(pid, 0) == nil {
			t.Errorf("QEMU process %d is still running", pid)
		}
	}
}

func TestBootStopsAConsoleFlood(t *testing.T) {
	withCache(t)
	qemu := fakeQEMU(t, guestOK, `yes 'printk flood line' ; sleep 600`)
	log := filepath.Join(t.TempDir(), "console.log")
	res, err := Boot(context.Background(), Config{QEMU: qemu, Kernel: "/k", ConsoleLog: log, MaxConsole: 1 << 20, Timeout: time.Minute}, TCG)
	if err != nil || !res.Flooded || res.TimedOut {
		t.Fatalf("Boot = %+v, %v; want a flooded guest, stopped", res, err)
	}
	if n := len(res.Console); n > 1<<20+200 || !strings.Contains(string(res.Console), "more than 1 MiB") {
		t.Errorf("console is %d bytes, want at most 1 MiB and the note", n)
	}
	if st, err := os.Stat(log); err != nil || st.Size() > 1<<20+200 {
		t.Errorf("console log: %v, %v", st, err)
	}
	assertNoneLeft(t, qemu)
}
