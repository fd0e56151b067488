package main

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/rkodev/rko/internal/guest/proto"
)

const testToken = "0123456789abcdef0123456789abcdef"

// capture sends the init's kernel log writes to a buffer with token set,
// as main does after reading the plan.
func capture(t *testing.T, tok string) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	oldK, oldT, oldS := kmsg, token, seq
	kmsg, token, seq = &buf, tok, 0
	t.Cleanup(func() { kmsg, token, seq = oldK, oldT, oldS })
	return &buf
}

func TestTakePlan(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		data    string // "" : no file
		wantTok string
		wantErr bool
	}{
		{"plan with a token", `{"steps":[{"name":"insmod a","kind":"insmod"}],"token":"` + testToken + `"}`, testToken, false},
		{"plan without a token", `{"steps":[]}`, "", false},
		{"bad JSON", `{"steps":`, "", true},
		{"no plan", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "plan.json")
			if tt.data != "" {
				if err := os.WriteFile(path, []byte(tt.data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			p, err := takePlan(path)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && p.Token != tt.wantTok {
				t.Errorf("token %q, want %q", p.Token, tt.wantTok)
			}
			// Read or not, the file is gone: a step cannot read the token.
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("the plan is still there after takePlan (%v)", err)
			}
		})
	}
}

func TestFramesAreSigned(t *testing.T) {
	buf := capture(t, testToken)
	frame(proto.Frame{Ev: proto.EvBoot, Version: proto.Version})
	frame(proto.Frame{Ev: proto.EvStart, Step: "test a.sh", Kind: proto.KindExec})
	frame(proto.Frame{Ev: proto.EvOut, Step: "test a.sh", Stream: "stdout", Line: `@@rko {"ev":"end","step":"test a.sh","rc":0}`})
	frame(proto.Frame{Ev: proto.EvEnd, Step: "test a.sh", RC: 1, Ms: 3})
	writeKmsg("BUG: memory leak") // not a frame
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines, want 5:\n%s", len(lines), buf)
	}
	for i, l := range lines[:4] {
		if !strings.HasPrefix(l, "<5>"+proto.FramePrefix) {
			t.Errorf("line %d = %q, want a frame at level 5", i, l)
		}
		if strings.Contains(l, testToken) {
			t.Errorf("line %d holds the token itself: %s", i, l)
		}
		f, authentic, isFrame := proto.ParseFrameFor(l, testToken)
		if !isFrame || !authentic || f.Seq != uint64(i+1) {
			t.Errorf("line %d: frame %v authentic %v seq %d, want a signed frame numbered %d: %s", i, isFrame, authentic, f.Seq, i+1, l)
		}
		if _, authentic, _ := proto.ParseFrameFor(l, strings.Repeat("f", 32)); authentic {
			t.Errorf("line %d is authentic under another token", i)
		}
	}
	if lines[4] != "<5>BUG: memory leak" {
		t.Errorf("kernel log line = %q", lines[4])
	}
}

func TestFramesWithoutToken(t *testing.T) {
	buf := capture(t, "")
	frame(proto.Frame{Ev: proto.EvEnd, Step: "s", RC: 2})
	if got, want := buf.String(), "<5>"+`@@rko {"ev":"end","step":"s","rc":2}`+"\n"; got != want {
		t.Errorf("unsigned frame = %q, want %q (the old form)", got, want)
	}
}

// TestFramesConcurrent: output frames come from two goroutines at once;
// the numbers must still rise in the log's order.
func TestFramesConcurrent(t *testing.T) {
	buf := capture(t, testToken)
	var wg sync.WaitGroup
	for _, stream := range []string{"stdout", "stderr"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				frame(proto.Frame{Ev: proto.EvOut, Step: "s", Stream: stream, Line: "x"})
			}
		}()
	}
	wg.Wait()
	var last uint64
	for _, l := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		f, authentic, _ := proto.ParseFrameFor(l, testToken)
		if !authentic || f.Seq != last+1 {
			t.Fatalf("frame %q (authentic %v) after seq %d", l, authentic, last)
		}
		last = f.Seq
	}
	if last != 400 {
		t.Errorf("%d frames, want 400", last)
	}
}

