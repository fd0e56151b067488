package testutil

import (
	"os"
	"strings"
)

// InCI reports whether the tests run in continuous integration: $CI is
// set to anything but "", "0" or "false" (GitHub Actions, GitLab CI and
// most others set CI=true). There, a test that cannot run what it is
// about fails instead of skipping: a skip in CI tests nothing.
func InCI() bool {
	switch strings.ToLower(strings.TrimSpace(os.Getenv("CI"))) {
	case "", "0", "false":
		return false
	}
	return true
}

// SkipOrFail skips the test with the reason, or fails it in CI (InCI).
func SkipOrFail(tb TB, format string, args ...any) {
	tb.Helper()
	if InCI() {
		tb.Fatalf(format+" (CI is set: failing instead of skipping)", args...)
		return
	}
	tb.Skipf(format, args...)
}

// TB is the part of testing.TB the helpers here use, so that their own
// tests can record what they do.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
}
