package guest

import (
	"context"
	"debug/elf"
	"encoding/json"
	"github.com/rkodev/rko/internal/target"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

func TestParseFrame(t *testing.T) {
	tests := []struct {
		name string
		line string
		want Frame
		ok   bool
	}{
		{"bare", `@@rko {"ev":"boot"}`, Frame{Ev: "boot"}, true},
		{"printk timestamp", `[    1.234567] @@rko {"ev":"start","step":"insmod hello","kind":"insmod"}`,
			Frame{Ev: "start", Step: "insmod hello", Kind: "insmod"}, true},
		{"end", `[    1.260000] @@rko {"ev":"end","step":"insmod hello","rc":0,"ms":16}`,
			Frame{Ev: "end", Step: "insmod hello", Ms: 16}, true},
		{"failed end", `@@rko {"ev":"end","step":"test t","rc":-1,"signal":"SIGSEGV","error":"x","ms":3}`,
			Frame{Ev: "end", Step: "test t", RC: -1, Signal: "SIGSEGV", Error: "x", Ms: 3}, true},
		{"output", `[ 2.0] @@rko {"ev":"out","step":"test smoke.sh","stream":"stdout","line":"ok @@rko {}"}`,
			Frame{Ev: "out", Step: "test smoke.sh", Stream: "stdout", Line: "ok @@rko {}"}, true},
		{"serial CR and spaces", "@@rko {\"ev\":\"done\"}  \r", Frame{Ev: "done"}, true},
		{"unknown fields", `@@rko {"ev":"boot","flavour":"1.2"}`, Frame{Ev: "boot"}, true},
		{"module", `[ 8.1] @@rko {"ev":"module","step":"insmod m","module":"m","sections":{".text":"0xffffffffa0000000"}}`,
			Frame{Ev: "module", Step: "insmod m", Module: "m", Sections: map[string]string{".text": "0xffffffffa0000000"}}, true},
		{"kernel line", `[    0.000000] Linux version 7.3.0`, Frame{}, false},
		{"garbage JSON", `@@rko {"ev":"boot"`, Frame{}, false},
		{"not JSON", `@@rko hello`, Frame{}, false},
		{"missing ev", `@@rko {"step":"x"}`, Frame{}, false},
		{"empty ev", `@@rko {"ev":""}`, Frame{}, false},
		{"no space after prefix", `@@rko{"ev":"boot"}`, Frame{}, false},
		{"empty", ``, Frame{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseFrame(tt.line)
			if ok != tt.ok || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseFrame(%q) = %+v, %v; want %+v, %v", tt.line, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func plan(steps ...string) *Plan {
	p := &Plan{}
	for _, s := range steps {
		kind, _, _ := strings.Cut(s, " ")
		if kind == "test" {
			kind = "exec"
		}
		p.Steps = append(p.Steps, Step{Name: s, Kind: kind})
	}
	return p
}

func TestReadSession(t *testing.T) {
	p := plan("insmod hello", "test hello/smoke.sh", "rmmod hello", "kmemleak")
	type stepWant struct {
		status string
		rc     int
		signal string
		err    string
		out    []string
		from   int
		to     int
	}
	tests := []struct {
		name    string
		console string
		booted  bool
		done    bool
		err     string
		steps   []stepWant
	}{
		{
			name:    "nothing",
			console: "[    0.000000] Linux version 7.3.0\nKernel panic - not syncing: VFS: Unable to mount root fs\n",
			steps:   []stepWant{{status: "skipped"}, {status: "skipped"}, {status: "skipped"}, {status: "skipped"}},
		},
		{
			name: "all passed",
			console: `[    0.000000] Linux version 7.3.0
[    1.000000] @@rko {"ev":"boot"}
[    1.100000] @@rko {"ev":"start","step":"insmod hello","kind":"insmod"}
[    1.110000] hello: loaded
[    1.120000] @@rko {"ev":"end","step":"insmod hello","rc":0,"ms":20}
[    1.200000] @@rko {"ev":"start","step":"test hello/smoke.sh","kind":"exec"}
[    1.210000] @@rko {"ev":"out","step":"test hello/smoke.sh","stream":"stdout","line":"hello is loaded"}
[    1.211000] @@rko {"ev":"out","step":"test hello/smoke.sh","stream":"stderr","line":"second"}
[    1.220000] @@rko {"ev":"end","step":"test hello/smoke.sh","rc":0,"ms":20}
[    1.300000] @@rko {"ev":"start","step":"rmmod hello","kind":"rmmod"}
[    1.310000] @@rko {"ev":"end","step":"rmmod hello","rc":0,"ms":10}
[    1.400000] @@rko {"ev":"start","step":"kmemleak","kind":"kmemleak"}
[    1.410000] @@rko {"ev":"end","step":"kmemleak","rc":0,"ms":10}
[    1.500000] @@rko {"ev":"done"}
[    1.600000] reboot: Power down
`,
			booted: true, done: true,
			steps: []stepWant{
				{status: "passed", from: 3, to: 5},
				{status: "passed", out: []string{"hello is loaded", "second"}, from: 6, to: 9},
				{status: "passed", from: 10, to: 11},
				{status: "passed", from: 12, to: 13},
			},
		},
		{
			name: "failed, crashed and skipped",
			console: "\r\n" + `@@rko {"ev":"boot"}` + "\r\n" +
				`@@rko {"ev":"start","step":"insmod hello"}` + "\r\n" +
				`@@rko {"ev":"end","step":"insmod hello","rc":1,"error":"insmod: ERANGE","ms":2}` + "\r\n" +
				`@@rko {"ev":"start","step":"test hello/smoke.sh"}` + "\r\n" +
				`@@rko {"ev":"out","step":"test hello/smoke.sh","line":"about to oops"}` + "\r\n" +
				"BUG: kernel NULL pointer dereference, address: 0000000000000000\r\n",
			booted: true,
			steps: []stepWant{
				{status: "failed", rc: 1, err: "insmod: ERANGE", from: 3, to: 4},
				{status: "crashed", out: []string{"about to oops"}, from: 5},
				{status: "skipped"},
				{status: "skipped"},
			},
		},
		{
			name: "killed by a signal",
			console: `@@rko {"ev":"boot"}
@@rko {"ev":"start","step":"insmod hello"}
@@rko {"ev":"end","step":"insmod hello","rc":0}
@@rko {"ev":"start","step":"test hello/smoke.sh"}
@@rko {"ev":"end","step":"test hello/smoke.sh","rc":-1,"signal":"SIGKILL"}
@@rko {"ev":"start","step":"rmmod hello"}
@@rko {"ev":"end","step":"rmmod hello","rc":0}
@@rko {"ev":"start","step":"kmemleak"}
@@rko {"ev":"end","step":"kmemleak","rc":0}
@@rko {"ev":"done"}`,
			booted: true, done: true,
			steps: []stepWant{
				{status: "passed", from: 2, to: 3},
				{status: "failed", rc: -1, signal: "SIGKILL", from: 4, to: 5},
				{status: "passed", from: 6, to: 7},
				{status: "passed", from: 8, to: 9},
			},
		},
		{
			name: "plan error and unknown steps",
			console: `@@rko {"ev":"boot"}
@@rko {"ev":"start","step":"not in the plan"}
@@rko {"ev":"out","step":"not in the plan","line":"x"}
@@rko {"ev":"end","step":"not in the plan","rc":3}
@@rko {"ev":"error","error":"read /rko/plan.json: no such file"}
@@rko {"ev":"done"}`,
			booted: true, done: true, err: "read /rko/plan.json: no such file",
			steps: []stepWant{{status: "skipped"}, {status: "skipped"}, {status: "skipped"}, {status: "skipped"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ReadSession([]byte(tt.console), p)
			if s.Booted != tt.booted || s.Done != tt.done || s.Error != tt.err {
				t.Errorf("Booted %v Done %v Error %q; want %v %v %q", s.Booted, s.Done, s.Error, tt.booted, tt.done, tt.err)
			}
			if len(s.Steps) != len(p.Steps) {
				t.Fatalf("%d steps, want %d", len(s.Steps), len(p.Steps))
			}
			for i, w := range tt.steps {
				g := s.Steps[i]
				if g.Name != p.Steps[i].Name || g.Kind != p.Steps[i].Kind {
					t.Errorf("step %d is %q (%s), want %q", i, g.Name, g.Kind, p.Steps[i].Name)
				}
				got := stepWant{g.Status, g.RC, g.Signal, g.Error, g.Output, g.LineFrom, g.LineTo}
				if !reflect.DeepEqual(got, w) {
					t.Errorf("step %q:\n got  %+v\n want %+v", g.Name, got, w)
				}
			}
			var crashed string
			for i, w := range tt.steps {
				if w.status == "crashed" {
					crashed = p.Steps[i].Name
					break
				}
			}
			r := s.Running()
			switch {
			case crashed == "" && r != nil:
				t.Errorf("Running = %q, want none", r.Name)
			case crashed != "" && (r == nil || r.Name != crashed):
				t.Errorf("Running = %v, want %q", r, crashed)
			}
		})
	}
}

func TestReadSessionEmptyPlan(t *testing.T) {
	s := ReadSession([]byte(`@@rko {"ev":"boot"}`+"\n"+`@@rko {"ev":"done"}`), &Plan{})
	if !s.Booted || !s.Done || len(s.Steps) != 0 || s.Running() != nil {
		t.Errorf("session = %+v", s)
	}
}

func TestPlanJSON(t *testing.T) {
	p := &Plan{Steps: []Step{
		{Name: "insmod hello", Kind: "insmod", Path: "/rko/modules/hello.ko", Params: "n=3 s=\"a b\""},
		{Name: "test hello/smoke.sh", Kind: "exec", Argv: []string{"/rko/tests/hello/smoke.sh", "-v"}, Env: []string{"A=1"},
			Dir: "/rko/tests/hello", TimeoutSec: 60, StopOnFail: true},
		{Name: "rmmod hello", Kind: "rmmod", Module: "hello"},
		{Name: "kmemleak", Kind: "kmemleak", TimeoutSec: 60},
	}}
	data := p.JSON()
	if !strings.HasSuffix(string(data), "}\n") {
		t.Errorf("JSON does not end in a newline: %q", data)
	}
	var back Plan
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, p) {
		t.Errorf("round trip:\n got  %+v\n want %+v", back, *p)
	}
	// The field names are the protocol the guest init reads.
	for _, key := range []string{`"steps"`, `"name"`, `"kind"`, `"path"`, `"params"`, `"module"`, `"argv"`, `"env"`, `"dir"`, `"timeout_sec"`, `"stop_on_fail"`} {
		if !strings.Contains(string(data), key) {
			t.Errorf("JSON lacks %s:\n%s", key, data)
		}
	}
	// Empty fields are left out.
	var raw struct{ Steps []map[string]any }
	json.Unmarshal(data, &raw)
	if len(raw.Steps[2]) != 3 {
		t.Errorf("rmmod step has keys %v, want name, kind and module only", raw.Steps[2])
	}
	if got := string((&Plan{}).JSON()); got != "{\n  \"steps\": null\n}\n" {
		t.Errorf("empty plan JSON = %q", got)
	}
}

func TestBuildInit(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: not building the guest init")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go is not on PATH")
	}
	t.Setenv("RKO_CACHE", t.TempDir())
	ctx := context.Background()
	machines := map[string]elf.Machine{"x86_64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "riscv64": elf.EM_RISCV, "um": elf.EM_X86_64}
	paths := map[string]string{} // GOARCH -> init
	for _, name := range target.Names() {
		tg, _ := target.Lookup(name)
		path, err := BuildInit(ctx, tg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if old, ok := paths[tg.GOARCH]; ok && old != path {
			t.Errorf("%s: init %s, want the %s one, %s", name, path, tg.GOARCH, old)
		}
		for arch, p := range paths {
			if arch != tg.GOARCH && p == path {
				t.Errorf("%s: the %s init and the %s one share %s", name, arch, tg.GOARCH, path)
			}
		}
		paths[tg.GOARCH] = path
		checkStaticInit(t, name, path, machines[name])
	}
}

// checkStaticInit checks that path is a static executable for machine,
// and that a second build is the cached file.
func checkStaticInit(t *testing.T, name, path string, machine elf.Machine) {
	t.Helper()
	ctx := context.Background()
	tg, _ := target.Lookup(name)
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("%s: %s is not ELF: %v", name, path, err)
	}
	defer f.Close()
	if f.Class != elf.ELFCLASS64 || f.Machine != machine {
		t.Errorf("%s: class %v machine %v, want 64-bit %v", name, f.Class, f.Machine, machine)
	}
	if f.Type != elf.ET_EXEC {
		t.Errorf("%s: type %v, want ET_EXEC (static, not PIE)", name, f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s: the init has a PT_INTERP: it is not static", name)
		}
		if p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s: the init has a PT_DYNAMIC segment", name)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("%s: the init needs %q", name, libs)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm()&0o100 == 0 {
		t.Errorf("%s: the init is not executable: %v %v", name, st.Mode(), err)
	}

	// Cached: the second call returns the same file without rebuilding.
	before := st.ModTime()
	again, err := BuildInit(ctx, tg)
	if err != nil || again != path {
		t.Errorf("%s: second BuildInit = %q, %v; want %q", name, again, err, path)
	}
	if st2, _ := os.Stat(again); !st2.ModTime().Equal(before) {
		t.Errorf("%s: second BuildInit rewrote the init", name)
	}
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("%s: temporary %s.tmp left behind", name, path)
	}
}

func TestBuildInitNoGo(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("RKO_CACHE", t.TempDir())
	_, err := BuildInit(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "go is not on PATH") {
		t.Errorf("err = %v, want a message that go is missing", err)
	}
}

func TestModuleLoads(t *testing.T) {
	tests := []struct {
		name    string
		console string
		want    []ModuleLoad
	}{
		{"none", "[ 1.0] hello\n", nil},
		{"one load in two frames", `[ 8.0] @@rko {"ev":"module","step":"insmod a","module":"a","pid":7,"sections":{".text":"0xffffffffa0000000",".init.text":"0xffffffffa0001000"}}
[ 8.0] @@rko {"ev":"module","step":"insmod a","module":"a","pid":7,"sections":{".exit.text":"0xffffffffa0000200"}}
`, []ModuleLoad{{Module: "a", Step: "insmod a", PID: 7, Sections: map[string]uint64{".text": 0xffffffffa0000000, ".init.text": 0xffffffffa0001000, ".exit.text": 0xffffffffa0000200}}}},
		{"reload is a second load", `@@rko {"ev":"module","step":"insmod a","module":"a","pid":7,"sections":{".text":"0xffffffffa0000000"}}
@@rko {"ev":"module","step":"insmod a again","module":"a","pid":9,"sections":{".text":"0xffffffffa0004000"}}
`, []ModuleLoad{{Module: "a", Step: "insmod a", PID: 7, Sections: map[string]uint64{".text": 0xffffffffa0000000}},
			{Module: "a", Step: "insmod a again", PID: 9, Sections: map[string]uint64{".text": 0xffffffffa0004000}}}},
		{"zero and bad addresses dropped (non-root reads zeros)", `@@rko {"ev":"module","step":"s","module":"b","sections":{".text":"0x0000000000000000",".init.text":"zz",".exit.text":"0xffffffffa0000100"}}`,
			[]ModuleLoad{{Module: "b", Step: "s", Sections: map[string]uint64{".exit.text": 0xffffffffa0000100}}}},
		{"two modules, program output ignored", `@@rko {"ev":"module","step":"insmod a","module":"a","sections":{".text":"0xffffffffa0000000"}}
@@rko {"ev":"out","step":"t","stream":"stdout","line":"\"ev\":\"module\""}
@@rko {"ev":"module","step":"insmod b","module":"b","sections":{".text":"0xffffffffa0008000"}}`,
			[]ModuleLoad{{Module: "a", Step: "insmod a", Sections: map[string]uint64{".text": 0xffffffffa0000000}},
				{Module: "b", Step: "insmod b", Sections: map[string]uint64{".text": 0xffffffffa0008000}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ModuleLoads(tt.console); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ModuleLoads = %+v, want %+v", got, tt.want)
			}
		})
	}
}

const tok = "00112233445566778899aabbccddeeff"

// signer writes frames as the init of a boot with key does: numbered
// and signed, after a printk timestamp.
type signer struct {
	key string
	seq uint64
}

func (s *signer) line(f Frame) string {
	s.seq++
	f.Seq = s.seq
	return "[    1.000000] " + f.Sign(s.key)
}

func TestNewToken(t *testing.T) {
	a, b := NewToken(), NewToken()
	if len(a) != 32 || strings.Trim(a, "0123456789abcdef") != "" {
		t.Errorf("token %q, want 32 hex digits", a)
	}
	if a == b {
		t.Errorf("two tokens are the same: %s", a)
	}
}

func TestParseFrameFor(t *testing.T) {
	s := &signer{key: tok}
	end := s.line(Frame{Ev: "end", Step: "test forge/smoke.sh", RC: 1, Ms: 9})
	tests := []struct {
		name      string
		line      string
		key       string
		authentic bool
		isFrame   bool
	}{
		{"signed", end, tok, true, true},
		{"signed, serial CR", end + "\r", tok, true, true},
		{"signed, checked without a token", end, "", true, true},
		{"no tok", `@@rko {"ev":"end","step":"test forge/smoke.sh","rc":0,"ms":1}`, tok, false, true},
		{"no tok, plan without a token", `@@rko {"ev":"end","step":"test forge/smoke.sh","rc":0,"ms":1}`, "", true, true},
		{"wrong token", (&signer{key: strings.Repeat("9", 32)}).line(Frame{Ev: "end", Step: "s"}), tok, false, true},
		{"the token itself as tok", `@@rko {"ev":"end","step":"s","rc":0,"seq":5,"tok":"` + tok + `"}`, tok, false, true},
		{"signed frame with rc changed", strings.Replace(end, `"rc":1`, `"rc":0`, 1), tok, false, true},
		{"signed frame with a member added", strings.Replace(end, `{"ev":"end"`, `{"ev":"end","rc":0`, 1), tok, false, true},
		{"tok moved to the front", `@@rko {"tok":"` + strings.TrimSuffix(end[strings.LastIndex(end, `"tok":"`)+7:], `"}`) + `","ev":"end","step":"test forge/smoke.sh","rc":1,"ms":9,"seq":1}`, tok, false, true},
		{"empty tok", `@@rko {"ev":"end","step":"s","tok":""}`, tok, false, true},
		{"kernel line", "[    0.000000] Linux version 7.3.0", tok, false, false},
		{"broken JSON", `@@rko {"ev":"end","tok":"`, tok, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, authentic, isFrame := ParseFrameFor(tt.line, tt.key)
			if authentic != tt.authentic || isFrame != tt.isFrame {
				t.Errorf("ParseFrameFor(%q) authentic %v frame %v; want %v %v", tt.line, authentic, isFrame, tt.authentic, tt.isFrame)
			}
		})
	}
	// The signed line is what json.Marshal writes for the frame with its
	// tok: the init's frames stay plain JSON for any reader.
	f, _ := ParseFrame(end)
	if got := "[    1.000000] " + f.Encode(); got != end {
		t.Errorf("signed line %s, re-encoded %s", end, got)
	}
}

// TestFrameReader is the host's view of a watch guest's console (the
// OnLine callback): a forged ready or ack, and a signed frame printed
// again, are not the init's.
func TestFrameReader(t *testing.T) {
	s := &signer{key: tok}
	boot := s.line(Frame{Ev: "boot", Version: "2"})
	ready := s.line(Frame{Ev: "ready"})
	ack1 := s.line(Frame{Ev: "ack", ID: 1})
	tests := []struct {
		name      string
		line      string
		authentic bool
		isFrame   bool
	}{
		{"boot", boot, true, true},
		{"forged ready, no tok", `@@rko {"ev":"ready"}`, false, true},
		{"ready", ready, true, true},
		{"forged ack of the next command", `@@rko {"ev":"ack","id":2,"seq":9,"tok":"00000000000000000000000000000000"}`, false, true},
		{"ack", ack1, true, true},
		{"ack printed again", ack1, false, true},
		{"ready printed again", "[    9.9] " + ready[strings.Index(ready, "@@rko"):], false, true},
		{"console text", "hello", false, false},
		{"next frame", s.line(Frame{Ev: "ack", ID: 2}), true, true},
	}
	r := &FrameReader{Token: tok}
	ready4 := IsFrameFor(tok)
	for _, tt := range tests {
		f, authentic, isFrame := r.Read(tt.line)
		if authentic != tt.authentic || isFrame != tt.isFrame {
			t.Errorf("%s: Read authentic %v frame %v (%+v); want %v %v", tt.name, authentic, isFrame, f, tt.authentic, tt.isFrame)
		}
	}
	// vm.Config.Ready checks the MAC only: any signed line shows the
	// init is up, nothing unsigned does.
	for _, l := range []string{boot, ready} {
		if !ready4(l) {
			t.Errorf("IsFrameFor(tok)(%q) = false", l)
		}
	}
	for _, l := range []string{`@@rko {"ev":"ready"}`, `@@rko {"ev":"boot","version":"2"}`, "login:"} {
		if ready4(l) {
			t.Errorf("IsFrameFor(tok)(%q) = true", l)
		}
	}
	if !IsFrameFor("")(`@@rko {"ev":"boot"}`) {
		t.Error(`IsFrameFor("") rejects an unsigned frame`)
	}
	// Without a token every frame is the init's, as before.
	plain := &FrameReader{}
	for _, l := range []string{`@@rko {"ev":"ack","id":1}`, `@@rko {"ev":"ack","id":1}`, ack1} {
		if _, authentic, _ := plain.Read(l); !authentic {
			t.Errorf("FrameReader{} rejects %q", l)
		}
	}
}

// TestReadSessionForged: with a token, frames the code under test prints
// count for nothing and are listed with the step they appeared in.
func TestReadSessionForged(t *testing.T) {
	p := plan("insmod forge", "test forge/smoke.sh", "rmmod forge")
	p.Token = tok
	type forgedWant struct {
		step, why string
		lineNo    int
	}
	tests := []struct {
		name   string
		lines  func(s *signer) []string
		status []string
		done   bool
		err    string
		forged []forgedWant
	}{
		{
			name: "a forged end after the script failed does not pass it",
			lines: func(s *signer) []string {
				return []string{
					s.line(Frame{Ev: "boot"}),
					s.line(Frame{Ev: "start", Step: "insmod forge"}),
					s.line(Frame{Ev: "end", Step: "insmod forge"}),
					s.line(Frame{Ev: "start", Step: "test forge/smoke.sh"}),
					s.line(Frame{Ev: "end", Step: "test forge/smoke.sh", RC: 1}),
					s.line(Frame{Ev: "start", Step: "rmmod forge"}),
					// The module's exit function prints this.
					`[    2.000000] @@rko {"ev":"end","step":"test forge/smoke.sh","rc":0,"ms":1}`,
					s.line(Frame{Ev: "end", Step: "rmmod forge"}),
					s.line(Frame{Ev: "done"}),
				}
			},
			status: []string{"passed", "failed", "passed"}, done: true,
			forged: []forgedWant{{"rmmod forge", "no token", 7}},
		},
		{
			name: "a forged end before the real one: the real one stands",
			lines: func(s *signer) []string {
				return []string{
					s.line(Frame{Ev: "boot"}),
					s.line(Frame{Ev: "start", Step: "test forge/smoke.sh"}),
					// The script echoes this to /dev/kmsg, then exits 1.
					`[    2.000000] @@rko {"ev":"end","step":"test forge/smoke.sh","rc":0,"ms":1}`,
					s.line(Frame{Ev: "end", Step: "test forge/smoke.sh", RC: 1}),
					s.line(Frame{Ev: "done"}),
				}
			},
			status: []string{"skipped", "failed", "skipped"}, done: true,
			forged: []forgedWant{{"test forge/smoke.sh", "no token", 3}},
		},
		{
			name: "a step that hung is not ended by a forged end with a made-up tok",
			lines: func(s *signer) []string {
				return []string{
					s.line(Frame{Ev: "boot"}),
					s.line(Frame{Ev: "start", Step: "insmod forge"}),
					`@@rko {"ev":"end","step":"insmod forge","rc":0,"seq":3,"tok":"0123456789abcdef0123456789abcdef"}`,
					`@@rko {"ev":"done","seq":4,"tok":"0123456789abcdef0123456789abcdef"}`,
				}
			},
			status: []string{"crashed", "skipped", "skipped"},
			forged: []forgedWant{{"insmod forge", "wrong token", 3}, {"insmod forge", "wrong token", 4}},
		},
		{
			name: "a signed end copied from the kernel log and printed again",
			lines: func(s *signer) []string {
				boot := s.line(Frame{Ev: "boot"})
				start := s.line(Frame{Ev: "start", Step: "test forge/smoke.sh"})
				// An earlier cycle's end: watch runs the same steps again.
				passed := s.line(Frame{Ev: "end", Step: "test forge/smoke.sh"})
				return []string{
					boot, start, passed,
					s.line(Frame{Ev: "start", Step: "test forge/smoke.sh"}),
					strings.Replace(passed, "[    1.000000] ", "[    3.000000] ", 1),
				}
			},
			status: []string{"skipped", "crashed", "skipped"},
			forged: []forgedWant{{"test forge/smoke.sh", "replayed", 5}},
		},
		{
			name: "forged boot, error and done",
			lines: func(s *signer) []string {
				return []string{
					`@@rko {"ev":"boot","version":"2"}`,
					`@@rko {"ev":"error","error":"made up"}`,
					`@@rko {"ev":"done"}`,
				}
			},
			status: []string{"skipped", "skipped", "skipped"},
			forged: []forgedWant{{"", "no token", 1}, {"", "no token", 2}, {"", "no token", 3}},
		},
		{
			name: "output that looks like a frame is output",
			lines: func(s *signer) []string {
				return []string{
					s.line(Frame{Ev: "boot"}),
					s.line(Frame{Ev: "start", Step: "test forge/smoke.sh"}),
					s.line(Frame{Ev: "out", Step: "test forge/smoke.sh", Line: `@@rko {"ev":"end","step":"test forge/smoke.sh","rc":0}`}),
					s.line(Frame{Ev: "end", Step: "test forge/smoke.sh", RC: 1}),
				}
			},
			status: []string{"skipped", "failed", "skipped"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := tt.lines(&signer{key: tok})
			s := ReadSession([]byte(strings.Join(lines, "\r\n")+"\r\n"), p)
			var status []string
			for _, st := range s.Steps {
				status = append(status, st.Status)
			}
			if !reflect.DeepEqual(status, tt.status) || s.Done != tt.done || s.Error != tt.err {
				t.Errorf("statuses %v done %v error %q; want %v %v %q", status, s.Done, s.Error, tt.status, tt.done, tt.err)
			}
			var forged []forgedWant
			for _, f := range s.Forged {
				forged = append(forged, forgedWant{f.Step, f.Why, f.LineNo})
				if want := lines[f.LineNo-1]; f.Line != want {
					t.Errorf("forged line %q, want %q", f.Line, want)
				}
			}
			if !reflect.DeepEqual(forged, tt.forged) || s.ForgedCount != len(tt.forged) {
				t.Errorf("forged %+v (count %d), want %+v", forged, s.ForgedCount, tt.forged)
			}
		})
	}
}

// TestReadSessionNoToken: a plan without a token reads every frame as
// before (recorded consoles, unit tests); nothing is forged.
func TestReadSessionNoToken(t *testing.T) {
	p := plan("test forge/smoke.sh")
	console := `@@rko {"ev":"boot"}
@@rko {"ev":"start","step":"test forge/smoke.sh"}
@@rko {"ev":"end","step":"test forge/smoke.sh","rc":1}
@@rko {"ev":"end","step":"test forge/smoke.sh","rc":0}
@@rko {"ev":"done"}`
	s := ReadSession([]byte(console), p)
	if s.Steps[0].Status != "passed" || len(s.Forged) != 0 || s.ForgedCount != 0 || !s.Done {
		t.Errorf("session %+v, want the last end to stand and nothing forged", s)
	}
}

func TestReadSessionForgedFlood(t *testing.T) {
	p := plan("test t")
	p.Token = tok
	s := &signer{key: tok}
	lines := []string{s.line(Frame{Ev: "boot"}), s.line(Frame{Ev: "start", Step: "test t"})}
	for i := 0; i < 1000; i++ {
		lines = append(lines, `@@rko {"ev":"end","step":"test t","rc":0}`)
	}
	lines = append(lines, s.line(Frame{Ev: "end", Step: "test t", RC: 1}))
	sess := ReadSession([]byte(strings.Join(lines, "\n")), p)
	if len(sess.Forged) != MaxForged || sess.ForgedCount != 1000 || sess.Steps[0].Status != "failed" {
		t.Errorf("%d forged listed, %d counted, status %s; want %d, 1000, failed", len(sess.Forged), sess.ForgedCount, sess.Steps[0].Status, MaxForged)
	}
}

func TestModuleLoadsFor(t *testing.T) {
	s := &signer{key: tok}
	real := s.line(Frame{Ev: "module", Step: "insmod a", Module: "a", PID: 7, Sections: map[string]string{".text": "0xffffffffa0000000"}})
	console := strings.Join([]string{
		real,
		`@@rko {"ev":"module","step":"insmod a","module":"a","pid":7,"sections":{".init.text":"0xffffffff81000000"}}`,
		real, // printed again
		`@@rko {"ev":"module","step":"insmod b","module":"b","pid":8,"sections":{".text":"0xffffffffa0008000"}}`,
	}, "\n")
	want := []ModuleLoad{{Module: "a", Step: "insmod a", PID: 7, Sections: map[string]uint64{".text": 0xffffffffa0000000}}}
	if got := ModuleLoadsFor(console, tok); !reflect.DeepEqual(got, want) {
		t.Errorf("ModuleLoadsFor = %+v, want %+v", got, want)
	}
	if got := ModuleLoads(console); len(got) != 2 || len(got[0].Sections) != 2 {
		t.Errorf("ModuleLoads (no token) = %+v, want every frame", got)
	}
}

// TestFrameReaderRetriedBoot: vm.Boot boots the same guest (same plan,
// same token) again under TCG when KVM fails, and calls one OnLine for
// both consoles. The second boot's frames count from 1 again; its boot
// frame's new nonce says so, and printing it again is still a replay.
func TestFrameReaderRetriedBoot(t *testing.T) {
	kvm, tcg := &signer{key: tok}, &signer{key: tok}
	lines := []struct {
		line      string
		authentic bool
	}{
		{kvm.line(Frame{Ev: "boot", Nonce: "kvm-boot"}), true},
		{kvm.line(Frame{Ev: "start", Step: "insmod a"}), true},
		// KVM stalls here; TCG boots the same initramfs.
		{tcg.line(Frame{Ev: "boot", Nonce: "tcg-boot"}), true},
		{tcg.line(Frame{Ev: "start", Step: "insmod a"}), true},
		{"[    1.000000] " + (Frame{Ev: "boot", Nonce: "tcg-boot", Seq: 1}).Sign(tok), false}, // printed again
		{"[    1.000000] " + (Frame{Ev: "boot", Nonce: "made-up", Seq: 1}).Sign(strings.Repeat("e", 32)), false},
		{`@@rko {"ev":"boot","nonce":"made-up","seq":1}`, false},
		{tcg.line(Frame{Ev: "end", Step: "insmod a"}), true},
	}
	r := &FrameReader{Token: tok}
	for i, l := range lines {
		if _, authentic, _ := r.Read(l.line); authentic != l.authentic {
			t.Errorf("line %d %s: authentic %v, want %v", i, l.line, authentic, l.authentic)
		}
	}
}
