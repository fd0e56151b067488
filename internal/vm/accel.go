package vm

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rkodev/rko/internal/cache"
	"github.com/rkodev/rko/internal/run"
	"github.com/rkodev/rko/internal/target"
)

// Boot runs the guest of c to its end with the accelerator want:
//
//   - "tcg" runs under TCG.
//   - "kvm" runs under KVM and never falls back: a KVM failure is a
//     *BootError with the reason.
//   - "auto" (or "") tries KVM when it is believed to work (the target is
//     the host's architecture, /dev/kvm runs a probe VM, and no earlier boot
//     on this host found it broken) and, if the KVM boot fails for a reason
//     of KVM (QEMU reports a KVM error, or the guest stays silent for
//     KVMStall before it is up), boots the same guest again under TCG in
//     the same call. The failed boot's console log is kept (Attempts) and
//     AccelNote says why KVM was dropped. The conclusion is remembered in
//     the cache (KVMVerdict), so the next run goes straight to TCG; an
//     outcome that does not tell (an interrupted boot, a guest that failed
//     on its own) is never remembered.
//
// c.Accel is ignored. The console of the boot that counts is in Result.
func Boot(ctx context.Context, c Config, want string) (*Result, error) {
	t := c.target()
	if t.UML() {
		c.Accel = UML
		return startWait(ctx, c)
	}
	if c.ICount || len(c.Plugins) > 0 {
		// Only TCG counts instructions and runs plugins.
		if want == KVM {
			return nil, errors.New("counting instructions (QEMU -icount) and TCG plugins need TCG, not KVM (fix: --accel tcg)")
		}
		want = TCG
	}
	switch want {
	case TCG:
		c.Accel = TCG
		return startWait(ctx, c)
	case KVM:
		if !t.KVMEligible() {
			return nil, &BootError{Kind: KVMUnavailable, Accel: KVM, Msg: fmt.Sprintf("KVM cannot run %s guests on this %s host (fix: --accel tcg)", t.Name, target.Host().Name)}
		}
		if err := c.kvmWorks(); err != nil {
			return nil, &BootError{Kind: KVMUnavailable, Accel: KVM, Msg: "KVM is not available: " + err.Error() + " (fix: --accel tcg)"}
		}
		c.Accel = KVM
		res, err := startWait(ctx, c)
		var be *BootError
		if errors.As(err, &be) && be.KVMBroken() {
			be.Msg += " (fix: --accel tcg, or --accel auto, which falls back to TCG)"
		}
		if err == nil && res.Ready {
			SaveKVMVerdict(ctx, t, c.QEMU, KVMVerdict{Works: true})
		}
		return res, err
	case "", "auto":
	default:
		return nil, fmt.Errorf("unknown accelerator %q, want auto, kvm or tcg", want)
	}
	if accel, note := FirstAccel(ctx, c, "auto"); accel == TCG {
		c.Accel = TCG
		res, err := startWait(ctx, c)
		if res != nil {
			res.AccelNote = note
		}
		return res, err
	}
	kc := c
	kc.Accel = KVM
	kc.ConsoleLog = attemptLog(c.ConsoleLog, KVM)
	res, err := startWait(ctx, kc)
	var be *BootError
	if !errors.As(err, &be) || !be.KVMBroken() {
		if err == nil && res.Ready {
			SaveKVMVerdict(ctx, t, c.QEMU, KVMVerdict{Works: true})
		}
		if res != nil && c.ConsoleLog != "" {
			// The KVM boot is the one that counts: its log takes the
			// usual name.
			os.Rename(kc.ConsoleLog, c.ConsoleLog)
			res.LogPath = c.ConsoleLog
		}
		return res, err
	}
	att := Attempt{Accel: KVM, ConsoleLog: kc.ConsoleLog, Error: be.Msg}
	if res != nil {
		att.Seconds = res.Duration.Seconds()
	}
	c.Accel = TCG
	tres, terr := startWait(ctx, c)
	if tres == nil {
		return nil, terr
	}
	tres.Attempts = append(tres.Attempts, att)
	tres.AccelNote = "KVM dropped: " + be.Msg + "; ran under TCG"
	// A KVM error printed by QEMU is conclusive; a silent KVM guest is
	// only when the same guest then came up under TCG.
	if be.Kind == KVMFailed || (be.Kind == KVMStalled && terr == nil && tres.Ready) {
		SaveKVMVerdict(ctx, t, c.QEMU, KVMVerdict{Works: false, Reason: be.Msg})
	}
	return tres, terr
}

