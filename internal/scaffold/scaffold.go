// Package scaffold creates new module directories from the templates
// embedded in rko: a Rust module (or its C twin) with Kbuild, Makefile,
// KUnit tests and a guest test script.
package scaffold

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/template"

	"golang.org/x/sys/unix"

	"github.com/rkodev/rko"
)

// Langs are the template languages.
var Langs = []string{"rust", "c"}

// maxName is MODULE_NAME_LEN (64 - sizeof(unsigned long)) minus the NUL.
const maxName = 55

var nameRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// ValidateName checks that name can be a module name and a C and Rust
// identifier.
func ValidateName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("module name is empty")
	case !nameRE.MatchString(name):
		return fmt.Errorf("module name %q is not valid: use lower-case letters, digits and underscores, not starting with a digit (e.g. %s)", name, suggest(name))
	case len(name) > maxName:
		return fmt.Errorf("module name %q is %d characters long; the kernel allows at most %d", name, len(name), maxName)
	}
	return nil
}

func suggest(name string) string {
	s := strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9_]+`).ReplaceAllString(name, "_"))
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		s = "m_" + s
	}
	return s
}

// TypeName turns a module name into a Rust type name: my_mod -> MyMod.
func TypeName(name string) string {
	var b strings.Builder
	for _, part := range strings.Split(name, "_") {
		if part == "" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	if b.Len() == 0 {
		return "Module"
	}
	return b.String()
}

// Kinds are the kinds of module New writes: misc (a plain module, the
// default), pci (a PCI driver for QEMU's pci-testdev), platform (a platform
// driver matched by ACPI on x86_64 and by device tree on arm64 and
// riscv64, with the tables that describe its device).
var Kinds = []string{"misc", "pci", "platform"}

// Opts configures New.
type Opts struct {
	Name string
	Lang string // rust or c
	// Kind is misc (default), pci or platform: a kind's templates
	// (templates/KIND/LANG) replace the module source, Kbuild and tests of
	// the language's own (templates/LANG), which give the rest.
	Kind   string
	Parent string // directory in which NAME is created
	Author string
}

// New writes a module directory Parent/Name and returns its path. It
// refuses to touch an existing path: the files are written to a temporary
// directory beside it and renamed into place.
func New(o Opts) (string, error) {
	if err := ValidateName(o.Name); err != nil {
		return "", err
	}
	if o.Lang == "" {
		o.Lang = "rust"
	}
	if o.Lang != "rust" && o.Lang != "c" {
		return "", fmt.Errorf("unknown language %q, want rust or c", o.Lang)
	}
	if o.Author == "" {
		o.Author = "rko"
	}
	if o.Kind == "" {
		o.Kind = "misc"
	}
	if !slices.Contains(Kinds, o.Kind) {
		return "", fmt.Errorf("unknown kind %q, want one of %s", o.Kind, strings.Join(Kinds, ", "))
	}
	dest := filepath.Join(o.Parent, o.Name)
	if _, err := os.Lstat(dest); err == nil {
		return "", fmt.Errorf("%s already exists: rko new never overwrites; pick another name or remove it", dest)
	}
	if err := os.MkdirAll(o.Parent, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(o.Parent, ".rko-new-"+o.Name+"-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	data := map[string]string{"Name": o.Name, "Type": TypeName(o.Name), "Author": o.Author}
	roots := []string{"templates/" + o.Lang}
	if o.Kind != "misc" {
		roots = append(roots, "templates/"+o.Kind+"/"+o.Lang)
	}
	for i, root := range roots {
		own := i == 0 && len(roots) > 1
		if err := writeTemplates(root, tmp, data, o.Name, own); err != nil {
			return "", err
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	// RENAME_NOREPLACE: fail if dest appeared meanwhile, even as an
	// empty directory, so nothing of the user's is ever replaced.
	if err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, dest, unix.RENAME_NOREPLACE); err != nil {
		return "", fmt.Errorf("creating %s: %w", dest, err)
	}
	return dest, nil
}

// writeTemplates renders the templates under root into dir. With
// commonOnly, the module source, Kbuild and tests are left out: a kind's
// own templates give them.
func writeTemplates(root, dir string, data map[string]string, name string, commonOnly bool) error {
	return fs.WalkDir(rko.Templates, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel := strings.TrimSuffix(strings.TrimPrefix(p, root+"/"), ".tmpl")
		if commonOnly && (strings.HasPrefix(rel, "tests/") || rel == "Kbuild" || strings.HasPrefix(rel, "module.")) {
			return nil
		}
		switch path.Base(rel) {
		case "module.rs", "module.c":
			rel = path.Join(path.Dir(rel), name+path.Ext(rel))
		case "gitignore":
			rel = path.Join(path.Dir(rel), ".gitignore")
		}
		src, err := rko.Templates.ReadFile(p)
		if err != nil {
			return err
		}
		t, err := template.New(p).Parse(string(src))
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, data); err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(rel, ".sh") {
			mode = 0o755
		}
		out := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		return os.WriteFile(out, buf.Bytes(), mode)
	})
}
