package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rkodev/rko/internal/cache"
	"github.com/rkodev/rko/internal/kbuild"
	"github.com/rkodev/rko/internal/run"
	"github.com/rkodev/rko/internal/toolchain"
	"github.com/rkodev/rko/internal/workflow"
)

// watchModule is one state of the scripted module of TestWatchMatchesTest:
// a C module whose init, KUnit case and exit are chosen per edit.
func watchModule(init, kunit string, exit bool) string {
	src := `// SPDX-License-Identifier: GPL-2.0
/* rko e2e: one state of a module edited under rko watch. */
#include <linux/module.h>
#include <kunit/test.h>

static int __init watchme_init(void)
{
` + init + `
}

static void watchme_case(struct kunit *test)
{
` + kunit + `
}

static struct kunit_case watchme_cases[] = {
	KUNIT_CASE(watchme_case),
	{}
};

static struct kunit_suite watchme_suite = {
	.name = "watchme",
	.test_cases = watchme_cases,
};
kunit_test_suite(watchme_suite);
module_init(watchme_init);
`
	if exit {
		src += "static void __exit watchme_exit(void)\n{\n}\nmodule_exit(watchme_exit);\n"
	}
	return src + "MODULE_DESCRIPTION(\"rko e2e watch states\");\nMODULE_LICENSE(\"GPL\");\n"
}

// watchStates is the sequence: pass, compile error, oops on load,
// pass, a failing KUnit case, a module that will not unload, pass.
var watchStates = []struct{ name, src string }{
	{"pass", watchModule("\treturn 0;", "\tKUNIT_EXPECT_EQ(test, 1 + 1, 2);", true)},
	{"compile error", watchModule("\treturn 0 +;", "\tKUNIT_EXPECT_EQ(test, 1 + 1, 2);", true)},
	{"oops on load", watchModule("\t*(volatile int *)NULL = 1;\n\treturn 0;", "\tKUNIT_EXPECT_EQ(test, 1 + 1, 2);", true)},
	{"pass again", watchModule("\treturn 0;", "\tKUNIT_EXPECT_EQ(test, 2 + 2, 4);", true)},
	{"failing KUnit case", watchModule("\treturn 0;", "\tKUNIT_EXPECT_EQ(test, 1 + 1, 3);", true)},
	{"will not unload", watchModule("\treturn 0;", "\tKUNIT_EXPECT_EQ(test, 1 + 1, 2);", false)},
	{"pass at last", watchModule("\treturn 0;", "\tKUNIT_EXPECT_EQ(test, 3 + 3, 6);", true)},
}

// verdictKey is what must be equal between a watch cycle and rko test.
type verdictKey struct {
	Passed      bool
	Step        string
	Crash       string
	TestsPassed int
	TestsFailed int
	BuildFailed bool
}

type watchLine struct {
	Cycle          int     `json:"cycle"`
	EditToVerdictS float64 `json:"edit_to_verdict_s"`
	Rebooted       bool    `json:"rebooted"`
	RebootReason   string  `json:"reboot_reason"`
	BuildError     any     `json:"build_error"`
	Timings        struct {
		Build float64 `json:"build_s"`
		Boot  float64 `json:"boot_s"`
	} `json:"timings"`
	Build struct {
		Path      string                    `json:"path"`
		Reason    string                    `json:"reason"`
		Discarded []workflow.DiscardedBuild `json:"discarded"`
	} `json:"build"`
	Phases watchPhases `json:"phases"`
	testReport
}

// watchPhases is rko watch --json's phases of a cycle.
type watchPhases struct {
	Wait      float64 `json:"wait_s"`
	Compile   float64 `json:"compile_s"`
	BuildRest float64 `json:"build_rest_s"`
	BootWait  float64 `json:"boot_wait_s"`
	Transfer  float64 `json:"transfer_s"`
	Steps     []struct {
		Name   string  `json:"name"`
		S      float64 `json:"s"`
		GuestS float64 `json:"guest_s"`
	} `json:"steps"`
	Verdict float64 `json:"verdict_s"`
}