// FirstAccel is the accelerator a boot with policy want tries first, and
// why it is not KVM: for "auto", KVM only when the guest is of the host's
// architecture, /dev/kvm runs a probe VM and no earlier boot found KVM
// broken here. Boot falls back from there; a guest that stays up (rko
// watch) starts with it too.
func FirstAccel(ctx context.Context, c Config, want string) (string, string) {
	t := c.target()
	if t.UML() {
		return UML, ""
	}
	switch want {
	case TCG, KVM:
		return want, ""
	}
	if !t.KVMEligible() {
		return TCG, fmt.Sprintf("KVM cannot run %s guests on this %s host", t.Name, target.Host().Name)
	}
	if err := c.kvmWorks(); err != nil {
		return TCG, err.Error()
	}
	if v, ok := LoadKVMVerdict(ctx, t, c.QEMU); ok && !v.Works {
		return TCG, fmt.Sprintf("KVM was found broken on this host earlier (%s; remembered in %s, delete it to try KVM again)", v.Reason, v.path)
	}
	return KVM, ""
}

func startWait(ctx context.Context, c Config) (*Result, error) {
	in, err := Start(ctx, c)
	if err != nil {
		return &Result{LogPath: c.ConsoleLog, Accel: c.Accel}, err
	}
	return in.Wait()
}

// attemptLog is the console log of a boot under accel that may be
// retried: console.log -> console-kvm.log.
func attemptLog(log, accel string) string {
	if log == "" {
		return ""
	}
	ext := filepath.Ext(log)
	return strings.TrimSuffix(log, ext) + "-" + accel + ext
}

// KVMVerdict is what a boot proved about KVM on this host.
type KVMVerdict struct {
	Works  bool      `json:"works"`
	Reason string    `json:"reason,omitempty"`
	Host   HostID    `json:"host"`
	Time   time.Time `json:"time"`
	path   string
}

// HostID is what decides whether KVM works: the host kernel, the QEMU
// build, the CPU model and the guest architecture.
type HostID struct {
	KernelRelease string `json:"kernel_release"`
	QEMUVersion   string `json:"qemu_version"`
	CPUModel      string `json:"cpu_model"`
	GuestArch     string `json:"guest_arch"`
}

var qemuVersions sync.Map // binary -> first line of --version

// HostIdentity describes this host for the KVM verdict of guests of t.
func HostIdentity(ctx context.Context, t *target.Target, qemu string) HostID {
	if qemu == "" {
		qemu = t.QEMU
	}
	id := HostID{GuestArch: t.Name, CPUModel: cpuModel()}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		id.KernelRelease = unix.ByteSliceToString(u.Release[:])
	}
	if v, ok := qemuVersions.Load(qemu); ok {
		id.QEMUVersion = v.(string)
	} else if r, err := run.Cmd(ctx, run.Opts{Timeout: 10 * time.Second}, qemu, "--version"); err == nil {
		id.QEMUVersion = strings.TrimSpace(firstLine(string(r.Stdout)))
		qemuVersions.Store(qemu, id.QEMUVersion)
	}
	return id
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && (strings.TrimSpace(k) == "model name" || strings.TrimSpace(k) == "uarch") {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func verdictPath(id HostID) (string, error) {
	dir, err := cache.Sub("accel")
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "kvm-"+id.GuestArch+"-"+cache.Key([]byte(id.KernelRelease), []byte(id.QEMUVersion), []byte(id.CPUModel), []byte(id.GuestArch))+".json"), nil
}

// LoadKVMVerdict returns the remembered verdict about KVM for guests of t
// on this host, if any. An unreadable entry counts as none.
func LoadKVMVerdict(ctx context.Context, t *target.Target, qemu string) (KVMVerdict, bool) {
	id := HostIdentity(ctx, t, qemu)
	if id.QEMUVersion == "" {
		return KVMVerdict{}, false
	}
	p, err := verdictPath(id)
	if err != nil {
		return KVMVerdict{}, false
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return KVMVerdict{}, false
	}
	var v KVMVerdict
	if json.Unmarshal(data, &v) != nil || v.Host != id {
		return KVMVerdict{}, false
	}
	v.path = p
	return v, true
}

// SaveKVMVerdict remembers a conclusive verdict (written atomically; a
// failure to write is not an error of the boot).
func SaveKVMVerdict(ctx context.Context, t *target.Target, qemu string, v KVMVerdict) {
	v.Host = HostIdentity(ctx, t, qemu)
	if v.Host.QEMUVersion == "" {
		return // could not tell which QEMU: nothing to key on
	}
	v.Time = time.Now().UTC()
	p, err := verdictPath(v.Host)
	if err != nil {
		return
	}
	if old, ok := LoadKVMVerdict(ctx, t, qemu); ok && old.Works == v.Works && old.Reason == v.Reason {
		return
	}
	data, _ := json.MarshalIndent(v, "", "  ")
	cache.WriteFileAtomic(p, append(data, '\n'), 0o644)
}

// ForgetKVMVerdict deletes the remembered verdict for guests of t.
func ForgetKVMVerdict(ctx context.Context, t *target.Target, qemu string) error {
	p, err := verdictPath(HostIdentity(ctx, t, qemu))
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}
