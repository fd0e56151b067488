package workflow

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"io"
	"testing"

	"github.com/rkodev/rko/internal/guest/proto"
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

// inflate decodes a put's data as the init does.
func inflate(t *testing.T, cmds []proto.Command, dict []byte) []byte {
	t.Helper()
	var z []byte
	for _, c := range cmds {
		z = append(z, c.Data...)
	}
	var r io.Reader
	if cmds[0].Dict {
		r = flate.NewReaderDict(bytes.NewReader(z), dict)
	} else {
		r = flate.NewReader(bytes.NewReader(z))
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPutCommandsDictionary: the first put of a path is compressed alone;
// once the guest has acknowledged it, the next put of the path is
// compressed against it (the module of the cycle before) and is a
// fraction of the size; every part carries the encoding and the sum.
func TestPutCommandsDictionary(t *testing.T) {
	v1 := bytes.Repeat([]byte("\x7fELF module text, version one; "), 400)
	v2 := append(append([]byte(nil), v1[:8000]...), []byte("an edit in the middle")...)
	v2 = append(v2, v1[8000:]...)
	for _, lineMax := range []int{0, 2048} {
		g := &Guest{sent: map[string][]byte{}, staged: map[string][]byte{}, lineMax: lineMax}
		first := g.PutCommands("/rko/modules/m.ko", v1, 0o644)
		for _, c := range first {
			if c.Enc != proto.EncDeflate || c.Dict || c.Sum == "" {
				t.Fatalf("lineMax %d: first put %+v", lineMax, c)
			}
		}
		if got := inflate(t, first, nil); !bytes.Equal(got, v1) {
			t.Fatalf("lineMax %d: first put decodes to %d bytes", lineMax, len(got))
		}
		// Not acknowledged yet: no dictionary.
		if again := g.PutCommands("/rko/modules/m.ko", v2, 0o644); again[0].Dict {
			t.Fatalf("lineMax %d: a dictionary the guest has not acknowledged", lineMax)
		}
		g.putDone("/rko/modules/m.ko", first[0].Sum)
		second := g.PutCommands("/rko/modules/m.ko", v2, 0o644)
		var size int
		for _, c := range second {
			if !c.Dict || c.Enc != proto.EncDeflate || c.Sum != second[0].Sum {
				t.Fatalf("lineMax %d: second put %+v", lineMax, c)
			}
			size += len(c.Data)
		}
		if got := inflate(t, second, v1); !bytes.Equal(got, v2) {
			t.Fatalf("lineMax %d: second put decodes to %d bytes", lineMax, len(got))
		}
		if size > 200 {
			t.Errorf("lineMax %d: an edit of a known module takes %d bytes", lineMax, size)
		}
		// Another path has no dictionary.
		if other := g.PutCommands("/rko/tests/t/smoke.sh", []byte("#!/bin/sh\necho ok\n"), 0o755); other[0].Dict {
			t.Errorf("lineMax %d: a dictionary for a path never sent", lineMax)
		}
	}
}
