package kdoc

import (
	"html"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Details are what the search index leaves out and an item's page has.
type Details struct {
	// Signature is the declaration as rustdoc prints it, as text.
	Signature string
	// File and Line locate the item in the kernel's source (or the
	// sysroot's, for core); File is rustdoc's src/ page when rko cannot
	// tell which file it is.
	File string
	Line int
	// Doc is the first paragraph of the item's documentation as text
	// (the search index's is cut short).
	Doc string
}

var (
	itemDeclRE = regexp.MustCompile(`(?s)<pre class="rust item-decl"><code>(.*?)</code></pre>`)
	topSrcRE   = regexp.MustCompile(`<a class="src" href="([^"]+)"`)
	sectionSrc = regexp.MustCompile(`^<a class="src rightside" href="([^"]+)"`)
	codeHdrRE  = regexp.MustCompile(`(?s)<h[1-6] class="code-header">(.*?)</h[1-6]>`)
	fieldRE    = regexp.MustCompile(`(?s)^[^>]*>.*?<code>(.*?)</code>`)
	tagRE      = regexp.MustCompile(`<[^>]*>`)
	topDocRE   = regexp.MustCompile(`(?s)<details class="toggle top-doc"[^>]*>.*?<div class="docblock">(.*?)</div>`)
	firstParRE = regexp.MustCompile(`(?s)^\s*<p>(.*?)</p>`)
	spaceRE    = regexp.MustCompile(`\s+`)
	aliasRE    = regexp.MustCompile(`=\s*<a class="(?:struct|enum|union|trait|type|primitive)" href="[^"]*" title="[a-z]+ ([^"]+)"`)
)

// Text turns a fragment of rustdoc HTML into plain text.
func Text(fragment string) string {
	s := tagRE.ReplaceAllString(fragment, "")
	s = html.UnescapeString(s)
	return strings.TrimSpace(spaceRE.ReplaceAllString(s, " "))
}

// Details reads it's signature and source location from its page under
// ix.Root. roots maps a crate name to the directories its sources may be
// in (see SourceRoots).
func (ix *Index) Details(it *Item, roots map[string][]string) Details {
	page, anchor, _ := strings.Cut(it.Href, "#")
	s, err := ix.page(page)
	if err != nil {
		return Details{}
	}
	var d Details
	var src string
	if anchor == "" {
		if m := itemDeclRE.FindStringSubmatch(s); m != nil {
			d.Signature = Text(m[1])
		}
		if m := topSrcRE.FindStringSubmatch(s); m != nil {
			src = m[1]
		}
		if it.Kind == "mod" && d.Signature == "" {
			d.Signature = "mod " + it.Name
		}
		if m := topDocRE.FindStringSubmatch(s); m != nil {
			d.Doc = firstParagraph(m[1])
		}
	} else {
		// An impl's disambiguator prefixes the anchor in the link; the
		// element's id is the item's own.
		if i := strings.LastIndex(anchor, "/"); i >= 0 {
			anchor = anchor[i+1:]
		}
		i := strings.Index(s, `id="`+anchor+`"`)
		if i >= 0 {
			rest := s[i:]
			if j := strings.Index(rest, ">"); j >= 0 {
				rest = rest[j+1:]
			}
			if m := sectionSrc.FindStringSubmatch(rest); m != nil {
				src = m[1]
			}
			if it.Kind == "structfield" {
				if m := fieldRE.FindStringSubmatch(s[i:]); m != nil {
					d.Signature = Text(m[1])
				}
			} else if m := codeHdrRE.FindStringSubmatch(rest); m != nil {
				d.Signature = Text(m[1])
			}
			// A documented associated item: its section, the end of its
			// summary, then its docblock.
			if j := strings.Index(rest, "</section>"); j >= 0 {
				after := strings.TrimPrefix(strings.TrimLeft(rest[j+len("</section>"):], " \n"), "</summary>")
				if b, ok := strings.CutPrefix(after, `<div class="docblock">`); ok {
					d.Doc = firstParagraph(b)
				}
			}
		}
	}
	if src != "" && !strings.Contains(src, "://") {
		d.File, d.Line = sourceFile(path.Join(path.Dir(page), src), roots)
	}
	return d
}

// firstParagraph is the text of a docblock's first paragraph, if it
// starts with one (not a code block or a heading).
func firstParagraph(block string) string {
	if m := firstParRE.FindStringSubmatch(block); m != nil {
		return Text(m[1])
	}
	return ""
}

// AliasTarget returns the path of what a type alias stands for (from the
// alias's page), or "".
func (ix *Index) AliasTarget(it *Item) string {
	if it.Kind != "type" {
		return ""
	}
	data, err := os.ReadFile(filepath.Join(ix.Root, filepath.FromSlash(it.Href)))
	if err != nil {
		return ""
	}
	m := itemDeclRE.FindSubmatch(data)
	if m == nil {
		return ""
	}
	if t := aliasRE.FindSubmatch(m[1]); t != nil {
		return string(t[1])
	}
	return ""
}

// sourceFile maps rustdoc's source page ("src/kernel/sync/lock.rs.html#97"
// or "#97-120") to a file in roots and a line.
func sourceFile(page string, roots map[string][]string) (string, int) {
	page, frag, _ := strings.Cut(page, "#")
	first, _, _ := strings.Cut(frag, "-")
	line, _ := strconv.Atoi(first)
	rel, ok := strings.CutPrefix(page, "src/")
	if !ok {
		return page, line
	}
	crate, file, ok := strings.Cut(strings.TrimSuffix(rel, ".html"), "/")
	if !ok {
		return page, line
	}
	// rustdoc names a ".." component "up" in its source paths.
	parts := strings.Split(file, "/")
	for i, p := range parts {
		if p == "up" {
			parts[i] = ".."
		}
	}
	file = filepath.Join(parts...)
	for _, r := range roots[crate] {
		p := filepath.Join(r, file)
		if _, err := os.Stat(p); err == nil {
			return p, line
		}
	}
	return page, line
}

// SourceRoots lists where each crate's sources may be, for a kernel
// source tree src, its build tree obj and the sysroot's library
// directory lib (for core): rustdoc names source files relative to the
// crate root's directory.
func SourceRoots(src, obj, lib string, crates []string) map[string][]string {
	roots := map[string][]string{}
	for _, c := range crates {
		dash := strings.ReplaceAll(c, "_", "-")
		roots[c] = []string{
			filepath.Join(src, "rust", c), filepath.Join(src, "rust", dash, "src"), filepath.Join(src, "rust", dash),
			filepath.Join(obj, "rust", c), filepath.Join(src, "rust"), filepath.Join(obj, "rust"),
		}
		if lib != "" {
			roots[c] = append(roots[c], filepath.Join(lib, c, "src"))
		}
	}
	return roots
}

// page reads a page of the docs, once: the items of a type share its
// page, and a diff reads every item's.
func (ix *Index) page(rel string) (string, error) {
	if s, ok := ix.pages[rel]; ok {
		return s, nil
	}
	data, err := os.ReadFile(filepath.Join(ix.Root, filepath.FromSlash(rel)))
	if err != nil {
		return "", err
	}
	if ix.pages == nil {
		ix.pages = map[string]string{}
	}
	ix.pages[rel] = string(data)
	return ix.pages[rel], nil
}
