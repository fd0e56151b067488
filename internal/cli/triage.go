package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rkodev/rko/internal/results"
	"github.com/rkodev/rko/internal/symbolize"
)

// triageOptions are the inputs of rko triage.
type triageOptions struct {
	file    string
	json    bool
	junit   string
	ktap    bool
	color   string
	modules []string // NAME=KO[:SRCDIR]
}

func newTriageCmd(fa *Factory) *cobra.Command {
	o := &triageOptions{}
	cmd := &cobra.Command{
		Use:   "triage FILE",
		Short: "Turn a saved console or dmesg log into test results and crash reports",
		Long: `rko triage reads a console or dmesg log (FILE, or - for stdin) and prints
what rko test prints for a run: the KUnit/KTAP verdicts of every test and
every crash report (Oops, BUG, WARNING, KASAN, KFENCE, UBSAN, kmemleak,
lockdep, hung task, RCU stall, Rust panic, kernel panic) with its type, a
stable title, the guilty frame and, with --module, the source line.

--json prints the document of docs/results-schema.md; --junit FILE also
writes JUnit XML; --ktap prints the raw KTAP found in the log.

Exit status: 0 all tests passed and no crash, 1 a failed or crashed test
or a crash report, 2 could not run.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.file = args[0]
			return runTriage(cmd, o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.json, "json", false, "print the results as JSON (docs/results-schema.md)")
	f.StringVar(&o.junit, "junit", "", "also write JUnit XML to this file")
	f.BoolVar(&o.ktap, "ktap", false, "print the raw KTAP found in the log instead of a summary")
	f.StringVar(&o.color, "color", "auto", "colour the summary: auto (on a terminal), always or never")
	f.StringArrayVar(&o.modules, "module", nil, "a module to symbolize, NAME=PATH.ko[:SRCDIR] (repeatable)")
	return cmd
}

// parseModuleFlag reads NAME=PATH.ko[:SRCDIR].
func parseModuleFlag(s string) (symbolize.Module, error) {
	name, rest, ok := strings.Cut(s, "=")
	if !ok || name == "" || rest == "" {
		return symbolize.Module{}, fmt.Errorf("invalid --module %q, want NAME=PATH.ko[:SRCDIR]", s)
	}
	ko, src, _ := strings.Cut(rest, ":")
	return symbolize.Module{Name: name, KoPath: ko, SourceDir: src}, nil
}

// runTriage runs triage; with --json, a log that cannot be triaged still
// gets a document on stdout, carrying the error (and the exit status is 2).
func runTriage(cmd *cobra.Command, o *triageOptions) error {
	err := triage(cmd, o)
	if _, verdict := err.(exitError); err != nil && !verdict && o.json {
		if werr := results.Failed(err).WriteJSON(cmd.OutOrStdout()); werr != nil {
			return fmt.Errorf("%w (and writing the JSON document failed: %v)", err, werr)
		}
	}
	return err
}

func triage(cmd *cobra.Command, o *triageOptions) error {
	switch o.color {
	case "auto", "always", "never":
	default:
		return fmt.Errorf("invalid --color %q, want auto, always or never", o.color)
	}
	var mods []symbolize.Module
	for _, s := range o.modules {
		m, err := parseModuleFlag(s)
		if err != nil {
			return err
		}
		mods = append(mods, m)
	}
	var data []byte
	var err error
	if o.file == "-" {
		data, err = io.ReadAll(cmd.InOrStdin())
	} else {
		data, err = os.ReadFile(o.file)
	}
	if err != nil {
		return fmt.Errorf("read console log: %w", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		// An empty capture is a broken pipeline or the wrong file, not a
		// clean run: say so rather than report "no crashes".
		name := o.file
		if name == "-" {
			name = "standard input"
		}
		return fmt.Errorf("the console log on %s is empty: nothing to triage (check the file, or that the command before the pipe printed the log)", name)
	}
	res := results.FromConsole(data, results.Options{Modules: mods, Context: cmd.Context()})
	if o.junit != "" {
		if err := writeFileWith(o.junit, res.WriteJUnit); err != nil {
			return fmt.Errorf("--junit: %w", err)
		}
	}
	out := cmd.OutOrStdout()
	switch {
	case o.json:
		err = res.WriteJSON(out)
	case o.ktap:
		err = res.WriteKTAP(out)
	default:
		color := o.color == "always" || o.color == "auto" && isTerminal(out)
		err = res.WriteText(out, color)
	}
	if err != nil {
		return err
	}
	if !res.OK() {
		return exitCode(ExitFail)
	}
	return nil
}

func writeFileWith(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
