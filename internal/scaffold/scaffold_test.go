package scaffold

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name    string
		wantErr string // substring; "" means valid
	}{
		{"", "empty"},
		{"1hello", `use lower-case letters`},
		{"9", "not starting with a digit"},
		{"my-mod", `"my-mod" is not valid`},
		{"Hello", "is not valid"},
		{"hello world", "is not valid"},
		{"héllo", "is not valid"},
		{"hello.ko", "is not valid"},
		{strings.Repeat("a", 56), "56 characters long; the kernel allows at most 55"},
		{strings.Repeat("a", 55), ""},
		{"hello", ""},
		{"_private", ""},
		{"rust_hello2", ""},
		{"a", ""},
	}
	for _, tt := range tests {
		err := ValidateName(tt.name)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("ValidateName(%q) = %v, want nil", tt.name, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("ValidateName(%q) = %v, want an error containing %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestValidateNameSuggests(t *testing.T) {
	tests := map[string]string{
		"my-mod":    "my_mod",
		"Hello":     "hello",
		"1hello":    "m_1hello",
		"a b--c":    "a_b_c",
		"hello.ko":  "hello_ko",
		"---":       "_",
		"MyDriver2": "mydriver2",
	}
	for in, want := range tests {
		err := ValidateName(in)
		if err == nil || !strings.Contains(err.Error(), "(e.g. "+want+")") {
			t.Errorf("ValidateName(%q) = %v, want the suggestion %q", in, err, want)
		}
		if ValidateName(want) != nil {
			t.Errorf("suggestion %q for %q is itself invalid: %v", want, in, ValidateName(want))
		}
	}
}

func TestTypeName(t *testing.T) {
	tests := map[string]string{
		"hello":       "Hello",
		"my_mod":      "MyMod",
		"rust_hello2": "RustHello2",
		"_private":    "Private",
		"a__b_":       "AB",
		"___":         "Module",
		"":            "Module",
		"x":           "X",
	}
	for in, want := range tests {
		if got := TypeName(in); got != want {
			t.Errorf("TypeName(%q) = %q, want %q", in, got, want)
		}
	}
}

// tree lists the files under dir with their permission bits.
func tree(t *testing.T, dir string) map[string]os.FileMode {
	t.Helper()
	out := map[string]os.FileMode{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = info.Mode().Perm()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestNew(t *testing.T) {
	tests := []struct {
		lang  string
		files map[string]os.FileMode
		// contents: file -> substrings it must hold
		contents map[string][]string
	}{
		{
			lang: "rust",
			files: map[string]os.FileMode{"Kbuild": 0o644, "Makefile": 0o644, ".gitignore": 0o644,
				"my_mod.rs": 0o644, "tests/smoke.sh": 0o755},
			contents: map[string][]string{
				"Kbuild":         {"obj-m := my_mod.o"},
				"my_mod.rs":      {"type: MyMod,", `name: "my_mod"`, `authors: ["Ada Lovelace"]`, "struct MyMod", "#[kunit_tests(my_mod)]"},
				"tests/smoke.sh": {"#!/bin/sh", "/sys/module/my_mod"},
			},
		},
		{
			lang: "c",
			files: map[string]os.FileMode{"Kbuild": 0o644, "Makefile": 0o644, ".gitignore": 0o644,
				"my_mod.c": 0o644, "tests/smoke.sh": 0o755},
			contents: map[string][]string{
				"Kbuild":         {"obj-m := my_mod.o"},
				"my_mod.c":       {"static int __init my_mod_init(void)", `MODULE_AUTHOR("Ada Lovelace")`, "module_exit(my_mod_exit);", `.name = "my_mod"`},
				"tests/smoke.sh": {"/sys/module/my_mod"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.lang, func(t *testing.T) {
			parent := filepath.Join(t.TempDir(), "mods") // created by New
			dest, err := New(Opts{Name: "my_mod", Lang: tt.lang, Parent: parent, Author: "Ada Lovelace"})
			if err != nil {
				t.Fatal(err)
			}
			if dest != filepath.Join(parent, "my_mod") {
				t.Errorf("New = %q", dest)
			}
			if st, err := os.Stat(dest); err != nil || st.Mode().Perm() != 0o755 {
				t.Errorf("dest mode: %v %v, want 0755", st.Mode(), err)
			}
			got := tree(t, dest)
			if !reflect.DeepEqual(got, tt.files) {
				t.Errorf("files = %v, want %v", got, tt.files)
			}
			for name := range got {
				data, _ := os.ReadFile(filepath.Join(dest, name))
				if strings.Contains(string(data), "{{") || strings.Contains(string(data), "}}") {
					t.Errorf("%s still holds a template placeholder:\n%s", name, data)
				}
				if strings.Contains(string(data), "<no value>") {
					t.Errorf("%s uses an unknown template field:\n%s", name, data)
				}
			}
			for name, subs := range tt.contents {
				data, _ := os.ReadFile(filepath.Join(dest, name))
				for _, s := range subs {
					if !strings.Contains(string(data), s) {
						t.Errorf("%s lacks %q:\n%s", name, s, data)
					}
				}
			}
			ents, _ := os.ReadDir(parent)
			if len(ents) != 1 || ents[0].Name() != "my_mod" {
				var names []string
				for _, e := range ents {
					names = append(names, e.Name())
				}
				t.Errorf("parent holds %q, want only my_mod (no temporary directory)", names)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	parent := t.TempDir()
	dest, err := New(Opts{Name: "hello", Parent: parent})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dest, "hello.rs")) // rust by default
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `authors: ["rko"]`) {
		t.Errorf("default author not rko:\n%s", data)
	}
}

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(parent string)
		opts    Opts
		wantErr string
	}{
		{"existing dir with files", func(p string) {
			os.MkdirAll(filepath.Join(p, "hello"), 0o755)
			os.WriteFile(filepath.Join(p, "hello", "mine.rs"), []byte("user code"), 0o644)
		}, Opts{Name: "hello"}, "already exists"},
		{"existing empty dir", func(p string) { os.MkdirAll(filepath.Join(p, "hello"), 0o755) }, Opts{Name: "hello"}, "already exists"},
		{"existing file", func(p string) { os.WriteFile(filepath.Join(p, "hello"), []byte("x"), 0o644) }, Opts{Name: "hello"}, "already exists"},
		{"dangling symlink", func(p string) { os.Symlink("nowhere", filepath.Join(p, "hello")) }, Opts{Name: "hello"}, "already exists"},
		{"bad name", func(string) {}, Opts{Name: "Bad-Name"}, "is not valid"},
		{"bad language", func(string) {}, Opts{Name: "hello", Lang: "zig"}, `unknown language "zig"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			tt.setup(parent)
			before := tree(t, parent)
			tt.opts.Parent = parent
			_, err := New(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New = %v, want an error containing %q", err, tt.wantErr)
			}
			if after := tree(t, parent); !reflect.DeepEqual(after, before) {
				t.Errorf("New changed the parent: %v -> %v", before, after)
			}
			ents, _ := os.ReadDir(parent)
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), ".rko-new-") {
					t.Errorf("temporary directory %s left behind", e.Name())
				}
			}
			if data, err := os.ReadFile(filepath.Join(parent, "hello", "mine.rs")); err == nil && string(data) != "user code" {
				t.Error("user file overwritten")
			}
		})
	}
}

func TestLangsHaveTemplates(t *testing.T) {
	for _, lang := range Langs {
		parent := t.TempDir()
		dest, err := New(Opts{Name: "probe", Lang: lang, Parent: parent})
		if err != nil {
			t.Errorf("%s: %v", lang, err)
			continue
		}
		var names []string
		for n := range tree(t, dest) {
			names = append(names, n)
		}
		sort.Strings(names)
		if len(names) < 4 {
			t.Errorf("%s template has only %q", lang, names)
		}
	}
}

// A kind's templates replace the module, Kbuild and tests of the
// language's own; the rest (Makefile, .gitignore) comes from the language.
func TestNewKinds(t *testing.T) {
	for _, lang := range Langs {
		dest, err := New(Opts{Name: "drv", Lang: lang, Kind: "pci", Parent: t.TempDir()})
		if err != nil {
			t.Fatalf("%s: %v", lang, err)
		}
		var names []string
		files := tree(t, dest)
		for n := range files {
			names = append(names, n)
		}
		sort.Strings(names)
		ext := map[string]string{"rust": "rs", "c": "c"}[lang]
		want := []string{".gitignore", "Kbuild", "Makefile", "drv." + ext, "tests/device.sh"}
		if strings.Join(names, " ") != strings.Join(want, " ") {
			t.Errorf("%s pci: files %q, want %q", lang, names, want)
		}
		if kb, _ := os.ReadFile(filepath.Join(dest, "Kbuild")); !strings.Contains(string(kb), "# rko-device: pci-testdev") {
			t.Errorf("%s pci: the Kbuild declares no device:\n%s", lang, kb)
		}
	}
	for _, lang := range Langs {
		dest, err := New(Opts{Name: "plat", Lang: lang, Kind: "platform", Parent: t.TempDir()})
		if err != nil {
			t.Fatalf("%s: %v", lang, err)
		}
		var names []string
		for n := range tree(t, dest) {
			names = append(names, n)
		}
		sort.Strings(names)
		ext := map[string]string{"rust": "rs", "c": "c"}[lang]
		want := []string{".gitignore", "Kbuild", "Makefile", "node-arm64.dtsi", "node-riscv64.dtsi", "plat." + ext, "ssdt.dsl", "tests/device.sh"}
		if strings.Join(names, " ") != strings.Join(want, " ") {
			t.Errorf("%s platform: files %q, want %q", lang, names, want)
		}
	}
	if _, err := New(Opts{Name: "drv", Kind: "usb", Parent: t.TempDir()}); err == nil || !strings.Contains(err.Error(), `unknown kind "usb", want one of misc, pci, platform`) {
		t.Errorf("unknown kind: %v", err)
	}
}
