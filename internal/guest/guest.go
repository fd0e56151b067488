// Package guest is the host side of rko's guest protocol: it builds the
// guest init (PID 1) from the source embedded in rko, writes the plan the
// init runs, and reads the "@@rko" frames the init prints back out of a
// console log. See docs/guest-protocol.md.
package guest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rkodev/rko/internal/cache"
	"github.com/rkodev/rko/internal/guest/proto"
	"github.com/rkodev/rko/internal/initramfs"
	"github.com/rkodev/rko/internal/run"
	"github.com/rkodev/rko/internal/target"
)

//go:embed init/*.go
var initSource embed.FS

// protoSource is the protocol package, built into every guest program
// beside its own source.
//
//go:embed proto/*.go
var protoSource embed.FS

// Step, Plan and Frame are the protocol's (package proto, compiled into
// the guest init too).
type (
	Step  = proto.Step
	Plan  = proto.Plan
	Frame = proto.Frame
)

// BuildInit returns the path of the static guest init for t, building it
// from the source embedded in rko on first use (see BuildStatic).
func BuildInit(ctx context.Context, t *target.Target) (string, error) {
	return BuildStatic(ctx, t, "init", initSource, "init")
}

// BuildStatic returns the path of a static linux program for the guests
// of t (GOARCH from the target table) built from the .go files of
// directory dir in fsys (a main package that uses the standard library and
// rko's guest protocol package, proto, only; files may be per GOARCH,
// name_arm64.go). It is built with the go command on PATH on first use and
// cached by the GOARCH, the source and that go binary (path, size, mtime:
// cheap to check, and a different Go is a different key), under a lock,
// so concurrent rko processes build it once.
func BuildStatic(ctx context.Context, t *target.Target, name string, fsys fs.FS, dir string) (string, error) {
	if t == nil {
		t = target.Host()
	}
	gobin, err := run.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the Go toolchain is needed to build rko's guest program %s, and go is not on PATH (fix: install Go 1.22 or newer, or apt-get install golang-go)", name)
	}
	// The program is laid out as it is in rko's own module, so it can
	// import the protocol package: main in cmd/NAME, the protocol in
	// internal/guest/proto.
	files := map[string][]byte{}
	parts := [][]byte{[]byte(name), []byte(t.GOARCH)}
	for _, src := range []struct {
		fsys fs.FS
		dir  string
		to   string
	}{{fsys, dir, "cmd/" + name}, {protoSource, "proto", "internal/guest/proto"}} {
		ents, err := fs.ReadDir(src.fsys, src.dir)
		if err != nil {
			return "", err
		}
		for _, e := range ents {
			if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
				continue
			}
			data, err := fs.ReadFile(src.fsys, src.dir+"/"+e.Name())
			if err != nil {
				return "", err
			}
			files[src.to+"/"+e.Name()] = data
			parts = append(parts, []byte(src.to+"/"+e.Name()), data)
		}
	}
	if st, err := os.Stat(gobin); err == nil {
		parts = append(parts, []byte(fmt.Sprint(gobin, st.Size(), st.ModTime().UnixNano())))
	}
	cdir, err := cache.Sub("guest", name+"-"+t.GOARCH+"-"+cache.Key(parts...))
	if err != nil {
		return "", err
	}
	out := filepath.Join(cdir, name)
	if intact(out) {
		return out, nil
	}
	unlock, err := cache.Lock(ctx, out, nil)
	if err != nil {
		return "", err
	}
	defer unlock()
	if intact(out) {
		return out, nil
	}
	src, err := os.MkdirTemp("", "rko-"+name+"-src-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(src)
	files["go.mod"] = []byte("module github.com/rkodev/rko\n\ngo 1.21\n")
	for f, data := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(src, f)), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(src, f), data, 0o644); err != nil {
			return "", err
		}
	}
	tmp := out + ".tmp"
	_, err = run.Cmd(ctx, run.Opts{Dir: src, Env: []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=" + t.GOARCH, "GOFLAGS=-mod=mod", "GOWORK=off"}},
		gobin, "build", "-trimpath", "-ldflags=-s -w", "-o", tmp, "./cmd/"+name)
	if err != nil {
		return "", fmt.Errorf("building the guest program %s: %+v", name, err)
	}
	sum, err := fileSum(tmp)
	if err != nil {
		return "", err
	}
	// The sum first, then the program: a program without its sum (or
	// with another) is rebuilt, never booted as a corrupt /init.
	if err := cache.WriteFileAtomic(out+".sha256", []byte(sum+"\n"), 0o644); err != nil {
		return "", err
	}
	return out, os.Rename(tmp, out)
}

