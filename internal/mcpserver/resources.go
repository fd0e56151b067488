package mcpserver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/rkodev/rko/internal/cache"
)

// The resources' addresses.
const (
	uriConsole = "rko://runs/last/console.log"
	uriReport  = "rko://runs/last/report.json"
	uriDocs    = "rko://docs/"
)

// maxConsole is the most of a console log a resource read returns: a
// guest may print up to its console limit (256 MiB by default); the end
// is where the verdict is.
const maxConsole = 4 << 20

func (s *Server) addResources() {
	s.mcp.AddResource(&mcp.Resource{URI: uriConsole, Name: "last-console-log", Title: "Console log of the last test run",
		MIMEType:    "text/plain",
		Description: "The guest's console of the last test call of this server (else of the newest rko test run in the cache): kernel messages, KTAP, crash reports. Its last 4 MiB when longer."},
		s.readLast)
	s.mcp.AddResource(&mcp.Resource{URI: uriReport, Name: "last-report", Title: "Report of the last test run",
		MIMEType:    "application/json",
		Description: "rko test's JSON report (docs/schemas.md) of the last test call of this server (else of the newest rko test run in the cache)."},
		s.readLast)
	var pages []string
	fs.WalkDir(s.opts.Docs, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".md") {
			pages = append(pages, p)
		}
		return nil
	})
	sort.Strings(pages)
	for _, p := range pages {
		s.mcp.AddResource(&mcp.Resource{URI: uriDocs + p, Name: "docs/" + p, Title: docTitle(s.opts.Docs, p),
			MIMEType: "text/markdown", Description: "rko's documentation: docs/" + p}, s.readDoc)
	}
}

// docTitle is a page's first heading, else its name.
func docTitle(fsys fs.FS, p string) string {
	data, err := fs.ReadFile(fsys, p)
	if err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(l, "# ") {
				return strings.TrimSpace(strings.TrimPrefix(l, "# "))
			}
		}
	}
	return path.Base(p)
}

func (s *Server) readDoc(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	uri := req.Params.URI
	data, err := fs.ReadFile(s.opts.Docs, strings.TrimPrefix(uri, uriDocs))
	if err != nil {
		return nil, mcp.ResourceNotFoundError(uri)
	}
	return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: uri, MIMEType: "text/markdown", Text: string(data)}}}, nil
}

// readLast reads the last run's console log or report.
func (s *Server) readLast(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	uri := req.Params.URI
	consoleLog, reportPath, rep := s.lastRun()
	if consoleLog == "" && reportPath == "" && rep == nil {
		return nil, fmt.Errorf("no test run yet: call the test tool first, then read %s", uri)
	}
	switch uri {
	case uriConsole:
		text, err := tail(consoleLog, maxConsole)
		if err != nil {
			return nil, fmt.Errorf("the last run's console log: %v", err)
		}
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: uri, MIMEType: "text/plain", Text: text}}}, nil
	default:
		var data []byte
		var err error
		if reportPath != "" {
			data, err = os.ReadFile(reportPath)
		}
		if (reportPath == "" || err != nil) && rep != nil {
			data, err = json.MarshalIndent(rep, "", "  ")
		}
		if err != nil {
			return nil, fmt.Errorf("the last run's report: %v", err)
		}
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: uri, MIMEType: "application/json", Text: string(data)}}}, nil
	}
}

// lastRun is the last test call's console log and report (its file, or
// the report itself when the file could not be written); without one,
// the newest run directory of the cache that holds a report.
func (s *Server) lastRun() (consoleLog, reportPath string, rep any) {
	s.mu.Lock()
	last := s.last
	s.mu.Unlock()
	if last != nil && last.Report != nil {
		return last.ConsoleLog, filepath.Join(last.RunDir, "report.json"), last.Report
	}
	root, err := runsDir()
	if err != nil {
		return "", "", nil
	}
	ents, _ := os.ReadDir(root)
	for i := len(ents) - 1; i >= 0; i-- {
		d := filepath.Join(root, ents[i].Name())
		if _, err := os.Stat(filepath.Join(d, "report.json")); err == nil {
			return filepath.Join(d, "console.log"), filepath.Join(d, "report.json"), nil
		}
	}
	return "", "", nil
}

// runsDir is the cache's directory of run directories.
func runsDir() (string, error) { return cache.Sub("runs") }

// tail is the file's text, its last max bytes (from a line start) when
// it is longer, after a line that says so.
func tail(p string, max int64) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	if st.Size() <= max {
		data, err := io.ReadAll(f)
		return string(data), err
	}
	if _, err := f.Seek(st.Size()-max, io.SeekStart); err != nil {
		return "", err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return "", err
	}
	if i := strings.IndexByte(string(data), '\n'); i >= 0 {
		data = data[i+1:]
	}
	return fmt.Sprintf("[rko: the last %d of %d bytes of %s]\n", len(data), st.Size(), p) + string(data), nil
}
