package cli

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rkodev/rko/internal/job"
	"github.com/rkodev/rko/internal/kdoc"
	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/toolchain"
	"github.com/rkodev/rko/internal/ui"
	"github.com/rkodev/rko/internal/workflow"
)

func newDocCmd(fa *Factory) *cobra.Command {
	var f kernelFlags
	var (
		asJSON, serve, rebuild, diff bool
		crates                       []string
		limit                        int
	)
	c := &cobra.Command{
		Use:   "doc [QUERY] | --serve [ADDR]",
		Short: "The rustdoc of the kernel crate (and macros, pin_init) for the kernel rko build uses",
		Long: `doc builds the rustdoc of the kernel's Rust crates once per kernel (make
rustdoc in its build tree; cached with the kernel) and answers QUERY from
rustdoc's own search data: each match's path, kind, signature, the first
paragraph of its doc and its source file:line, best first (rko doc
KVec::push, rko doc miscdevice, rko doc --json mutex). Nothing found: the
items the kernel's config leaves out (with the option that would bring them
in), else the closest names; exit 1. Without QUERY it prints where the docs
are. --serve [ADDR] serves them over HTTP (default ` + kdoc.DefaultAddr + `) until Ctrl-C.`,
		Args: func(c *cobra.Command, args []string) error {
			if diff {
				if len(args) < 2 || len(args) > 3 {
					return &job.Error{Field: "--diff", Msg: "want two kernels and an optional path: rko doc --diff 6.12 7.3 [kernel::sync]"}
				}
				return nil
			}
			return cobra.MaximumNArgs(1)(c, args)
		},
		RunE: func(c *cobra.Command, args []string) error {
			p := fa.IO.Printer(f.quiet || (asJSON && !serve))
			if diff {
				crate := "kernel"
				if len(crates) == 1 {
					crate = crates[0]
				}
				prefix := ""
				if len(args) == 3 {
					prefix = args[2]
				}
				return runDocDiff(c.Context(), fa.IO, f, args[0], args[1], crate, prefix, asJSON, p)
			}
			env, k, err := f.cachedKernel(c.Context(), p)
			if err != nil {
				return err
			}
			logPath, logf := workflow.LogFile("rustdoc")
			done := p.Phase("docs")
			docs, err := kdoc.Build(c.Context(), kdoc.Params{Toolchain: env.Toolchain, Kernel: k, Rebuild: rebuild, Log: logf, Progress: p.Logf})
			logf.Close()
			if err != nil {
				return fmt.Errorf("%w\nfull make output: %s", err, logPath)
			}
			done()
			if docs.Built {
				p.Logf("rustdoc of kernel %s built in %s: %s", k.Key, docs.Took.Round(time.Second), docs.Dir)
			}
			if serve {
				addr := ""
				if len(args) == 1 {
					addr = args[0]
				}
				ln, err := kdoc.Listen(addr)
				if err != nil {
					return err
				}
				fmt.Fprintln(c.OutOrStdout(), kdoc.URL(ln))
				p.Logf("serving %s (kernel %s) until Ctrl-C", docs.Dir, k.Key)
				return kdoc.Serve(c.Context(), ln, docs.Dir)
			}
			if len(args) == 0 {
				fmt.Fprintf(c.OutOrStdout(), "%s\nquery it: rko doc NAME; browse it: rko doc --serve\n", filepath.Join(docs.Dir, "kernel", "index.html"))
				return nil
			}
			start := time.Now()
			ix, err := kdoc.LoadIndex(docs.Dir)
			if err != nil {
				return err
			}
			lib := ""
			if env.Toolchain.Kind == toolchain.Rootfs {
				lib = filepath.Join(env.Toolchain.Root, "usr/lib/rustlib/src/rust/library")
			}
			a := ix.Query(args[0], kdoc.QueryOpts{Crates: crates, Limit: limit, SourceDir: k.Source.Dir, BuildDir: k.BuildDir, SysrootLib: lib})
			a.Kernel = k.Key
			p.Logf("%d item(s) searched in %s", len(ix.Items), time.Since(start).Round(time.Millisecond))
			if asJSON {
				if err := writeJSON(c.OutOrStdout(), a); err != nil {
					return err
				}
			} else {
				printAnswer(c.OutOrStdout(), a)
			}
			if len(a.Results) == 0 {
				return exitCode(ExitFail)
			}
			return nil
		},
	}
	f.add(c, "default")
	c.Flags().BoolVar(&asJSON, "json", false, "print the answer as JSON (docs/schemas.md)")
	c.Flags().BoolVar(&serve, "serve", false, "serve the HTML docs on ADDR (default "+kdoc.DefaultAddr+")")
	c.Flags().BoolVar(&rebuild, "rebuild", false, "build the docs again")
	c.Flags().StringArrayVar(&crates, "crate", nil, "search this crate (repeatable; all for every crate, core included); default: "+strings.Join(kdoc.DefaultCrates, ", "))
	c.Flags().IntVarP(&limit, "limit", "n", 10, "print at most this many matches")
	c.Flags().BoolVar(&diff, "diff", false, "rko doc --diff A B [PATH]: the items added, removed and changed in signature between kernels A and B (versions such as 6.12 and 7.3, or any --kernel value), from their rustdoc; PATH limits it to a module (kernel::sync)")
	c.MarkFlagsMutuallyExclusive("serve", "json")
	c.MarkFlagsMutuallyExclusive("serve", "diff")
	return c
}