// intact reports whether the cached program at path exists and matches
// the checksum written beside it when it was built.
func intact(path string) bool {
	want, err := os.ReadFile(path + ".sha256")
	if err != nil {
		return false
	}
	got, err := fileSum(path)
	return err == nil && got == strings.TrimSpace(string(want))
}

func fileSum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// NewImage starts a guest initramfs: the guest init as /init, the mount
// points it uses, and the /dev/console and /dev/null nodes the kernel and
// the init need before devtmpfs is mounted. Callers add the plan
// (/rko/plan.json), modules and programs. The init and the archive's
// library directories are those of t.
func NewImage(ctx context.Context, t *target.Target) (*initramfs.Archive, error) {
	if t == nil {
		t = target.Host()
	}
	initPath, err := BuildInit(ctx, t)
	if err != nil {
		return nil, err
	}
	a := initramfs.New()
	a.SetMultiarch(t.LibDir)
	if err := a.AddHostFile("init", initPath); err != nil {
		return nil, err
	}
	for _, d := range []string{"dev", "proc", "sys", "tmp", "root", "rko/bin"} {
		a.AddDir(d)
	}
	a.AddCharDev("dev/console", 5, 1, 0o600)
	a.AddCharDev("dev/null", 1, 3, 0o666)
	return a, nil
}

// FramePrefix marks a guest frame in the console.
const FramePrefix = proto.FramePrefix

// IsFrame reports whether a console line holds something shaped like a
// guest frame (its prefix). It does not authenticate: for a plan with a
// Token, IsFrameFor says whether the init is up (vm.Config.Ready).
func IsFrame(line string) bool { return strings.Contains(line, FramePrefix) }

// NewToken returns a fresh secret for Plan.Token (proto.NewToken): one
// per boot.
func NewToken() string { return proto.NewToken() }

// IsFrameFor returns a vm.Config.Ready for a boot of a plan with token:
// whether a console line holds a frame the init signed. A frame printed
// by anything else is console text. With token "" it is IsFrame.
func IsFrameFor(token string) func(line string) bool {
	if token == "" {
		return IsFrame
	}
	return func(line string) bool {
		_, authentic, _ := proto.ParseFrameFor(line, token)
		return authentic
	}
}

// ParseFrameFor decodes a console line holding a frame and says whether
// the init of a boot with token wrote it (proto.ParseFrameFor). It does
// not catch a signed frame printed again: FrameReader does.
func ParseFrameFor(line, token string) (f Frame, authentic, isFrame bool) {
	return proto.ParseFrameFor(line, token)
}

// FrameReader reads a console line by line and tells the init's frames
// from forged ones: a frame is authentic when it carries the MAC of the
// boot's Token and a Seq above that of every authentic frame before it (a
// frame copied from the kernel log and printed again repeats an old Seq).
// A signed boot frame with a new Nonce starts the count again: one
// FrameReader serves the consoles of a boot and of its retry (vm.Boot
// calls the same OnLine for both). The zero Token accepts every frame, as
// ParseFrame does. Not safe for concurrent use; vm.Config.OnLine calls it
// from one goroutine.
type FrameReader struct {
	Token string
	seq   uint64
	nonce string
}

// Read decodes a console line: isFrame when it is shaped like a frame,
// authentic when the init of this boot wrote it and it is not a replay.
// Act only on authentic frames.
func (r *FrameReader) Read(line string) (f Frame, authentic, isFrame bool) {
	f, why, isFrame := r.read(line)
	return f, isFrame && why == "", isFrame
}

