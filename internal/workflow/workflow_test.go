package workflow

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rkodev/rko/internal/guest"
	"github.com/rkodev/rko/internal/job"
	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/ui"
	"github.com/rkodev/rko/internal/vm"
)

func TestModuleName(t *testing.T) {
	tests := map[string]string{
		"hello.ko":                     "hello",
		"/tmp/mods/rust-hello.ko":      "rust_hello",
		"a-b-c.ko":                     "a_b_c",
		"/x/y/already_underscored.ko":  "already_underscored",
		"noext":                        "noext",
		"/path-with-dash/mod-name.ko":  "mod_name",
		"/path/file.ko.ko":             "file.ko",
		"relative/dir/buggy_null.ko":   "buggy_null",
		"/work/examples/hello/hello.o": "hello.o",
	}
	for in, want := range tests {
		if got := ModuleName(in); got != want {
			t.Errorf("ModuleName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFindTests(t *testing.T) {
	dir := t.TempDir()
	tests := filepath.Join(dir, "tests")
	os.MkdirAll(filepath.Join(tests, "subdir"), 0o755)
	files := map[string]os.FileMode{
		"z_last.sh":  0o755,
		"a_first.sh": 0o700,
		"b.py":       0o711,
		"readme.txt": 0o644,
		"helper.sh":  0o644, // not executable: a helper, not a test
		"owner_x":    0o100,
	}
	for name, mode := range files {
		p := filepath.Join(tests, name)
		os.WriteFile(p, []byte("#!/bin/sh\n"), mode)
		os.Chmod(p, mode)
	}
	os.Symlink("z_last.sh", filepath.Join(tests, "link.sh")) // not regular
	got := findTests(dir)
	var want []string
	for _, n := range []string{"a_first.sh", "b.py", "owner_x", "z_last.sh"} {
		want = append(want, filepath.Join(tests, n))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("findTests = %q, want %q", got, want)
	}
	if got := findTests(t.TempDir()); got != nil {
		t.Errorf("findTests without tests/ = %q, want nil", got)
	}
}

func stepNames(p *guest.Plan) []string {
	var out []string
	for _, s := range p.Steps {
		out = append(out, s.Name)
	}
	return out
}

func TestMakePlan(t *testing.T) {
	mods := []ModuleRun{
		{Dir: "/src/alpha", Modules: []string{"alpha", "alpha_helper"}, KoPaths: []string{"/src/alpha/alpha.ko", "/src/alpha/alpha-helper.ko"},
			Tests: []string{"/src/alpha/tests/01.sh", "/src/alpha/tests/02.sh"}},
		{Dir: "/src/beta", Modules: []string{"beta"}, KoPaths: []string{"/src/beta/beta.ko"}},
	}
	extra := []guest.Step{{Name: "bench fio", Kind: "exec", Argv: []string{"/usr/bin/fio"}}}
	o := BootOpts{Params: map[string]string{"alpha": "n=3", "beta": "debug=1"}, Kmemleak: true, ExtraSteps: extra}
	p := MakePlan(mods, o)

	wantNames := []string{
		"insmod alpha", "insmod alpha_helper", "insmod beta",
		"test alpha/01.sh", "test alpha/02.sh",
		"bench fio",
		"rmmod beta", "rmmod alpha_helper", "rmmod alpha",
		"kmemleak",
	}
	if got := stepNames(p); !reflect.DeepEqual(got, wantNames) {
		t.Fatalf("steps:\n got  %q\n want %q", got, wantNames)
	}
	want := []guest.Step{
		{Name: "insmod alpha", Kind: "insmod", Path: "/rko/modules/alpha.ko", Params: "n=3", Module: "alpha"},
		{Name: "insmod alpha_helper", Kind: "insmod", Path: "/rko/modules/alpha-helper.ko", Module: "alpha_helper"},
		{Name: "insmod beta", Kind: "insmod", Path: "/rko/modules/beta.ko", Params: "debug=1", Module: "beta"},
		{Name: "test alpha/01.sh", Kind: "exec", Argv: []string{"/rko/tests/alpha/01.sh"}, Dir: "/rko/tests/alpha", TimeoutSec: 60},
		{Name: "test alpha/02.sh", Kind: "exec", Argv: []string{"/rko/tests/alpha/02.sh"}, Dir: "/rko/tests/alpha", TimeoutSec: 60},
		extra[0],
		{Name: "rmmod beta", Kind: "rmmod", Module: "beta"},
		{Name: "rmmod alpha_helper", Kind: "rmmod", Module: "alpha_helper"},
		{Name: "rmmod alpha", Kind: "rmmod", Module: "alpha"},
		{Name: "kmemleak", Kind: "kmemleak", TimeoutSec: 300},
	}
	if !reflect.DeepEqual(p.Steps, want) {
		for i := range want {
			if i < len(p.Steps) && !reflect.DeepEqual(p.Steps[i], want[i]) {
				t.Errorf("step %d:\n got  %+v\n want %+v", i, p.Steps[i], want[i])
			}
		}
	}
	// Step names are unique: the session is matched by name.
	seen := map[string]bool{}
	for _, n := range wantNames {
		if seen[n] {
			t.Errorf("duplicate step %q", n)
		}
		seen[n] = true
	}
}

func TestMakePlanVariants(t *testing.T) {
	one := []ModuleRun{{Dir: "/m/hello", Modules: []string{"hello"}, KoPaths: []string{"/m/hello/hello.ko"}}}
	tests := []struct {
		name string
		mods []ModuleRun
		o    BootOpts
		want []string
	}{
		{"nothing", nil, BootOpts{}, nil},
		{"kmemleak only", nil, BootOpts{Kmemleak: true}, []string{"kmemleak"}},
		{"one module", one, BootOpts{}, []string{"insmod hello", "rmmod hello"}},
		{"no kmemleak", one, BootOpts{Kmemleak: false}, []string{"insmod hello", "rmmod hello"}},
		{"extra steps without modules", nil, BootOpts{ExtraSteps: []guest.Step{{Name: "x"}, {Name: "y"}}}, []string{"x", "y"}},
		// With a device attached, every loaded module's drivers must bind.
		{"device", one, BootOpts{Devices: []job.Device{{Name: "pci-testdev"}}}, []string{"insmod hello", "bound hello", "rmmod hello"}},
		// The sweep comes before the clean load it is checked against.
		{"fail-nth", one, BootOpts{FailNth: true, Kmemleak: true}, []string{"fail-nth hello", "insmod hello", "rmmod hello", "kmemleak"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := stepNames(MakePlan(tt.mods, tt.o)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("steps = %q, want %q", got, tt.want)
			}
		})
	}
}

// session builds a session from step statuses; "name:status" or
// "name:status:rc:signal:error:lastline".
func session(booted, done bool, steps ...string) *guest.Session {
	s := &guest.Session{Booted: booted, Done: done}
	for _, st := range steps {
		f := strings.SplitN(st, ":", 6)
		r := guest.StepResult{Name: f[0], Status: f[1]}
		r.Kind, _, _ = strings.Cut(f[0], " ")
		if len(f) > 2 && f[2] != "" {
			r.RC = atoi(f[2])
		}
		if len(f) > 3 {
			r.Signal = f[3]
		}
		if len(f) > 4 {
			r.Error = f[4]
		}
		if len(f) > 5 {
			r.Output = []string{"earlier", f[5]}
		}
		s.Steps = append(s.Steps, r)
	}
	return s
}

func atoi(s string) int {
	n, neg := 0, strings.HasPrefix(s, "-")
	for _, c := range strings.TrimPrefix(s, "-") {
		n = n*10 + int(c-'0')
	}
	if neg {
		return -n
	}
	return n
}

func TestJudge(t *testing.T) {
	ok := &vm.Result{Duration: 3 * time.Second}
	hung := &vm.Result{TimedOut: true, Duration: 180*time.Second + 300*time.Millisecond}
	allGood := session(true, true, "insmod hello:passed", "test hello/smoke.sh:passed", "rmmod hello:passed")
	tests := []struct {
		name       string
		boot       *vm.Result
		s          *guest.Session
		crash      string
		failed     int
		passed     bool
		step       string
		reasonHas  []string
		reasonNot  []string
		exactEmpty bool
	}{
		{name: "all good", boot: ok, s: allGood, passed: true, exactEmpty: true},
		{name: "all good, no boot result", s: allGood, passed: true},
		{name: "timed out before boot", boot: hung, s: session(false, false, "insmod hello:skipped"),
			reasonHas: []string{"guest hung before the guest init started", "stopped after 3m0s"}},
		{name: "timed out with no session", boot: hung,
			reasonHas: []string{"before the guest init started"}},
		{name: "timed out in a step", boot: hung, s: session(true, false, "insmod hello:passed", "test hello/smoke.sh:crashed", "rmmod hello:skipped"),
			step: "test hello/smoke.sh", reasonHas: []string{`guest hung in step "test hello/smoke.sh"`}},
		{name: "timed out after the steps", boot: hung, s: session(true, false, "insmod hello:passed"),
			reasonHas: []string{"guest hung after the last step"}},
		{name: "timed out with a crash", boot: hung, s: session(true, false, "insmod hello:crashed"), crash: "BUG: soft lockup - CPU#0 stuck for 22s!",
			step: "insmod hello", reasonHas: []string{`in step "insmod hello"`, ": BUG: soft lockup - CPU#0 stuck for 22s!"}},
		{name: "boot failed", boot: ok, s: session(false, false, "insmod hello:skipped"),
			reasonHas: []string{"did not start the guest init (boot failed)"}},
		{name: "boot failed with a panic", boot: ok, s: nil, crash: "Kernel panic - not syncing: VFS: Unable to mount root fs",
			reasonHas: []string{"boot failed", "Kernel panic - not syncing: VFS"}},
		{name: "died in a step", boot: ok, s: session(true, false, "insmod hello:passed", "test hello/smoke.sh:crashed", "rmmod hello:skipped"),
			crash: "BUG: kernel NULL pointer dereference, address: 0000000000000000",
			step:  "test hello/smoke.sh", reasonHas: []string{`guest died in step "test hello/smoke.sh": BUG: kernel NULL pointer dereference`}},
		{name: "died in a step without a report", boot: ok, s: session(true, false, "insmod hello:crashed"),
			step: "insmod hello", reasonHas: []string{`guest died in step "insmod hello"`}, reasonNot: []string{": "}},
		{name: "failed insmod", boot: ok, s: session(true, true, "insmod hello:failed:1:::insmod: ERANGE", "rmmod hello:failed:1"),
			step: "insmod hello", reasonHas: []string{`step "insmod hello" failed (exit status 1: insmod: ERANGE`}},
		{name: "failed test with output", boot: ok, s: session(true, true, "insmod hello:passed", "test hello/smoke.sh:failed:1:::  hello is not loaded  ", "rmmod hello:passed"),
			step: "test hello/smoke.sh", reasonHas: []string{`(exit status 1: hello is not loaded)`}},
		{name: "test killed", boot: ok, s: session(true, true, "test t.sh:failed:-1:SIGSEGV"),
			step: "test t.sh", reasonHas: []string{"killed by SIGSEGV"}, reasonNot: []string{"exit status"}},
		{name: "rmmod failure", boot: ok, s: session(true, true, "insmod hello:passed", "rmmod hello:failed:1:::rmmod: ERROR: Module hello is in use"),
			step: "rmmod hello", reasonHas: []string{"module did not unload: exit status 1: rmmod: ERROR: Module hello is in use"}},
		{name: "plan error", boot: ok, s: &guest.Session{Booted: true, Done: true, Error: "read /rko/plan.json: EIO"},
			reasonHas: []string{"guest init: read /rko/plan.json: EIO"}},
		{name: "not done", boot: ok, s: session(true, false, "insmod hello:passed", "rmmod hello:passed"),
			reasonHas: []string{"guest stopped before finishing the plan"}},
		{name: "not done after a crash", boot: ok, s: session(true, false, "insmod hello:passed"), crash: "Oops: general protection fault",
			reasonHas: []string{"before finishing the plan: Oops: general protection fault"}},
		{name: "crash after done", boot: ok, s: allGood, crash: "WARNING: CPU: 0 PID: 1 at mm/slub.c:1234 free_object",
			reasonHas: []string{"kernel reported: WARNING: CPU: 0 PID: 1 at mm/slub.c:1234"}},
		{name: "failed KUnit tests", boot: ok, s: allGood, failed: 2, reasonHas: []string{"2 KUnit test(s) failed"}},
		{name: "crash wins over KUnit", boot: ok, s: allGood, crash: "BUG: KASAN: slab-use-after-free", failed: 1,
			reasonHas: []string{"kernel reported: BUG: KASAN"}, reasonNot: []string{"KUnit"}},
		{name: "failed step wins over KUnit", boot: ok, s: session(true, true, "test t.sh:failed:2"), failed: 3,
			step: "test t.sh", reasonHas: []string{"exit status 2"}, reasonNot: []string{"KUnit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := Judge(&TestRun{Boot: tt.boot, Session: tt.s}, tt.crash, tt.failed)
			if v.Passed != tt.passed {
				t.Errorf("Passed = %v, want %v (reason %q)", v.Passed, tt.passed, v.Reason)
			}
			if v.Step != tt.step {
				t.Errorf("Step = %q, want %q", v.Step, tt.step)
			}
			if !tt.passed && v.Reason == "" {
				t.Error("a failed verdict without a reason")
			}
			if tt.exactEmpty && v.Reason != "" {
				t.Errorf("Reason = %q, want none", v.Reason)
			}
			for _, s := range tt.reasonHas {
				if !strings.Contains(v.Reason, s) {
					t.Errorf("Reason = %q, want it to contain %q", v.Reason, s)
				}
			}
			for _, s := range tt.reasonNot {
				if strings.Contains(v.Reason, s) {
					t.Errorf("Reason = %q, must not contain %q", v.Reason, s)
				}
			}
		})
	}
}

func TestJudgeOnReadSession(t *testing.T) {
	// End to end from a console: the second step never ended.
	plan := MakePlan([]ModuleRun{{Dir: "/m/hello", Modules: []string{"hello"}, KoPaths: []string{"/m/hello/hello.ko"},
		Tests: []string{"/m/hello/tests/smoke.sh"}}}, BootOpts{})
	console := `[    1.0] @@rko {"ev":"boot"}
[    1.1] @@rko {"ev":"start","step":"insmod hello"}
[    1.2] @@rko {"ev":"end","step":"insmod hello","rc":0}
[    1.3] @@rko {"ev":"start","step":"test hello/smoke.sh"}
[    1.4] BUG: kernel NULL pointer dereference, address: 0000000000000000
`
	tr := &TestRun{Boot: &vm.Result{}, Session: guest.ReadSession([]byte(console), plan)}
	v := Judge(tr, "BUG: kernel NULL pointer dereference, address: 0000000000000000", 0)
	if v.Passed || v.Step != "test hello/smoke.sh" || !strings.Contains(v.Reason, "guest died in step") {
		t.Errorf("verdict = %+v", v)
	}
}

func TestDescribeEnd(t *testing.T) {
	tests := []struct {
		f    guest.Frame
		want string
	}{
		{guest.Frame{Ms: 12}, "ok (12 ms)"},
		{guest.Frame{RC: 3}, "exit status 3"},
		{guest.Frame{RC: -1, Signal: "SIGKILL"}, "killed by SIGKILL"},
		{guest.Frame{RC: -1, Error: "exec: no such file"}, "exec: no such file"},
	}
	for _, tt := range tests {
		if got := describeEnd(tt.f); got != tt.want {
			t.Errorf("describeEnd(%+v) = %q, want %q", tt.f, got, tt.want)
		}
	}
}

func TestPruneRuns(t *testing.T) {
	root := t.TempDir()
	names := []string{"20250101-000000-a-1", "20250102-000000-b-2", "20250103-000000-c-3", "20250104-000000-d-4", "20250105-000000-e-5"}
	for _, n := range []int{3, 0, 4, 1, 2} {
		os.Mkdir(filepath.Join(root, names[n]), 0o755)
	}
	pruneRuns(root, 3)
	ents, _ := os.ReadDir(root)
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if !reflect.DeepEqual(got, names[2:]) {
		t.Errorf("kept %q, want the newest %q", got, names[2:])
	}
	pruneRuns(root, 10)
	if ents, _ := os.ReadDir(root); len(ents) != 3 {
		t.Errorf("pruning below the limit removed runs")
	}
}

func TestKmemleakCmdline(t *testing.T) {
	tests := []struct {
		name   string
		config string // "" means no .config
		scan   bool
		want   []string
	}{
		{"scan on a SLUB_DEBUG kernel", "CONFIG_SLUB_DEBUG=y\nCONFIG_DEBUG_KMEMLEAK=y\n", true, []string{"slab_debug=U"}},
		{"no scan", "CONFIG_SLUB_DEBUG=y\n", false, nil},
		{"kernel without SLUB_DEBUG", "# CONFIG_SLUB_DEBUG is not set\n", true, nil},
		{"unreadable config", "", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.config != "" {
				if err := os.WriteFile(filepath.Join(dir, ".config"), []byte(tt.config), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got := kmemleakCmdline(&kernel.Kernel{BuildDir: dir}, tt.scan)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("kmemleakCmdline = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestProfileDefaults(t *testing.T) {
	const withLeak, noLeak = "CONFIG_DEBUG_KMEMLEAK=y\n", "# CONFIG_DEBUG_KMEMLEAK is not set\n"
	tests := []struct {
		name    string
		profile string
		config  string
		auto    bool
		in      BootOpts
		want    BootOpts
	}{
		{"default profile untouched", "default", withLeak, true, BootOpts{}, BootOpts{}},
		{"debug fills the unset", "debug", withLeak, true, BootOpts{}, BootOpts{Kmemleak: true, Timeout: 10 * time.Minute, MemoryMB: 1024, CPUs: 2}},
		{"debug without kmemleak (UML's) gets no scan", "debug", noLeak, true, BootOpts{}, BootOpts{Timeout: 10 * time.Minute, MemoryMB: 1024, CPUs: 2}},
		{"debug keeps what the user set", "debug", withLeak, false, BootOpts{Timeout: time.Minute, MemoryMB: 512, CPUs: 1},
			BootOpts{Timeout: time.Minute, MemoryMB: 512, CPUs: 1}},
	}
	for _, tt := range tests {
		got := tt.in
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, ".config"), []byte(tt.config), 0o644); err != nil {
			t.Fatal(err)
		}
		got.ProfileDefaults(&kernel.Kernel{Profile: tt.profile, BuildDir: dir}, tt.auto)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

// A kernel directory that is not a built tree is refused with FromDir's
// reason; rko's own kernel's options for other kernels are job.Check's.
func TestKernelDirBadInput(t *testing.T) {
	e := &Env{UI: ui.New(io.Discard, true)}
	if _, err := e.Kernel(context.Background(), job.Kernel{Kind: job.KindDir, Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "no .config") {
		t.Errorf("Kernel(empty dir) = %v, want the missing .config named", err)
	}
}

func TestKernelNotes(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ".config"), []byte("CONFIG_RUST=y\n# CONFIG_KUNIT is not set\n"), 0o644)
	k := &kernel.Kernel{Dir: dir, BuildDir: dir, Release: "7.3.4+deb13-amd64", Origin: "debian:7.3.4+deb13-amd64"}
	mods := []ModuleRun{{Modules: []string{"hello"}, KUnit: true}, {Modules: []string{"plain"}}}
	notes := KernelNotes(k, mods)
	if len(notes) != 1 || !strings.HasPrefix(notes[0], "the KUnit suites of hello were not run: CONFIG_KUNIT=y is needed") {
		t.Errorf("KernelNotes = %q", notes)
	}
	if n := KernelNotes(k, mods[1:]); n != nil {
		t.Errorf("KernelNotes without suites = %q, want none", n)
	}
	os.WriteFile(filepath.Join(dir, "hello.rs"), []byte("#[kunit_tests(hello)]\nmod tests {}\n"), 0o644)
	if !hasKUnitSuites(dir) {
		t.Error("hasKUnitSuites missed #[kunit_tests(...)]")
	}
}

// A driver that bound nothing because its probe failed: the driver
// core's line (drivers/base/dd.c, 7.3) goes into the reason.
func TestProbeFailures(t *testing.T) {
	console := []byte("[    2.1] rust_driver_pci 0000:00:02.0: enabling device (0000 -> 0002)\n" +
		"[    2.2] rust_driver_pci 0000:00:02.0: probe with driver rust_driver_pci failed with error -5\n")
	if got, want := probeFailures(console), "rust_driver_pci 0000:00:02.0: probe with driver rust_driver_pci failed with error -5"; got != want {
		t.Errorf("probeFailures = %q, want %q", got, want)
	}
	if got := probeFailures([]byte("[ 1.0] pci 0000:00:02.0: [1b36:0005] type 00\n")); got != "" {
		t.Errorf("no failed probe: %q", got)
	}
}
