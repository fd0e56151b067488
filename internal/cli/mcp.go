package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/rkodev/rko/internal/job"
	"github.com/rkodev/rko/internal/mcpserver"
)

// MCPOptions are rko mcp's options.
type MCPOptions struct {
	IO *IOStreams
	// Roots are the directories the tools may use (--root); none: any.
	Roots []string
}

// NewCmdMCP makes rko mcp; runF, when not nil, runs instead of runMCP.
func NewCmdMCP(f *Factory, runF func(context.Context, *MCPOptions) error) *cobra.Command {
	o := &MCPOptions{IO: f.IO}
	c := &cobra.Command{
		Use:   "mcp",
		Short: "Serve rko's tools to an AI agent over the Model Context Protocol (stdio)",
		Long: `mcp serves rko as a Model Context Protocol server on standard input and
output, for an MCP client (an editor's or a desktop agent) to start with
"command": "rko", "args": ["mcp"]. Its tools are the whole loop: doctor,
new, build, test (rko test's report: verdict, crashes with source lines,
the KUnit tree), triage, lint, doc, and a watch session (watch_start,
watch_cycle, watch_stop). Long tools report progress and stop their guest
when the call is cancelled; calls on one module directory run one at a
time. Resources: the last test run's console log and report, and rko's
docs. Progress and the server's own lines go to standard error. Every
watch session's guest is stopped when the client disconnects.
--root DIR (repeatable) limits the paths the tools may use to those
directories. docs/mcp.md has client configurations.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			for i, r := range o.Roots {
				st, err := os.Stat(r)
				if err != nil || !st.IsDir() {
					return fmt.Errorf("--root %s is not a directory: give a directory the tools may use", r)
				}
				o.Roots[i] = job.AbsPath(r)
			}
			if runF != nil {
				return runF(c.Context(), o)
			}
			return runMCP(c.Context(), o)
		},
	}
	c.Flags().StringArrayVar(&o.Roots, "root", nil, "a directory the tools may use (repeatable): module directories, rko new's parent, lint paths and console logs must be under one (default: any path)")
	return c
}

func runMCP(ctx context.Context, o *MCPOptions) error {
	in, out, err := protocolStreams(o.IO)
	if err != nil {
		return err
	}
	version := "devel"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		version = bi.Main.Version
	}
	s := mcpserver.New(mcpserver.Options{Version: version, Roots: o.Roots, Log: o.IO.ErrOut})
	fmt.Fprintf(o.IO.ErrOut, "rko mcp: serving on stdio (rko %s)\n", version)
	err = s.Run(ctx, &mcp.IOTransport{Reader: in, Writer: out})
	fmt.Fprintln(o.IO.ErrOut, "rko mcp: stopped (every watch session and guest with it)")
	return err
}

// protocolStreams are the streams the protocol runs on. When they are
// the process's standard input and output, the protocol gets descriptors
// of its own, and descriptors 0 and 1 become /dev/null and standard
// error: a stray print of rko's, or a program rko runs that reads its
// standard input or writes its standard output, can then never corrupt
// the protocol or steal its bytes.
func protocolStreams(s *IOStreams) (io.ReadCloser, io.WriteCloser, error) {
	if s.In != os.Stdin || s.Out != os.Stdout {
		return io.NopCloser(s.In), nopWriteCloser{s.Out}, nil
	}
	inFD, err := unix.Dup(0)
	if err != nil {
		return nil, nil, fmt.Errorf("rko mcp: duplicating standard input: %w", err)
	}
	outFD, err := unix.Dup(1)
	if err != nil {
		unix.Close(inFD)
		return nil, nil, fmt.Errorf("rko mcp: duplicating standard output: %w", err)
	}
	unix.CloseOnExec(inFD)
	unix.CloseOnExec(outFD)
	if null, err := os.Open(os.DevNull); err == nil {
		unix.Dup3(int(null.Fd()), 0, 0)
		null.Close()
	}
	unix.Dup3(2, 1, 0)
	return os.NewFile(uintptr(inFD), "mcp-in"), os.NewFile(uintptr(outFD), "mcp-out"), nil
}

// nopWriteCloser is a Writer whose Close does nothing (the streams are
// the caller's).
type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
