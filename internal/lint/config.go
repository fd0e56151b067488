package lint

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"
)

// ConfigName is the file rko lint looks for in each linted directory and
// its parents; the nearest one applies (files are not merged).
const ConfigName = ".rko-lint.toml"

// Config is the content of a .rko-lint.toml file. Paths are relative to
// the directory that holds the file.
type Config struct {
	// Abstraction lists the abstraction layer: code under these paths may
	// use the raw bindings. Unset means the kernel tree's rust/ directory
	// when the file lives in a kernel tree, else nothing.
	Abstraction []string `toml:"abstraction"`
	// Host lists host (userspace) code: build tools and proc macros, where
	// std and panics are fine. Unset means the kernel tree's defaults.
	Host []string `toml:"host"`
	// Exclude lists paths not linted at all. Unset means the kernel
	// tree's vendored crates (syn, quote, proc-macro2, zerocopy).
	Exclude []string `toml:"exclude"`
	// MaySleep adds function or method names to sleep-in-atomic's list.
	MaySleep []string `toml:"may_sleep"`
	// LocalBindings says whether a driver's own `bindings` module (such as
	// nova-core's `use r570_144 as bindings;`, bindgen output for its
	// firmware interface) counts as raw bindings: true (the default) reports
	// its uses under bindings-outside-abstractions, false accepts them.
	LocalBindings *bool `toml:"local_bindings"`
	// Rules sets per-rule options, keyed by rule ID.
	Rules map[string]RuleConfig `toml:"rules"`

	dir     string
	defined map[string]bool
}

// RuleConfig is the [rules.<id>] table.
type RuleConfig struct {
	// Severity is "error", "warning", "note" or "off".
	Severity string `toml:"severity"`
}

