package kdoc

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Absence is an item of the kernel's Rust sources that this kernel's
// config compiles out, so its docs do not have it.
type Absence struct {
	Path string `json:"path"`
	Kind string `json:"kind"`
	// File and Line are where the item is declared.
	File string `json:"file"`
	Line int    `json:"line"`
	// Cfg is the #[cfg(...)] that removes it (its own or an enclosing
	// module's), as written.
	Cfg string `json:"cfg"`
	// Options are the config options that would bring it in (each to be
	// set y, or to the value the cfg names).
	Options []string `json:"options"`
}

// crateDirs are the kernel crates FindAbsent reads, by crate root
// directory relative to the source tree.
var crateDirs = []struct{ crate, dir string }{
	{"kernel", "rust/kernel"}, {"pin_init", "rust/pin-init/src"}, {"macros", "rust/macros"},
}

var declRE = regexp.MustCompile(`^\s*(?:pub(?:\([^)]*\))?\s+)?(?:unsafe\s+|const\s+|async\s+|extern\s+"C"\s+)*(mod|struct|enum|trait|fn|type|const|static|union|macro_rules!)\s*([A-Za-z_][A-Za-z0-9_]*)`)

// FindAbsent looks for items named like query's last segment in the
// kernel crates' sources under src whose #[cfg] this kernel's rustc_cfg
// (the file at cfgPath) turns off. The sources are only read, not
// parsed: an attribute applies to the declaration right after it, and a
// module's to every file of it.
func FindAbsent(src, cfgPath, query string) []Absence {
	segs := splitPath(query)
	if len(segs) == 0 {
		return nil
	}
	cfg, err := loadRustcCfg(cfgPath)
	if err != nil {
		return nil
	}
	name := normalize(segs[len(segs)-1])
	var out []Absence
	for _, cd := range crateDirs {
		root := filepath.Join(src, cd.dir)
		modCfg := map[string][]string{} // module path -> cfgs on its mod declaration
		type decl struct {
			mod, kind, name, file string
			line                  int
			cfgs                  []string
		}
		var decls []decl
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".rs") {
				return nil
			}
			mod := modulePath(cd.crate, root, p)
			f, err := os.Open(p)
			if err != nil {
				return nil
			}
			defer f.Close()
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			var pending []string
			attr := ""
			for n := 1; sc.Scan(); n++ {
				line := strings.TrimSpace(sc.Text())
				if attr != "" || strings.HasPrefix(line, "#[cfg(") {
					attr += line
					if strings.Count(attr, "(") > strings.Count(attr, ")") {
						continue
					}
					pending = append(pending, strings.TrimSuffix(strings.TrimPrefix(attr, "#[cfg("), ")]"))
					attr = ""
					continue
				}
				if strings.HasPrefix(line, "#") || strings.HasPrefix(line, "//") || line == "" {
					continue
				}
				if m := declRE.FindStringSubmatch(line); m != nil {
					kind := strings.TrimSuffix(m[1], "_rules!")
					if m[1] == "mod" && strings.HasSuffix(line, ";") && len(pending) > 0 {
						modCfg[mod+"::"+m[2]] = pending
					}
					decls = append(decls, decl{mod: mod, kind: kind, name: m[2], file: p, line: n, cfgs: pending})
				}
				pending = nil
			}
			return nil
		})
		for _, d := range decls {
			if normalize(d.name) != name {
				continue
			}
			full := d.mod + "::" + d.name
			if d.kind == "macro" {
				full = cd.crate + "::" + d.name // #[macro_export] macros live at the crate root
			}
			if !inOrder(splitPath(full), segs[:len(segs)-1]) {
				continue
			}
			// Its own cfgs, then each enclosing module's, innermost first.
			cfgs := append([]string(nil), d.cfgs...)
			for m := d.mod; strings.Contains(m, "::"); m = m[:strings.LastIndex(m, "::")] {
				cfgs = append(cfgs, modCfg[m]...)
			}
			for _, c := range cfgs {
				e, err := parseCfg(c)
				if err != nil || e.eval(cfg) != cfgFalse {
					continue
				}
				var opts []string
				e.missing(cfg, &opts)
				out = append(out, Absence{Path: full, Kind: LongKind(d.kind), File: d.file, Line: d.line, Cfg: "#[cfg(" + c + ")]", Options: opts})
				break
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return strings.Count(out[i].Path, "::") < strings.Count(out[j].Path, "::") })
	return out
}

// modulePath is the module of file p of a crate whose root directory is
// root: lib.rs is the crate, a/mod.rs and a.rs are crate::a.
func modulePath(crate, root, p string) string {
	rel, _ := filepath.Rel(root, p)
	rel = strings.TrimSuffix(filepath.ToSlash(rel), ".rs")
	rel = strings.TrimSuffix(strings.TrimSuffix(rel, "/mod"), "lib")
	rel = strings.Trim(rel, "/")
	if rel == "" || rel == "mod" {
		return crate
	}
	return crate + "::" + strings.ReplaceAll(rel, "/", "::")
}

