package lint

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

const spdx = "// SPDX-License-Identifier: GPL-2.0\n"

// lintSource lints one file named name with src in a fresh directory and
// returns "rule:line" for each finding.
func lintSource(t *testing.T, name, src string, cfg *Config) []string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), Options{Paths: []string{dir}, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range res.Findings {
		got = append(got, fmt.Sprintf("%s:%d", f.Rule, f.Line))
	}
	sort.Strings(got)
	return got
}

func TestRules(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		// missing-spdx
		{"spdx ok", spdx + "fn f() {}\n", nil},
		{"spdx missing", "fn f() {}\n", []string{"missing-spdx:1"}},
		{"spdx after shebang", "#!/usr/bin/env rust\n" + spdx, nil},
		{"spdx on line 3", "\n\n" + spdx, []string{"missing-spdx:1"}},

		// unsafe-block-without-safety-comment
		{"block documented", spdx + "fn f() {\n    // SAFETY: fine.\n    unsafe { g() };\n}\n", nil},
		{"block lowercase safety", spdx + "fn f() {\n    // Safety: fine.\n    unsafe { g() };\n}\n", nil},
		{"block undocumented", spdx + "fn f() {\n    unsafe { g() };\n}\n", []string{"unsafe-block-without-safety-comment:3"}},
		{"block blank line between", spdx + "fn f() {\n    // SAFETY: fine.\n\n    unsafe { g() };\n}\n", nil},
		{"block comment run", spdx + "fn f() {\n    // SAFETY: fine,\n    // because.\n    unsafe { g() };\n}\n", nil},
		{"block code between", spdx + "fn f() {\n    // SAFETY: fine.\n    h();\n    unsafe { g() };\n}\n", []string{"unsafe-block-without-safety-comment:5"}},
		{"block above let", spdx + "fn f() {\n    // SAFETY: fine.\n    let x =\n        unsafe { g() };\n}\n", nil},
		{"block above call stmt", spdx + "fn f() {\n    // SAFETY: fine.\n    to_result(\n        unsafe { g() },\n    )?;\n}\n", nil},
		{"block above attributes", spdx + "fn f() {\n    // SAFETY: fine.\n    #[allow(unused)]\n    let x = unsafe { g() };\n}\n", nil},
		{"block in if branch not via let", spdx + "fn f() {\n    // SAFETY: no.\n    let x = if c {\n        unsafe { g() }\n    } else { 0 };\n}\n", []string{"unsafe-block-without-safety-comment:5"}},
		{"block /* */ comment", spdx + "fn f() {\n    /* SAFETY: fine. */\n    unsafe { g() };\n}\n", nil},
		{"block same-line comment", spdx + "fn f() {\n    /* SAFETY: fine. */ unsafe { g() };\n}\n", nil},
		{"block fn doc does not count", spdx + "/// SAFETY: no\nfn f() { unsafe { g() } }\n", []string{"unsafe-block-without-safety-comment:3"}},
		{"block in string", spdx + "fn f() { let s = \"unsafe { g() }\"; let r = r#\"unsafe {}\"#; }\n", nil},
		{"block in doc test", spdx + "/// ```\n/// unsafe { g() };\n/// ```\nfn f() {}\n", nil},
		{"block in comment", spdx + "fn f() {\n    // unsafe { g() }\n    /* unsafe { g() } */\n}\n", nil},
		{"block in macro args", spdx + "fn f() {\n    pr_info!(\"{}\", unsafe { g() });\n}\n", []string{"unsafe-block-without-safety-comment:3"}},
		{"block in macro args documented", spdx + "fn f() {\n    // SAFETY: fine.\n    pr_info!(\"{}\", unsafe { g() });\n}\n", nil},
		{"block in macro_rules", spdx + "macro_rules! m {\n    () => {\n        unsafe { g() }\n    };\n}\n", []string{"unsafe-block-without-safety-comment:4"}},
		{"block in macro_rules documented", spdx + "macro_rules! m {\n    () => {\n        // SAFETY: fine.\n        unsafe { g() }\n    };\n}\n", nil},
		{"block allowed by clippy attr", spdx + "#[allow(clippy::undocumented_unsafe_blocks)]\nfn f() { unsafe { g() } }\n", nil},
		{"block allowed by inner attr", spdx + "#![allow(clippy::undocumented_unsafe_blocks)]\nfn f() { unsafe { g() } }\n", nil},
		{"block doc code fence", spdx + "fn f() {\n    /// ```\n    /// // SAFETY: in a doc test\n    /// ```\n    unsafe { g() };\n}\n", []string{"unsafe-block-without-safety-comment:6"}},

		// unsafe-impl-without-safety-comment
		{"impl documented", spdx + "// SAFETY: fine.\nunsafe impl Send for X {}\n", nil},
		{"impl undocumented", spdx + "struct X;\nunsafe impl Send for X {}\n", []string{"unsafe-impl-without-safety-comment:3"}},
		{"impl across attribute", spdx + "// SAFETY: fine.\n#[cfg(CONFIG_X)]\nunsafe impl Send for X {}\n", nil},
		{"impl in macro", spdx + "macro_rules! m {\n    ($t:ty) => {\n        unsafe impl Send for $t {}\n    };\n}\n", []string{"unsafe-impl-without-safety-comment:4"}},
		{"safe impl", spdx + "impl Send for X {}\n", nil},

		// unsafe-fn-without-safety-doc
		{"fn documented", spdx + "/// Does it.\n///\n/// # Safety\n///\n/// `p` is valid.\npub unsafe fn f(p: *const u8) {}\n", nil},
		{"fn undocumented", spdx + "/// Does it.\npub unsafe fn f(p: *const u8) {}\n", []string{"unsafe-fn-without-safety-doc:3"}},
		{"fn private", spdx + "unsafe fn f(p: *const u8) {}\n", nil},
		{"fn pub(crate)", spdx + "pub(crate) unsafe fn f(p: *const u8) {}\n", nil},
		{"fn in pub trait", spdx + "/// T.\npub trait T {\n    /// No safety.\n    unsafe fn f(&self);\n}\n", []string{"unsafe-fn-without-safety-doc:5"}},
		{"fn in trait impl", spdx + "impl T for X {\n    unsafe fn f(&self) {}\n}\n", nil},
		{"fn extern", spdx + "extern \"C\" {\n    pub fn f();\n}\n", nil},
		{"unsafe trait", spdx + "/// No section.\npub unsafe trait T {}\n", []string{"unsafe-fn-without-safety-doc:3"}},
		{"unsafe trait documented", spdx + "/// T.\n///\n/// # Safety\n///\n/// Implementers must.\npub unsafe trait T {}\n", nil},
		{"fn expect missing_safety_doc", spdx + "#[expect(clippy::missing_safety_doc)]\npub unsafe fn f() {}\n", nil},

		// panic-in-kernel
		{"unwrap", spdx + "fn f() { x.unwrap(); }\n", []string{"panic-in-kernel:2"}},
		{"expect", spdx + "fn f() { x.expect(\"no\"); }\n", []string{"panic-in-kernel:2"}},
		{"unwrap_or is fine", spdx + "fn f() { x.unwrap_or(0); x.expect_err(); }\n", nil},
		{"panic macros", spdx + "fn f() {\n    panic!(\"x\");\n    todo!();\n    unimplemented!();\n    unreachable!();\n}\n",
			[]string{"panic-in-kernel:3", "panic-in-kernel:4", "panic-in-kernel:5", "panic-in-kernel:6"}},
		{"core::panic", spdx + "fn f() { core::panic!(\"x\"); }\n", []string{"panic-in-kernel:2"}},
		{"panic in test fn", spdx + "#[test]\nfn f() { x.unwrap(); }\n", nil},
		{"panic in cfg test mod", spdx + "#[cfg(test)]\nmod tests {\n    fn f() { x.unwrap(); }\n}\n", nil},
		{"panic in kunit mod", spdx + "#[kunit_tests(rust_x)]\nmod tests {\n    fn f() { x.unwrap(); }\n}\n", nil},
		{"panic in strings and docs", spdx + "/// x.unwrap();\nfn f() { let s = \"panic!()\"; /* x.unwrap() */ }\n", nil},
		{"panic in const", spdx + "const X: u32 = match f() { Some(x) => x, None => panic!(\"no\") };\n", nil},
		{"panic in const fn", spdx + "const fn f(x: u32) -> u32 { if x > 3 { panic!(\"no\") } x }\n", nil},
		{"panic documented", spdx + "fn f() {\n    // PANIC: cannot fail, checked above.\n    x.unwrap();\n}\n", nil},
		{"panic in macro_rules", spdx + "macro_rules! m {\n    () => { x.unwrap() };\n}\n", []string{"panic-in-kernel:3"}},
		{"panic in macro const", spdx + "macro_rules! m {\n    () => {\n        const C: u32 = match f() { Some(x) => x, None => panic!(\"no\") };\n    };\n}\n", nil},

		// std-in-kernel
		{"use std", spdx + "use std::sync::Arc;\n", []string{"std-in-kernel:2"}},
		{"std path", spdx + "fn f() { let x = std::mem::size_of::<u8>(); }\n", []string{"std-in-kernel:2"}},
		{"extern crate std", spdx + "extern crate std;\n", []string{"std-in-kernel:2"}},
		{"std feature gated", spdx + "#[cfg(feature = \"std\")]\nuse std::sync::Arc;\n", nil},
		{"core is fine", spdx + "use core::mem;\nfn f() { let s = \"std::x\"; }\n", nil},
		{"std in macro", spdx + "macro_rules! m { () => { std::mem::drop(1) }; }\n", []string{"std-in-kernel:2"}},

		// bindings-outside-abstractions
		{"bindings path", spdx + "fn f() { unsafe_fn(bindings::jiffies); }\n", []string{"bindings-outside-abstractions:2"}},
		{"kernel::bindings path", spdx + "fn f() -> kernel::bindings::gfp_t { 0 }\n", []string{"bindings-outside-abstractions:2"}},
		{"use kernel::bindings", spdx + "use kernel::bindings;\n", []string{"bindings-outside-abstractions:2"}},
		{"use in list", spdx + "use kernel::{bindings, prelude::*};\n", []string{"bindings-outside-abstractions:2"}},
		{"alias", spdx + "use kernel::bindings as b;\nfn f() { b::x(); }\n", []string{"bindings-outside-abstractions:2", "bindings-outside-abstractions:3"}},
		{"local bindings module is raw bindings", spdx + "use r570 as bindings;\nfn f() { bindings::X; }\n", []string{"bindings-outside-abstractions:3"}},
		{"file mod bindings is raw bindings", spdx + "mod bindings;\nfn f() { bindings::X; }\n", []string{"bindings-outside-abstractions:3"}},
		{"inline mod is not bindings", spdx + "mod bindings { pub const X: u8 = 0; }\nfn f() { bindings::X; }\n", nil},
		{"bindings in string", spdx + "fn f() { let s = \"bindings::x\"; }\n", nil},
		{"bindings in macro", spdx + "fn f() { pr_info!(\"{}\", bindings::jiffies); }\n", []string{"bindings-outside-abstractions:2"}},
		{"field named bindings", spdx + "fn f() { self.bindings.len(); }\n", nil},

		// sleep-in-atomic
		{"sleep under spinlock", spdx + "struct S { l: SpinLock<u32> }\nfn f(s: &S) {\n    let g = s.l.lock();\n    fsleep(d);\n}\n", []string{"sleep-in-atomic:5"}},
		{"sleep after drop", spdx + "struct S { l: SpinLock<u32> }\nfn f(s: &S) {\n    let g = s.l.lock();\n    drop(g);\n    fsleep(d);\n}\n", nil},
		{"sleep after scope", spdx + "struct S { l: SpinLock<u32> }\nfn f(s: &S) {\n    {\n        let g = s.l.lock();\n    }\n    fsleep(d);\n}\n", nil},
		{"sleep under mutex is fine", spdx + "struct S { l: Mutex<u32> }\nfn f(s: &S) {\n    let g = s.l.lock();\n    fsleep(d);\n}\n", nil},
		{"gfp kernel under spinlock", spdx + "struct S { l: SpinLock<KVec<u32>> }\nfn f(s: &S) {\n    let mut g = s.l.lock();\n    g.push(1, GFP_KERNEL)?;\n    g.push(1, GFP_ATOMIC)?;\n}\n", []string{"sleep-in-atomic:5"}},
		{"mutex under spinlock", spdx + "struct S { l: SpinLock<u32>, m: Mutex<u32> }\nfn f(s: &S) {\n    let g = s.l.lock();\n    let h = s.m.lock();\n}\n", []string{"sleep-in-atomic:5"}},
		{"temporary guard", spdx + "struct S { l: SpinLock<KVec<u32>> }\nfn f(s: &S) {\n    s.l.lock().push(1, GFP_KERNEL)?;\n}\n", []string{"sleep-in-atomic:4"}},
		{"condvar releases its guard", spdx + "struct S { l: SpinLock<u32>, c: CondVar }\nfn f(s: &S) {\n    let mut g = s.l.lock();\n    s.c.wait(&mut g);\n}\n", nil},
		{"irq disabled", spdx + "fn f() {\n    let irq = local_interrupt_disable();\n    msleep(1);\n}\n", []string{"sleep-in-atomic:4"}},
		{"guard parameter", spdx + "fn f(g: &mut SpinLockGuard<'_, u32>, r: &mut UserSliceReader) {\n    r.read_slice(&mut buf)?;\n}\n", []string{"sleep-in-atomic:3"}},
		{"outer guard not carried into closure", spdx + "struct S { l: SpinLock<u32> }\nfn f(s: &S) {\n    let g = s.l.lock();\n    let c = || fsleep(d);\n}\n", nil},
		{"guard inside closure", spdx + "struct S { l: SpinLock<u32> }\nfn f(s: &S) {\n    each(|p| {\n        let g = s.l.lock();\n        fsleep(d);\n    });\n}\n", []string{"sleep-in-atomic:6"}},

		// rko-allow
		{"allow same line", spdx + "fn f() { x.unwrap(); } // rko-allow(panic-in-kernel): init cannot fail\n", nil},
		{"allow line above", spdx + "fn f() {\n    // rko-allow(panic-in-kernel): init cannot fail\n    x.unwrap();\n}\n", nil},
		{"allow without reason", spdx + "fn f() { x.unwrap(); } // rko-allow(panic-in-kernel)\n", []string{"panic-in-kernel:2"}},
		{"allow other rule", spdx + "fn f() { x.unwrap(); } // rko-allow(std-in-kernel): no\n", []string{"panic-in-kernel:2"}},

		// partial trees
		{"syntax error", spdx + "fn f( {\n    x.unwrap();\n}\nfn g() { y.unwrap(); }\n", []string{"panic-in-kernel:3", "panic-in-kernel:5"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := lintSource(t, "m.rs", tc.src, nil)
			want := append([]string(nil), tc.want...)
			sort.Strings(want)
			if !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Errorf("findings = %v, want %v\nsource:\n%s", got, want, tc.src)
			}
		})
	}
}

