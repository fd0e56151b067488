package toolchain

import (
	"fmt"
	"strings"
)

// Status is the outcome of one check.
type Status string

// Check outcomes.
const (
	Pass Status = "pass"
	Warn Status = "warn"
	Fail Status = "fail"
	// Skip means the check does not apply (for instance, a version check
	// when the tool is missing, which is already reported).
	Skip Status = "skip"
)

// Check is one doctor finding: what was checked, what was found and, when
// it failed, the exact fix.
type Check struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Found  string `json:"found,omitempty"`
	Want   string `json:"want,omitempty"`
	Detail string `json:"detail,omitempty"`
	Fix    string `json:"fix,omitempty"`
}

// Minima are the oldest tool versions a kernel tree accepts, from its
// scripts/min-tool-version.sh.
type Minima struct {
	Rustc   Version `json:"rustc"`
	Bindgen Version `json:"bindgen"`
	LLVM    Version `json:"llvm"`
}

// Minima73 are the minima of Linux 7.3 on x86_64, used when no tree is at
// hand to ask.
var Minima73 = Minima{Rustc: MustVersion("1.85.0"), Bindgen: MustVersion("0.71.1"), LLVM: MustVersion("17.0.1")}

// Facts are what a probe found out about a toolchain. Empty strings mean
// "not found"; the Err fields keep why a probe failed.
type Facts struct {
	Rustc        string // rustc --version
	RustcErr     string
	Bindgen      string // bindgen --version
	BindgenErr   string
	Libclang     string // bindgen's output on rust_is_available_bindgen_libclang.h
	LibclangErr  string
	Clang        string // clang --version
	RustSrcCore  string // path of core/src/lib.rs that was looked for
	RustSrcFound bool
	RustLibSrc   string            // $RUST_LIB_SRC, if set
	Tools        map[string]string // other tools: name -> path ("" if missing)
	LibelfHeader bool
}

// Hint says how to install things on the toolchain being checked: for the
// host, Debian package names; for the rootfs, "rko toolchain install".
type Hint struct {
	// Install returns the command that installs the named Debian packages.
	Install func(pkgs ...string) string
}

// DebianHint suggests apt-get for a Debian or Ubuntu host.
var DebianHint = Hint{Install: func(pkgs ...string) string {
	return "apt-get install " + strings.Join(pkgs, " ") + "   (or: rko toolchain install, which needs none of this on the host)"
}}