func keyOf(r testReport, buildFailed bool) verdictKey {
	k := verdictKey{Passed: r.Verdict.Passed, Step: r.Verdict.Step, TestsPassed: r.Tests.Passed,
		TestsFailed: r.Tests.Failed + r.Tests.Crashed, BuildFailed: buildFailed}
	if len(r.Crashes) > 0 {
		k.Crash = r.Crashes[0].Title
	}
	return k
}

// watcher drives rko watch --json on dir.
type watcher struct {
	cmd   *exec.Cmd
	lines chan watchLine
	errs  *strings.Builder
}

func startWatch(t testing.TB, dir string, extra ...string) *watcher {
	t.Helper()
	return startWatchBin(t, rkoBin, dir, extra...)
}

// startWatchBin is startWatch with another rko binary (the benchmark's
// before).
func startWatchBin(t testing.TB, bin, dir string, extra ...string) *watcher {
	t.Helper()
	args := append([]string{"watch", "--json"}, extra...)
	w := &watcher{cmd: exec.Command(bin, append(args, dir)...), lines: make(chan watchLine, 100), errs: &strings.Builder{}}
	out, err := w.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	w.cmd.Stderr = w.errs
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			var l watchLine
			if json.Unmarshal(sc.Bytes(), &l) == nil {
				w.lines <- l
			}
		}
		close(w.lines)
	}()
	t.Cleanup(func() { w.stop(t) })
	return w
}

func (w *watcher) next(t testing.TB, timeout time.Duration) watchLine {
	t.Helper()
	select {
	case l, ok := <-w.lines:
		if !ok {
			t.Fatalf("rko watch ended; stderr:\n%s", w.errs.String())
		}
		return l
	case <-time.After(timeout):
		t.Fatalf("no cycle in %s; stderr:\n%s", timeout, w.errs.String())
	}
	return watchLine{}
}

func (w *watcher) stop(t testing.TB) {
	if w.cmd.ProcessState != nil {
		return
	}
	w.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { w.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		w.cmd.Process.Kill()
		t.Errorf("rko watch did not stop on SIGINT")
	}
}

// TestWatchMatchesTest drives the scripted sequence of edits through rko
// watch and through rko test, and asserts that every cycle's verdict is
// rko test's for the same source, that the guest is rebooted exactly after
// the cycles that leave the kernel untrustworthy, and that Ctrl-C leaves
// no QEMU behind.
func TestWatchMatchesTest(t *testing.T) {
	requireRealPath(t)
	dir := filepath.Join(t.TempDir(), "watchme")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "Kbuild"), []byte("obj-m := watchme.o\n"), 0o644)
	src := filepath.Join(dir, "watchme.c")

	// rko test's verdict for each state, on a copy.
	var want []verdictKey
	for _, st := range watchStates {
		cold := copyDir(t, dir)
		os.WriteFile(filepath.Join(cold, "watchme.c"), []byte(st.src), 0o644)
		r := rko(t, coldTimeout, "test", "--json", cold)
		if strings.TrimSpace(r.stdout) == "" { // a compile error: no report, exit 1
			if r.code != 1 {
				t.Fatalf("%s: rko test exit %d with no report\n%s", st.name, r.code, r.stderr)
			}
			want = append(want, verdictKey{BuildFailed: true})
			continue
		}
		want = append(want, keyOf(decode(t, r), false))
	}

	os.WriteFile(src, []byte(watchStates[0].src), 0o644)
	w := startWatch(t, dir)
	wantReboot := map[string]bool{"oops on load": true, "will not unload": true}
	for i, st := range watchStates {
		if i > 0 {
			// A save of the next state (write to a temporary and rename,
			// as editors do).
			tmp := src + ".tmp~"
			os.WriteFile(tmp, []byte(st.src), 0o644)
			os.Rename(tmp, src)
		}
		l := w.next(t, 5*time.Minute)
		got := keyOf(l.testReport, l.BuildError != nil)
		if got != want[i] {
			t.Errorf("cycle %d (%s): watch says %+v, rko test says %+v", l.Cycle, st.name, got, want[i])
		}
		if (l.RebootReason != "") != wantReboot[st.name] {
			t.Errorf("cycle %d (%s): reboot %q, want a reboot: %v", l.Cycle, st.name, l.RebootReason, wantReboot[st.name])
		}
		t.Logf("cycle %d %-18s passed=%v step=%q crash=%q rebooted=%v reboot=%q %.2fs", l.Cycle, st.name, l.Verdict.Passed, l.Verdict.Step, got.Crash, l.Rebooted, l.RebootReason, l.EditToVerdictS)
	}
	w.stop(t)
	assertNoLeftovers(t)
	if strings.Contains(w.errs.String(), "panic:") {
		t.Errorf("rko watch panicked:\n%s", w.errs.String())
	}
}

