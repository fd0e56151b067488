package workflow

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	"github.com/rkodev/rko/internal/cache"
	"github.com/rkodev/rko/internal/guest"
	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/ktap"
)

// SelfCheck is the outcome of the kernel's own KUnit suites (the Rust
// doctests and every built-in suite), which run at boot before rko's init.
// They are the kernel's, not the module's: rko test records them once per
// kernel build, reports them apart (kernel_selfcheck), and boots later
// runs with a KUnit filter that skips them.
type SelfCheck struct {
	Kernel   string      `json:"kernel"` // the kernel's cache key
	Counts   ktap.Counts `json:"counts"`
	Total    int         `json:"total"`
	Suites   int         `json:"suites"`
	Recorded time.Time   `json:"recorded"`
	// ConsoleLog is the console of the boot that ran them.
	ConsoleLog string `json:"console_log"`
	// Ran is true when this run's boot ran them, false when they were
	// skipped and this is an earlier run's record.
	Ran bool `json:"ran"`
}

// selfCheckPath is where a kernel's self-check is kept: in its cache
// entry, so it goes with the kernel.
func selfCheckPath(k *kernel.Kernel) string {
	if !k.InCache() { // never a file in a tree the user built
		return ""
	}
	return filepath.Join(k.Dir, "selfcheck.json")
}

// LoadSelfCheck returns the recorded self-check of k, if any.
func LoadSelfCheck(k *kernel.Kernel) (*SelfCheck, bool) {
	p := selfCheckPath(k)
	if p == "" {
		return nil, false
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, false
	}
	var sc SelfCheck
	if json.Unmarshal(data, &sc) != nil || sc.Kernel != k.Key {
		return nil, false
	}
	sc.Ran = false
	return &sc, true
}

// noBuiltinSuites is a KUnit filter glob no suite is named by: the kernel
// boots with it, so its built-in suites do not run, and the init then sets
// the filter to "*" for the modules' suites (kunit's filter_glob parameter
// is writable at run time, lib/kunit/executor.c).
const noBuiltinSuites = "rko-kernel-selfcheck-recorded"

// selfCheckBoot returns the kernel arguments and the plan's KUnit filter
// that skip the kernel's own suites when k's self-check is already
// recorded (and k has KUnit); nothing otherwise.
func selfCheckBoot(k *kernel.Kernel) (cmdline []string, filter string) {
	if _, ok := LoadSelfCheck(k); !ok {
		return nil, ""
	}
	if cfg, err := k.Config(); err != nil || cfg.Get("KUNIT") != "y" {
		return nil, ""
	}
	return []string{"kunit.filter_glob=" + noBuiltinSuites}, "*"
}

// SelfCheckFrom reads the kernel's own suites from the part of console
// before the init started and records them for k when none is recorded
// yet. It returns the record (Ran set when this console ran them), or nil
// when there is none.
func SelfCheckFrom(k *kernel.Kernel, console []byte, consoleLog string) *SelfCheck {
	if sc, ok := LoadSelfCheck(k); ok {
		return sc
	}
	off := guest.BootOffset(console)
	if off < 0 {
		return nil
	}
	root, _ := ktap.ParseConsole(string(console[:off]))
	if root.Status == ktap.ParseFailure && len(root.Subtests) == 0 {
		return nil // no KUnit in this kernel
	}
	sc := &SelfCheck{Kernel: k.Key, Counts: root.Counts, Total: root.Counts.Total(), Suites: len(root.Subtests),
		Recorded: time.Now().UTC(), ConsoleLog: consoleLog, Ran: true}
	if p := selfCheckPath(k); p != "" {
		data, _ := json.MarshalIndent(sc, "", "  ")
		cache.WriteFileAtomic(p, append(data, '\n'), 0o644)
	}
	return sc
}
