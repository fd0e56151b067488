package cli

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/rkodev/rko/internal/job"
	"github.com/rkodev/rko/internal/toolchain"
	"github.com/rkodev/rko/internal/workflow"
)

func newToolchainCmd(fa *Factory) *cobra.Command {
	c := &cobra.Command{
		Use:   "toolchain",
		Short: "Provision and inspect the pinned Debian trixie toolchain",
	}
	c.AddCommand(newToolchainInstallCmd(fa), newToolchainShowCmd())
	return c
}

func newToolchainInstallCmd(fa *Factory) *cobra.Command {
	var (
		extra    []string
		force    bool
		mirror   string
		fromLock string
		quiet    bool
		rustc    string
	)
	c := &cobra.Command{
		Use:   "install",
		Short: "Build the toolchain rootfs (rustc, rust-src, bindgen, clang, lld, linux-source 7.3)",
		Long: `install builds a Debian trixie root file system with mmdebstrap under
rko's cache, with the kernel's Rust toolchain and linux-source-7.3 from
trixie-backports, and records every package version in lock.json. It is
built aside and moved into place only when complete; a second call does
nothing. --from-lock rebuilds exactly the versions of a lock file.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p := fa.IO.Printer(quiet)
			compiler, err := toolchain.LookupCompiler(rustc)
			if err != nil {
				return &job.Error{Field: "--rustc", Msg: err.Error()}
			}
			o := toolchain.InstallOpts{Extra: extra, Force: force, Mirror: mirror, Progress: p.Logf, Compiler: compiler}
			if fromLock != "" {
				data, err := os.ReadFile(fromLock)
				if err != nil {
					return err
				}
				var l toolchain.Lock
				if err := json.Unmarshal(data, &l); err != nil {
					return fmt.Errorf("%s is not a rko lock file: %w", fromLock, err)
				}
				o.FromLock, o.Suite, o.Mirror = &l, l.Suite, l.Mirror
				if o.Compiler, err = toolchain.LookupCompiler(l.Rustc); err != nil {
					return err
				}
			}
			logPath, logf := workflow.LogFile("toolchain")
			defer logf.Close()
			o.Log = logf
			done := p.Phase("toolchain install")
			tc, err := toolchain.Install(c.Context(), o)
			if err != nil {
				return fmt.Errorf("%w\nlog: %s", err, logPath)
			}
			done()
			fmt.Fprintln(c.OutOrStdout(), tc.Describe())
			return nil
		},
	}
	c.Flags().StringArrayVar(&extra, "package", nil, "extra Debian package to install (repeatable)")
	c.Flags().BoolVar(&force, "force", false, "rebuild even if installed")
	c.Flags().StringVar(&mirror, "mirror", "", "Debian mirror (default $RKO_DEBIAN_MIRROR or "+toolchain.DefaultMirror+")")
	c.Flags().StringVar(&fromLock, "from-lock", "", "rebuild the exact package versions of this lock.json")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "print no progress")
	c.Flags().StringVar(&rustc, "rustc", "", "the compiler: 1.85 (the pinned trixie one, default) or 1.98 (trixie-backports'), each a rootfs of its own (docs/toolchain.md#two-compilers)")
	return c
}

func newToolchainShowCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "show",
		Short: "Show the installed rootfs toolchain and its lock file",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			tc, err := toolchain.Load("", "")
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(c.OutOrStdout(), tc.Lock)
			}
			fmt.Fprintln(c.OutOrStdout(), tc.Describe())
			fmt.Fprintf(c.OutOrStdout(), "id %s, %d packages, created %s\n", tc.ID, len(tc.Lock.Packages), tc.Lock.Created.Format("2006-01-02 15:04"))
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the lock file")
	return c
}
