// Package kbuilddecl reads the declarations a module directory makes to
// rko in comments of its Kbuild ("# rko-device: pci-testdev", "#
// rko-kernel: >=7.2"): Kbuild ignores them, so the module still builds
// with a plain make, and they live beside the obj-m line they are about.
package kbuilddecl

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Decl is one declaration line: "# WORD: VALUE" or "# WORD(QUAL): VALUE".
type Decl struct {
	// Qualifier is what the parentheses hold ("" without them).
	Qualifier string
	// Value is the text after the colon, trimmed.
	Value string
	// Where is the line, PATH:LINE, for messages.
	Where string
}

// Read returns the declarations of word in dir's Kbuild, in order; none
// when dir has no Kbuild. A "# WORD(" line without its "):" is an error
// naming the line and showing syntax, the declaration's form.
func Read(dir, word, syntax string) ([]Decl, error) {
	path := filepath.Join(dir, "Kbuild")
	data, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var out []Decl
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "#")
		if !ok {
			continue
		}
		val, ok := strings.CutPrefix(strings.TrimSpace(rest), word)
		if !ok {
			continue
		}
		d := Decl{Where: fmt.Sprintf("%s:%d", path, n)}
		if q, ok := strings.CutPrefix(val, "("); ok {
			qual, after, closed := strings.Cut(q, "):")
			if !closed {
				return nil, fmt.Errorf("%s: want %s", d.Where, syntax)
			}
			d.Qualifier, val = qual, after
		} else if val, ok = strings.CutPrefix(val, ":"); !ok {
			continue // another word that starts with this one
		}
		d.Value = strings.TrimSpace(val)
		out = append(out, d)
	}
	return out, nil
}
