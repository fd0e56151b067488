// Package cli wires rko's subcommands to the packages that do the work.
// Each subcommand lives in its own file, registers itself with register and
// holds only flag parsing, option structs and output; no business logic.
package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"sync/atomic"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/rkodev/rko/internal/kbuild"
)

// Exit codes shared by every subcommand.
const (
	// ExitOK means the command ran and everything it checked passed.
	ExitOK = 0
	// ExitFail means the command ran and found a failure (a failed test,
	// a crash, a lint finding, a failed doctor check).
	ExitFail = 1
	// ExitError means the command could not run (bad input, missing tool).
	ExitError = 2
)

// ExitError is returned by a subcommand to choose its exit code; its
// message, if any, has already been printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// exitCode makes an error that ends rko with code and prints nothing more.
func exitCode(code int) error { return exitError{code} }

var constructors []func() *cobra.Command

// register adds a subcommand constructor; each subcommand file calls it from init.
func register(c func() *cobra.Command) { constructors = append(constructors, c) }

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "rko",
		Short: "A workbench for Linux kernel modules written in Rust",
		Long: `rko checks and provisions the Rust-for-Linux toolchain, builds a small
Rust-enabled kernel, scaffolds and builds modules out of tree, boots them in
QEMU, runs their tests, triages crashes, lints them against the
Rust-for-Linux rules and benchmarks Rust against C.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	var cmds []*cobra.Command
	for _, c := range constructors {
		cmds = append(cmds, c())
	}
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name() < cmds[j].Name() })
	root.AddCommand(cmds...)
	return root
}

// Main runs rko with args and returns the process exit code. Ctrl-C and
// SIGTERM cancel the context that every subcommand runs under, so that
// guests, mounts and temporary files are cleaned up on the way out.
func Main(args []string) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The first SIGINT or SIGTERM cancels the context: every program rko
	// runs (make, QEMU, mmdebstrap) is stopped with it and partial cache
	// entries are left unpublished. rko then exits 128+signal, as a shell
	// would report it. A second signal exits at once.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	var got atomic.Value
	go func() {
		s, ok := <-sigs
		if !ok {
			return
		}
		got.Store(s)
		cancel()
		if s2, ok := <-sigs; ok {
			os.Exit(128 + int(s2.(syscall.Signal)))
		}
	}()
	root := newRoot()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if s, ok := got.Load().(os.Signal); ok {
		name := map[os.Signal]string{os.Interrupt: "SIGINT", syscall.SIGTERM: "SIGTERM"}[s]
		fmt.Fprintf(os.Stderr, "rko: interrupted by %s: stopped; nothing half-done is kept as complete\n", name)
		if err != nil && !errors.Is(err, context.Canceled) {
			var ee exitError
			if !errors.As(err, &ee) {
				fmt.Fprintf(os.Stderr, "rko: %v\n", err)
			}
		}
		return 128 + int(s.(syscall.Signal))
	}
	if err == nil {
		return ExitOK
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	fmt.Fprintf(os.Stderr, "rko: %v\n", err)
	// A module that does not compile is a finding about the user's code,
	// not a failure of rko to run.
	var be *kbuild.Error
	if errors.As(err, &be) && len(be.Diagnostics) > 0 {
		return ExitFail
	}
	return ExitError
}