// LoadConfig reads a config file and checks rule IDs and severities.
func LoadConfig(path string) (*Config, error) {
	var c Config
	md, err := toml.DecodeFile(path, &c)
	if err != nil {
		return nil, fmt.Errorf("read lint config %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, fmt.Errorf("lint config %s: unknown key %q, want abstraction, host, exclude, may_sleep, local_bindings or [rules.<id>] severity", path, und[0].String())
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	c.dir = filepath.Dir(abs)
	c.defined = map[string]bool{}
	for _, k := range []string{"abstraction", "host", "exclude"} {
		c.defined[k] = md.IsDefined(k)
	}
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("lint config %s: %w", path, err)
	}
	return &c, nil
}

func (c *Config) check() error {
	ids := make([]string, 0, len(c.Rules))
	for id := range c.Rules {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if RuleByID(id) == nil {
			return fmt.Errorf("unknown rule %q, want one of %s", id, strings.Join(RuleIDs(), ", "))
		}
		if s := c.Rules[id].Severity; s != "" {
			if _, err := ParseSeverity(s); err != nil {
				return fmt.Errorf("rule %s: %w", id, err)
			}
		}
	}
	return nil
}

// Kernel-tree defaults, relative to the tree's root.
var (
	kernelAbstraction = []string{"rust"}
	// Build-time host code: proc macros, host programs, pin-init's
	// userspace examples. The kernel's rules about std and panics do not
	// apply to programs that run on the build machine.
	kernelHost = []string{"rust/macros", "rust/pin-init/internal", "samples/rust/hostprogs", "scripts", "tools"}
	// Vendored third-party crates, built with --cap-lints=allow by
	// rust/Makefile: the kernel does not hold them to its rules.
	// pin-init's examples are userspace programs of the upstream crate
	// that kbuild never compiles.
	kernelExclude = []string{"rust/syn", "rust/quote", "rust/proc-macro2", "rust/zerocopy", "rust/zerocopy-derive",
		"rust/pin-init/examples"}
)

// resolved is the configuration that applies to one directory.
type resolved struct {
	abstraction, host, exclude []string // absolute, cleaned
	severity                   map[string]Severity
	maySleep                   map[string]bool
	localBindings              bool   // a driver's own bindings module counts as raw bindings
	source                     string // config file, or "" for defaults
}

func under(p string, roots []string) bool {
	for _, r := range roots {
		if p == r || strings.HasPrefix(p, r+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

func (r *resolved) excluded(abs string) bool      { return under(abs, r.exclude) }
func (r *resolved) isAbstraction(abs string) bool { return under(abs, r.abstraction) }
func (r *resolved) isHost(abs string) bool        { return under(abs, r.host) }

// configCache resolves configuration per directory, once.
type configCache struct {
	override *Config
	mu       sync.Mutex
	dirs     map[string]*resolved
	errs     map[string]error
	groups   map[string]string // dir -> findModuleGroup(dir)
}

func newConfigCache(override *Config) *configCache {
	return &configCache{override: override, dirs: map[string]*resolved{}, errs: map[string]error{}, groups: map[string]string{}}
}

// moduleGroup is findModuleGroup(dir), looked up once per directory and run.
func (cc *configCache) moduleGroup(dir string) string {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	g, ok := cc.groups[dir]
	if !ok {
		g = findModuleGroup(dir)
		cc.groups[dir] = g
	}
	return g
}

// forDir returns the configuration for files in the absolute directory dir.
func (cc *configCache) forDir(dir string) (*resolved, error) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if r, ok := cc.dirs[dir]; ok {
		return r, cc.errs[dir]
	}
	r, err := cc.resolve(dir)
	cc.dirs[dir], cc.errs[dir] = r, err
	return r, err
}

func (cc *configCache) resolve(dir string) (*resolved, error) {
	cfg := cc.override
	if cfg == nil {
		for d := dir; ; {
			p := filepath.Join(d, ConfigName)
			if _, err := os.Stat(p); err == nil {
				if cfg, err = LoadConfig(p); err != nil {
					return nil, err
				}
				break
			} else if !errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("look for %s: %w", p, err)
			}
			up := filepath.Dir(d)
			if up == d {
				break
			}
			d = up
		}
	}
	root := kernelRoot(dir)
	r := &resolved{severity: map[string]Severity{}, maySleep: map[string]bool{}, localBindings: true}
	abs := func(base string, rel []string) []string {
		var out []string
		for _, p := range rel {
			if !filepath.IsAbs(p) {
				p = filepath.Join(base, p)
			}
			out = append(out, filepath.Clean(p))
		}
		return out
	}
	if root != "" {
		r.abstraction = abs(root, kernelAbstraction)
		r.host = abs(root, kernelHost)
		r.exclude = abs(root, kernelExclude)
	}
	for _, rl := range Rules {
		r.severity[rl.ID] = rl.Severity
	}
	if cfg == nil {
		return r, nil
	}
	r.source = filepath.Join(cfg.dir, ConfigName)
	base := cfg.dir
	if base == "" {
		base = dir
	}
	if cfg.defined == nil || cfg.defined["abstraction"] || cfg.Abstraction != nil {
		r.abstraction = abs(base, cfg.Abstraction)
	}
	if cfg.defined == nil || cfg.defined["host"] || cfg.Host != nil {
		r.host = abs(base, cfg.Host)
	}
	if cfg.defined == nil || cfg.defined["exclude"] || cfg.Exclude != nil {
		r.exclude = abs(base, cfg.Exclude)
	}
	for _, n := range cfg.MaySleep {
		r.maySleep[n] = true
	}
	if cfg.LocalBindings != nil {
		r.localBindings = *cfg.LocalBindings
	}
	for id, rc := range cfg.Rules {
		if rc.Severity != "" {
			s, err := ParseSeverity(rc.Severity)
			if err != nil {
				return nil, err
			}
			r.severity[id] = s
		}
	}
	return r, nil
}

// kernelRoot returns the nearest ancestor of dir that looks like a Linux
// source tree with Rust support (rust/kernel/lib.rs and Kconfig), or "".
func kernelRoot(dir string) string {
	for d := dir; ; {
		if fileExists(filepath.Join(d, "rust", "kernel", "lib.rs")) && fileExists(filepath.Join(d, "Kconfig")) {
			return d
		}
		up := filepath.Dir(d)
		if up == d {
			return ""
		}
		d = up
	}
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
