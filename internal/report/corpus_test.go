package report

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/rkodev/rko/internal/testutil"
)

// The scored benchmark: rko's verdicts on the consoles of syzkaller's own
// pkg/report tests (../shared/corpora/syzkaller-linux-report, see its
// README for where they come from and how they are scored). The goals are
// those of issue "Verdicts as trustworthy as syzkaller's".
const (
	goalDetection   = 0.99 // of files with a crash
	goalFalseAlarms = 1    // files without a crash that get a report
	goalClass       = 0.95 // of files with a TYPE
	goalFrame       = 0.80 // of uncorrupted files with a guilty frame
	goalTitle       = 0.80 // of files with a crash
)

// corpusFile is one file of the corpus: syzkaller's expectations and the
// console.
type corpusFile struct {
	name      string
	title     string   // TITLE, "" for a console without a crash
	alts      []string // ALT
	typ       string   // TYPE, syzkaller's class
	frame     string   // FRAME, or TITLE's part after " in "
	corrupted bool
	console   []byte
}

// corpusKeys are the header keys of the corpus files.
var corpusKeys = map[string]bool{"TITLE": true, "ALT": true, "TYPE": true, "FRAME": true, "CORRUPTED": true,
	"EXECUTOR": true, "PANICKED": true, "START": true, "END": true, "SUPPRESSED": true}

// parseCorpusFile splits a corpus file into its header and console. A
// file whose first line is not a header key is a console with no crash.
func parseCorpusFile(name string, data []byte) corpusFile {
	cf := corpusFile{name: name}
	rest := data
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		line := string(rest[:i])
		key, val, ok := strings.Cut(line, ": ")
		if !ok || !corpusKeys[key] {
			if line == "" {
				rest = rest[i+1:]
			}
			break
		}
		rest = rest[i+1:]
		switch key {
		case "TITLE":
			cf.title = val
		case "ALT":
			cf.alts = append(cf.alts, val)
		case "TYPE":
			cf.typ = val
		case "FRAME":
			cf.frame = val
		case "CORRUPTED":
			cf.corrupted = val == "Y"
		}
	}
	if cf.frame == "" {
		if i := strings.LastIndex(cf.title, " in "); i >= 0 {
			cf.frame = cf.title[i+4:]
		}
	}
	cf.console = rest
	return cf
}

// syzClass folds syzkaller's TYPE into the class that rko's types are
// compared with; rkoClass does the same for rko's types. "" means that
// rko has no type of that class.
func syzClass(t string) string {
	switch {
	case strings.HasPrefix(t, "KASAN"):
		return "KASAN"
	case strings.HasPrefix(t, "KFENCE"):
		return "KFENCE"
	case strings.HasPrefix(t, "KMSAN"):
		return "KMSAN"
	case strings.HasPrefix(t, "KCSAN"):
		return "KCSAN"
	case t == "MEMORY_SAFETY_UBSAN":
		return "UBSAN"
	case t == "REFCOUNT_WARNING", t == "MEMORY_SAFETY_WARNING":
		return "WARNING"
	}
	return t
}

// rkoClass is the syzkaller class of each rko type (see syzClass).
var rkoClass = map[Type]string{
	NullDeref: "MEMORY_SAFETY_BUG", PagingRequest: "MEMORY_SAFETY_BUG", ListCorruption: "MEMORY_SAFETY_BUG",
	GPF: "DoS", Oops: "DoS", Panic: "DoS", StackProtector: "DoS", RustPanic: "DoS", DoubleFault: "DoS",
	DivideError: "DoS", InvalidOpcode: "DoS", StackSegment: "DoS", UseAfterFreeVFS: "DoS", NetdevRefcount: "DoS",
	KernelBUG: "BUG", Bug: "BUG", Usercopy: "BUG",
	Warning: "WARNING", Refcount: "WARNING",
	KASAN: "KASAN", KFENCE: "KFENCE", KMSAN: "KMSAN", KCSAN: "KCSAN", UBSAN: "UBSAN",
	Kmemleak: "LEAK", Lockdep: "LOCKDEP", Spinlock: "LOCKDEP",
	SoftLockup: "HANG", HungTask: "HANG", RCUStall: "HANG",
	AtomicSchedule: "ATOMIC_SLEEP", AtomicSleep: "ATOMIC_SLEEP",
	Reboot: "REBOOT", SyzFailure: "SYZ_FAILURE",
}

