package kbuild

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// CmdFile is one of the .cmd files Kbuild writes beside each target it
// makes (".hello.o.cmd" for hello.o): the command that made the target,
// as make saved it, and, for a target compiled from a source, the files
// it depends on (fixdep's output). Kbuild reads it back on the next make
// to tell whether the command or a dependency changed; replay reads it to
// run the same command again without make.
type CmdFile struct {
	// Target is the target as Kbuild names it, relative to the directory
	// make ran the command in ("hello.o", "Module.symvers").
	Target string
	// Saved is the command as the file holds it: escaped for make ($ as
	// $$, # as $(pound)). fixdep is given it to write the file again.
	Saved string
	// Command is the shell command make ran: Saved unescaped.
	Command string
	// Source is the source a compiled object was made from (source_T);
	// empty for other targets (links, modpost, modules.order).
	Source string
	// Deps are the files a compiled object depends on (deps_T), in order.
	Deps []string
	// Wildcards are dependencies that count only when they exist
	// ($(wildcard F) among deps_T, and the "T: $(wildcard F)" lines).
	Wildcards []string
	// Tail is the text after the dependency rules (Kbuild appends the
	// objtool dependency there): kept to write the file again as make
	// does.
	Tail string
}

// errCmdSyntax marks a .cmd file that is not in the shape Kbuild writes.
var errCmdSyntax = errors.New("not in the shape Kbuild writes")

// ParseCmdFile reads a .cmd file's text. It accepts the two shapes Kbuild
// writes: "savedcmd_T := CMD" alone (if_changed), and fixdep's, which adds
// source_T, deps_T and the rules that make T depend on them; anything else
// after them must be a "T: $(wildcard F)" line. A command with a make
// reference other than $$ and $(pound) is refused: make would expand it,
// and replay cannot.
func ParseCmdFile(data []byte) (*CmdFile, error) {
	text := string(data)
	first, rest, _ := strings.Cut(text, "\n")
	name, saved, ok := strings.Cut(first, " := ")
	if !ok || !strings.HasPrefix(name, "savedcmd_") || len(name) == len("savedcmd_") {
		return nil, fmt.Errorf("%w: no savedcmd_TARGET := line first", errCmdSyntax)
	}
	c := &CmdFile{Target: strings.TrimPrefix(name, "savedcmd_"), Saved: saved}
	cmd, err := unescapeMake(saved)
	if err != nil {
		return nil, err
	}
	c.Command = cmd
	lines := strings.Split(rest, "\n")
	i := 0
	skipBlank := func() {
		for i < len(lines) && strings.TrimSpace(lines[i]) == "" {
			i++
		}
	}
	skipBlank()
	if i < len(lines) && strings.HasPrefix(lines[i], "source_"+c.Target+" := ") {
		c.Source = strings.TrimPrefix(lines[i], "source_"+c.Target+" := ")
		i++
		skipBlank()
		if i >= len(lines) || lines[i] != "deps_"+c.Target+" := \\" {
			return nil, fmt.Errorf("%w: source_%s without deps_%s", errCmdSyntax, c.Target, c.Target)
		}
		i++
		for ; i < len(lines); i++ {
			l := strings.TrimSpace(lines[i])
			more := strings.HasSuffix(l, "\\")
			l = strings.TrimSpace(strings.TrimSuffix(l, "\\"))
			if l != "" {
				if w, ok := wildcardOf(l); ok {
					c.Wildcards = append(c.Wildcards, w)
				} else if strings.ContainsAny(l, " $") {
					return nil, fmt.Errorf("%w: dependency %q", errCmdSyntax, l)
				} else {
					c.Deps = append(c.Deps, l)
				}
			}
			if !more {
				i++
				break
			}
		}
		skipBlank()
		for n, want := range []string{c.Target + ": $(deps_" + c.Target + ")", "$(deps_" + c.Target + "):"} {
			if i >= len(lines) || lines[i] != want {
				return nil, fmt.Errorf("%w: want %q after deps_%s", errCmdSyntax, want, c.Target)
			}
			i++
			if n == 0 {
				skipBlank()
			}
		}
	}
	// The tail: blank lines and "T: $(wildcard F)" lines only.
	tailStart := i
	for ; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if l == "" {
			continue
		}
		dep, ok := strings.CutPrefix(l, c.Target+": ")
		w, isWild := wildcardOf(dep)
		if !ok || !isWild {
			return nil, fmt.Errorf("%w: unexpected line %q", errCmdSyntax, l)
		}
		c.Wildcards = append(c.Wildcards, w)
	}
	if c.Source != "" {
		// fixdep's text ends with "$(deps_T):\n"; what Kbuild appended
		// follows it.
		c.Tail = strings.Join(lines[tailStart:], "\n")
	}
	return c, nil
}

// CompilerCommand is the command without the objtool pass Kbuild runs
// after the compiler in the same command (cmd_objtool: "; .../objtool
// ..."): the compiler's invocation alone, as Kbuild ran it.
func (c *CmdFile) CompilerCommand() string {
	if i := strings.LastIndex(c.Command, "; "); i >= 0 {
		if f := strings.Fields(c.Command[i+2:]); len(f) > 0 && strings.HasSuffix(f[0], "/objtool") {
			return strings.TrimSpace(c.Command[:i])
		}
	}
	return c.Command
}

// ReadCmdFile reads the .cmd file of target (a path relative to dir, as
// Kbuild names it): dir/.../.NAME.cmd.
func ReadCmdFile(dir, target string) (*CmdFile, error) {
	data, err := os.ReadFile(filepath.Join(dir, cmdFileOf(target)))
	if err != nil {
		return nil, err
	}
	c, err := ParseCmdFile(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cmdFileOf(target), err)
	}
	if c.Target != target && c.Target != "./"+target {
		return nil, fmt.Errorf("%s: it is the command of %s", cmdFileOf(target), c.Target)
	}
	return c, nil
}

// cmdFileOf is the .cmd file of a target: Kbuild's $(dot-target).cmd.
func cmdFileOf(target string) string {
	return filepath.Join(filepath.Dir(target), "."+filepath.Base(target)+".cmd")
}

// depFileOf is where a compiler writes a target's dependencies for
// fixdep: Kbuild's $(depfile), $(dot-target).d with commas made
// underscores.
func depFileOf(target string) string {
	d := filepath.Dir(target) + "/." + filepath.Base(target) + ".d"
	return strings.ReplaceAll(d, ",", "_")
}

// wildcardOf reads "$(wildcard F)".
func wildcardOf(s string) (string, bool) {
	if !strings.HasPrefix(s, "$(wildcard ") || !strings.HasSuffix(s, ")") {
		return "", false
	}
	f := strings.TrimSpace(s[len("$(wildcard ") : len(s)-1])
	if f == "" || strings.ContainsAny(f, " $()") {
		return "", false
	}
	return f, true
}

// unescapeMake turns a command saved for make back into the shell
// command make runs: Kbuild's make-cmd doubles every $ and writes # as
// $(pound) (scripts/Kbuild.include).
func unescapeMake(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "$$"):
			b.WriteByte('$')
			i++
		case strings.HasPrefix(s[i:], "$(pound)"):
			b.WriteByte('#')
			i += len("$(pound)") - 1
		default:
			end := min(i+12, len(s))
			return "", fmt.Errorf("%w: the command holds a make reference (%q)", errCmdSyntax, s[i:end])
		}
	}
	return b.String(), nil
}

// shellQuote quotes s for sh as Kbuild's escsq does: in single quotes,
// each single quote in s written as '\”.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
