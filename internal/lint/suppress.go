package lint

import (
	"regexp"
	"strings"
)

// allowRe matches `rko-allow(rule-id[, rule-id...]): reason` in a comment.
var allowRe = regexp.MustCompile(`rko-allow\(\s*([a-z0-9-]+(?:\s*,\s*[a-z0-9-]+)*)\s*\)\s*(?::\s*(.*))?`)

type allow struct {
	rules  map[string]bool
	reason string
}

// applySuppressions drops findings silenced by an rko-allow comment on
// the same line, or on a comment-only line (or run of them) directly above.
// An allow without a reason silences nothing; the finding says so.
func applySuppressions(c *checker) ([]Finding, int) {
	byLine := map[int][]allow{}
	for _, cm := range c.comments {
		txt := c.f.Text(cm)
		if !strings.Contains(txt, "rko-allow(") {
			continue
		}
		m := allowRe.FindStringSubmatch(txt)
		if m == nil {
			continue
		}
		a := allow{rules: map[string]bool{}, reason: strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(m[2]), "*/"))}
		for _, id := range strings.Split(m[1], ",") {
			a.rules[strings.TrimSpace(id)] = true
		}
		line := c.lineOf(cm.Start)
		byLine[line] = append(byLine[line], a)
		// A comment alone on its line covers the next line that is not a
		// comment or blank.
		if strings.TrimSpace(c.f.Line(line)[:min(len(c.f.Line(line)), int(cm.Start-c.f.LineStart(line)))]) == "" {
			for l := c.lineOf(cm.End-1) + 1; l <= c.f.NumLines(); l++ {
				t := strings.TrimSpace(c.f.Line(l))
				if t == "" || strings.HasPrefix(t, "//") {
					continue
				}
				byLine[l] = append(byLine[l], a)
				break
			}
		}
	}
	if len(byLine) == 0 {
		return c.out, 0
	}
	var out []Finding
	n := 0
	for _, f := range c.out {
		silenced, noReason := false, false
		allows := byLine[f.Line]
		if f.stmtLine != 0 && f.stmtLine != f.Line {
			// A finding on a token inside a statement (the bindings of a
			// multi-line use list) is also silenced from above the statement.
			allows = append(allows[:len(allows):len(allows)], byLine[f.stmtLine]...)
		}
		for _, a := range allows {
			if a.rules[f.Rule] {
				if a.reason == "" {
					noReason = true
					continue
				}
				silenced = true
			}
		}
		if silenced {
			n++
			continue
		}
		if noReason {
			f.Message += " (an rko-allow comment names this rule but gives no reason, so it does not apply)"
		}
		out = append(out, f)
	}
	return out, n
}