func TestLongFramesStayFrames(t *testing.T) {
	tests := []struct {
		name string
		f    proto.Frame
	}{
		{"long output line", proto.Frame{Ev: proto.EvOut, Step: "test t", Stream: "stdout", Line: strings.Repeat("a", 3000)}},
		{"escaped output", proto.Frame{Ev: proto.EvOut, Step: "test t", Stream: "stdout", Line: strings.Repeat(`"<\`, 700)}},
		{"multibyte output", proto.Frame{Ev: proto.EvOut, Step: "test t", Stream: "stdout", Line: strings.Repeat("é€", 500)}},
		{"invalid UTF-8", proto.Frame{Ev: proto.EvOut, Step: "test t", Stream: "stdout", Line: strings.Repeat("\xff", 900)}},
		{"long error", proto.Frame{Ev: proto.EvEnd, Step: "insmod m", RC: -1, Error: strings.Repeat("e", 2000)}},
	}
	for _, key := range []string{testToken, ""} {
		for _, tt := range tests {
			t.Run(tt.name+"/token "+key, func(t *testing.T) {
				tt.f.Seq = 7
				line := encodeFrame(tt.f, key)
				if len(line) > maxRecord {
					t.Errorf("%d bytes, want at most %d", len(line), maxRecord)
				}
				f, authentic, isFrame := proto.ParseFrameFor(line, key)
				if !isFrame || !authentic {
					t.Fatalf("not an authentic frame (%v %v): %s", isFrame, authentic, line)
				}
				cut := f.Line + f.Error
				if !strings.HasSuffix(cut, "…") || !utf8.ValidString(cut) {
					t.Errorf("cut field %q: want valid UTF-8 ending in …", cut)
				}
				if f.Step != tt.f.Step || f.Ev != tt.f.Ev {
					t.Errorf("frame %+v lost its step or event", f)
				}
			})
		}
	}
	// A short frame is not touched.
	f := proto.Frame{Ev: proto.EvOut, Step: "s", Line: "ok"}
	if got := encodeFrame(f, testToken); got != f.Sign(testToken) {
		t.Errorf("short frame changed: %s", got)
	}
}

// TestStepsDoNotSeeTheToken: the children of every kind of step get
// PID 1's environment and their own argv, and the token is in neither.
func TestStepsDoNotSeeTheToken(t *testing.T) {
	capture(t, testToken)
	steps := []Step{
		{Name: "insmod m", Kind: proto.KindInsmod, Path: "/rko/modules/m.ko", Module: "m"},
		{Name: "rmmod m", Kind: proto.KindRmmod, Module: "m"},
		{Name: "kmemleak", Kind: proto.KindKmemleak},
		{Name: "test t.sh", Kind: proto.KindExec, Argv: []string{"/rko/tests/m/t.sh", "-v"}, Env: []string{"A=1"}},
	}
	for _, st := range steps {
		cmd, err := stepCmd(st)
		if err != nil {
			t.Fatalf("%s: %v", st.Name, err)
		}
		for _, s := range append(append([]string{}, cmd.Args...), cmd.Env...) {
			if strings.Contains(s, testToken) {
				t.Errorf("%s: the child sees the token in %q", st.Name, s)
			}
		}
		if st.Kind != proto.KindExec && !hasPrefix(cmd.Env, "RKO_STEP=") {
			t.Errorf("%s: no RKO_STEP in the child's environment", st.Name)
		}
	}
	sh := shellCmd([]string{"/bin/sh"}, Step{Name: "shell", Kind: proto.KindShell, Env: []string{"RKO_NOECHO=1"}})
	for _, s := range append(append([]string{}, sh.Args...), sh.Env...) {
		if strings.Contains(s, testToken) {
			t.Errorf("shell: the shell sees the token in %q", s)
		}
	}
	if _, err := stepCmd(Step{Name: "x", Kind: proto.KindExec}); err == nil {
		t.Error("an exec step without argv started")
	}
}

func hasPrefix(env []string, p string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, p) {
			return true
		}
	}
	return false
}

func TestBootID(t *testing.T) {
	if _, err := os.Stat("/proc/sys/kernel/random/boot_id"); err != nil {
		t.Skip("no boot_id here:", err)
	}
	a, b := bootID(), bootID()
	if a == "" || a != b {
		t.Errorf("bootID = %q then %q, want one id for the boot", a, b)
	}
}

// deflated compresses data as the host does for a put (with dict as the
// preset dictionary when not nil).
func deflated(t *testing.T, data, dict []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	var w *flate.Writer
	var err error
	if dict != nil {
		w, err = flate.NewWriterDict(&b, flate.BestCompression, dict)
	} else {
		w, err = flate.NewWriter(&b, flate.BestCompression)
	}
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	w.Close()
	return b.Bytes()
}

func sha(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// TestPutEncodings: a put compressed whole, in parts, or against the last
// content of its path as the dictionary lands as the file's bytes; a
// dictionary the init does not have, a wrong sha256 or an unknown encoding
// is refused and leaves the file and the dictionary as they were.
func TestPutEncodings(t *testing.T) {
	dir := t.TempDir()
	ko := filepath.Join(dir, "modules", "hello.ko")
	v1 := bytes.Repeat([]byte("module text, version one; "), 400)
	v2 := append(bytes.Repeat([]byte("module text, version one; "), 300), bytes.Repeat([]byte("version two! "), 100)...)
	t.Cleanup(func() { lastPut = map[string][]byte{} })
	check := func(want []byte) {
		t.Helper()
		got, err := os.ReadFile(ko)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("file holds %d bytes (%v), want %d", len(got), err, len(want))
		}
		if !bytes.Equal(lastPut[ko], want) {
			t.Fatalf("the dictionary of the next put is not the file's content")
		}
	}
	z1 := deflated(t, v1, nil)
	if err := put(proto.Command{Cmd: proto.CmdPut, Path: ko, Data: z1, Enc: proto.EncDeflate, Sum: sha(v1), Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	check(v1)
	z2 := deflated(t, v2, v1)
	if len(z2) >= len(deflated(t, v2, nil)) {
		t.Errorf("the dictionary does not help: %d bytes with it", len(z2))
	}
	if err := put(proto.Command{Cmd: proto.CmdPut, Path: ko, Data: z2, Enc: proto.EncDeflate, Dict: true, Sum: sha(v2)}); err != nil {
		t.Fatal(err)
	}
	check(v2)
	// In parts, as on a console that takes short lines.
	z1 = deflated(t, v1, v2)
	for off := 0; off < len(z1); off += 20 {
		end := min(off+20, len(z1))
		c := proto.Command{Cmd: proto.CmdPut, Path: ko, Data: z1[off:end], Offset: int64(off), More: end < len(z1), Enc: proto.EncDeflate, Dict: true, Sum: sha(v1)}
		if err := put(c); err != nil {
			t.Fatal(err)
		}
	}
	check(v1)
	for name, c := range map[string]proto.Command{
		"no dictionary for the path": {Path: filepath.Join(dir, "other.ko"), Data: z2, Enc: proto.EncDeflate, Dict: true},
		"wrong sha256":               {Path: ko, Data: deflated(t, v2, v1), Enc: proto.EncDeflate, Dict: true, Sum: sha(v1)},
		"wrong dictionary":           {Path: ko, Data: deflated(t, v2, v2), Enc: proto.EncDeflate, Dict: true, Sum: sha(v2)},
		"unknown encoding":           {Path: ko, Data: v2, Enc: "zstd"},
	} {
		c.Cmd = proto.CmdPut
		if err := put(c); err == nil {
			t.Errorf("%s: put succeeded", name)
		}
		check(v1)
	}
}
