package kconfig

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Symbol is what the index knows of one Kconfig symbol.
type Symbol struct {
	Name    string
	Depends []string // each "depends on" expression of its definitions
	File    string
}

// Index maps symbol names to their definitions in a source tree.
type Index struct{ Symbols map[string]*Symbol }

// IndexTree reads every Kconfig file under srcTree: "config" and
// "menuconfig" entries, their "depends on" lines and the "if" blocks of
// the same file around them. Menus' "depends on" and the "if" blocks
// around a "source" line are not followed, so an explanation may name
// fewer dependencies than Kconfig enforces.
func IndexTree(srcTree string) (*Index, error) {
	idx := &Index{Symbols: map[string]*Symbol{}}
	err := filepath.WalkDir(srcTree, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "Documentation", "tools":
				return fs.SkipDir
			}
			return nil
		}
		if !strings.HasPrefix(d.Name(), "Kconfig") {
			return nil
		}
		return idx.readFile(path)
	})
	return idx, err
}

func (idx *Index) readFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var cur *Symbol
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	cont := ""
	// Help texts are skipped: a line of prose such as "depends on this."
	// must not be read as an attribute. As in Kconfig's lexer, a help
	// text ends at the first non-blank line indented less than its first.
	inHelp, helpIndent := false, -1
	var ifs []string // conditions of the enclosing if blocks of this file
	for sc.Scan() {
		line := sc.Text()
		if inHelp {
			if strings.TrimSpace(line) == "" {
				continue
			}
			ind := indentWidth(line)
			if helpIndent < 0 {
				helpIndent = ind
			}
			if ind > 0 && ind >= helpIndent {
				continue
			}
			inHelp = false
		}
		if strings.HasSuffix(line, "\\") {
			cont += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		line = strings.TrimSpace(cont + line)
		cont = ""
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		switch fields[0] {
		case "help", "---help---":
			inHelp, helpIndent = true, -1
		case "config", "menuconfig":
			if len(fields) < 2 {
				cur = nil
				continue
			}
			cur = idx.Symbols[fields[1]]
			if cur == nil {
				cur = &Symbol{Name: fields[1], File: path}
				idx.Symbols[fields[1]] = cur
			}
			// An enclosing "if EXPR" block is a dependency of every
			// entry in it (PVH sits in "if HYPERVISOR_GUEST").
			for _, cond := range ifs {
				if !contains(cur.Depends, cond) {
					cur.Depends = append(cur.Depends, cond)
				}
			}
		case "if":
			cur = nil
			expr := strings.TrimSpace(strings.TrimPrefix(line, "if"))
			if i := strings.Index(expr, "#"); i >= 0 {
				expr = strings.TrimSpace(expr[:i])
			}
			ifs = append(ifs, expr)
		case "endif":
			cur = nil
			if len(ifs) > 0 {
				ifs = ifs[:len(ifs)-1]
			}
		case "menu", "endmenu", "choice", "endchoice", "source", "comment", "mainmenu":
			cur = nil
		case "depends":
			if cur != nil && len(fields) > 2 && fields[1] == "on" {
				expr := strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(line, "depends"), " on"))
				if i := strings.Index(expr, "#"); i >= 0 {
					expr = strings.TrimSpace(expr[:i])
				}
				cur.Depends = append(cur.Depends, expr)
			}
		}
	}
	return sc.Err()
}

// indentWidth is a line's indentation in columns, tabs to multiples of 8.
func indentWidth(line string) int {
	w := 0
	for _, c := range line {
		switch c {
		case ' ':
			w++
		case '\t':
			w = (w/8 + 1) * 8
		default:
			return w
		}
	}
	return w
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
