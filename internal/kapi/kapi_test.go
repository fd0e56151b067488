package kapi

import (
	"reflect"
	"testing"

	"github.com/rkodev/rko/internal/testutil"
)

func TestUsesIn(t *testing.T) {
	for _, tc := range []struct {
		name, code string
		want       []string
	}{
		{"flat", "use kernel::miscdevice::MiscDevice;", []string{"kernel::miscdevice::MiscDevice"}},
		{"tree", "use kernel::{\n  fs::File,\n  miscdevice::{MiscDevice, MiscDeviceRegistration}, // the device\n  prelude::*,\n};",
			[]string{"kernel::fs::File", "kernel::miscdevice::MiscDevice", "kernel::miscdevice::MiscDeviceRegistration"}},
		{"rename and self", "use kernel::sync::{self, Arc as A};", []string{"kernel::sync", "kernel::sync::Arc"}},
		{"inline", "impl kernel::InPlaceModule for M {}\nlet o = kernel :: miscdevice :: MiscDeviceOptions { name: kernel::c_str!(\"x\") };",
			[]string{"kernel::InPlaceModule", "kernel::miscdevice::MiscDeviceOptions", "kernel::c_str"}},
		{"comments and strings", "// use kernel::gone::Thing;\n/* kernel::old */ let s = \"kernel::text\";", nil},
		{"glob", "use kernel::sync::*;", []string{"kernel::sync"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := usesIn(stripComments(tc.code))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("usesIn = %q, want %q", got, tc.want)
			}
		})
	}
}

// tree writes a kernel crate of the given files.
func tree(t *testing.T, version string, files map[string]string) *Tree {
	t.Helper()
	return NewTree(version, testutil.WriteTree(t, files))
}

func TestDrift(t *testing.T) {
	old := tree(t, "6.12.117", map[string]string{
		"rust/kernel/lib.rs":  "pub mod sync;\npub trait Module {}\n",
		"rust/kernel/sync.rs": "pub struct Arc<T>(T);\n",
		"rust/kernel/str.rs":  "#[macro_export]\nmacro_rules! c_str { () => {} }\n",
	})
	mid := tree(t, "7.2.12", map[string]string{
		"rust/kernel/lib.rs":        "pub mod sync;\npub mod miscdevice;\npub use crate::module::InPlaceModule;\n",
		"rust/kernel/miscdevice.rs": "pub struct MiscDeviceRegistration<T>(T);\npub trait MiscDevice {}\n",
		"rust/kernel/sync.rs":       "pub struct Arc<T>(T);\n",
	})
	uses := []string{"kernel::InPlaceModule", "kernel::c_str", "kernel::miscdevice::MiscDevice",
		"kernel::miscdevice::MiscDeviceRegistration", "kernel::sync::Arc", "kernel::sync::Mutex"}
	got := Drift(uses, old, []*Tree{old, mid})
	want := []Finding{
		{Path: "kernel::InPlaceModule", Missing: "6.12.117", In: []string{"7.2.12"}},
		{Path: "kernel::miscdevice", Missing: "6.12.117", In: []string{"7.2.12"}},
		{Path: "kernel::sync::Mutex", Missing: "6.12.117"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Drift =\n%v\nwant\n%v", got, want)
	}
	if s := want[1].String(); s != "kernel::miscdevice: not in 6.12.117; in 7.2.12" {
		t.Errorf("String = %q", s)
	}
}

// TestHasRealTree checks Has on the kernel crate of a real linux-source
// (the one rko extracts; testutil.KernelSource).
func TestHasRealTree(t *testing.T) {
	src := testutil.KernelSource(t)
	tr := NewTree("real", src)
	for path, want := range map[string]bool{
		"kernel::sync::Arc":                true,
		"kernel::sync::Mutex":              true,
		"kernel::alloc::KVec":              true,
		"kernel::ThisModule":               true,
		"kernel::pr_info":                  true,
		"kernel::error::code::ENOMEM":      true, // declare_err!(ENOMEM, ...)
		"kernel::sync::NoSuchLock":         false,
		"kernel::no_such_module::Anything": false,
	} {
		if got := tr.Has(path); got != want {
			t.Errorf("Has(%s) = %v, want %v", path, got, want)
		}
	}
}

func TestFindingChanged(t *testing.T) {
	f := Finding{Path: "kernel::sync::lock::Lock::new", Missing: "6.12.117", In: []string{"7.3.4"}, Changed: true,
		Signature: "pub fn new(t: T)", Other: "pub fn new(t: impl PinInit<T>)"}
	if got, want := f.String(), "kernel::sync::lock::Lock::new: in 6.12.117 `pub fn new(t: T)`; in 7.3.4 `pub fn new(t: impl PinInit<T>)`"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}
