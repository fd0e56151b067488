package vm

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// BootErrorKind says why a boot failed.
type BootErrorKind string

// The kinds of BootError.
const (
	// KVMUnavailable: /dev/kvm is missing, not accessible, or cannot
	// create a VM (found before QEMU starts).
	KVMUnavailable BootErrorKind = "kvm-unavailable"
	// KVMFailed: QEMU reported a KVM error on stderr (internal error,
	// emulation failure, entry failed, an MSR it could not set, KVM
	// that would not initialise).
	KVMFailed BootErrorKind = "kvm-failed"
	// KVMStalled: under KVM the guest printed nothing for KVMStall
	// before it came up, and QEMU said nothing.
	KVMStalled BootErrorKind = "kvm-stalled"
	// QEMUMissing: the emulator binary is not installed.
	QEMUMissing BootErrorKind = "qemu-missing"
	// QEMUFailed: QEMU (or the UML binary) exited before the guest
	// printed anything: bad arguments, missing firmware or image.
	QEMUFailed BootErrorKind = "qemu-failed"
	// Interrupted: the context ended (Ctrl-C, SIGTERM).
	Interrupted BootErrorKind = "interrupted"
)

// BootError is why a boot failed for a reason other than the guest
// itself: Error() is one line; %+v adds QEMU's stderr.
type BootError struct {
	Kind  BootErrorKind
	Accel string
	Msg   string
	// Stderr is what QEMU printed on stderr.
	Stderr string
	// ConsoleLog is the failed boot's console log (kept).
	ConsoleLog string
}

func (e *BootError) Error() string { return e.Msg }

// Format prints QEMU's stderr too with %+v.
func (e *BootError) Format(s fmt.State, verb rune) {
	fmt.Fprint(s, e.Msg)
	if verb == 'v' && s.Flag('+') && e.Stderr != "" {
		fmt.Fprintf(s, "\nQEMU's stderr:\n%s", e.Stderr)
	}
}

// KVMBroken reports whether the error says KVM, not the guest, failed.
func (e *BootError) KVMBroken() bool {
	return e.Kind == KVMFailed || e.Kind == KVMStalled || e.Kind == KVMUnavailable
}

// kvmErrorPatterns are the lines QEMU prints when KVM cannot run the
// guest. Seen on hosts of this project: a software KVM (kvm-pvm) stops the
// guest at its first XRSTOR with "KVM internal error. Suberror: 1"; a
// nested KVM made QEMU abort on an MSR it could not set; others are
// QEMU's own messages for the same class (target/i386/kvm/kvm.c,
// accel/kvm/kvm-all.c).
var kvmErrorPatterns = regexp.MustCompile(`(?i)(KVM internal error[^\n]*|emulation failure[^\n]*|KVM: entry failed[^\n]*|kvm run failed[^\n]*|error: kvm run failed[^\n]*|KVM_RUN[^\n]*failed[^\n]*|kvm_(?:init_vcpu|arch_init|put_msrs|buf_set_msrs|set_msrs)[^\n]*|failed to (?:set|get) MSR[^\n]*|failed to initialize kvm[^\n]*|Could not access KVM kernel module[^\n]*|-accel kvm: [^\n]*)`)

// kvmError returns the first KVM error line in QEMU's stderr, or "".
func kvmError(stderr string) string {
	if m := kvmErrorPatterns.FindString(stderr); m != "" {
		return strings.TrimSpace(m)
	}
	return ""
}

// stderrWatch keeps QEMU's stderr and calls onKVMError at the first KVM
// error line, so a KVM guest that QEMU has stopped (but not exited) is
// given up at once instead of at the timeout.
type stderrWatch struct {
	mu         sync.Mutex
	buf        strings.Builder
	onKVMError func(msg string)
	fired      bool
}

func (w *stderrWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf.Len() < 64<<10 {
		w.buf.Write(p)
	}
	if !w.fired && w.onKVMError != nil {
		if msg := kvmError(w.buf.String()); msg != "" {
			w.fired = true
			go w.onKVMError(msg)
		}
	}
	return len(p), nil
}

func (w *stderrWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
