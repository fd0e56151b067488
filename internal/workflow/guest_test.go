package workflow

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestPutParts: a put whose line would be longer than the console takes
// is split into parts that fit, cover the data in order and end with
// the one that puts the file in place.
func TestPutParts(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 1700) // 27 KB, a stripped module
	for _, lineMax := range []int{0, 2048, 4096} {
		parts := putParts("/rko/mod/hello.ko", data, 0o644, lineMax)
		var got []byte
		for i, c := range parts {
			line, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			if lineMax > 0 && len(line)+1 > lineMax {
				t.Errorf("lineMax %d: part %d is a %d-byte line", lineMax, i, len(line)+1)
			}
			if c.Offset != int64(len(got)) || c.More != (i < len(parts)-1) {
				t.Errorf("lineMax %d: part %d at offset %d, more %v", lineMax, i, c.Offset, c.More)
			}
			got = append(got, c.Data...)
		}
		if !bytes.Equal(got, data) {
			t.Errorf("lineMax %d: the parts do not add up to the data", lineMax)
		}
		if lineMax == 0 && len(parts) != 1 {
			t.Errorf("no limit: %d parts, want 1", len(parts))
		}
		if lineMax == 2048 && len(parts) < 10 {
			t.Errorf("lineMax 2048: %d parts for 27 KB", len(parts))
		}
	}
}
