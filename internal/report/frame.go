package report

import (
	"strconv"
	"strings"

	"github.com/ianlancetaylor/demangle"
)

// Frame is one line of a kernel stack trace: "func+0x1c/0x30 [mod]".
type Frame struct {
	// Func is the function name, demangled for Rust symbols.
	Func string `json:"func"`
	// Symbol is the symbol as printed (mangled for Rust), when it differs
	// from Func.
	Symbol string `json:"symbol,omitempty"`
	// Offset and Size are the "+0x1c/0x30" of the frame.
	Offset uint64 `json:"offset"`
	Size   uint64 `json:"size,omitempty"`
	// Module is the module that holds the function, empty for the kernel
	// image.
	Module string `json:"module,omitempty"`
	// IP is true for the faulting instruction (a RIP: line or a report
	// header's "in func+off"); other frames are return addresses.
	IP bool `json:"ip,omitempty"`
	// Source is "file:line" once the frame is symbolized.
	Source string `json:"source,omitempty"`
	// Inlined lists the "func file:line" of functions inlined at this
	// frame, innermost first, once symbolized.
	Inlined []string `json:"inlined,omitempty"`
	// Addr is set, and Func empty, for a frame the kernel printed as a
	// bare address (code of a module that was gone by then), until
	// Report.NameFrames names it.
	Addr uint64 `json:"addr,omitempty"`
}

// String prints the frame the way the kernel does.
func (f Frame) String() string {
	if f.Func == "" {
		return "0x" + strconv.FormatUint(f.Addr, 16)
	}
	s := f.Func + "+0x" + strconv.FormatUint(f.Offset, 16)
	if f.Size != 0 {
		s += "/0x" + strconv.FormatUint(f.Size, 16)
	}
	if f.Module != "" {
		s += " [" + f.Module + "]"
	}
	return s
}

// ParseFrame reads a stack frame out of one line with its printk prefix
// already stripped. It accepts " func+0x1c/0x30 [mod]", "[<ffffffff81000000>]
// func+0x1c/0x30", "RIP: 0010:func+0x1c/0x30", a header's trailing
// "... in func+0x1c/0x30 [mod]", and a bare "0xffffffffa00000df" (an
// address the kernel could not name; Addr is set, Func empty). Frames
// marked unreliable ("? func") are rejected.
func ParseFrame(l string) (Frame, bool) {
	s := strings.TrimLeft(l, " \t")
	ip := false
	if strings.HasPrefix(s, "RIP: ") || strings.HasPrefix(s, "IP: ") || strings.HasPrefix(s, "pc : ") {
		ip = true
		s = s[strings.IndexByte(s, ':')+2:]
		if i := strings.IndexByte(s, ':'); i == 4 { // "0010:"
			s = s[i+1:]
		}
	}
	if strings.HasPrefix(s, "[<") {
		i := strings.Index(s, ">]")
		if i < 0 {
			return Frame{}, false
		}
		s = strings.TrimLeft(s[i+2:], " ")
	}
	if strings.HasPrefix(s, "? ") {
		return Frame{}, false
	}
	if !ip && len(s) == 18 && strings.HasPrefix(s, "0xffff") {
		// A bare kernel address: code the kernel could not name.
		if addr, n := hexPrefix(s[2:]); n == 16 {
			return Frame{Addr: addr}, true
		}
	}
	plus := strings.Index(s, "+0x")
	if plus <= 0 {
		return Frame{}, false
	}
	name := s[:plus]
	if strings.ContainsAny(name, " \t()") {
		return Frame{}, false
	}
	rest := s[plus+3:]
	off, n := hexPrefix(rest)
	if n == 0 {
		return Frame{}, false
	}
	f := Frame{Offset: off, IP: ip}
	rest = rest[n:]
	if strings.HasPrefix(rest, "/0x") {
		size, m := hexPrefix(rest[3:])
		f.Size = size
		rest = rest[3+m:]
	}
	rest = strings.TrimLeft(rest, " ")
	if strings.HasPrefix(rest, "[") {
		if j := strings.IndexByte(rest, ']'); j > 1 {
			f.Module = rest[1:j]
		}
	}
	f.Func, f.Symbol = Demangle(name)
	return f, true
}

func hexPrefix(s string) (uint64, int) {
	var v uint64
	i := 0
	for ; i < len(s) && i < 16; i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | uint64(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | uint64(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | uint64(c-'A'+10)
		default:
			return v, i
		}
	}
	return v, i
}

