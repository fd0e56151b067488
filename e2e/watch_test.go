package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
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
	testReport
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
	args := append([]string{"watch", "--json"}, extra...)
	w := &watcher{cmd: exec.Command(rkoBin, append(args, dir)...), lines: make(chan watchLine, 100), errs: &strings.Builder{}}
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
// and the time from a crashing edit to the next good verdict.
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

func benchWatch(b *testing.B) {
	for n := 0; n < b.N; n++ {
		dir := filepath.Join(b.TempDir(), "hello")
		if out, err := exec.Command("cp", "-r", "../examples/hello/rust", dir).CombinedOutput(); err != nil {
			b.Fatalf("%v %s", err, out)
		}
		for _, f := range []string{"hello.ko", "hello.o", "hello.mod", "hello.mod.c", "hello.mod.o", "Module.symvers", "modules.order"} {
			os.Remove(filepath.Join(dir, f))
		}
		src := filepath.Join(dir, "hello.rs")
		orig, _ := os.ReadFile(src)
		w := startWatch(b, dir, "--accel", "tcg")
		next := func() watchLine { return w.next(b, 5*time.Minute) }
		first := next()
		if !first.Verdict.Passed {
			b.Fatalf("first cycle failed: %+v\n%s", first.Verdict, w.errs.String())
		}
		var times, builds, guests []float64
		for i := 0; i < 20; i++ {
			time.Sleep(300 * time.Millisecond) // a person pauses between saves
			os.WriteFile(src, append(append([]byte(nil), orig...), []byte(fmt.Sprintf("\n// edit %d\n", i))...), 0o644)
			l := next()
			if !l.Verdict.Passed {
				b.Fatalf("edit %d failed: %+v", i, l.Verdict)
			}
			times = append(times, l.EditToVerdictS)
			builds = append(builds, l.Timings.Build)
			guests = append(guests, l.Timings.Boot)
		}
		// A crashing edit (a Rust panic on load), then the good source
		// again: the time from the crash's save to the next good verdict.
		crash := strings.Replace(string(orig), "pr_info!(", "if true { panic!(\"rko bench crash\") } pr_info!(", 1)
		start := time.Now()
		os.WriteFile(src, []byte(crash), 0o644)
		l := next()
		if l.Verdict.Passed {
			b.Logf("the crashing edit passed (%+v): recovery not measured", l.Verdict)
		}
		os.WriteFile(src, orig, 0o644)
		for {
			l = next()
			if l.Verdict.Passed {
				break
			}
		}
		recovery := time.Since(start).Seconds()
		w.stop(b)
		sort.Float64s(times)
		b.ReportMetric(times[len(times)/2], "median_s")
		b.ReportMetric(times[len(times)*9/10], "p90_s")
		b.ReportMetric(median(builds), "build_median_s")
		b.ReportMetric(median(guests), "guest_median_s")
		b.ReportMetric(recovery, "crash_to_good_s")
		b.Logf("edit-to-verdict (s), sorted: %v", times)
	}
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
