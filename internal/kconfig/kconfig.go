// Package kconfig reads and merges kernel .config files and fragments, and
// explains options that `make olddefconfig` dropped by evaluating their
// "depends on" lines from the tree's Kconfig files.
package kconfig

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
)

// Config maps a symbol name without the CONFIG_ prefix to its value: "y",
// "m", "n" (also for "# CONFIG_X is not set"), a number or a quoted string.
type Config map[string]string

var (
	setRE   = regexp.MustCompile(`^CONFIG_([A-Za-z0-9_]+)=(.*)$`)
	unsetRE = regexp.MustCompile(`^# CONFIG_([A-Za-z0-9_]+) is not set$`)
)

// Parse reads a .config or a fragment. Lines that are neither assignments
// nor "is not set" comments are ignored; a malformed assignment-like line
// is an error naming its line number.
func Parse(r io.Reader) (Config, error) {
	c := Config{}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if m := setRE.FindStringSubmatch(line); m != nil {
			c[m[1]] = m[2]
		} else if m := unsetRE.FindStringSubmatch(line); m != nil {
			c[m[1]] = "n"
		} else if strings.HasPrefix(line, "CONFIG_") {
			return nil, fmt.Errorf("line %d: %q is not CONFIG_NAME=value", n, line)
		}
	}
	return c, sc.Err()
}

// ParseFile reads a .config or fragment from disk.
func ParseFile(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := Parse(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Get returns a symbol's value, "n" when absent.
func (c Config) Get(sym string) string {
	if v, ok := c[sym]; ok {
		return v
	}
	return "n"
}

// Merge applies the fragments in order on top of c; later ones win.
func (c Config) Merge(frags ...Config) {
	for _, f := range frags {
		for k, v := range f {
			c[k] = v
		}
	}
}

// Write prints c in .config form, sorted, so identical configs give
// identical bytes.
func (c Config) Write(w io.Writer) error {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	bw := bufio.NewWriter(w)
	for _, k := range keys {
		if c[k] == "n" {
			fmt.Fprintf(bw, "# CONFIG_%s is not set\n", k)
		} else {
			fmt.Fprintf(bw, "CONFIG_%s=%s\n", k, c[k])
		}
	}
	return bw.Flush()
}

// Dropped is a requested option whose final value differs from the request.
type Dropped struct {
	Symbol string `json:"symbol"`
	Want   string `json:"want"`
	Got    string `json:"got"`
	// DependsOn is the symbol's "depends on" expression, when found.
	DependsOn string `json:"depends_on,omitempty"`
	// Unmet lists the symbols of DependsOn whose values fail it.
	Unmet []string `json:"unmet,omitempty"`
	// Unknown means no Kconfig file defines the symbol (a typo, or an
	// option of another architecture or version).
	Unknown bool `json:"unknown,omitempty"`
}

func (d Dropped) String() string {
	switch r := d.Reason(); {
	case d.Unknown:
		return fmt.Sprintf("CONFIG_%s=%s was dropped: %s", d.Symbol, d.Want, r)
	case r != "":
		return fmt.Sprintf("CONFIG_%s=%s was dropped (now %s): %s", d.Symbol, d.Want, d.Got, r)
	default:
		return fmt.Sprintf("CONFIG_%s=%s was dropped (now %s)", d.Symbol, d.Want, d.Got)
	}
}

// Reason explains why the option does not have the wanted value, from the
// tree's Kconfig: no such symbol, or its dependencies and which of them
// fail; "" when the index had nothing to say. rko kernel build and the
// checks of a kernel built elsewhere give the same explanation.
func (d Dropped) Reason() string {
	switch {
	case d.Unknown:
		return fmt.Sprintf("no Kconfig in this tree defines %s (a typo, or an option of another kernel version or architecture)", d.Symbol)
	case d.DependsOn != "" && len(d.Unmet) > 0:
		return fmt.Sprintf("it depends on %s, and %s", d.DependsOn, strings.Join(d.Unmet, ", "))
	case d.DependsOn != "":
		return fmt.Sprintf("it depends on %s (or is selected/limited elsewhere)", d.DependsOn)
	}
	return ""
}

// Compare returns the requested options that did not survive into final,
// explained with the symbol index of the tree (which may be nil).
func Compare(requested, final Config, idx *Index) []Dropped {
	var out []Dropped
	keys := make([]string, 0, len(requested))
	for k := range requested {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		want, got := requested[k], final.Get(k)
		if want == got {
			continue
		}
		// A request for =m that became =y (something selects it) is met.
		if want == "m" && got == "y" {
			continue
		}
		d := Dropped{Symbol: k, Want: want, Got: got}
		if idx != nil {
			if sym, ok := idx.Symbols[k]; !ok {
				d.Unknown = true
			} else if len(sym.Depends) > 0 {
				expr := strings.Join(sym.Depends, " && ")
				if len(sym.Depends) > 1 {
					parts := make([]string, len(sym.Depends))
					for i, p := range sym.Depends {
						parts[i] = "(" + p + ")"
					}
					expr = strings.Join(parts, " && ")
				}
				d.DependsOn = expr
				for _, dep := range sym.Depends {
					d.Unmet = append(d.Unmet, Unmet(dep, final)...)
				}
			}
		}
		out = append(out, d)
	}
	return out
}
