package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rkodev/rko/internal/cache"
	"github.com/rkodev/rko/internal/run"
	"github.com/rkodev/rko/internal/rustproject"
	"github.com/rkodev/rko/internal/workflow"
)

func newRustAnalyzerCmd(fa *Factory) *cobra.Command {
	var f kernelFlags
	var asJSON, force, server, wrapper bool
	c := &cobra.Command{
		Use:   "rust-analyzer [DIR...] | --server [DIR] [-- ARGS] | --wrapper",
		Short: "Write rust-project.json for modules, or run the toolchain's rust-analyzer for an editor",
		Long: `rust-analyzer writes DIR/rust-project.json (default: the current directory)
for the kernel rko build uses, with the kernel's own rule (make rust-analyzer
M=DIR) run in the toolchain and its toolchain paths rewritten to host paths.
A file rko did not write, or one edited since, is kept (--force replaces it,
keeping yours as rust-project.json.orig). rko new and rko build write it too.

--server runs the toolchain's rust-analyzer (the same version as its rustc)
with stdin and stdout passed through, for the workspace DIR (default: the
current directory, which is where editors start it); ARGS after -- go to
rust-analyzer. --wrapper writes an executable
that runs rko rust-analyzer --server, for editors that want a path
(docs/editor.md).`,
		RunE: func(c *cobra.Command, args []string) error {
			if wrapper {
				path, err := writeWrapper()
				if err != nil {
					return err
				}
				fmt.Fprintln(c.OutOrStdout(), path)
				return nil
			}
			if server {
				// rko rust-analyzer --server [DIR] [-- ARGS]
				dir, raArgs := ".", args
				if n := c.ArgsLenAtDash(); n >= 0 {
					if n > 1 {
						return fmt.Errorf("--server takes at most one DIR before --, got %q", args[:n])
					}
					if n == 1 {
						dir = args[0]
					}
					raArgs = args[n:]
				} else if len(args) > 0 {
					return fmt.Errorf("--server: put rust-analyzer's arguments after --, e.g. rko rust-analyzer --server -- %s", strings.Join(args, " "))
				}
				abs, err := filepath.Abs(dir)
				if err != nil {
					return err
				}
				ko := f.kernelRequest()
				argv, err := workflow.ServerCommand(c.Context(), abs, f.toolchain, ko, raArgs, fa.IO.Printer(true))
				if err != nil {
					return err
				}
				return run.Exec(argv, os.Environ())
			}
			if len(args) == 0 {
				args = []string{"."}
			}
			p := fa.IO.Printer(f.quiet)
			env, k, err := f.cachedKernel(c.Context(), p)
			if err != nil {
				return err
			}
			res, err := env.RustProjects(c.Context(), k, args, force)
			if err != nil {
				return err
			}
			kept := false
			for _, r := range res {
				kept = kept || r.Status == rustproject.Kept
			}
			if asJSON {
				if err := writeJSON(c.OutOrStdout(), res); err != nil {
					return err
				}
				res = nil
			}
			for _, r := range res {
				switch r.Status {
				case rustproject.Kept:
					fmt.Fprintf(c.OutOrStdout(), "%s: kept (yours)\n", r.Path)
				case rustproject.NoRust:
					fmt.Fprintf(c.OutOrStdout(), "%s: no Rust crate, nothing written\n", r.Dir)
				default:
					fmt.Fprintf(c.OutOrStdout(), "%s: %s (%d crates)\n", r.Path, r.Status, r.Crates)
				}
			}
			if kept {
				return exitCode(ExitFail)
			}
			return nil
		},
	}
	f.add(c, "default")
	c.Flags().BoolVar(&asJSON, "json", false, "print what was written as JSON")
	c.Flags().BoolVar(&force, "force", false, "replace a rust-project.json rko did not write (yours is kept as rust-project.json.orig)")
	c.Flags().BoolVar(&server, "server", false, "run the toolchain's rust-analyzer with stdio passed through (for editors)")
	c.Flags().BoolVar(&wrapper, "wrapper", false, "write an executable that runs rko rust-analyzer --server and print its path")
	c.MarkFlagsMutuallyExclusive("server", "wrapper", "json")
	c.MarkFlagsMutuallyExclusive("server", "wrapper", "force")
	return c
}

// writeWrapper writes <cache>/bin/rust-analyzer, a shell script that runs
// this rko's rust-analyzer --server with the editor's arguments, and
// returns its path. The script is ours: only rko's own path goes in it,
// single-quoted.
func writeWrapper() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding rko's own path: %w", err)
	}
	if self, err = filepath.EvalSymlinks(self); err != nil {
		return "", err
	}
	if strings.HasPrefix(filepath.Base(self), "cli.test") {
		return "", errors.New("--wrapper must be run from the rko binary")
	}
	dir, err := cache.Sub("bin")
	if err != nil {
		return "", err
	}
	quoted := "'" + strings.ReplaceAll(self, "'", `'\''`) + "'"
	script := "#!/bin/sh\n# Written by rko rust-analyzer --wrapper: the toolchain's rust-analyzer for editors.\nexec " + quoted + " rust-analyzer --server -- \"$@\"\n"
	path := filepath.Join(dir, "rust-analyzer")
	return path, cache.WriteFileAtomic(path, []byte(script), 0o755)
}