// Demangle turns a Rust symbol (v0 "_RNv..." or legacy "_ZN...E") into its
// path without hashes; it returns the name unchanged, and an empty symbol,
// for anything else.
func Demangle(name string) (fn, symbol string) {
	if !strings.HasPrefix(name, "_R") && !strings.HasPrefix(name, "_ZN") {
		return name, ""
	}
	d, err := demangle.ToString(name, demangle.NoParams, demangle.NoTemplateParams, demangle.NoRust)
	if err != nil || d == "" {
		d, err = demangle.ToString(name, demangle.NoParams, demangle.NoTemplateParams)
		if err != nil || d == "" {
			return name, ""
		}
	}
	return d, name
}

// baseName drops compiler suffixes (".isra.0", ".cold", ".constprop.0")
// from a C function name, so that titles stay stable across builds.
func baseName(fn string) string {
	if strings.Contains(fn, "::") {
		return fn
	}
	if i := strings.IndexByte(fn, '.'); i > 0 {
		return fn[:i]
	}
	return fn
}

// genericPrefix and genericExact list functions that are never the guilty
// frame: the reporting machinery itself (printk, warn, BUG, panic, oops),
// sanitizers (KASAN, KFENCE, UBSAN, kmemleak, lockdep), locking and sleeping
// primitives, memory allocators and lib helpers. A name matches when,
// without its leading underscores, it starts with a prefix or equals an
// exact name.
var genericPrefix = []string{
	"dump_stack", "show_stack", "show_regs", "show_trace", "print_", "printk", "vprintk", "warn_slowpath", "warn_printk",
	"report_bug", "handle_bug", "exc_", "asm_exc_", "asm_sysvec_", "sysvec_", "do_trap", "do_error_trap",
	"die_", "oops_", "panic_", "check_panic_on_warn", "fortify_panic",
	"kasan_", "asan_", "check_memory_region", "kmsan_", "kfence_", "ubsan_", "handle_overflow",
	"kmemleak_", "lockdep_", "lock_acquire", "lock_release", "lock_is_held", "lock_acquired", "validate_chain",
	"check_prev_add", "check_noncircular", "check_irq_usage", "mark_lock", "print_circular", "check_deadlock",
	"might_sleep", "might_resched", "might_fault", "schedule", "preempt_schedule",
	"rcu_", "mutex_lock", "mutex_unlock", "down_", "up_read", "up_write", "spin_lock", "spin_unlock",
	"raw_spin_", "_raw_spin", "_raw_read", "_raw_write", "do_raw_", "queued_spin", "queued_read", "queued_write",
	"msleep", "usleep", "ssleep", "schedule_timeout", "wait_for_completion",
	"kmalloc", "kmem_cache_", "kfree", "kzalloc", "kcalloc", "krealloc", "kvmalloc", "kvfree",
	"vmalloc", "vfree", "slab_", "alloc_pages", "kstrdup", "kmemdup",
	"memcpy", "memset", "memmove", "memcmp", "strlen", "strnlen", "strcpy", "strncpy", "strscpy", "strcmp",
	"strncmp", "strcat", "copy_to_user", "copy_from_user", "_copy_to_user", "_copy_from_user", "refcount_",
	"list_add", "list_del", "debug_object", "debug_check", "debug_print", "debug_lockdep", "rust_helper_", "rust_begin_unwind", "core::panicking", "core::result::unwrap_failed",
	"core::option::", "core::slice::index", "core::cell::panic", "kernel::print", "kernel::rust_begin_unwind",
	"page_fault", "do_user_addr_fault", "do_kern_addr_fault", "kernelmode_fixup_or_oops",
	"handle_mm_fault", "fixup_exception", "watchdog_", "hrtimer_", "tick_", "update_process_times",
	"irq_exit", "handle_softirqs", "do_softirq", "smp_call_function", "native_", "default_idle",
	"stack_trace_", "save_stack", "switch_to", "io_schedule", "bad_page", "free_page", "free_pages", "free_unref", "stack_chk_fail", "folio_wait_", "bit_wait", "wait_on_page", "kunit_try_run_case", "kunit_generic_run", "kunit_try_catch",
}

var genericExact = map[string]bool{
	"die": true, "panic": true, "vpanic": true, "bug": true, "BUG": true, "warn": true, "down": true,
	"up": true, "no_context": true, "bad_area": true, "watchdog": true, "warn_slowpath_fmt": true,
}

// isGeneric reports whether fn is one of the generic frames.
func isGeneric(fn string) bool {
	s := strings.TrimLeft(fn, "_")
	if genericExact[s] || genericExact[baseName(s)] {
		return true
	}
	for _, g := range genericPrefix {
		if strings.HasPrefix(s, g) {
			return true
		}
	}
	// Rust trait impls print as "<T as core::...>::fmt"; the panic
	// machinery and the kernel crate's allocators (KBox::new, KVec::push,
	// <Kmalloc as Allocator>::alloc) anywhere inside a path count as
	// generic.
	return strings.Contains(fn, "core::panicking::") || strings.Contains(fn, "core::fmt::") ||
		strings.Contains(fn, "kernel::alloc::")
}