// rustcCfg is the kernel's include/generated/rustc_cfg: every cfg rustc
// gets, with the values of valued ones.
type rustcCfg map[string][]string

func loadRustcCfg(path string) (rustcCfg, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg := rustcCfg{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimPrefix(strings.TrimSpace(line), "--cfg=")
		if line == "" {
			continue
		}
		name, val, ok := strings.Cut(line, "=")
		if _, seen := cfg[name]; !seen {
			cfg[name] = nil
		}
		if ok {
			cfg[name] = append(cfg[name], strings.Trim(val, `"`))
		}
	}
	return cfg, nil
}

// A cfg predicate evaluates to true, false or unknown (a cfg the kernel's
// rustc_cfg does not decide, such as target_arch).
type tri int

const (
	cfgUnknown tri = iota
	cfgTrue
	cfgFalse
)

type cfgExpr struct {
	op    string // "", "all", "any", "not"
	name  string
	value *string
	args  []*cfgExpr
}

func (e *cfgExpr) eval(c rustcCfg) tri {
	switch e.op {
	case "":
		if !strings.HasPrefix(e.name, "CONFIG_") {
			return cfgUnknown
		}
		vals, ok := c[e.name]
		if !ok {
			return cfgFalse
		}
		if e.value == nil {
			return cfgTrue
		}
		for _, v := range vals {
			if v == *e.value {
				return cfgTrue
			}
		}
		return cfgFalse
	case "not":
		switch e.args[0].eval(c) {
		case cfgTrue:
			return cfgFalse
		case cfgFalse:
			return cfgTrue
		}
		return cfgUnknown
	case "all", "any":
		decided, want := cfgFalse, cfgTrue // any: one true decides
		if e.op == "all" {
			decided, want = cfgTrue, cfgFalse
		}
		res := decided
		for _, a := range e.args {
			switch a.eval(c) {
			case want:
				return want
			case cfgUnknown:
				res = cfgUnknown
			}
		}
		return res
	}
	return cfgUnknown
}

// missing collects the options that are off where the expression needs
// them on (not under a not()).
func (e *cfgExpr) missing(c rustcCfg, out *[]string) {
	switch e.op {
	case "":
		if e.eval(c) == cfgFalse {
			s := e.name
			if e.value != nil {
				s += "=" + *e.value
			}
			*out = append(*out, s)
		}
	case "all", "any":
		for _, a := range e.args {
			a.missing(c, out)
		}
	}
}

var cfgTokRE = regexp.MustCompile(`\s*(?:([A-Za-z_][A-Za-z0-9_]*)|("(?:[^"\\]|\\.)*")|([(),=]))`)

// parseCfg parses the inside of #[cfg(...)].
func parseCfg(s string) (*cfgExpr, error) {
	var toks []string
	for rest := strings.TrimSpace(s); rest != ""; rest = strings.TrimSpace(rest) {
		m := cfgTokRE.FindStringSubmatchIndex(rest)
		if m == nil || m[0] != 0 {
			return nil, errCfg
		}
		toks = append(toks, strings.TrimSpace(rest[:m[1]]))
		rest = rest[m[1]:]
	}
	p := &cfgParser{toks: toks}
	e, err := p.expr()
	if err != nil || p.i != len(toks) {
		return nil, errCfg
	}
	return e, nil
}

type cfgError struct{}

func (cfgError) Error() string { return "not a cfg predicate" }

var errCfg = cfgError{}

type cfgParser struct {
	toks []string
	i    int
}

func (p *cfgParser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ""
}

func (p *cfgParser) expr() (*cfgExpr, error) {
	t := p.peek()
	if t == "" || strings.ContainsAny(t[:1], `(),="`) {
		return nil, errCfg
	}
	p.i++
	if (t == "all" || t == "any" || t == "not") && p.peek() == "(" {
		p.i++
		e := &cfgExpr{op: t}
		for p.peek() != ")" {
			a, err := p.expr()
			if err != nil {
				return nil, err
			}
			e.args = append(e.args, a)
			if p.peek() == "," {
				p.i++
			}
		}
		p.i++
		if t == "not" && len(e.args) != 1 {
			return nil, errCfg
		}
		return e, nil
	}
	e := &cfgExpr{name: t}
	if p.peek() == "=" {
		p.i++
		v := p.peek()
		if !strings.HasPrefix(v, `"`) {
			return nil, errCfg
		}
		p.i++
		v = strings.Trim(v, `"`)
		e.value = &v
	}
	return e, nil
}