// corpusDir finds the corpus: $RKO_CORPUS, else
// <repo>/../shared/corpora/syzkaller-linux-report, else the same beside
// the repository this one was cloned from when that is a directory on
// this machine (git clone . /tmp/fresh keeps finding it; the corpus is
// never copied into the project).
func corpusDir() string {
	if d := os.Getenv("RKO_CORPUS"); d != "" {
		return d
	}
	rel := filepath.Join("shared", "corpora", "syzkaller-linux-report")
	dir := filepath.Join("..", "..", "..", rel)
	if _, err := os.Stat(dir); err == nil {
		return dir
	}
	out, err := exec.Command("git", "config", "--get", "remote.origin.url").Output()
	if origin := strings.TrimSpace(string(out)); err == nil && filepath.IsAbs(origin) {
		if d := filepath.Join(filepath.Dir(filepath.Clean(origin)), rel); d != dir { // "git clone . DIR" records "/path/repo/."
			if _, err := os.Stat(d); err == nil {
				return d
			}
		}
	}
	return dir
}

// corpusVerdict is what a golden of testdata/corpus holds: rko's verdict
// on one corpus file, the primary report's title, type and guilty frame.
func corpusVerdict(reps []*Report) string {
	if len(reps) == 0 {
		return "NO REPORTS\n"
	}
	r := reps[0]
	s := fmt.Sprintf("TITLE: %s\nTYPE: %s\n", r.Title, r.Type)
	if r.Frame != "" {
		s += fmt.Sprintf("FRAME: %s\n", r.Frame)
	}
	if r.Corrupted {
		s += "CORRUPTED: Y\n"
	}
	return s
}

type tally struct{ ok, n int }

func (t *tally) add(ok bool) {
	t.n++
	if ok {
		t.ok++
	}
}

func (t tally) rate() float64 {
	if t.n == 0 {
		return 1
	}
	return float64(t.ok) / float64(t.n)
}

func (t tally) String() string {
	return fmt.Sprintf("%d / %d (%.1f %%)", t.ok, t.n, 100*t.rate())
}