// TestWatchRefusesSecondWatcher: two rko watch of one directory.
func TestWatchRefusesSecondWatcher(t *testing.T) {
	requireRealPath(t)
	dir := copyDir(t, "../examples/hello/c")
	w := startWatch(t, dir)
	w.next(t, 5*time.Minute)
	r := rko(t, time.Minute, "watch", dir)
	if r.code != 2 || !strings.Contains(r.stderr, "already watching") {
		t.Errorf("second watch: exit %d\n%s", r.code, r.stderr)
	}
}

// BenchmarkWatchEditToVerdict: 20 scripted edits of examples/hello's Rust
// module through rko watch (TCG): median and p90 from save to verdict,
// the median of each phase of a cycle (rko watch --json's phases), the
// floor (the module's compiler invocation alone: the rustc command Kbuild
// recorded in .hello.o.cmd, without its objtool pass, run again in the
// toolchain after each verdict) and the ratio of the median to the
// floor's, and the time from a crashing edit to the next good verdict.
// With RKO_BENCH_BEFORE naming another rko binary (an earlier commit's),
// that binary's rko watch gets the same edits on its own copy of the
// module, interleaved edit by edit with this one's so that both see the
// same load, and its figures come with the prefix before_.
//
//	go test -run '^$' -bench WatchEditToVerdict -benchtime 1x ./e2e
func BenchmarkWatchEditToVerdict(b *testing.B) {
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		b.Skip("needs QEMU")
	}
	// Module builds with Kbuild's compiler probes remembered (ccmemo, the
	// default) and without (RKO_CCMEMO=0), in one run so that the two
	// compare on the same load.
	b.Run("ccmemo", benchWatch)
	b.Run("no-ccmemo", func(b *testing.B) {
		b.Setenv("RKO_CCMEMO", "0")
		benchWatch(b)
	})
}

// benchSession is one rko watch of the benchmark and its figures.
type benchSession struct {
	prefix string
	w      *watcher
	dir    string
	times  []float64
	builds []float64
	guests []float64
	phases []watchPhases
}

