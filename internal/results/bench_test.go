package results

import (
	"bytes"
	"os"
	"testing"
)

// BenchmarkConsole100MB parses a 100 MB console: a boot log with KTAP
// streams and crash reports from the testdata, repeated. b.SetBytes makes
// `go test -bench Console100MB -benchtime 3x ./internal/results` print MB/s.
func BenchmarkConsole100MB(b *testing.B) {
	var unit bytes.Buffer
	for _, p := range []string{"../ktap/testdata/kunit/test_is_test_passed-all_passed_nested.log", "testdata/mixed.log",
		"../report/testdata/report/2", "../report/testdata/report/5", "../report/testdata/report/8"} {
		data, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		unit.Write(data)
	}
	// Most of a real console is ordinary printk lines.
	for i := 0; i < 200; i++ {
		unit.WriteString("[    0.123456] virtio_blk virtio1: [vda] 2097152 512-byte logical blocks (1.07 GB/1.00 GiB)\n")
	}
	const size = 100 << 20
	console := bytes.Repeat(unit.Bytes(), size/unit.Len()+1)[:size]
	b.SetBytes(int64(len(console)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := FromConsole(console, Options{})
		if len(r.Crashes) == 0 || r.Tests.Total == 0 {
			b.Fatal("nothing found")
		}
	}
}