// RustAvailable applies the rules of the kernel's scripts/rust_is_available.sh
// (and of older trees' versions of it) to probed facts. It never runs
// anything, so it is tested on recorded facts.
func RustAvailable(f Facts, min Minima, h Hint) []Check {
	var cs []Check
	// rustc
	rc := Check{Name: "rustc", Want: ">= " + min.Rustc.String()}
	switch {
	case f.Rustc == "":
		rc.Status, rc.Detail = Fail, "rustc not found"+errSuffix(f.RustcErr)
		rc.Fix = h.Install("rustc")
	default:
		v, err := ParseVersion(f.Rustc)
		rc.Found = strings.TrimSpace(firstLine(f.Rustc))
		switch {
		case err != nil:
			rc.Status, rc.Detail, rc.Fix = Fail, "rustc --version: "+err.Error(), "check that rustc runs: rustc --version"
		case v.Less(min.Rustc):
			rc.Status, rc.Detail = Fail, fmt.Sprintf("rustc %s is too old for this kernel (minimum %s, from scripts/min-tool-version.sh)", v, min.Rustc)
			rc.Fix = "install rustc " + min.Rustc.String() + " or newer, or use the pinned toolchain: rko toolchain install"
		default:
			rc.Status = Pass
		}
	}
	cs = append(cs, rc)

	// bindgen
	bc := Check{Name: "bindgen", Want: ">= " + min.Bindgen.String() + ", not 0.66.x"}
	var bindgenV Version
	switch {
	case f.Bindgen == "":
		bc.Status, bc.Detail = Fail, "bindgen not found"+errSuffix(f.BindgenErr)
		bc.Fix = h.Install("bindgen")
	default:
		v, err := ParseVersion(f.Bindgen)
		bc.Found = strings.TrimSpace(firstLine(f.Bindgen))
		switch {
		case err != nil:
			bc.Status, bc.Detail, bc.Fix = Fail, "bindgen --version: "+err.Error(), "check that bindgen runs: bindgen --version"
		case v.Major == 0 && v.Minor == 66:
			// Kernels before 6.6 refuse 0.66.0 and 0.66.1: they panic on
			// some inputs (rust-bindgen#2567).
			bc.Status, bc.Detail = Fail, "bindgen 0.66.x may not work due to a bug (rust-bindgen#2567)"
			bc.Fix = "install another bindgen version (cargo install --locked bindgen-cli, or rko toolchain install)"
		case v.Less(min.Bindgen):
			bc.Status, bc.Detail = Fail, fmt.Sprintf("bindgen %s is too old for this kernel (minimum %s)", v, min.Bindgen)
			bc.Fix = "install bindgen " + min.Bindgen.String() + " or newer, or use the pinned toolchain: rko toolchain install"
		default:
			bc.Status = Pass
			bindgenV = v
		}
	}
	cs = append(cs, bc)

	// libclang, as bindgen sees it
	lc := Check{Name: "libclang", Want: ">= " + min.LLVM.String() + " (as bindgen sees it)"}
	var libclangV Version
	switch {
	case f.Bindgen == "":
		lc.Status, lc.Detail = Skip, "bindgen not found"
	case f.Libclang == "" && f.LibclangErr != "":
		lc.Status, lc.Detail = Fail, "bindgen could not run libclang"+errSuffix(f.LibclangErr)
		lc.Fix = h.Install("libclang-dev") + "; or set LIBCLANG_PATH to the directory holding libclang.so"
	default:
		v, err := ParseLibclangVersion(f.Libclang)
		switch {
		case err != nil:
			lc.Status, lc.Detail, lc.Fix = Fail, err.Error(), h.Install("libclang-dev")
		case v.Less(min.LLVM):
			lc.Found = v.String()
			lc.Status, lc.Detail = Fail, fmt.Sprintf("libclang %s is too old (minimum %s)", v, min.LLVM)
			lc.Fix = h.Install("libclang-dev") + " (a newer LLVM), or rko toolchain install"
		default:
			lc.Found, lc.Status = v.String(), Pass
			libclangV = v
		}
	}
	cs = append(cs, lc)

	// Known bindgen/libclang bug pairs. Both are warnings in the kernel's
	// script, since distributions may have patched them.
	if !bindgenV.IsZero() && !libclangV.IsZero() {
		if bindgenV.Less(MustVersion("0.69.5")) && !libclangV.Less(MustVersion("19.0.0")) {
			cs = append(cs, Check{Name: "bindgen-libclang-19", Status: Warn,
				Found:  fmt.Sprintf("bindgen %s, libclang %s", bindgenV, libclangV),
				Detail: "bindgen < 0.69.5 with libclang >= 19 may not work due to a bug (rust-bindgen#2824)",
				Fix:    "use bindgen 0.69.5 or newer"})
		}
		if bindgenV.Less(MustVersion("0.72.1")) && !libclangV.Less(MustVersion("22.0.0")) {
			cs = append(cs, Check{Name: "bindgen-libclang-22", Status: Warn,
				Found:  fmt.Sprintf("bindgen %s, libclang %s", bindgenV, libclangV),
				Detail: "bindgen < 0.72.1 with libclang >= 22 may not work due to a bug (rust-bindgen#3278)",
				Fix:    "use bindgen 0.72.1 or newer"})
		}
	}

	// clang must match libclang (a warning in the kernel's script).
	cc := Check{Name: "clang", Want: "present; same version as libclang"}
	switch {
	case f.Clang == "":
		cc.Status, cc.Detail, cc.Fix = Fail, "clang not found (rko builds with LLVM=1)", h.Install("clang", "lld", "llvm")
	default:
		v, err := ParseVersion(f.Clang)
		cc.Found = strings.TrimSpace(firstLine(f.Clang))
		switch {
		case err != nil:
			cc.Status, cc.Detail, cc.Fix = Fail, "clang --version: "+err.Error(), "check that clang runs: clang --version"
		case !libclangV.IsZero() && v != libclangV:
			cc.Status = Warn
			cc.Detail = fmt.Sprintf("libclang %s (used by bindgen) does not match clang %s; this may be a problem", libclangV, v)
			cc.Fix = "install the libclang of the same LLVM as clang, or set LIBCLANG_PATH"
		default:
			cc.Status = Pass
		}
	}
	cs = append(cs, cc)

	// rust-src
	src := Check{Name: "rust-src", Want: "core library sources"}
	switch {
	case f.Rustc == "":
		src.Status, src.Detail = Skip, "rustc not found"
	case f.RustSrcFound:
		src.Status, src.Found = Pass, f.RustSrcCore
	default:
		src.Status = Fail
		src.Detail = "source code for the 'core' standard library could not be found at " + f.RustSrcCore
		if f.RustLibSrc != "" {
			src.Fix = "RUST_LIB_SRC is set to " + f.RustLibSrc + ": point it at a rust-src 'library' directory, or unset it"
		} else {
			src.Fix = h.Install("rust-src") + " (rustup: rustup component add rust-src), or set RUST_LIB_SRC"
		}
	}
	cs = append(cs, src)
	return cs
}

// BuildTools are the other programs a Rust kernel build needs, with the
// Debian package that ships each.
var BuildTools = []struct{ Name, Package string }{
	{"ld.lld", "lld"},
	{"llvm-ar", "llvm"},
	{"llvm-symbolizer", "llvm"},
	{"make", "make"},
	{"flex", "flex"},
	{"bison", "bison"},
	{"bc", "bc"},
	{"cpio", "cpio"},
	{"perl", "perl-base"},
}

// BuildToolChecks reports on BuildTools and the libelf headers.
func BuildToolChecks(f Facts, h Hint) []Check {
	var cs []Check
	for _, t := range BuildTools {
		c := Check{Name: t.Name, Want: "present"}
		if p := f.Tools[t.Name]; p != "" {
			c.Status, c.Found = Pass, p
		} else {
			c.Status, c.Detail, c.Fix = Fail, t.Name+" not found", h.Install(t.Package)
		}
		cs = append(cs, c)
	}
	c := Check{Name: "libelf", Want: "gelf.h (objtool needs it)"}
	if f.LibelfHeader {
		c.Status = Pass
	} else {
		c.Status, c.Detail, c.Fix = Fail, "libelf headers not found", h.Install("libelf-dev")
	}
	return append(cs, c)
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return ": " + firstLine(e)
}

// Passed reports whether no check failed (warnings pass).
func Passed(cs []Check) bool {
	for _, c := range cs {
		if c.Status == Fail {
			return false
		}
	}
	return true
}