func benchWatch(b *testing.B) {
	bins := []struct{ prefix, bin string }{{"", rkoBin}}
	if before := os.Getenv("RKO_BENCH_BEFORE"); before != "" {
		bins = append(bins, struct{ prefix, bin string }{"before_", before})
	}
	for n := 0; n < b.N; n++ {
		var ss []*benchSession
		var orig []byte
		for _, x := range bins {
			dir := filepath.Join(b.TempDir(), "hello")
			if out, err := exec.Command("cp", "-r", "../examples/hello/rust", dir).CombinedOutput(); err != nil {
				b.Fatalf("%v %s", err, out)
			}
			for _, f := range []string{"hello.ko", "hello.o", "hello.mod", "hello.mod.c", "hello.mod.o", "Module.symvers", "modules.order"} {
				os.Remove(filepath.Join(dir, f))
			}
			orig, _ = os.ReadFile(filepath.Join(dir, "hello.rs"))
			s := &benchSession{prefix: x.prefix, dir: dir, w: startWatchBin(b, x.bin, dir, benchArgs()...)}
			if first := s.w.next(b, 5*time.Minute); !first.Verdict.Passed {
				b.Fatalf("%sfirst cycle failed: %+v\n%s", x.prefix, first.Verdict, s.w.errs.String())
			}
			ss = append(ss, s)
		}
		var floors []float64
		for i := 0; i < 20; i++ {
			for k := range ss {
				s := ss[(i+k)%len(ss)]             // who goes first alternates
				time.Sleep(300 * time.Millisecond) // a person pauses between saves
				os.WriteFile(filepath.Join(s.dir, "hello.rs"), append(append([]byte(nil), orig...), []byte(fmt.Sprintf("\n// edit %d\n", i))...), 0o644)
				l := s.w.next(b, 5*time.Minute)
				if !l.Verdict.Passed {
					b.Fatalf("%sedit %d failed: %+v", s.prefix, i, l.Verdict)
				}
				s.times = append(s.times, l.EditToVerdictS)
				s.builds = append(s.builds, l.Timings.Build)
				s.guests = append(s.guests, l.Timings.Boot)
				s.phases = append(s.phases, l.Phases)
			}
			floors = append(floors, compileAlone(b, ss[0].dir, "hello.o"))
		}
		// A crashing edit (a Rust panic on load), then the good source
		// again: the time from the crash's save to the next good verdict.
		s := ss[0]
		src := filepath.Join(s.dir, "hello.rs")
		crash := strings.Replace(string(orig), "pr_info!(", "if true { panic!(\"rko bench crash\") } pr_info!(", 1)
		start := time.Now()
		os.WriteFile(src, []byte(crash), 0o644)
		l := s.w.next(b, 5*time.Minute)
		if l.Verdict.Passed {
			b.Logf("the crashing edit passed (%+v): recovery not measured", l.Verdict)
		}
		os.WriteFile(src, orig, 0o644)
		for {
			l = s.w.next(b, 5*time.Minute)
			if l.Verdict.Passed {
				break
			}
		}
		recovery := time.Since(start).Seconds()
		for _, s := range ss {
			s.w.stop(b)
		}
		floor := median(floors)
		b.ReportMetric(floor, "floor_median_s")
		for _, s := range ss {
			sorted := append([]float64(nil), s.times...)
			sort.Float64s(sorted)
			m := sorted[len(sorted)/2]
			b.ReportMetric(m, s.prefix+"median_s")
			b.ReportMetric(sorted[len(sorted)*9/10], s.prefix+"p90_s")
			b.ReportMetric(median(s.builds), s.prefix+"build_median_s")
			b.ReportMetric(median(s.guests), s.prefix+"guest_median_s")
			b.ReportMetric(m/floor, s.prefix+"ratio_to_floor")
			if s.phases[0].Steps != nil { // a binary that reports phases
				for name, f := range map[string]func(p watchPhases) float64{
					"wait": func(p watchPhases) float64 { return p.Wait }, "compile": func(p watchPhases) float64 { return p.Compile },
					"build_rest": func(p watchPhases) float64 { return p.BuildRest }, "boot_wait": func(p watchPhases) float64 { return p.BootWait },
					"transfer": func(p watchPhases) float64 { return p.Transfer }, "verdict": func(p watchPhases) float64 { return p.Verdict },
					"steps": func(p watchPhases) float64 { return stepsSum(p, false) }, "steps_guest": func(p watchPhases) float64 { return stepsSum(p, true) },
				} {
					var v []float64
					for _, p := range s.phases {
						v = append(v, f(p))
					}
					b.ReportMetric(median(v), s.prefix+"phase_"+name+"_median_s")
				}
				for i := range s.phases[0].Steps {
					var v []float64
					for _, p := range s.phases {
						if i < len(p.Steps) {
							v = append(v, p.Steps[i].S)
						}
					}
					b.ReportMetric(median(v), fmt.Sprintf("%sphase_step%d_median_s", s.prefix, i+1))
					v = v[:0]
					for _, p := range s.phases {
						if i < len(p.Steps) {
							v = append(v, p.Steps[i].GuestS)
						}
					}
					b.ReportMetric(median(v), fmt.Sprintf("%sphase_step%d_guest_median_s", s.prefix, i+1))
				}
			}
			if s.prefix == "" {
				b.ReportMetric(recovery, "crash_to_good_s")
			}
			b.Logf("%sedit-to-verdict (s), sorted: %v", s.prefix, sorted)
		}
		b.Logf("compiler alone (s): %v", floors)
	}
}

