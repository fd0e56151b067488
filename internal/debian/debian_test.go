package debian

import (
	"os"
	"strings"
	"testing"

	"github.com/rkodev/rko/internal/kconfig"
	"github.com/rkodev/rko/internal/toolchain"
)

// testdata/Packages holds the kernel paragraphs (fields Package, Source,
// Version, Architecture, Depends, Filename, Size, SHA256) of the real
// trixie and trixie-backports amd64 indexes of deb.debian.org, read with
// apt-get update on 2026-12-01.
func readTestIndex(t *testing.T) []Package {
	t.Helper()
	f, err := os.Open("testdata/Packages")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ps, err := ParsePackages(f)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func TestParsePackages(t *testing.T) {
	ps := readTestIndex(t)
	if len(ps) != 27 {
		t.Fatalf("parsed %d packages, want 27", len(ps))
	}
	var bin *Package
	for i := range ps {
		if ps[i].Name == "linux-binary-7.3.4+deb13-amd64" {
			bin = &ps[i]
		}
	}
	if bin == nil {
		t.Fatal("linux-binary-7.3.4+deb13-amd64 not parsed")
	}
	if bin.Version != "7.3.4-1~bpo13+1" || bin.Size != 14138336 || !strings.HasPrefix(bin.Filename, "pool/main/l/linux-signed-amd64/") {
		t.Errorf("parsed %+v", *bin)
	}
}

func TestReleases(t *testing.T) {
	rs := Releases(readTestIndex(t))
	got := map[string]Release{}
	var order []string
	for _, r := range rs {
		got[r.Name] = r
		order = append(order, r.Name)
	}
	tests := []struct {
		name, binary, source, sourceHave string
	}{
		{"7.3.4+deb13-amd64", "linux-binary-7.3.4+deb13-amd64", "linux-source-7.3", ""},
		{"7.3.4+deb13-cloud-amd64", "linux-binary-7.3.4+deb13-cloud-amd64", "linux-source-7.3", ""},
		{"7.2.12+deb13-amd64", "linux-binary-7.2.12+deb13-amd64", "linux-source-7.2", ""},
		// Before linux-binary-*, linux-image-* was the image itself.
		{"6.12.117+deb13-amd64", "linux-image-6.12.117+deb13-amd64", "linux-source-6.12", ""},
		{"6.12.107+deb13-amd64", "linux-image-6.12.107+deb13-amd64", "linux-source-6.12", ""},
	}
	for _, tt := range tests {
		r, ok := got[tt.name]
		if !ok {
			t.Errorf("release %s missing; got %v", tt.name, order)
			continue
		}
		if r.Binary != tt.binary || r.Source != tt.source || r.SourceHave != tt.sourceHave {
			t.Errorf("%s: got %+v", tt.name, r)
		}
	}
	// No headers in the excerpt: not a release rko can build for.
	if _, ok := got["6.19.14+deb13-amd64"]; ok {
		t.Errorf("6.19.14 has no headers package in the index but was listed")
	}
	// linux-binary-unsigned-* and the linux-image-7.3.4 meta package are
	// not releases of their own.
	if len(rs) != 6 {
		t.Errorf("got %d releases %v, want 6", len(rs), order)
	}
	if order[0] != "7.3.4+deb13-amd64" && order[0] != "7.3.4+deb13-cloud-amd64" {
		t.Errorf("newest first: got %v", order)
	}
}

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"7.3.4-1~bpo13+1", "7.3.4-1~bpo13+1", 0},
		{"7.3.4-1~bpo13+1", "7.2.12-1~bpo13+1", 1},
		{"7.2.9-1~bpo13+1", "7.2.12-1~bpo13+1", -1},
		{"7.3.4-1~bpo13+1", "7.3.4-1", -1}, // ~ sorts before the end
		{"6.12.117-1", "6.12.107-1", 1},
		{"1.85.1+dfsg1-1+deb13u1", "1.85.1+dfsg1-1", 1},
	}
	for _, tt := range tests {
		got := CompareVersions(tt.a, tt.b)
		if (got > 0) != (tt.want > 0) || (got < 0) != (tt.want < 0) {
			t.Errorf("CompareVersions(%q, %q) = %d, want sign %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestSpec(t *testing.T) {
	tests := []struct {
		in, release string
		ok          bool
	}{
		{"debian", "", true},
		{"debian:7.3.4+deb13", "7.3.4+deb13-amd64", true},
		{"debian:7.3.4+deb13-cloud-amd64", "7.3.4+deb13-cloud-amd64", true},
		{"/src/linux/build", "", false},
		{"debianish", "", false},
	}
	for _, tt := range tests {
		rel, ok := Spec(tt.in)
		if rel != tt.release || ok != tt.ok {
			t.Errorf("Spec(%q) = %q, %v; want %q, %v", tt.in, rel, ok, tt.release, tt.ok)
		}
	}
}

func TestMajorMinor(t *testing.T) {
	for in, want := range map[string]string{"7.3.4+deb13-amd64": "7.3", "6.12.117+deb13-amd64": "6.12", "7.3+deb13-amd64": "7.3"} {
		if got := majorMinor(in); got != want {
			t.Errorf("majorMinor(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDrift(t *testing.T) {
	deb := kconfig.Config{"RUST": "y", "OPENSSL_SUPPORTS_ML_DSA": "y", "PAHOLE_VERSION": "130"}
	now := kconfig.Config{"RUST": "y", "PAHOLE_VERSION": "0", "NEW": "y"}
	d := Drift(deb, now)
	want := []Change{{"NEW", "n", "y"}, {"OPENSSL_SUPPORTS_ML_DSA", "y", "n"}, {"PAHOLE_VERSION", "130", "0"}}
	if len(d) != len(want) {
		t.Fatalf("Drift = %+v, want %+v", d, want)
	}
	for i := range want {
		if d[i] != want[i] {
			t.Errorf("Drift[%d] = %+v, want %+v", i, d[i], want[i])
		}
	}
	msg := (&DriftError{Release: "7.3.4+deb13-amd64", Changes: d}).Error()
	for _, s := range []string{"CONFIG_OPENSSL_SUPPORTS_ML_DSA: Debian y, now n", "CONFIG_PAHOLE_VERSION: Debian 130, now 0", "7.3.4+deb13-amd64"} {
		if !strings.Contains(msg, s) {
			t.Errorf("DriftError %q lacks %q", msg, s)
		}
	}
}

func TestToolchainErrorNamesBoth(t *testing.T) {
	e := &ToolchainError{Release: "7.3.4+deb13-amd64", Toolchain: "host",
		Mismatches: []Mismatch{{Tool: "rustc", Option: "RUSTC_VERSION_TEXT",
			Kernel: "rustc 1.85.1 (4eb161250 2025-03-15) (built from a source tarball)", Have: "rustc 1.91.0 (f8297e351 2025-10-28)"},
			{Tool: "pahole", Option: "PAHOLE_VERSION", Kernel: "130"}},
		Offer: "use the rootfs toolchain: --toolchain rootfs"}
	msg := e.Error()
	for _, s := range []string{`"rustc 1.85.1 (4eb161250 2025-03-15) (built from a source tarball)"`, `"rustc 1.91.0 (f8297e351 2025-10-28)"`,
		"CONFIG_RUSTC_VERSION_TEXT", `has "no pahole"`, "fix: use the rootfs toolchain"} {
		if !strings.Contains(msg, s) {
			t.Errorf("ToolchainError %q lacks %q", msg, s)
		}
	}
}

func TestOfferRootfsForHost(t *testing.T) {
	t.Setenv("RKO_CACHE", t.TempDir()) // no rootfs installed
	cfg := kconfig.Config{"RUSTC_VERSION_TEXT": `"rustc 1.85.1 (4eb161250 2025-03-15) (built from a source tarball)"`}
	got := offer(&toolchain.Toolchain{Kind: toolchain.Host}, cfg)
	if !strings.Contains(got, "--toolchain rootfs") || !strings.Contains(got, "1.85.1") {
		t.Errorf("offer for a host toolchain = %q, want the rootfs with rustc 1.85.1", got)
	}
	rootfs := &toolchain.Toolchain{Kind: toolchain.Rootfs, Lock: &toolchain.Lock{Packages: map[string]string{"rustc": "1.85.1+dfsg1-1+deb13u1"}}}
	if got := offer(rootfs, cfg); !strings.Contains(got, "rko toolchain install --force") {
		t.Errorf("offer for a rootfs with the right rustc = %q, want a rebuild", got)
	}
	old := &toolchain.Toolchain{Kind: toolchain.Rootfs, Lock: &toolchain.Lock{Packages: map[string]string{"rustc": "1.78.0+dfsg1-1"}}}
	if got := offer(old, cfg); got != "" {
		t.Errorf("offer for a rootfs with another rustc = %q, want none", got)
	}
}

func TestLastAptError(t *testing.T) {
	out := "Ign:1 http://127.0.0.1:9/debian trixie InRelease\nErr:1 http://127.0.0.1:9/debian trixie InRelease\n  Could not connect to 127.0.0.1:9 (127.0.0.1). - connect (111: Connection refused)\nReading package lists...\nW: Failed to fetch http://127.0.0.1:9/debian/dists/trixie/InRelease  Could not connect\nW: Some index files failed to download. They have been ignored, or old ones used instead.\n"
	if got := lastAptError(out); got != "W: Failed to fetch http://127.0.0.1:9/debian/dists/trixie/InRelease Could not connect" {
		t.Errorf("lastAptError = %q", got)
	}
}
