package workflow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rkodev/rko/internal/guest"
	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/target"
	"github.com/rkodev/rko/internal/toolchain"
	"github.com/rkodev/rko/internal/ui"
	"github.com/rkodev/rko/internal/vm"
)

// KVMCheck is rko doctor's "kvm" line for guests of t. It never says KVM
// works on the strength of /dev/kvm alone: when a kernel for t is cached,
// it boots that kernel under KVM to the guest init's first frame (and
// remembers the verdict, as a test run would); otherwise KVM is
// "untested". A KVM that fails is a warning, not a failure: rko test
// --accel auto falls back to TCG.
func KVMCheck(ctx context.Context, tc *toolchain.Toolchain, t *target.Target) toolchain.Check {
	c := toolchain.Check{Name: "kvm", Want: "KVM boots a guest kernel (else TCG, about 10x slower)"}
	fallback := "nothing to do: rko test --accel auto falls back to TCG (or pass --accel tcg)"
	if !t.KVMEligible() {
		c.Status, c.Found = toolchain.Skip, "tcg"
		c.Detail = fmt.Sprintf("KVM cannot run %s guests on this %s host", t.Name, target.Host().Name)
		return c
	}
	if err := vm.ProbeKVM(); err != nil {
		c.Status, c.Found, c.Detail = toolchain.Warn, "tcg", err.Error()
		c.Fix = "guests run under TCG; for KVM enable virtualisation (nested, if this is a VM) and give the user access to /dev/kvm"
		return c
	}
	ks := kernel.Cached(t.Name)
	if len(ks) == 0 {
		c.Status, c.Found = toolchain.Warn, "untested"
		c.Detail = "/dev/kvm runs a probe VM, but no kernel is built yet to prove that KVM boots one"
		c.Fix = "build one (rko kernel build) and run rko doctor again; rko test proves KVM on its first boot and falls back to TCG if it fails"
		return c
	}
	k := ks[0]
	e := &Env{Toolchain: tc, UI: ui.New(io.Discard, true)}
	secs, err := e.bootToInit(ctx, k, vm.KVM)
	var be *vm.BootError
	switch {
	case err == nil:
		c.Status, c.Found = toolchain.Pass, "kvm"
		c.Detail = fmt.Sprintf("booted kernel %s (%s) to the guest init in %.1fs", k.Release, k.Key, secs)
		vm.SaveKVMVerdict(ctx, t, "", vm.KVMVerdict{Works: true})
	case errors.As(err, &be) && be.KVMBroken():
		c.Status, c.Found, c.Detail, c.Fix = toolchain.Warn, "tcg", be.Msg+" (console: "+be.ConsoleLog+")", fallback
		if be.Kind == vm.KVMFailed {
			vm.SaveKVMVerdict(ctx, t, "", vm.KVMVerdict{Works: false, Reason: be.Msg})
		}
	default:
		c.Status, c.Found = toolchain.Warn, "untested"
		c.Detail = fmt.Sprintf("could not tell: booting kernel %s under KVM: %v", k.Key, err)
		c.Fix = fallback
	}
	return c
}

// bootToInit boots k under accel, through the one boot path, with an
// empty plan, and stops the guest as soon as the init prints its first
// frame. It returns the seconds that took.
func (e *Env) bootToInit(ctx context.Context, k *kernel.Kernel, accel string) (float64, error) {
	dir, err := NewRunDir("kvm-check")
	if err != nil {
		return 0, err
	}
	cfg, err := e.bootConfig(ctx, k, &guest.Plan{}, nil, BootOpts{Timeout: 60 * time.Second}, dir)
	if err != nil {
		return 0, err
	}
	cfg.Accel = accel
	start := time.Now()
	in, err := vm.Start(ctx, cfg)
	if err != nil {
		return 0, err
	}
	select {
	case <-in.Ready():
		secs := time.Since(start).Seconds()
		in.Stop()
		return secs, nil
	case <-in.Done():
	}
	res, err := in.Wait()
	if err != nil {
		return 0, err
	}
	if res.Ready {
		return time.Since(start).Seconds(), nil
	}
	if res.TimedOut {
		return 0, fmt.Errorf("the guest did not reach its init in 60s (console: %s)", res.LogPath)
	}
	return 0, fmt.Errorf("the guest ended before its init started (console: %s)", res.LogPath)
}