// benchArgs are the benchmarks' rko flags: TCG, and the architecture
// RKO_BENCH_ARCH names (default the host's).
func benchArgs() []string {
	args := []string{"--accel", "tcg"}
	if a := os.Getenv("RKO_BENCH_ARCH"); a != "" {
		args = append(args, "--arch", a)
	}
	return args
}

// BenchmarkTestWarm: a warm rko test of examples/hello/rust (kernel
// cached, module built once before): what one run costs beside a watch
// cycle, the boot included. 10 runs; medians of the total and its parts
// (RKO_BENCH_ARCH for another architecture).
func BenchmarkTestWarm(b *testing.B) {
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		b.Skip("needs QEMU")
	}
	dir := filepath.Join(b.TempDir(), "hello")
	if out, err := exec.Command("cp", "-r", "../examples/hello/rust", dir).CombinedOutput(); err != nil {
		b.Fatalf("%v %s", err, out)
	}
	run := func() (t struct{ Build, Boot, Total float64 }) {
		var rep struct {
			Verdict struct{ Passed bool } `json:"verdict"`
			Timings struct {
				Build float64 `json:"build_s"`
				Boot  float64 `json:"boot_s"`
				Total float64 `json:"total_s"`
			} `json:"timings"`
		}
		out, err := exec.Command(rkoBin, append(append([]string{"test", "--json"}, benchArgs()...), dir)...).Output()
		if err != nil || json.Unmarshal(out, &rep) != nil || !rep.Verdict.Passed {
			b.Fatalf("rko test: %v\n%s", err, out)
		}
		t.Build, t.Boot, t.Total = rep.Timings.Build, rep.Timings.Boot, rep.Timings.Total
		return t
	}
	for n := 0; n < b.N; n++ {
		run() // the module's first build, and the kernel found
		var total, build, boot []float64
		for i := 0; i < 10; i++ {
			t := run()
			total, build, boot = append(total, t.Total), append(build, t.Build), append(boot, t.Boot)
		}
		b.ReportMetric(median(total), "total_median_s")
		b.ReportMetric(median(build), "build_median_s")
		b.ReportMetric(median(boot), "boot_median_s")
		b.Logf("warm rko test totals (s): %v", total)
	}
}

// stepsSum adds up a cycle's steps as the host saw them, or as the guest
// timed them.
func stepsSum(p watchPhases, guest bool) float64 {
	var s float64
	for _, st := range p.Steps {
		if guest {
			s += st.GuestS
		} else {
			s += st.S
		}
	}
	return s
}

