package report

import (
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
)

// skipper matches function names against skip patterns (regexps, matched
// anywhere in the name, as syzkaller does). Most patterns are literals,
// checked with string functions; the rest form one regexp. Answers are
// cached: a console names the same functions again and again.
type skipper struct {
	contains, prefix, suffix []string
	exact                    map[string]bool
	re                       *regexp.Regexp
	cache                    sync.Map // name -> bool
	cached                   atomic.Int64
}

// maxSkipCache bounds the cache of each skipper (a fuzzer makes up names).
const maxSkipCache = 1 << 16

func newSkipper(patterns []string) *skipper {
	s := &skipper{exact: map[string]bool{}}
	var rest []string
	for _, p := range patterns {
		anchorStart, anchorEnd := strings.HasPrefix(p, "^"), strings.HasSuffix(p, "$")
		lit := strings.TrimSuffix(strings.TrimPrefix(p, "^"), "$")
		if lit == "" || regexp.QuoteMeta(lit) != lit {
			rest = append(rest, p)
			continue
		}
		switch {
		case anchorStart && anchorEnd:
			s.exact[lit] = true
		case anchorStart:
			s.prefix = append(s.prefix, lit)
		case anchorEnd:
			s.suffix = append(s.suffix, lit)
		default:
			s.contains = append(s.contains, lit)
		}
	}
	if len(rest) > 0 {
		s.re = regexp.MustCompile(strings.Join(rest, "|"))
	}
	return s
}

// skip reports whether name matches a pattern.
func (s *skipper) skip(name string) bool {
	if v, ok := s.cache.Load(name); ok {
		return v.(bool)
	}
	v := s.match(name)
	if s.cached.Load() < maxSkipCache {
		s.cached.Add(1)
		s.cache.Store(strings.Clone(name), v) // not a piece of the console
	}
	return v
}

func (s *skipper) match(name string) bool {
	if s.exact[name] {
		return true
	}
	for _, p := range s.prefix {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	for _, p := range s.suffix {
		if strings.HasSuffix(name, p) {
			return true
		}
	}
	for _, p := range s.contains {
		if strings.Contains(name, p) {
			return true
		}
	}
	return s.re != nil && s.re.MatchString(name)
}

// memo caches the regexp work on a report's header and text for one
// console: a console repeats the same report (a WARNING in a loop, a leak
// per object), and matching is the costly part of building one. It lives
// for one Parse, so that it keeps no console alive.
type memo[K comparable, V any] map[K]V

func (c memo[K, V]) get(key K, f func() V) V {
	if c == nil {
		return f()
	}
	if v, ok := c[key]; ok {
		return v
	}
	v := f()
	if len(c) < maxSkipCache {
		c[key] = v
	}
	return v
}

// parseMemo is the memo of one Parse.
type parseMemo struct {
	reports map[memoKey]*Report
	frames  memo[memoKey, []Frame]
	sel     memo[memoKey, selection]
	prov    memo[memoKey, *format]
	title   memo[string, string]
}

func newParseMemo() *parseMemo {
	return &parseMemo{reports: map[memoKey]*Report{}, frames: memo[memoKey, []Frame]{}, sel: memo[memoKey, selection]{}, prov: memo[memoKey, *format]{}, title: memo[string, string]{}}
}
