package kernel

import (
	"fmt"
	"sort"
	"strings"

	"github.com/rkodev/rko"
	"github.com/rkodev/rko/internal/target"
)

// Profiles name the shipped fragment lists; fragments are applied on top of
// tinyconfig in order.
var Profiles = map[string][]string{
	"default": {"base", "rust", "kunit"},
	"debug":   {"base", "rust", "kunit", "debug"},
	"bench":   {"base", "rust", "bench"},
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
// target t: the profile's, with the architecture's fragment right after
// base (package target names it).
func TargetFragments(profile string, t *target.Target) ([]Fragment, error) {
	if err := t.ProfileError(profile); err != nil {
		return nil, err
	}
	fs, err := ProfileFragments(profile)
	if err != nil {
		return nil, err
	}
	if t.Fragment == "" {
		return fs, nil
	}
	data, err := rko.Configs.ReadFile("configs/" + t.Fragment + ".config")
	if err != nil {
		return nil, fmt.Errorf("--arch %s: fragment %s is missing from this rko build", t.Name, t.Fragment)
	}
	var out []Fragment
	for _, f := range fs {
		out = append(out, f)
		if f.Name == "base" {
			out = append(out, Fragment{Name: t.Fragment, Data: data})
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
