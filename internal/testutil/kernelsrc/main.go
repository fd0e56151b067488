// Command kernelsrc provisions the Linux source tree the kernel-source unit
// tests read (testutil.KernelSource) and prints its directory: it installs
// rko's toolchain rootfs when there is none (the e2e tests need it anyway)
// and finds the source the way rko does (kernel.FindSource: $RKO_LINUX_SRC,
// /usr/src/linux-source-*, the rootfs's), extracting a tarball into rko's
// cache once. scripts/test runs it before go test, because go test runs
// packages in any order and the e2e tests, which would extract it too, may
// come last.
//
//	go run ./internal/testutil/kernelsrc
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/testutil"
	"github.com/rkodev/rko/internal/toolchain"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := provision(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kernelsrc:", err)
		os.Exit(1)
	}
	fmt.Println(dir)
}

func provision(ctx context.Context) (string, error) {
	progress := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "kernelsrc: "+format+"\n", args...) }
	tc, err := toolchain.Load("", "")
	if errors.Is(err, toolchain.ErrNotInstalled) {
		log, lerr := os.CreateTemp("", "rko-kernelsrc-toolchain-*.log")
		if lerr != nil {
			return "", lerr
		}
		defer log.Close()
		progress("installing the toolchain rootfs (its linux-source is the tests' tree; log: %s)", log.Name())
		if tc, err = toolchain.Install(ctx, toolchain.InstallOpts{Progress: progress, Log: log}); err != nil {
			return "", fmt.Errorf("%w (log: %s)", err, log.Name())
		}
	}
	if err != nil {
		return "", err
	}
	src, err := kernel.FindSource(ctx, "", tc, progress)
	if err != nil {
		return "", err
	}
	if dir, tried := testutil.FindKernelSource(); dir == "" {
		return "", fmt.Errorf("rko's kernel source is %s (version %s), but the tests look for a %s tree at %v", src.Dir, src.Version, testutil.KernelSeries, tried)
	}
	return src.Dir, nil
}
