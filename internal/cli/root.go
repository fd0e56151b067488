// Package cli wires rko's subcommands to the packages that do the work.
// Each subcommand lives in its own file as NewCmdX(f, runF) (gh's shape):
// flags parsed into an options struct (for the commands that build or
// boot, a job.Job, made in one place: jobFlags.toJob), then runF, or the
// command's own run function, which calls internal/workflow and renders
// the result on the Factory's streams. No business logic lives here.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
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

// exitError is returned by a subcommand to choose its exit code; its
// message, if any, has already been printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// exitCode makes an error that ends rko with code and prints nothing more.
func exitCode(code int) error { return exitError{code} }

// NewRoot makes the rko command and its subcommands on f's streams.
func NewRoot(f *Factory) *cobra.Command {
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
	root.SetIn(f.IO.In)
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	cmds := []*cobra.Command{
		NewCmdBench(f, nil), newBuildCmd(f), NewCmdDebug(f, nil), newDocCmd(f), NewCmdDoctor(f, nil), newKernelCmd(f),
		newLintCmd(f), newNewCmd(f), NewCmdQuickstart(f, nil), NewCmdRun(f, nil), newRustAnalyzerCmd(f),
		NewCmdShell(f, nil), NewCmdTest(f, nil), newToolchainCmd(f), newTriageCmd(f), NewCmdWatch(f, nil),
		NewCmdMCP(f, nil), NewCmdMatrix(f, nil), newResultsCmd(f), newCICmd(f),
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
	f := NewFactory()
	root := NewRoot(f)
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
	return exitStatus(err, os.Stderr)
}

// exitStatus is the exit status of a command that returned err, whose
// message it prints on w: ExitOK, the code an exitError chose, ExitFail
// for a module that does not compile (a finding about the user's code),
// else ExitError (rko could not run: bad input, a missing tool).
func exitStatus(err error, w io.Writer) int {
	if err == nil {
		return ExitOK
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	fmt.Fprintf(w, "rko: %v\n", err)
	// A module that does not compile is a finding about the user's code,
	// not a failure of rko to run.
	var be *kbuild.Error
	if errors.As(err, &be) && len(be.Diagnostics) > 0 {
		return ExitFail
	}
	return ExitError
}
