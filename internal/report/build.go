package report

import (
	"strings"
)

// build turns the lines of one report into a Report: the format, the
// frames, the guilty frame, the title, the location.
func build(p *pending, c *parseMemo) *Report {
	if len(p.lines) == 0 {
		return &Report{Type: p.typ(), GuiltyIndex: -1}
	}
	// The same report again (a WARNING in a loop): the same verdict, at
	// its own lines.
	n := 0
	for _, l := range p.lines {
		n += len(l.text) + 1
	}
	var sb strings.Builder
	sb.Grow(n)
	for _, l := range p.lines {
		sb.WriteString(l.text)
		sb.WriteByte('\n')
	}
	text := sb.String()
	if prev, ok := c.reports[memoKey{p.fam, text}]; ok {
		r := *prev
		r.StartLine, r.EndLine = p.lines[0].num, p.lines[len(p.lines)-1].num
		r.headerLine = r.StartLine + prev.headerLine - prev.StartLine
		r.Frames = append([]Frame(nil), prev.Frames...) // NameFrames edits them
		return &r
	}
	r := buildNew(p, c, text)
	if len(c.reports) < maxSkipCache {
		saved := *r
		saved.Frames = append([]Frame(nil), r.Frames...)
		c.reports[memoKey{p.fam, text}] = &saved
	}
	return r
}

// buildNew is build for a report not seen before in this console.
func buildNew(p *pending, c *parseMemo, all string) *Report {
	r := &Report{Type: p.typ(), GuiltyIndex: -1}
	if len(p.lines) == 0 {
		return r
	}
	r.StartLine = p.lines[0].num
	r.EndLine = p.lines[len(p.lines)-1].num
	lines := make([]string, len(p.lines))
	for i, l := range p.lines {
		lines[i] = l.text
	}
	r.Text = all
	hi := 0
	for hi < len(lines)-1 {
		if k, _ := classify(lines[hi]); k != kSeparator {
			break
		}
		hi++
	}
	for hi+1 < len(lines) && strings.HasSuffix(lines[hi], " [inline]") {
		if k, fam := classify(lines[hi+1]); k != kHeader || fam != p.fam {
			break
		}
		hi++
	}
	header := lines[hi]
	body := lines[hi+1:]
	r.headerLine = p.lines[hi].num
	off := hi
	for _, l := range lines[:hi] {
		off += len(l)
	}
	text := r.Text[off:] // the report from its header on

	sel := c.sel.get(memoKey{p.fam, text}, func() selection {
		f, groups, matched := selectFormat(p.fam, header, text)
		return selection{f, groups, matched}
	})
	f, groups, matched := sel.f, sel.groups, sel.matched
	r.fam, r.fmt, r.groups = p.fam, f, groups
	if f != nil {
		r.Type = f.typ
		fr := c.frames.get(memoKey{p.fam, text}, func() []Frame { return f.trace(lines[hi:]) })
		r.Frames = append([]Frame(nil), fr...) // NameFrames edits them
		if f.where != nil {
			f.where(r, header, body)
		}
		r.Corrupted = f.corrupted || !f.noStack && len(r.Frames) == 0
	} else {
		r.Type = p.fam.typ
		// A header of a family that no format knows: syzkaller titles it
		// with the header line; a format's title that matched but not its
		// report regexp means a damaged report.
		r.Corrupted = matched
		r.Frames = (&format{}).frames(lines[hi:], callStack)
	}
	if p.fam.kind == kPanic {
		r.Message, _ = panicReason(header)
	}
	if r.Type == Kmemleak {
		r.PID = kmemleakPID(body)
	}
	r.header = header
	r.pick(c)
	return r
}

// memoKey is a family and a header or a report's text.
type memoKey struct {
	fam *family
	s   string
}

type selection struct {
	f       *format
	groups  []string
	matched bool
}

// selectFormat picks the first format of fam whose title matches the
// header and whose report regexp, if any, matches the text; it returns
// the groups for the title template. matched says that some title
// matched.
func selectFormat(fam *family, header, text string) (*format, []string, bool) {
	matched := false
	for _, f := range fam.formats {
		m := f.title.FindStringSubmatch(header)
		if m == nil {
			continue
		}
		matched = true
		if f.report != nil {
			m = f.report.FindStringSubmatch(text)
			if m == nil {
				continue
			}
		}
		return f, m[1:], true
	}
	if !matched {
		// A header cut short and printed again ("INFO: t", "** replaying
		// previous printk message **", the whole line): the earliest title
		// in the report's text, as syzkaller matches titles.
		best, at := (*format)(nil), len(text)
		var groups []string
		for _, f := range fam.formats {
			m := f.title.FindStringSubmatchIndex(text)
			if m == nil || m[0] >= at {
				continue
			}
			g := make([]string, 0, len(m)/2)
			for i := 2; i+1 < len(m); i += 2 {
				if m[i] >= 0 {
					g = append(g, text[m[i]:m[i+1]])
				} else {
					g = append(g, "")
				}
			}
			if f.report != nil {
				rm := f.report.FindStringSubmatch(text)
				if rm == nil {
					continue
				}
				g = rm[1:]
			}
			best, at, groups = f, m[0], g
		}
		if best != nil {
			return best, groups, true
		}
	}
	return nil, nil, matched
}
