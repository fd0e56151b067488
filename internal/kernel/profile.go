package kernel

import (
	"fmt"
	"sort"
	"strings"

	"github.com/rkodev/rko"
	"github.com/rkodev/rko/internal/target"
)

// Profiles name the shipped fragment lists; fragments are applied on top of
// tinyconfig in order. A fragment named after a profile the target does not
// offer is left out of the target's other profiles: the default kernel
// carries bench's options where bench is offered (x86_64), so there one
// kernel serves rko test and rko bench, and --profile bench names it too
// (see Canonical); elsewhere the default is base, rust and kunit.
var Profiles = map[string][]string{
	"default": {"base", "rust", "kunit", "bench"},
	"debug":   {"base", "rust", "kunit", "debug"},
	"bench":   {"base", "rust", "kunit", "bench"},
}

// Canonical returns the profile that names the kernel of profile on t:
// "default" for "" and for "bench" where bench is offered (the same
// fragments, so the same cache entry); profile itself otherwise.
func Canonical(profile string, t *target.Target) string {
	if profile == "" || profile == "bench" && t.ProfileError("bench") == nil {
		return "default"
	}
	return profile
}

// ProfileNames lists the profiles, sorted.
func ProfileNames() []string {
	var n []string
	for k := range Profiles {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Fragment is one named config fragment.
type Fragment struct {
	Name string
	Data []byte
}

// ProfileFragments returns the shipped fragments of a profile.
func ProfileFragments(profile string) ([]Fragment, error) {
	names, ok := Profiles[profile]
	if !ok {
		return nil, fmt.Errorf("unknown profile %q, want one of %s", profile, strings.Join(ProfileNames(), ", "))
	}
	var fs []Fragment
	for _, n := range names {
		data, err := rko.Configs.ReadFile("configs/" + n + ".config")
		if err != nil {
			return nil, fmt.Errorf("profile %s: fragment %s is missing from this rko build", profile, n)
		}
		fs = append(fs, Fragment{Name: n, Data: data})
	}
	return fs, nil
}

// TargetFragments returns the shipped fragments of a profile for the
// target t: the profile's, less those named after a profile t does not
// offer, with the architecture's fragment right after base (package target
// names it).
func TargetFragments(profile string, t *target.Target) ([]Fragment, error) {
	if err := t.ProfileError(profile); err != nil {
		return nil, err
	}
	fs, err := ProfileFragments(profile)
	if err != nil {
		return nil, err
	}
	var arch []byte
	if t.Fragment != "" {
		if arch, err = rko.Configs.ReadFile("configs/" + t.Fragment + ".config"); err != nil {
			return nil, fmt.Errorf("target %s: fragment %s is missing from this rko build", t.Name, t.Fragment)
		}
	}
	var out []Fragment
	for _, f := range fs {
		if f.Name != profile && t.ProfileError(f.Name) != nil {
			continue
		}
		out = append(out, f)
		if t.Fragment == "" {
			continue
		}
		if f.Name == "base" {
			out = append(out, Fragment{Name: t.Fragment, Data: arch})
			continue
		}
		// The architecture's amendments to a fragment (arch-um-debug
		// after debug) come right after it.
		name := t.Fragment + "-" + f.Name
		if more, err := rko.Configs.ReadFile("configs/" + name + ".config"); err == nil {
			out = append(out, Fragment{Name: name, Data: more})
		}
	}
	return out, nil
}
