package vm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Up is a guest that stays up (rko watch), started by StartUp.
type Up struct {
	*Instance
	// Accel is what the guest runs under; Note says why it is not KVM.
	Accel, Note string
	// Stdin writes to the guest's console input.
	Stdin *io.PipeWriter
	// Attempts are boots given up for reasons of the host (a broken KVM).
	Attempts []Attempt
}

// StartUp starts a guest that stays up and returns it once c.Ready has
// seen a console line, at most wait after its start. The accelerator
// policy is Boot's: want is auto, kvm or tcg; under auto a KVM guest that
// breaks before it is up (QEMU's KVM error, or silence for KVMStall) is
// started again under TCG in the same call and the verdict remembered.
// Each attempt gets its own console input pipe, so a dead attempt cannot
// take the next one's input; c.Stdin is ignored.
func StartUp(ctx context.Context, c Config, want string, wait time.Duration) (*Up, error) {
	t := c.target()
	accel, note := FirstAccel(ctx, c, want)
	if accel == KVM && want == KVM && !t.KVMEligible() {
		return nil, &BootError{Kind: KVMUnavailable, Accel: KVM, Msg: fmt.Sprintf("KVM cannot run %s guests on this host", t.Name)}
	}
	var attempts []Attempt
	for {
		pr, pw := io.Pipe()
		cc := c
		cc.Stdin, cc.Accel = pr, accel
		start := time.Now()
		in, err := Start(ctx, cc)
		if err != nil {
			pw.Close()
			return nil, err
		}
		timer := time.NewTimer(wait)
		select {
		case <-in.Ready():
			timer.Stop()
			if accel == KVM {
				SaveKVMVerdict(ctx, t, c.QEMU, KVMVerdict{Works: true})
			}
			return &Up{Instance: in, Accel: accel, Note: note, Stdin: pw, Attempts: attempts}, nil
		case <-in.Done():
			timer.Stop()
			pw.Close()
			res, err := in.Wait()
			var be *BootError
			if errors.As(err, &be) && be.KVMBroken() && accel == KVM && want != KVM {
				if be.Kind == KVMFailed {
					SaveKVMVerdict(ctx, t, c.QEMU, KVMVerdict{Works: false, Reason: be.Msg})
				}
				attempts = append(attempts, Attempt{Accel: KVM, ConsoleLog: c.ConsoleLog, Error: be.Msg, Seconds: time.Since(start).Seconds()})
				accel, note = TCG, "KVM dropped: "+be.Msg+"; ran under TCG"
				continue
			}
			if err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("the guest ended before its init was ready (console: %s, exit %d)", res.LogPath, res.ExitCode)
		case <-timer.C:
			in.Stop()
			pw.Close()
			return nil, fmt.Errorf("the guest was not ready after %s (console: %s)", wait, c.ConsoleLog)
		case <-ctx.Done():
			timer.Stop()
			in.Stop()
			pw.Close()
			return nil, ctx.Err()
		}
	}
}
