package report

import (
	"strconv"
	"strings"
)

// pickGuilty chooses the guilty frame, the first that is not skipped
// (or the one the format's extractor picks), and the title. A bare
// address (an unloaded module's code, not named yet) ends the search: the
// frames after it are its callers, and blaming one of them would blame the
// wrong function.
func (r *Report) pickGuilty() { r.pick(nil) }

func (r *Report) pick(c *parseMemo) {
	r.GuiltyIndex, r.Frame, r.Module = -1, "", ""
	f := r.fmt
	skip := defaultSkip
	if f != nil {
		skip = f.skipRe
	}
	var names []string
	var idx []int
	unnamed := false
	for i, fr := range r.Frames {
		if fr.Func == "" {
			unnamed = len(names) == 0
			break
		}
		if skip.skip(baseName(fr.Func)) {
			continue
		}
		names = append(names, frameName(fr.Func))
		idx = append(idx, i)
	}
	chosen := groupFrame(f, r.groups)
	switch {
	case chosen != "":
		// "possible deadlock in {1}": a regexp group names the frame.
	case len(names) > 0 && f != nil && f.extract != nil:
		// rko: a stall or hang in a module's code blames the module's
		// first frame; the dispatch point syzkaller looks for would
		// name the syscall that loaded it (finit_module).
		for j, i := range idx {
			if r.Frames[i].Module != "" {
				chosen = names[j]
				break
			}
		}
		if chosen == "" {
			chosen = f.extract(names)
		}
	case len(names) > 0:
		chosen = names[0]
	}
	for j, n := range names {
		if n == chosen {
			r.GuiltyIndex = idx[j]
			break
		}
	}
	if r.GuiltyIndex < 0 && chosen != "" {
		for i, fr := range r.Frames {
			if fr.Func != "" && frameName(fr.Func) == chosen {
				r.GuiltyIndex = i
				break
			}
		}
	}
	r.Frame = chosen
	if g := r.Guilty(); g != nil {
		r.Module = g.Module
	}
	var titles memo[string, string]
	if c != nil {
		titles = c.title
	}
	r.Title = r.makeTitle(unnamed, titles)
}

// groupFrame is the frame a template like "possible deadlock in {1}"
// names by a regexp group, "" for other templates.
func groupFrame(f *format, groups []string) string {
	if f == nil {
		return ""
	}
	t := f.tmpl
	i := strings.LastIndex(t, " in {")
	if i < 0 || len(t) != i+7 || t[i+6] != '}' {
		return ""
	}
	n := int(t[i+5] - '0')
	if n < 1 || n > len(groups) || groups[n-1] == "" || strings.ContainsAny(groups[n-1], " +/=") {
		return ""
	}
	return frameName(groups[n-1])
}

// makeTitle fills the format's template. With no format, the header line
// is the title, as syzkaller does.
func (r *Report) makeTitle(unnamed bool, titles memo[string, string]) string {
	f := r.fmt
	if f == nil {
		return titles.get(r.header, func() string { return sanitizeTitle(r.header) })
	}
	t := f.tmpl
	// "possible deadlock in {1}": the group names the frame, and keeps
	// its digits like one.
	gf := ""
	if g := groupFrame(f, r.groups); g != "" {
		gf, t = g, t[:strings.LastIndex(t, " in {")]+" in {frame}"
	}
	for i := len(r.groups); i >= 1; i-- {
		t = strings.ReplaceAll(t, "{"+strconv.Itoa(i)+"}", r.groups[i-1])
	}
	frame := ""
	if strings.Contains(t, "{frame}") {
		switch {
		case gf != "":
			frame = gf
		case r.Frame != "":
			frame = r.Frame
		case unnamed:
			// The frame is code of a module that was unloaded; naming
			// its address (NameFrames) fills it in.
			t = strings.TrimSuffix(strings.ReplaceAll(t, " in {frame}", ""), "{frame}")
		default:
			frame = "corrupted"
			r.Corrupted = true
		}
	}
	// The text around the frame loses its numbers and addresses; the
	// frame's name keeps them ("nl802154_add_llsec_key").
	before, after, hasFrame := strings.Cut(t, "{frame}")
	if !hasFrame {
		return titles.get(t, func() string { return sanitizeTitle(t) })
	}
	return cleanTitle(titles.get(before, func() string { return fixTitle(before) }) + frame + after)
}

var defaultSkip = newSkipper(skipPatterns)
