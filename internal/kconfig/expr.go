package kconfig

import (
	"fmt"
	"strings"
)

// Unmet evaluates a Kconfig "depends on" expression against c and returns
// the terms that make it fail, such as "SLUB_TINY=y" or "SYSFS=n". It
// understands symbols, !, &&, ||, parentheses, = and !=; for a failing ||
// it names every operand.
func Unmet(expr string, c Config) []string {
	p := &parser{toks: tokenize(expr), c: c}
	v, why := p.or()
	if v > 0 {
		return nil
	}
	return why
}

type parser struct {
	toks []string
	pos  int
	c    Config
}

func tokenize(s string) []string {
	var toks []string
	for i := 0; i < len(s); {
		switch ch := s[i]; {
		case ch == ' ' || ch == '\t':
			i++
		case strings.HasPrefix(s[i:], "&&"), strings.HasPrefix(s[i:], "||"), strings.HasPrefix(s[i:], "!="):
			toks = append(toks, s[i:i+2])
			i += 2
		case ch == '!' || ch == '(' || ch == ')' || ch == '=' || ch == '<' || ch == '>':
			toks = append(toks, string(ch))
			i++
		case ch == '"':
			j := strings.IndexByte(s[i+1:], '"')
			if j < 0 {
				toks = append(toks, s[i:])
				return toks
			}
			toks = append(toks, s[i:i+j+2])
			i += j + 2
		default:
			j := i
			for j < len(s) && strings.IndexByte(" \t&|!()=<>\"", s[j]) < 0 {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		}
	}
	return toks
}

func (p *parser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *parser) next() string { t := p.peek(); p.pos++; return t }

func tri(v string) int {
	switch v {
	case "y":
		return 2
	case "m":
		return 1
	}
	return 0
}

func (p *parser) or() (int, []string) {
	v, why := p.and()
	for p.peek() == "||" {
		p.next()
		w, why2 := p.and()
		if w > v {
			v = w
		}
		why = append(why, why2...)
	}
	if v > 0 {
		return v, nil
	}
	return v, why
}

func (p *parser) and() (int, []string) {
	v, why := p.unary()
	for p.peek() == "&&" {
		p.next()
		w, why2 := p.unary()
		if w < v {
			v = w
		}
		why = append(why, why2...)
	}
	return v, why
}

func (p *parser) unary() (int, []string) {
	if p.peek() == "!" {
		p.next()
		v, _ := p.unary()
		r := 2 - v
		if r == 0 {
			// Name what made the negation false.
			return 0, []string{"not " + p.lastTerm()}
		}
		return r, nil
	}
	return p.primary()
}

// lastTerm renders the term just consumed, for messages.
func (p *parser) lastTerm() string {
	if p.pos > 0 && p.pos <= len(p.toks) {
		t := p.toks[p.pos-1]
		if t == ")" {
			return "(...)"
		}
		return fmt.Sprintf("%s (%s=%s)", t, t, p.c.Get(t))
	}
	return "?"
}

func (p *parser) primary() (int, []string) {
	t := p.next()
	if t == "(" {
		v, why := p.or()
		if p.peek() == ")" {
			p.next()
		}
		return v, why
	}
	val := p.value(t)
	if op := p.peek(); op == "=" || op == "!=" {
		p.next()
		rhs := p.value(p.next())
		eq := val == rhs
		if (op == "=") == eq {
			return 2, nil
		}
		return 0, []string{fmt.Sprintf("%s%s%s is false (%s=%s)", t, op, rhs, t, val)}
	}
	v := tri(val)
	if v == 0 {
		return 0, []string{t + "=n"}
	}
	return v, nil
}

// value resolves a token: y/m/n constants, quoted strings, or a symbol.
func (p *parser) value(t string) string {
	switch {
	case t == "y" || t == "m" || t == "n":
		return t
	case strings.HasPrefix(t, `"`):
		return strings.Trim(t, `"`)
	}
	// A .config keeps string values quoted (CONFIG_CMDLINE=""); compare
	// them unquoted, as the literals above are.
	v := p.c.Get(t)
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	return v
}