// blanketMin is how many types a method with one signature must be added
// to (or removed from) for rko doc --diff to show it as one line: the
// methods of a blanket impl.
const blanketMin = 4

// lastSegment is the last part of a path ("size" of kernel::sync::Arc::size).
func lastSegment(path string) string {
	if i := strings.LastIndex(path, "::"); i >= 0 {
		return path[i+2:]
	}
	return path
}

// docsOf builds (or finds) the rustdoc of the kernel spec names, built
// already: rko doc --diff compares two of them.
func docsOf(ctx context.Context, f kernelFlags, spec string, p *ui.Printer) (*kernel.Kernel, *kdoc.Index, error) {
	f.kernel = spec
	env, k, err := f.cachedKernel(ctx, p)
	if err != nil {
		return nil, nil, fmt.Errorf("kernel %s: %w", spec, err)
	}
	logPath, logf := workflow.LogFile("rustdoc")
	docs, err := kdoc.Build(ctx, kdoc.Params{Toolchain: env.Toolchain, Kernel: k, Log: logf, Progress: p.Logf})
	logf.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("kernel %s: %w\nfull make output: %s", spec, err, logPath)
	}
	if docs.Built {
		p.Logf("rustdoc of kernel %s (%s) built in %s", spec, k.Release, docs.Took.Round(time.Second))
	}
	ix, err := kdoc.LoadIndex(docs.Dir)
	return k, ix, err
}

