// Package console holds what every reader of a kernel console log needs:
// taking off the prefixes that printk, syslog and the console put before a
// message. The KTAP parser and the crash report parser both read lines
// through it, so they agree on what a line says.
package console

import "strings"

// StripPrefix removes what the kernel and the console put before a printk
// message: a syslog level "<6>", and up to two bracketed groups, a printk
// timestamp "[    1.234567]" and a caller id "[    T1]", and the single
// space after them. Anything else is left as it is.
func StripPrefix(l string) string {
	if len(l) > 2 && l[0] == '<' {
		if j := strings.IndexByte(l[:min(len(l), 6)], '>'); j > 1 && Digits(l[1:j]) {
			l = l[j+1:]
		}
	}
	for n := 0; n < 2 && len(l) > 0 && l[0] == '['; n++ {
		j := strings.IndexByte(l, ']')
		if j < 0 || !bracketBody(l[1:j]) {
			break
		}
		l = l[j+1:]
		if len(l) > 0 && l[0] == ' ' && (len(l) == 1 || l[1] != '[') {
			l = l[1:]
			break
		}
	}
	return l
}

// Digits reports whether s is a non-empty run of ASCII digits.
func Digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// bracketBody reports whether s looks like a printk timestamp or caller
// id: spaces, digits, a dot, and at most a leading C or T.
func bracketBody(s string) bool {
	if s == "" || len(s) > 24 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' || c == '.' || (c >= '0' && c <= '9') || c == 'C' || c == 'T' {
			continue
		}
		return false
	}
	return true
}
