package report

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzReport checks that no console makes Parse panic or hang and that
// every report has a title and a sane span. Run:
// go test -fuzz=FuzzReport ./internal/report
func FuzzReport(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*")
	files = slicesDeleteCorpus(files)
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			_, console := splitGolden(b)
			f.Add(console)
		}
	}
	f.Add([]byte("BUG: KASAN:\nRIP: 0010:+0x\n@@rko {\"ev\":\"out\",\"line\":\"unreferenced object 0x1\"}\n"))
	// Every family of the format table, with a frame, an arm and a powerpc
	// frame, caller ids and a fault-injection line for the mutator to mix.
	for _, fam := range families {
		f.Add([]byte("[    1.000000][   T12] " + fam.header + " x in f+0x1/0x2\n[    1.000001][   T12] Call Trace:\n" +
			"[    1.000002][   C1]  g+0x1/0x2 [m]\n [<80cc6a44>] (h) from [<80cc7fa0>] (i+0xa0/0xb4)\n" +
			" [c000000049a87710] [c0000000000286fc] j+0x43c/0x6d0\n should_fail+0x1/0x2\n---[ end trace 0 ]---\n"))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, r := range Parse(data) {
			if r.Title == "" {
				t.Fatalf("report without a title: %+v", r)
			}
			if r.StartLine < 1 || r.EndLine < r.StartLine {
				t.Fatalf("bad span %d-%d", r.StartLine, r.EndLine)
			}
		}
	})
}

// slicesDeleteCorpus drops testdata/corpus: its files are verdicts, not
// consoles.
func slicesDeleteCorpus(files []string) []string {
	out := files[:0]
	for _, f := range files {
		if filepath.Base(filepath.Dir(f)) != "corpus" {
			out = append(out, f)
		}
	}
	return out
}
