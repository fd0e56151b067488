package run

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestCmdSuccess(t *testing.T) {
	var live bytes.Buffer
	res, err := Cmd(context.Background(), Opts{Stdout: &live},
		"sh", "-c", "echo out; echo err >&2")
	if err != nil {
		t.Fatalf("Cmd: %v", err)
	}
	if got := string(res.Stdout); got != "out\n" {
		t.Errorf("Stdout = %q, want %q", got, "out\n")
	}
	if got := string(res.Stderr); got != "err\n" {
		t.Errorf("Stderr = %q, want %q", got, "err\n")
	}
	if live.String() != "out\n" {
		t.Errorf("opts.Stdout got %q, want a live copy of stdout", live.String())
	}
	if res.Duration <= 0 {
		t.Errorf("Duration = %v, want > 0", res.Duration)
	}
}

func TestCmdOptions(t *testing.T) {
	dir := t.TempDir()
	res, err := Cmd(context.Background(), Opts{Dir: dir, Env: []string{"RKO_RUN_TEST=hello"}, Stdin: strings.NewReader("piped")},
		"sh", "-c", `pwd; echo "$RKO_RUN_TEST"; cat`)
	if err != nil {
		t.Fatalf("Cmd: %v", err)
	}
	real, _ := filepath.EvalSymlinks(dir)
	want := real + "\nhello\npiped"
	if got := string(res.Stdout); got != want {
		t.Errorf("Stdout = %q, want %q", got, want)
	}
}

func TestCmdFailure(t *testing.T) {
	tests := []struct {
		name     string
		argv     []string
		keep     int
		exitCode int
		output   string // expected Output (tail)
		msg      string // substring of Error()
	}{
		// One stream per case: stdout and stderr are separate pipes, so
		// their order in the combined tail is not defined.
		{"exit 3", []string{"sh", "-c", "echo to-err >&2; echo more >&2; exit 3"}, 0, 3, "to-err\nmore\n", "sh exited with status 3"},
		{"stdout kept", []string{"sh", "-c", "echo to-out; exit 4"}, 0, 4, "to-out\n", "sh exited with status 4"},
		{"tail kept", []string{"sh", "-c", "printf 0123456789; exit 1"}, 4, 1, "6789", "exited with status 1"},
		{"not found", []string{"/nonexistent/rko-no-such-program"}, 0, -1, "", "rko-no-such-program"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Cmd(context.Background(), Opts{KeepOutput: tt.keep}, tt.argv...)
			var re *Error
			if !errors.As(err, &re) {
				t.Fatalf("err = %v (%T), want *run.Error", err, err)
			}
			if re.ExitCode != tt.exitCode {
				t.Errorf("ExitCode = %d, want %d", re.ExitCode, tt.exitCode)
			}
			if re.TimedOut {
				t.Errorf("TimedOut = true, want false")
			}
			if string(re.Output) != tt.output {
				t.Errorf("Output = %q, want %q", re.Output, tt.output)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Error() = %q, want it to contain %q", err.Error(), tt.msg)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("Error() = %q, want one line", err.Error())
			}
		})
	}
}

func TestCmdEmptyArgv(t *testing.T) {
	if _, err := Cmd(context.Background(), Opts{}); err == nil {
		t.Fatal("Cmd with no argv: want an error")
	}
}

func TestErrorFormat(t *testing.T) {
	_, err := Cmd(context.Background(), Opts{}, "sh", "-c", "echo first line; echo second line >&2; exit 2")
	if err == nil {
		t.Fatal("want an error")
	}
	short := fmt.Sprintf("%v", err)
	if short != err.Error() {
		t.Errorf("%%v = %q, want Error() %q", short, err.Error())
	}
	if strings.Contains(short, "second line") {
		t.Errorf("%%v = %q should not include the output", short)
	}
	long := fmt.Sprintf("%+v", err)
	for _, want := range []string{"sh exited with status 2", "$ sh -c echo first line", "first line\n", "second line\n"} {
		if !strings.Contains(long, want) {
			t.Errorf("%%+v = %q, want it to contain %q", long, want)
		}
	}
	if s := fmt.Sprintf("%s", err); s != err.Error() {
		t.Errorf("%%s = %q, want %q", s, err.Error())
	}
}