// read is Read with the reason a frame is forged: "" when it is
// authentic.
func (r *FrameReader) read(line string) (Frame, string, bool) {
	f, authentic, isFrame := proto.ParseFrameFor(line, r.Token)
	switch {
	case !isFrame:
		return f, "", false
	case r.Token == "":
		return f, "", true
	case f.Token == "":
		return f, "no token", true
	case !authentic:
		return f, "wrong token", true
	case f.Ev == proto.EvBoot && f.Seq == 1 && f.Nonce != r.nonce:
		// The first frame of another boot of the plan.
		r.nonce = f.Nonce
	case f.Seq <= r.seq:
		return f, "replayed", true
	}
	r.seq = f.Seq
	return f, "", true
}

// BootOffset is the byte offset of the init's boot frame in console: what
// comes before it is the kernel's own boot (its built-in KUnit suites
// among it). -1 when the init never started.
func BootOffset(console []byte) int {
	i := bytes.Index(console, []byte(FramePrefix+`{"ev":"boot"`))
	if i < 0 {
		return -1
	}
	return bytes.LastIndexByte(console[:i], '\n') + 1
}

// ParseFrame decodes a console line holding a frame, wherever the frame
// starts (after a printk timestamp, say). ok is false for other lines.
func ParseFrame(line string) (Frame, bool) { return proto.ParseFrame(line) }

// StepResult is what the console says about one step.
type StepResult struct {
	Name     string   `json:"name"`
	Kind     string   `json:"kind"`
	Status   string   `json:"status"` // passed, failed, crashed (started, never ended), skipped (never started)
	RC       int      `json:"rc"`
	Signal   string   `json:"signal,omitempty"`
	Error    string   `json:"error,omitempty"`
	Ms       int64    `json:"ms"`
	Output   []string `json:"output,omitempty"`
	LineFrom int      `json:"line_from,omitempty"` // console lines the step spans
	LineTo   int      `json:"line_to,omitempty"`
	// Taint is the kernel's taint flags when the step ended.
	Taint uint64 `json:"taint,omitempty"`
}

// Session is the guest's story, read from a console log.
type Session struct {
	Booted bool         `json:"booted"` // the init printed its boot frame
	Done   bool         `json:"done"`   // the init finished the plan
	Steps  []StepResult `json:"steps"`
	// Error is a plan-level error the init reported.
	Error string `json:"error,omitempty"`
	// Forged lists the first MaxForged lines shaped like frames that the
	// init did not write (the plan has a Token and the line lacks its
	// MAC, or repeats an earlier frame): the code under test printed them.
	// They count for nothing in the steps; a verdict names them.
	Forged []ForgedFrame `json:"forged,omitempty"`
	// ForgedCount is how many there were in all.
	ForgedCount int `json:"forged_count,omitempty"`
	// Served is set for a cycle of a guest that stays up (rko watch): its
	// console is that cycle's part, after the boot.
	Served bool `json:"-"`
}

// MaxForged is how many forged frames a Session lists.
const MaxForged = 20

// ForgedFrame is a console line shaped like a frame that the init did not
// write.
type ForgedFrame struct {
	// Step is the step running when it appeared (after the step's
	// start, before its end): "" between steps.
	Step string `json:"step"`
	// Line is the console line.
	Line string `json:"line"`
	// LineNo is its number in the console, from 1.
	LineNo int `json:"line_no"`
	// Why: "no token", "wrong token" (not the MAC of the boot's token) or
	// "replayed" (a signed frame printed again, copied from the kernel
	// log).
	Why string `json:"why"`
}

