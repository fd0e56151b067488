package kbuild

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/rkodev/rko/internal/kernel"
)

// CheckModule checks a built .ko against the kernel it is for, as the
// kernel's loader will: every symbol it leaves undefined must be exported
// by the kernel (its Module.symvers) or by a module built beside it (the
// module directory's Module.symvers), and its vermagic must be the one
// the kernel's release and config give (kernel/module/version.c refuses
// any other). modpost checks the symbols too, but only against the
// Module.symvers the build tree has; this names them whatever produced
// the tree. A missing symbol is a finding about the module (an *Error
// with a diagnostic per symbol); a vermagic mismatch means the build tree
// is not the kernel's.
func CheckModule(k *kernel.Kernel, ko string) error {
	f, err := elf.Open(ko)
	if err != nil {
		return fmt.Errorf("reading %s: %w", ko, err)
	}
	defer f.Close()
	kernelSymvers := filepath.Join(k.BuildDir, "Module.symvers")
	kexports, err := kernelExports(kernelSymvers)
	if err != nil {
		return fmt.Errorf("kernel %s: %w", k.Release, err)
	}
	exports := map[string]bool{}
	readSymvers(filepath.Join(filepath.Dir(ko), "Module.symvers"), exports) // optional
	syms, err := f.Symbols()
	if err != nil {
		return fmt.Errorf("reading the symbols of %s: %w", ko, err)
	}
	var missing []string
	for _, s := range syms {
		if s.Section != elf.SHN_UNDEF || s.Name == "" || elf.ST_BIND(s.Info) != elf.STB_GLOBAL {
			continue
		}
		if !kexports[s.Name] && !exports[s.Name] {
			missing = append(missing, s.Name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		e := &Error{Dir: filepath.Dir(ko), Err: fmt.Errorf("%s uses %d symbol(s) kernel %s does not export", filepath.Base(ko), len(missing), k.Release)}
		for _, m := range missing {
			e.Diagnostics = append(e.Diagnostics, Diagnostic{File: ko, Severity: "error", Code: "symbols",
				Message: fmt.Sprintf("symbol '%s' is not exported by kernel %s (not in %s)", m, k.Release, kernelSymvers), Hint: undefinedHint})
		}
		return e
	}
	got, err := modinfo(f, "vermagic")
	if err != nil {
		return fmt.Errorf("%s: %w", ko, err)
	}
	cfg, err := k.Config()
	if err != nil {
		return err
	}
	want := kernel.Vermagic(k.Release, cfg, k.Target().VermagicArch)
	ok := got == want
	if cfg.Get("RANDSTRUCT_NONE") != "y" && cfg.Get("RANDSTRUCT_FULL")+cfg.Get("RANDSTRUCT_PERFORMANCE") != "" {
		ok = strings.HasPrefix(got, want) // the seed's hash is the tree's own
	}
	if !ok {
		return fmt.Errorf("%s has vermagic %q, but kernel %s needs %q and would refuse it: the build tree %s does not match the kernel's release and config (rebuild the tree, or pass the kernel it was built for)", filepath.Base(ko), got, k.Release, want, k.BuildDir)
	}
	return nil
}

// kernelExports is the set of symbols a kernel's Module.symvers exports,
// read once per process for each version of the file (rko watch checks a
// module on every save; the kernel's file has thousands of lines). The
// set is shared: callers must not change it.
func kernelExports(path string) (map[string]bool, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("no Module.symvers to check the module's symbols against: %w", err)
	}
	key := fmt.Sprintf("%s|%d|%d", path, st.Size(), st.ModTime().UnixNano())
	exportsRead.Lock()
	defer exportsRead.Unlock()
	if m, ok := exportsRead.m[key]; ok {
		return m, nil
	}
	m := map[string]bool{}
	if err := readSymvers(path, m); err != nil {
		return nil, err
	}
	if exportsRead.m == nil {
		exportsRead.m = map[string]map[string]bool{}
	}
	exportsRead.m[key] = m
	return m, nil
}

// exportsRead holds the kernel exports read so far, by file version.
var exportsRead struct {
	sync.Mutex
	m map[string]map[string]bool
}

// readSymvers adds the symbol names of a Module.symvers file ("CRC\tNAME\t
// MODULE\tEXPORT_TYPE\tNAMESPACE" per line) to into.
func readSymvers(path string, into map[string]bool) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("no Module.symvers to check the module's symbols against: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) >= 2 && fields[1] != "" {
			into[fields[1]] = true
		}
	}
	return sc.Err()
}

// modinfo returns the value of key in a module's .modinfo section
// (NUL-separated "key=value" strings).
func modinfo(f *elf.File, key string) (string, error) {
	sec := f.Section(".modinfo")
	if sec == nil {
		return "", fmt.Errorf("no .modinfo section: not a kernel module")
	}
	data, err := sec.Data()
	if err != nil {
		return "", err
	}
	for _, kv := range bytes.Split(data, []byte{0}) {
		if k, v, ok := bytes.Cut(kv, []byte{'='}); ok && string(k) == key {
			return string(v), nil
		}
	}
	return "", fmt.Errorf("no %s in .modinfo", key)
}
