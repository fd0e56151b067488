package debian

import (
	"reflect"
	"strings"
	"testing"
)

func TestSourceReleases(t *testing.T) {
	rs := SourceReleases(readTestIndex(t))
	var got []string
	for _, r := range rs {
		got = append(got, r.Upstream+" "+r.Version)
	}
	// testdata/Packages: the kernel paragraphs of trixie's and
	// trixie-backports' real indexes (debian_test.go).
	if len(got) == 0 || !strings.HasPrefix(got[0], "7.3.4 ") {
		t.Fatalf("SourceReleases = %q, want 7.3.4 first", got)
	}
	if s := Series(rs); !reflect.DeepEqual(s, []string{"7.3", "7.2", "6.12"}) {
		t.Errorf("Series = %q, want 7.3, 7.2, 6.12", s)
	}
	for _, tc := range []struct {
		want, upstream, err string
	}{
		{"6.12", "6.12.117", ""},
		{"7.2", rs[1].Upstream, ""},
		{"6.12.117", "6.12.117", ""},
		{"6.12.1", "", "linux-source-6.12 there has"},
		{"6.6", "", "the mirror has 7.3, 7.2, 6.12"},
	} {
		r, err := PickSource(rs, tc.want)
		switch {
		case tc.err == "" && (err != nil || r.Upstream != tc.upstream):
			t.Errorf("PickSource(%s) = %v, %v; want %s", tc.want, r, err, tc.upstream)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("PickSource(%s) error = %v, want one with %q", tc.want, err, tc.err)
		}
	}
}