// ReadSession reads the frames of console against plan. Steps that
// started and never ended are "crashed"; steps never started, "skipped".
// When the plan has a Token, only the frames the init signed count (see
// FrameReader); the others are listed in Forged.
func ReadSession(console []byte, plan *Plan) *Session {
	s := &Session{}
	byName := map[string]*StepResult{}
	for _, st := range plan.Steps {
		s.Steps = append(s.Steps, StepResult{Name: st.Name, Kind: st.Kind, Status: "skipped"})
	}
	for i := range s.Steps {
		byName[s.Steps[i].Name] = &s.Steps[i]
	}
	r := &FrameReader{Token: plan.Token}
	running := ""
	lines := bytes.Split(console, []byte("\n"))
	for n, raw := range lines {
		f, why, ok := r.read(string(raw))
		if !ok {
			continue
		}
		if why != "" {
			s.ForgedCount++
			if len(s.Forged) < MaxForged {
				s.Forged = append(s.Forged, ForgedFrame{Step: running, Line: strings.TrimRight(string(raw), "\r"), LineNo: n + 1, Why: why})
			}
			continue
		}
		st := byName[f.Step]
		switch f.Ev {
		case "boot":
			s.Booted = true
		case "done":
			s.Done = true
		case "error":
			s.Error = f.Error
		case "start":
			running = f.Step
			if st != nil {
				st.Status, st.LineFrom = "crashed", n+1
			}
		case "out":
			if st != nil {
				st.Output = append(st.Output, f.Line)
			}
		case "end":
			if running == f.Step {
				running = ""
			}
			if st != nil {
				st.RC, st.Signal, st.Error, st.Ms, st.LineTo, st.Taint = f.RC, f.Signal, f.Error, f.Ms, n+1, f.Taint
				if f.RC == 0 && f.Signal == "" && f.Error == "" {
					st.Status = "passed"
				} else {
					st.Status = "failed"
				}
			}
		}
	}
	return s
}

// ModuleLoad is where the guest found one loaded module's text sections.
type ModuleLoad struct {
	Module string
	Step   string
	// PID is the process that loaded the module: the module's init code
	// ran in it, so a report naming that pid (kmemleak's "comm ..., pid
	// N") comes from this load.
	PID      int
	Sections map[string]uint64 // section name -> load address
}

// ModuleLoads reads the "module" frames of a console, in load order. The
// frames of one load share its step. It takes every frame: for a boot
// whose plan has a Token, ModuleLoadsFor.
func ModuleLoads(console string) []ModuleLoad { return ModuleLoadsFor(console, "") }

// ModuleLoadsFor is ModuleLoads for the console of a boot whose plan has
// token: frames the init did not sign are left out (FrameReader), so
// the code under test cannot make rko name addresses after a module it
// made up.
func ModuleLoadsFor(console, token string) []ModuleLoad {
	var loads []ModuleLoad
	r := &FrameReader{Token: token}
	// Jump from one "module" frame to the next rather than split a
	// console that can be 100 MB into lines.
	for rest := console; ; {
		i := strings.Index(rest, `"ev":"module"`)
		if i < 0 {
			break
		}
		start := strings.LastIndexByte(rest[:i], '\n') + 1
		end := strings.IndexByte(rest[i:], '\n')
		if end < 0 {
			end = len(rest)
		} else {
			end += i
		}
		line := rest[start:end]
		rest = rest[end:]
		f, authentic, _ := r.Read(line)
		if !authentic || f.Ev != "module" || f.Module == "" {
			continue
		}
		if n := len(loads); n == 0 || loads[n-1].Module != f.Module || loads[n-1].Step != f.Step {
			loads = append(loads, ModuleLoad{Module: f.Module, Step: f.Step, PID: f.PID, Sections: map[string]uint64{}})
		}
		l := &loads[len(loads)-1]
		for sec, v := range f.Sections {
			// A non-root reader sees zeros; those name nothing.
			if addr, err := strconv.ParseUint(strings.TrimPrefix(v, "0x"), 16, 64); err == nil && addr != 0 {
				l.Sections[sec] = addr
			}
		}
	}
	return loads
}

// Running returns the step that started and never ended, if any.
func (s *Session) Running() *StepResult {
	for i := range s.Steps {
		if s.Steps[i].Status == "crashed" {
			return &s.Steps[i]
		}
	}
	return nil
}