// compileAlone runs target's compiler invocation alone again (the command
// Kbuild recorded in its .cmd file in dir, without the objtool pass) in
// the toolchain, in a scratch copy of the module's sources, and returns
// how long it took: the floor of an edit-to-verdict cycle.
func compileAlone(b testing.TB, dir, target string) float64 {
	b.Helper()
	c, err := kbuild.ReadCmdFile(dir, target)
	if err != nil {
		b.Fatal(err)
	}
	scratch := b.TempDir()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		switch filepath.Ext(e.Name()) {
		case ".rs", ".c", ".h":
			data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			os.WriteFile(filepath.Join(scratch, e.Name()), data, 0o644)
		}
	}
	tc, err := toolchain.Load("", "")
	if err != nil {
		b.Fatal(err)
	}
	root, err := cache.Dir()
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if _, err := tc.Run(context.Background(), run.Opts{Dir: scratch, Env: []string{"RUSTC_BOOTSTRAP=1"}}, []string{root, scratch}, "sh", "-c", c.CompilerCommand()); err != nil {
		b.Fatalf("the compiler alone: %v", err)
	}
	return time.Since(start).Seconds()
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// TestWatchRenameAndDelete: an edit that renames the module (a new
// Kbuild object and source) gives a verdict on the new module, on the
// same kernel; deleting the module directory gives a failed cycle and
// keeps watching; making it again gives a pass.
func TestWatchRenameAndDelete(t *testing.T) {
	requireRealPath(t)
	dir := copyDir(t, "../examples/hello/c")
	w := startWatch(t, dir)
	if l := w.next(t, coldTimeout); !l.Verdict.Passed || !hasStep(l, "insmod hello_c") {
		t.Fatalf("first cycle: %+v %+v\n%s", l.Verdict, l.Steps, w.errs.String())
	}
	// Until a cycle passes with the state the test wants (an editor's
	// save can be seen as more than one burst of events).
	until := func(what string, ok func(watchLine) bool) watchLine {
		t.Helper()
		for i := 0; i < 5; i++ {
			if l := w.next(t, 5*time.Minute); ok(l) {
				return l
			}
		}
		t.Fatalf("no cycle %s in five\n%s", what, w.errs.String())
		return watchLine{}
	}
	src, _ := os.ReadFile(filepath.Join(dir, "hello_c.c"))
	smoke := strings.ReplaceAll(readFile(t, filepath.Join(dir, "tests/smoke.sh")), "hello_c", "greet")
	os.WriteFile(filepath.Join(dir, "greet.c"), src, 0o644)
	os.WriteFile(filepath.Join(dir, "tests/smoke.sh"), []byte(smoke), 0o755)
	os.WriteFile(filepath.Join(dir, "Kbuild"), []byte("obj-m := greet.o\n"), 0o644)
	os.Remove(filepath.Join(dir, "hello_c.c"))
	l := until("passing on the renamed module", func(l watchLine) bool { return l.Verdict.Passed && hasStep(l, "insmod greet") })
	if hasStep(l, "insmod hello_c") {
		t.Errorf("the renamed module's cycle still loads hello_c: %+v", l.Steps)
	}
	saved := t.TempDir()
	if err := os.Rename(dir, filepath.Join(saved, "c")); err != nil {
		t.Fatal(err)
	}
	until("failing on the deleted directory", func(l watchLine) bool { return !l.Verdict.Passed })
	if err := os.Rename(filepath.Join(saved, "c"), dir); err != nil {
		t.Fatal(err)
	}
	until("passing once the directory is back", func(l watchLine) bool { return l.Verdict.Passed && hasStep(l, "insmod greet") })
	w.stop(t)
	assertNoLeftovers(t)
}

func hasStep(l watchLine, name string) bool {
	for _, s := range l.Steps {
		if s.Name == name {
			return true
		}
	}
	return false
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// buildProducts reads what a module build leaves in dir that must not
// depend on how it was built: the .ko, the objects, the .mod.c, Kbuild's
// .cmd files, Module.symvers and modules.order.
func buildProducts(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || !(isBuildProduct(n) || n == ".module-common.o") || n == "rust-project.json" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		out[n] = data
	}
	return out
}

// compositeModule writes a C module linked from two objects that share a
// header (obj-m := combo.o, combo-y := main.o util.o) into a new
// directory.
func compositeModule(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "combo")
	for name, text := range map[string]string{
		"Kbuild": "obj-m := combo.o\ncombo-y := main.o util.o\n",
		"util.h": "/* SPDX-License-Identifier: GPL-2.0 */\nint combo_twice(int x);\n",
		"util.c": "// SPDX-License-Identifier: GPL-2.0\n#include \"util.h\"\n\nint combo_twice(int x)\n{\n\treturn 2 * x;\n}\n",
		"main.c": `// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include "util.h"

static int __init combo_init(void)
{
	pr_info("combo: %d\n", combo_twice(21));
	return 0;
}

static void __exit combo_exit(void)
{
}

module_init(combo_init);
module_exit(combo_exit);
MODULE_DESCRIPTION("rko e2e: a module linked from two objects");
MODULE_LICENSE("GPL");
`,
	} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644)
	}
	return dir
}