// TestCorpus scores rko on the corpus, prints the five measures and a
// per-class table, fails below the goals, and compares each verdict with
// its golden in testdata/corpus (-update rewrites them).
func TestCorpus(t *testing.T) {
	dir := corpusDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		testutil.SkipOrFail(t, "corpus not found at %s (%v): put syzkaller's report corpus at <repo>/../shared/corpora or set RKO_CORPUS", dir, err)
	}
	var detect, falseAlarm, class, frame, title tally
	type classRow struct{ detect, class, frame, title tally }
	byClass := map[string]*classRow{}
	var missed []string
	seen := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.Contains(name, ".") || strings.HasPrefix(name, "LICENSE") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		cf := parseCorpusFile(name, data)
		reps := Parse(cf.console)
		seen[name] = true
		checkCorpusGolden(t, name, corpusVerdict(reps))
		if cf.title == "" {
			falseAlarm.add(len(reps) > 0)
			if len(reps) > 0 {
				missed = append(missed, fmt.Sprintf("%s: false alarm %q", name, reps[0].Title))
			}
			continue
		}
		cls := syzClass(cf.typ)
		row := byClass[cls]
		if row == nil {
			row = &classRow{}
			byClass[cls] = row
		}
		detect.add(len(reps) > 0)
		row.detect.add(len(reps) > 0)
		var r *Report
		if len(reps) > 0 {
			r = reps[0]
		} else {
			r = &Report{}
			missed = append(missed, fmt.Sprintf("%s: not detected (%s)", name, cf.title))
		}
		if cf.typ != "" {
			ok := rkoClass[r.Type] == cls
			class.add(ok)
			row.class.add(ok)
		}
		if cf.frame != "" && !cf.corrupted {
			ok := r.Frame == cf.frame
			frame.add(ok)
			row.frame.add(ok)
		}
		ok := r.Title == cf.title
		for _, a := range cf.alts {
			ok = ok || r.Title == a
		}
		title.add(ok)
		row.title.add(ok)
		if len(reps) > 0 && !ok && testing.Verbose() {
			missed = append(missed, fmt.Sprintf("%s: title %q, want %q", name, r.Title, cf.title))
		}
	}
	if *update {
		// Drop goldens of files that left the corpus.
		olds, _ := filepath.Glob(filepath.Join("testdata", "corpus", "*"))
		for _, p := range olds {
			if b := filepath.Base(p); !seen[b] && b != "README.md" {
				os.Remove(p)
			}
		}
	}
	// An empty or partial corpus scores nothing, or only what is left:
	// every golden verdict must have its console.
	if detect.n+falseAlarm.n == 0 {
		t.Fatalf("corpus %s holds no console files: nothing was scored", dir)
	}
	if !*update {
		goldens, _ := filepath.Glob(filepath.Join("testdata", "corpus", "*"))
		var gone []string
		for _, p := range goldens {
			if b := filepath.Base(p); !seen[b] && b != "README.md" {
				gone = append(gone, b)
			}
		}
		if len(gone) > 0 {
			t.Errorf("%d golden verdicts have no console in %s (a partial corpus, or files that left it: -update drops their goldens): %s", len(gone), dir, strings.Join(gone[:min(len(gone), 10)], ", "))
		}
	}
	falseAlarms := falseAlarm.ok
	t.Logf("corpus %s: %d files", dir, detect.n+falseAlarm.n)
	t.Logf("crash detected, of files with a crash:        %v", detect)
	t.Logf("false alarms, of files without a crash:       %d / %d", falseAlarms, falseAlarm.n)
	t.Logf("class agrees with TYPE:                       %v", class)
	t.Logf("guilty frame agrees (uncorrupted):            %v", frame)
	t.Logf("title equals TITLE or an ALT:                 %v", title)
	var classes []string
	for c := range byClass {
		classes = append(classes, c)
	}
	sort.Strings(classes)
	t.Logf("| class | files | detected | class | frame | title |")
	t.Logf("| --- | ---: | ---: | ---: | ---: | ---: |")
	for _, c := range classes {
		r := byClass[c]
		name := c
		if name == "" {
			name = "(no TYPE)"
		}
		t.Logf("| %s | %d | %d | %d/%d | %d/%d | %d/%d |", name, r.detect.n, r.detect.ok, r.class.ok, r.class.n,
			r.frame.ok, r.frame.n, r.title.ok, r.title.n)
	}
	if testing.Verbose() {
		for _, m := range missed {
			t.Log(m)
		}
	}
	if detect.rate() < goalDetection {
		t.Errorf("detection %v, goal at least %.0f %%", detect, 100*goalDetection)
	}
	if falseAlarms > goalFalseAlarms {
		t.Errorf("false alarms %d, goal at most %d", falseAlarms, goalFalseAlarms)
	}
	if class.rate() < goalClass {
		t.Errorf("class %v, goal at least %.0f %%", class, 100*goalClass)
	}
	if frame.rate() < goalFrame {
		t.Errorf("guilty frame %v, goal at least %.0f %%", frame, 100*goalFrame)
	}
	if title.rate() < goalTitle {
		t.Errorf("title %v, goal at least %.0f %%", title, 100*goalTitle)
	}
}

// checkCorpusGolden compares a verdict with testdata/corpus/NAME, or
// writes it with -update.
func checkCorpusGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "corpus", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if old, err := os.ReadFile(path); err != nil || string(old) != got {
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%s: no golden verdict (run go test ./internal/report -run TestCorpus -update): %v", name, err)
		return
	}
	if string(want) != got {
		t.Errorf("%s: verdict changed (run with -update if on purpose):\n--- got\n%s--- want\n%s", name, got, want)
	}
}