func TestErrorMessages(t *testing.T) {
	cause := errors.New("boom")
	tests := []struct {
		e    *Error
		want string
	}{
		{&Error{Argv: []string{"make"}, TimedOut: true, ExitCode: -1}, "make timed out"},
		{&Error{Argv: []string{"make"}, ExitCode: 2}, "make exited with status 2"},
		{&Error{Argv: []string{"make"}, ExitCode: -1, Err: cause}, "make: boom"},
		{&Error{ExitCode: -1, Err: cause}, "command: boom"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	if !errors.Is(&Error{Err: cause}, cause) {
		t.Error("errors.Is through Unwrap failed")
	}
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) STATE ...
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func TestTimeoutKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	// The background sleep is the grandchild that must not survive: it
	// writes its pid, then the shell waits in the foreground sleep.
	script := fmt.Sprintf(`sleep 100 & echo $! > %s; sleep 100`, pidFile)
	start := time.Now()
	_, err := Cmd(context.Background(), Opts{Timeout: time.Second}, "sh", "-c", script)
	var re *Error
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want *run.Error", err)
	}
	if !re.TimedOut {
		t.Errorf("TimedOut = false, want true (err %v)", err)
	}
	if !strings.Contains(err.Error(), "timed out") {
		t.Errorf("Error() = %q, want 'timed out'", err.Error())
	}
	if re.ExitCode != -1 {
		t.Errorf("ExitCode = %d, want -1 (killed by a signal)", re.ExitCode)
	}
	// Not a timing assertion: the sleeps last 100 s, so a return well
	// before that means the group was stopped rather than waited for.
	if d := time.Since(start); d > 60*time.Second {
		t.Errorf("Cmd returned after %v: the process tree was not stopped", d)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatalf("pid file %q: %v", data, err)
	}
	// SIGTERM went to the group before Cmd returned; the orphan is
	// reaped by init asynchronously, so poll until it is gone.
	deadline := time.Now().Add(20 * time.Second)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("background sleep %d survived the timeout", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestContextCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pidFile := filepath.Join(t.TempDir(), "pid")
	done := make(chan error, 1)
	go func() {
		_, err := Cmd(ctx, Opts{}, "sh", "-c", fmt.Sprintf(`echo $$ > %s.tmp; mv %s.tmp %s; sleep 100`, pidFile, pidFile, pidFile))
		done <- err
	}()
	// Cancel once the shell is running.
	for {
		if _, err := os.Stat(pidFile); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("command ended early: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	err := <-done
	var re *Error
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want *run.Error", err)
	}
	if re.TimedOut {
		t.Error("TimedOut = true after a cancel, want false")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want it to wrap context.Canceled", err)
	}
}

func TestTailBuffer(t *testing.T) {
	tests := []struct {
		max    int
		writes []string
		want   string
	}{
		{10, []string{"abc", "def"}, "abcdef"},
		{4, []string{"abc", "def"}, "cdef"},
		{4, []string{"abcdefgh"}, "efgh"},
		{3, []string{"a", "b", "c", "d"}, "bcd"},
	}
	for _, tt := range tests {
		tb := &tailBuffer{max: tt.max}
		for _, w := range tt.writes {
			if n, err := tb.Write([]byte(w)); n != len(w) || err != nil {
				t.Fatalf("Write(%q) = %d, %v", w, n, err)
			}
		}
		if string(tb.tail()) != tt.want {
			t.Errorf("max %d, writes %q: buf = %q, want %q", tt.max, tt.writes, tb.tail(), tt.want)
		}
	}
}

type stubRunner struct{ argv []string }

func (s *stubRunner) Run(ctx context.Context, opts Opts, argv ...string) (*Result, error) {
	s.argv = argv
	return &Result{Stdout: []byte("stub")}, nil
}

// A Runner given to the code is the seam; none given means the real one.
func TestOr(t *testing.T) {
	stub := &stubRunner{}
	res, err := Or(stub).Run(context.Background(), Opts{}, "make", "-j2")
	if err != nil || string(res.Stdout) != "stub" {
		t.Fatalf("Or(stub).Run = %v, %v; want the stub's result", res, err)
	}
	if strings.Join(stub.argv, " ") != "make -j2" {
		t.Errorf("stub got argv %q", stub.argv)
	}
	if _, ok := Or(nil).(OS); !ok {
		t.Errorf("Or(nil) = %T, want OS", Or(nil))
	}
}

// TestBothStreamsKept: stdout and stderr are copied by two goroutines into
// one output tail; with -race this catches unsynchronised writes, and
// without it, lost or torn lines.
func TestBothStreamsKept(t *testing.T) {
	script := `i=0; while [ $i -lt 400 ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done; exit 1`
	res, err := Cmd(context.Background(), Opts{}, "sh", "-c", script)
	var re *Error
	if !errors.As(err, &re) {
		t.Fatalf("err = %v", err)
	}
	if want := len(res.Stdout) + len(res.Stderr); len(re.Output) != want {
		t.Errorf("Output has %d bytes, want %d (stdout + stderr)", len(re.Output), want)
	}
	lines := strings.Split(strings.TrimSuffix(string(re.Output), "\n"), "\n")
	if len(lines) != 800 {
		t.Fatalf("Output has %d lines, want 800", len(lines))
	}
	for _, l := range lines {
		var stream string
		var n int
		if _, err := fmt.Sscanf(l, "%s %d", &stream, &n); err != nil || (stream != "out" && stream != "err") {
			t.Fatalf("torn line %q in Output", l)
		}
	}
}