// TestReplayMatchesMake: an edit of a module's source, built by replaying
// the commands Kbuild recorded (rko watch's build.path "replay"), leaves
// byte for byte what make leaves for the same edit: the .ko, the objects,
// the .mod.c, every .cmd file (fixdep's output and Kbuild's objtool line
// written again), Module.symvers and modules.order. For a Rust module, a
// C module and a C module linked from two objects.
func TestReplayMatchesMake(t *testing.T) {
	requireRealPath(t)
	for _, tt := range []struct {
		name string
		dir  func(t *testing.T) string
		src  string
		old  string
		new  string
	}{
		{"rust", func(t *testing.T) string { return copyDir(t, "../examples/hello/rust") }, "hello.rs", "[72, 108, 200]", "[72, 108, 201]"},
		{"c", func(t *testing.T) string { return copyDir(t, "../examples/hello/c") }, "hello_c.c", "hello_c: loaded, sum", "hello_c: loaded (edited), sum"},
		{"composite", compositeModule, "util.c", "2 * x", "3 * x"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.dir(t)
			src := filepath.Join(dir, tt.src)
			orig := readFile(t, src)
			edited := strings.Replace(orig, tt.old, tt.new, 1)
			if edited == orig {
				t.Fatalf("%s does not hold %q", tt.src, tt.old)
			}
			w := startWatch(t, dir)
			if l := w.next(t, coldTimeout); !l.Verdict.Passed || l.Build.Path != "make" {
				t.Fatalf("first cycle: passed %v, build %+v\n%s", l.Verdict.Passed, l.Build, w.errs.String())
			}
			os.WriteFile(src, []byte(edited), 0o644)
			l := w.next(t, 5*time.Minute)
			if !l.Verdict.Passed || l.Build.Path != "replay" || !strings.Contains(l.Build.Reason, tt.src) {
				t.Fatalf("the edit's cycle: passed %v, build %+v (want a replay of %s)\n%s", l.Verdict.Passed, l.Build, tt.src, w.errs.String())
			}
			t.Logf("replayed: build %.2fs (compile %.2fs, rest %.2fs)", l.Timings.Build, l.Phases.Compile, l.Phases.BuildRest)
			replayed := buildProducts(t, dir)
			w.stop(t)
			// The same edit through make.
			t.Setenv("RKO_KBUILD_REPLAY", "0")
			os.WriteFile(src, []byte(orig), 0o644)
			if r := rko(t, 5*time.Minute, "build", dir); r.code != 0 {
				t.Fatalf("rko build: exit %d\n%s", r.code, r.stderr)
			}
			os.WriteFile(src, []byte(edited), 0o644)
			if r := rko(t, 5*time.Minute, "build", dir); r.code != 0 {
				t.Fatalf("rko build: exit %d\n%s", r.code, r.stderr)
			}
			made := buildProducts(t, dir)
			var names []string
			for n := range made {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				if r, ok := replayed[n]; !ok {
					t.Errorf("%s: make left it, the replay did not", n)
				} else if !bytes.Equal(r, made[n]) {
					t.Errorf("%s: the replay's (%d bytes) is not make's (%d bytes)", n, len(r), len(made[n]))
				}
			}
			for n := range replayed {
				if _, ok := made[n]; !ok {
					t.Errorf("%s: the replay left it, make did not", n)
				}
			}
			t.Logf("%d build products byte for byte the same: %s", len(names), strings.Join(names, " "))
		})
	}
}