func TestAllowWithoutReasonSaysSo(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "m.rs"), []byte(spdx+"fn f() { x.unwrap(); } // rko-allow(panic-in-kernel)\n"), 0o644)
	res, err := Run(context.Background(), Options{Paths: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) != 1 || !strings.Contains(res.Findings[0].Message, "gives no reason") {
		t.Fatalf("findings = %+v, want one that says the allow gives no reason", res.Findings)
	}
}

// TestBindingsPosition: a use of the raw bindings is reported on the
// `bindings` token, not on the `use` line, and an rko-allow comment above a
// multi-line use still covers it.
func TestBindingsPosition(t *testing.T) {
	tests := []struct {
		name, src      string
		line, col, end int // 0 line: no finding
	}{
		{"in a list", spdx + "use kernel::{bindings, prelude::*};\n", 2, 14, 22},
		{"multi-line list", spdx + "use kernel::{\n    prelude::*,\n    bindings,\n};\n", 4, 5, 13},
		{"path", spdx + "use kernel::bindings::gfp_t;\n", 2, 13, 21},
		{"bare", spdx + "use bindings::*;\n", 2, 5, 13},
		{"allowed above a multi-line use", spdx + "// rko-allow(bindings-outside-abstractions): the driver's own FFI shim.\nuse kernel::{\n    prelude::*,\n    bindings,\n};\n", 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "m.rs"), []byte(tt.src), 0o644); err != nil {
				t.Fatal(err)
			}
			res, err := Run(context.Background(), Options{Paths: []string{dir}})
			if err != nil {
				t.Fatal(err)
			}
			var got []Finding
			for _, f := range res.Findings {
				if f.Rule == "bindings-outside-abstractions" {
					got = append(got, f)
				}
			}
			if tt.line == 0 {
				if len(got) != 0 {
					t.Fatalf("findings %+v, want none", got)
				}
				return
			}
			if len(got) != 1 || got[0].Line != tt.line || got[0].Column != tt.col || got[0].EndColumn != tt.end {
				t.Fatalf("findings %+v, want one at %d:%d-%d", got, tt.line, tt.col, tt.end)
			}
		})
	}
}