// runDocDiff is rko doc --diff A B [PATH].
func runDocDiff(ctx context.Context, ios *IOStreams, f kernelFlags, a, b, crate, prefix string, asJSON bool, p *ui.Printer) error {
	ka, ixa, err := docsOf(ctx, f, a, p)
	if err != nil {
		return err
	}
	kb, ixb, err := docsOf(ctx, f, b, p)
	if err != nil {
		return err
	}
	start := time.Now()
	d := kdoc.DiffIndexes(ixa, ixb, crate, prefix)
	d.Old, d.New, d.Seconds = ka.Release, kb.Release, time.Since(start).Seconds()
	if asJSON {
		return writeJSON(ios.Out, d)
	}
	w := ios.Out
	what := crate + " crate"
	if prefix != "" {
		what = prefix
	}
	for _, sec := range []struct {
		name  string
		items []kdoc.DiffItem
	}{{"added", d.Added}, {"removed", d.Removed}, {"changed", d.Changed}} {
		if len(sec.items) == 0 {
			continue
		}
		fmt.Fprintf(w, "%s in %s:\n", sec.name, d.New)
		// A method that a blanket impl gives every type (size,
		// into_safe_cast...) is one line, not one per type.
		groups := map[string][]kdoc.DiffItem{}
		for _, it := range sec.items {
			if it.Kind == "method" && sec.name != "changed" {
				k := lastSegment(it.Path) + "\x00" + it.Old + it.New
				groups[k] = append(groups[k], it)
			}
		}
		shown := map[string]bool{}
		for _, it := range sec.items {
			if it.Kind == "method" && sec.name != "changed" {
				k := lastSegment(it.Path) + "\x00" + it.Old + it.New
				if g := groups[k]; len(g) >= blanketMin {
					if !shown[k] {
						shown[k] = true
						fmt.Fprintf(w, "  %-8s %s on %d types (e.g. %s)\n", "method", lastSegment(it.Path), len(g), g[0].Path)
					}
					continue
				}
			}
			fmt.Fprintf(w, "  %-8s %s\n", kdoc.LongKind(it.Kind), it.Path)
			if sec.name == "changed" {
				fmt.Fprintf(w, "      %s: %s\n      %s: %s\n", d.Old, shortSignature(it.Old), d.New, shortSignature(it.New))
			}
		}
	}
	fmt.Fprintf(w, "%s, %s -> %s: %d added, %d removed, %d changed (compared in %.1fs)\n", what, d.Old, d.New, len(d.Added), len(d.Removed), len(d.Changed), d.Seconds)
	return nil
}

// printAnswer prints a query's answer for people.
func printAnswer(w io.Writer, a *kdoc.Answer) {
	for i, r := range a.Results {
		if i > 0 {
			fmt.Fprintln(w)
		}
		dep := ""
		if r.Deprecated {
			dep = ", deprecated"
		}
		fmt.Fprintf(w, "%s (%s%s)\n", r.Path, kdoc.LongKind(r.Kind), dep)
		if r.Signature != "" {
			fmt.Fprintf(w, "    %s\n", shortSignature(r.Signature))
		}
		if r.Doc != "" {
			fmt.Fprintf(w, "    %s\n", r.Doc)
		}
		if r.File != "" {
			fmt.Fprintf(w, "    %s:%d\n", r.File, r.Line)
		}
		if len(r.AlsoAt) > 0 {
			fmt.Fprintf(w, "    also: %s\n", strings.Join(r.AlsoAt, ", "))
		}
	}
	for _, ab := range a.Absent {
		fmt.Fprintf(w, "%s (%s) is not in this kernel: its config turns off %s\n    %s:%d\n", ab.Path, ab.Kind, ab.Cfg, ab.File, ab.Line)
		if len(ab.Options) > 0 {
			var lines []string
			for _, o := range ab.Options {
				if name, val, ok := strings.Cut(o, "="); ok {
					lines = append(lines, name+"="+val)
				} else {
					lines = append(lines, o+"=y")
				}
			}
			fmt.Fprintf(w, "    to bring it in: a fragment with %s (rko build --fragment FILE; rko kernel build names any dependency it lacks)\n", strings.Join(lines, ", "))
		}
	}
	if len(a.Results) == 0 && len(a.Absent) == 0 {
		fmt.Fprintf(w, "no item matches %q in kernel %s's docs", a.Query, a.Kernel)
		if len(a.Closest) > 0 {
			fmt.Fprintf(w, "; closest names:\n    %s\n", strings.Join(a.Closest, "\n    "))
		} else {
			fmt.Fprintln(w)
		}
	}
}

// shortSignature keeps a long declaration (a trait with all its items)
// to its head: the whole one is on the item's page and in --json.
func shortSignature(s string) string {
	if len(s) <= 160 {
		return s
	}
	if i := strings.Index(s, " { "); i > 0 {
		return s[:i] + " { ... }"
	}
	return s[:157] + "..."
}