// TestReplayFallsBack: rko watch replays an edit of a module's source,
// and goes through make, saying why, when something else changed: a
// Kbuild edit, a new source file, a renamed module, and an edit that does
// not compile (the replayed compile fails; make reports the error).
// Every cycle's verdict stays right.
func TestReplayFallsBack(t *testing.T) {
	requireRealPath(t)
	dir := copyDir(t, "../examples/hello/c")
	w := startWatch(t, dir)
	if l := w.next(t, coldTimeout); !l.Verdict.Passed || l.Build.Path != "make" {
		t.Fatalf("first cycle: passed %v, build %+v\n%s", l.Verdict.Passed, l.Build, w.errs.String())
	}
	// Until a cycle with the build path and passing state wanted (an
	// edit of several files can be seen as more than one burst).
	until := func(what, path, reason string, passed bool, ok func(watchLine) bool) watchLine {
		t.Helper()
		var seen []string
		for i := 0; i < 5; i++ {
			l := w.next(t, 5*time.Minute)
			seen = append(seen, fmt.Sprintf("%s (%s) passed=%v discarded=%v", l.Build.Path, l.Build.Reason, l.Verdict.Passed, l.Build.Discarded))
			t.Logf("%s: cycle %s", what, seen[len(seen)-1])
			// A cycle may have thrown a build away (the files of one
			// edit were saved while it ran): the slow path taken by any
			// of its builds counts.
			builds := append([]workflow.DiscardedBuild{{Path: l.Build.Path, Reason: l.Build.Reason}}, l.Build.Discarded...)
			took := slices.ContainsFunc(builds, func(b workflow.DiscardedBuild) bool {
				return b.Path == path && strings.Contains(b.Reason, reason)
			})
			if took && l.Verdict.Passed == passed && (ok == nil || ok(l)) {
				t.Logf("%s: build %s (%s), %.2fs", what, l.Build.Path, l.Build.Reason, l.EditToVerdictS)
				return l
			}
		}
		t.Fatalf("%s: no cycle built by %s (%q) with passed=%v in five: %q\n%s", what, path, reason, passed, seen, w.errs.String())
		return watchLine{}
	}
	src := filepath.Join(dir, "hello_c.c")
	edit := func(path, old, new string) {
		t.Helper()
		s := readFile(t, path)
		if !strings.Contains(s, old) {
			t.Fatalf("%s does not hold %q", path, old)
		}
		os.WriteFile(path, []byte(strings.Replace(s, old, new, 1)), 0o644)
	}
	edit(src, "loaded, sum", "loaded once, sum")
	until("a source edit", "replay", "only module sources changed: hello_c.c", true, nil)

	kb := filepath.Join(dir, "Kbuild")
	os.WriteFile(kb, []byte(readFile(t, kb)+"ccflags-y += -DRKO_E2E\n"), 0o644)
	until("a Kbuild edit", "make", "Kbuild changed", true, nil)

	os.WriteFile(filepath.Join(dir, "extra.h"), []byte("/* nothing yet */\n"), 0o644)
	until("a new file", "make", "new source file extra.h", true, nil)

	edit(src, "loaded once, sum", "loaded twice, sum")
	until("a source edit after make recorded again", "replay", "hello_c.c", true, nil)

	smoke := strings.ReplaceAll(readFile(t, filepath.Join(dir, "tests/smoke.sh")), "hello_c", "greet")
	os.WriteFile(filepath.Join(dir, "greet.c"), []byte(readFile(t, src)), 0o644)
	os.WriteFile(filepath.Join(dir, "tests/smoke.sh"), []byte(smoke), 0o755)
	os.WriteFile(kb, []byte(strings.Replace(readFile(t, kb), "hello_c.o", "greet.o", 1)), 0o644)
	os.Remove(src)
	until("a renamed module", "make", "", true, func(l watchLine) bool { return hasStep(l, "insmod greet") })

	greet := filepath.Join(dir, "greet.c")
	edit(greet, `twice, sum %d\n", sum)`, `twice, sum %d\n", sum +)`)
	l := until("an edit that does not compile", "make", "a replayed command failed", false, nil)
	if l.BuildError == nil {
		t.Errorf("no build_error for a compile error: %+v", l.Verdict)
	}
	edit(greet, "sum +)", "sum)")
	until("the fix", "replay", "greet.c", true, func(l watchLine) bool { return hasStep(l, "insmod greet") })
	w.stop(t)
	assertNoLeftovers(t)
}
