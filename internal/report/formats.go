package report

import (
	"regexp"
	"strings"
)

// The crash formats as data, in the manner of syzkaller's pkg/report
// (linux.go: linuxOopses, linuxStackParams; Apache-2.0): a family per
// header the scanner looks for, and in each family the formats tried in
// order on the header line. A format says what the report is (Type), how
// to title it (a template over the regexp groups and the guilty frame),
// where the guilty frame comes from (parts, tried in order over the
// report's lines), which frames to skip and what ends the report. The
// titles are the ones syzkaller gives, so that the same bug gets the same
// name as on syzbot; rko's additions (the module, the Rust source line)
// go in other fields of Report.
//
// Adding a format: one entry here and one golden file in testdata/report.

// end says what closes a report.
type end int

const (
	endStack  end = iota // the first line after its stack trace that belongs to no report
	endMarker            // "---[ end trace" (or a "=====" block after it)
	endSep               // the "=====" line that closes a KASAN/KFENCE/UBSAN/KMSAN/KCSAN block
)

// part is one step of finding the guilty frame (syzkaller's stackFmt
// parts): re moves to the next line it matches and, if it has a group,
// offers the function there; a nil re parses a stack trace from there to
// the next stack's start.
type part struct {
	re   *regexp.Regexp
	need []string // a line matches only if it contains one of these (a fast filter)
}

// format is one kind of report within a family.
type format struct {
	title     *regexp.Regexp // matched on the header line; selects the format
	report    *regexp.Regexp // if set, must match the report's text; its groups feed the template
	typ       Type
	tmpl      string // title: {1}..{9} are groups of report (or title), {frame} the guilty frame
	stack     []part // where the guilty frame comes from
	stack2    []part // tried when stack yields no frame
	skip      []string
	extract   func(names []string) string // picks the guilty frame among the unskipped ones
	noStack   bool                        // a report without a stack trace is not corrupted
	corrupted bool                        // the format only matches damaged reports
	end       end
	absorbs   bool // later "Oops:"-like lines before its stack trace belong to it
	where     func(r *Report, header string, body []string)
	skipRe    *skipper // skipPatterns + skip, compiled once
}

// family is a header the scanner recognises, and its formats.
type family struct {
	header  string // the line starts with it (after the printk prefix, or after "xxx: ")
	kind    kind
	typ     Type // the type when no format matches
	end     end
	ignore  []*regexp.Regexp // header lines that are not reports
	formats []*format
}

// compile expands syzkaller's placeholders in a pattern.
func compile(re string) *regexp.Regexp {
	re = strings.ReplaceAll(re, "{{ADDR}}", "0x[0-9a-f]+")
	re = strings.ReplaceAll(re, "{{PC}}", `\[\<?(?:0x)?[0-9a-f]+\>?\]`)
	re = strings.ReplaceAll(re, "{{FUNC}}", `([a-zA-Z0-9_]+)(?:\.|\+)`)
	re = strings.ReplaceAll(re, "{{SRC}}", `([a-zA-Z0-9-_/.]+\.[a-z]+:[0-9]+)`)
	return regexp.MustCompile(re)
}

// p makes a part; need are literals one of which any matching line holds.
func p(re string, need ...string) part { return part{compile(re), need} }

var (
	trace     = part{}
	ripFrame  = p(`(?:IP|NIP|pc |PC is at):? (?:(?:[0-9]+:)?(?:{{PC}} +){0,2}{{FUNC}}|(?:[0-9]+:)?0x[0-9a-f]+|(?:[0-9]+:)?{{PC}} +\[< *\(null\)>\] +\(null\)|[0-9]+: +\(null\))`, "IP", "pc ", "PC is at")
	callTrace = p(`(?:Call (?:T|t)race:)|(?:Backtrace:)`, "Call T", "Call t", "Backtrace:")
	// riscv64's show_regs() ends with its status line and the stack
	// follows with no "Call Trace:".
	riscvStack = []part{p(`status: [0-9a-f]+ badaddr: [0-9a-f]+ cause: `, " badaddr: "), trace}
	ripStack   = []part{ripFrame, callTrace, trace}
	callStack  = []part{callTrace, trace}
	// warningStack: newer kernels trap, and the stack starts at the RIP
	// line; older ones just print the stack.
	warningStack  = []part{{compile(`(?:` + ripFrame.re.String() + `|--- interrupt: [0-9]+ at ([a-zA-Z0-9_]+)(?:\.|\+))`), append(ripFrame.need, "--- interrupt: ")}, trace}
	warningStack2 = callStack
)

// skipPatterns are the frames never blamed (syzkaller's
// linuxStackParams.skipPatterns), matched anywhere in the function name,
// and rko's own: the Rust panic machinery, the kernel crate and the Rust
// helpers, so that a Rust module's own function is blamed.
var skipPatterns = []string{
	"__sanitizer", "__asan", "kasan", "hwasan", "__msan", "kmsan", "kcsan_setup_watchpoint", "check_memory_region",
	"check_heap_object", "check_object", "read_word_at_a_time", "(read|write)_once_.*nocheck",
	"print_address_description", "panic", "invalid_op", "report_bug", "fixup_bug", "print_report",
	"print_usage_bug", "do_error", `_trap$|do_trap`, "show_stack", "dump_stack", "walk_stack", "dump_backtrace",
	"warn_slowpath", "warn_alloc", "warn_bogus", "__warn", "alloc_page", "k?v?(?:m|z|c)alloc", "krealloc",
	"kmem_cache", "allocate_slab", "__alloc_frozen_pages_noprof", "folio_(?:alloc|unlock)", "filemap_alloc_folio", "__filemap_get_folio",
	"find_or_create_page", "do_read_cache_folio", "read_cache_page", "pagecache_get_page",
	"grab_cache_page_write_begin", "slab_", "debug_object", "timer_is_static_object", "work_is_static_object",
	"__might_fault", "print_unlock", "imbalance_bug", "lockdep", "bh_enable", "bh_disable", "perf_trace",
	"lock_acquire", "lock_release", "lock_class", "mark_lock", "(reacquire|mark)_held_locks", "raw_spin_rq",
	"spin_lock", "spin_trylock", "spin_unlock", "read_lock", "read_trylock", "write_lock", "write_trylock",
	"read_unlock", "write_unlock", "^down$", "down_read", "down_write", "down_trylock", "up_read", "up_write",
	"^mutex_", "^__mutex_", "^rt_mutex_", "owner_on_cpu", "osq_lock", "osq_unlock",
	"atomic(64)?_(dec|inc|read|set|or|xor|and|add|sub|fetch|xchg|cmpxchg|try)", "(set|clear|change|test)_bit",
	"__wake_up", "^refcount_", "^kref_", "ref_tracker", "seqprop_assert", "memcpy", "memcmp", "memset", "memchr",
	"memmove", "memdup", "strcmp", "strncmp", "strcpy", "strlcpy", "strncpy", "strscpy", "strlen", "strstr",
	"strnstr", "strnlen", "strchr", "strdup", "strndup", "copy_to_user", "copy_from_user", "copy_to_iter",
	"copy_from_iter", "copy_page_to_iter", "copy_page_from_iter", "copy_folio_to_iter", "^copyin$", "^copyout$",
	"put_user", "get_user", "might_fault", "might_sleep", "list_add", "list_del", "list_replace", "list_move",
	"list_splice", "^rb_", "^__rb_", "_indirect_thunk_", "string", "pointer", "snprintf", "scnprintf",
	"kasprintf", "kvasprintf", "printk", "va_format", "dev_info", "dev_notice", "dev_warn", "dev_err",
	"dev_alert", "dev_crit", "dev_emerg", "program_check_exception", "program_check_common", "del_timer",
	"flush_work", "__cancel_work_timer", "cancel_work_sync", "try_to_grab_pending", "flush_workqueue",
	"drain_workqueue", "destroy_workqueue", "queue_work", "finish_wait", "kthread_stop", "kobject_",
	"add_uevent_var", "get_device_parent", "device_add", "device_del", "device_unregister", "device_destroy",
	"device_release", "devres_release_all", "hwrng_unregister", "i2c_del_adapter", "__unregister_client",
	"device_for_each_child", "rollback_registered", "unregister_netdev", "sysfs_remove", "device_remove_file",
	"tty_unregister_device", "dummy_urb_enqueue", "usb_kill_urb", "usb_kill_anchored_urbs", "usb_control_msg",
	"usb_hcd_submit_urb", "usb_submit_urb", "^complete$", "wait_for_completion", "^kv?free$", "kfree_skb",
	"readb$", "readw$", "readl$", "readq$", "writeb$", "writew$", "writel$", "writeq$", "logic_in", "logic_out",
	`^crc\d+`, "crc_itu_t", "__might_resched", "assertfail", "^iput$", "^iput_final$", "^ihold$",
	"hex_dump_to_buffer", "print_hex_dump", "^klist_", "(trace|lockdep)_(hard|soft)irq", "^(un)?lock_page",
	"stack_trace_consume_entry", "arch_stack_walk", "stack_trace_save", "insert_work", "__queue_delayed_work",
	"queue_delayed_work_on", "ida_free", "do_(kernel|translation)_fault", "do_mem_abort", "el1_abort",
	"el1h_64_sync(?:_handler)?", "print_tainted", "xas_(?:start|load|find)", "find_lock_entries",
	"truncate_inode_pages_range", "__phys_addr", "__fortify_report", "cleanup_srcu_struct", "rhashtable_lookup",
	"extract_(user|iter)_to_sg", "drop_nlink", "^get_taint$", "^put_device$", "lock_timer_base",
	"__timer_delete_sync", "sk_stop_timer_sync", "__mod_timer", "fast_dput", "dput",
	// rko: Rust. Demangled paths; a module's own "<m::M as kernel::Module>::init" is not skipped.
	`^<?(?:core|alloc|kernel)::`, ` as core::fmt::`, `rust_begin_unwind`, `^rust_helper_`, `^__rustc::`,
	// rko: sleeping primitives, so that sleeping in atomic context blames their caller.
	`^msleep`, `^usleep_range`, `^ssleep$`, `^schedule_timeout`,
	// rko: KUnit's runner, which calls every test case.
	`^kunit_(?:try_run_case|generic_run|try_catch)`,
}

// stripFramePrefixes come off syscall entry points, so that "__x64_sys_mount"
// and "compat_SyS_mount" are both "mount".
var stripFramePrefixes = []string{"__x64_", "SYSC_", "SyS_", "compat_SYSC_", "compat_SyS_", "__ia32_", "__arm64_"}

var families = []*family{
	{header: "BUG:", kind: kHeader, typ: Bug, ignore: res(`BUG: no syscalls can create resource`), formats: []*format{
		{title: compile(`BUG: KASAN:`), report: compile(`BUG: KASAN: ([a-z\-]+) in {{FUNC}}(?:.*\n)+?.*(Read|Write) (?:of size|at addr) (?:[0-9a-f]+)`),
			typ: KASAN, tmpl: "KASAN: {1} {3} in {frame}", end: endSep,
			stack: []part{p(`BUG: KASAN: (?:[a-z\-]+) in {{FUNC}}`), callTrace, trace},
			skip:  []string{"kernel_fault", "tag_check", "mem_abort", "^el1_", "^el1h_"}},
		{title: compile(`BUG: KASAN:`), report: compile(`BUG: KASAN: (?:double-free or invalid-free|double-free|invalid-free) in {{FUNC}}`),
			typ: KASAN, tmpl: "KASAN: invalid-free in {frame}", end: endSep,
			stack: []part{p(`BUG: KASAN: (?:double-free or invalid-free|double-free|invalid-free) in {{FUNC}}`), callTrace, trace},
			skip:  []string{"slab_", "kfree", "vunmap", "vfree"}},
		{title: compile(`BUG: KASAN: ([a-z\-]+) on address`), report: compile(`BUG: KASAN: ([a-z\-]+) on address(?:.*\n)+?.*(Read|Write) of size ([0-9]+)`),
			typ: KASAN, tmpl: "KASAN: {1} {2}", end: endSep, noStack: true},
		{title: compile(`BUG: KASAN: (.*)`), typ: KASAN, tmpl: "KASAN: {1}", end: endSep, corrupted: true},
		{title: compile(`BUG: KMSAN: kernel-usb-infoleak`), report: compile(`BUG: KMSAN: kernel-usb-infoleak in {{FUNC}}`),
			typ: KMSAN, tmpl: "KMSAN: kernel-usb-infoleak in {frame}", end: endSep, noStack: true,
			stack: []part{trace, p(`(Local variable .* created at:|Uninit was created at:)`), trace},
			skip:  []string{"alloc_skb", "usb_submit_urb", "usb_start_wait_urb", "usb_bulk_msg", "usb_interrupt_msg", "usb_control_msg"}},
		{title: compile(`BUG: KMSAN:`), report: compile(`BUG: KMSAN: ([a-z\-]+) in {{FUNC}}`),
			typ: KMSAN, tmpl: "KMSAN: {1} in {frame}", end: endSep, noStack: true,
			stack: []part{trace, p(`(Local variable .* created at:|Uninit was created at:)`), trace},
			skip:  []string{"alloc_skb", "netlink_ack", "netlink_rcv_skb", "_encrypt$", "^(?:crypto|cipher|drbg|rng)_"}},
		{title: compile(`BUG: KCSAN:`), report: compile(`BUG: KCSAN: (.*)`), typ: KCSAN, tmpl: "KCSAN: {1}", end: endSep, noStack: true},
		{title: compile(`BUG: KFENCE: (use-after-free|out-of-bounds) (read|write) in {{FUNC}}`),
			typ: KFENCE, tmpl: "KFENCE: {1} {2} in {frame}", end: endSep,
			stack: []part{p(`BUG: KFENCE: (?:[a-z\- ]+) in {{FUNC}}`), trace}},
		{title: compile(`BUG: KFENCE: invalid free in {{FUNC}}`), typ: KFENCE, tmpl: "KFENCE: invalid free in {frame}", end: endSep,
			noStack: true, stack: []part{p(`BUG: KFENCE: (?:[a-z\- ]+) in {{FUNC}}`), trace}},
		{title: compile(`BUG: KFENCE: invalid (read|write) in {{FUNC}}`), typ: KFENCE, tmpl: "KFENCE: invalid {1} in {frame}", end: endSep,
			stack: []part{p(`BUG: KFENCE: (?:[a-z\- ]+) in {{FUNC}}`), trace}},
		{title: compile(`BUG: KFENCE: memory corruption in {{FUNC}}`), typ: KFENCE, tmpl: "KFENCE: memory corruption in {frame}", end: endSep,
			noStack: true, stack: []part{p(`BUG: KFENCE: (?:[a-z\- ]+) in {{FUNC}}`), trace}},
		{title: compile(`BUG: (?:unable to handle kernel paging request|unable to handle page fault for address|Unable to handle kernel data access)`),
			typ: PagingRequest, tmpl: "BUG: unable to handle kernel paging request in {frame}", end: endMarker, absorbs: true, stack: ripStack},
		{title: compile(`BUG: (?:unable to handle kernel NULL pointer dereference|kernel NULL pointer dereference|Kernel NULL pointer dereference)`),
			typ: NullDeref, tmpl: "BUG: unable to handle kernel NULL pointer dereference in {frame}", end: endMarker, absorbs: true, stack: ripStack},
		// The kernel prints this header in two printk calls; the second may be lost.
		{title: compile(`BUG: (?:unable to handle kernel|Unable to handle kernel)`), typ: PagingRequest,
			tmpl: "BUG: unable to handle kernel", end: endMarker, absorbs: true, corrupted: true},
		{title: compile(`BUG: (spinlock|rwlock) (lockup suspected|already unlocked|recursion|cpu recursion|bad magic|wrong owner|wrong CPU|trylock failure on UP)`),
			typ: Spinlock, tmpl: "BUG: {1} {2} in {frame}", stack: callStack, skip: []string{"spin_", "_lock", "_unlock"}},
		{title: compile(`BUG: soft lockup`), typ: SoftLockup, tmpl: "BUG: soft lockup in {frame}", stack: ripStack, extract: stallFrame},
		{title: compile(`BUG: .*still has locks held!`), report: compile(`BUG: .*still has locks held!(?:.*\n)+?.*{{PC}} +{{FUNC}}`),
			typ: Lockdep, tmpl: "BUG: still has locks held in {1}"},
		{title: compile(`BUG: scheduling while atomic`), typ: AtomicSchedule, tmpl: "BUG: scheduling while atomic in {frame}",
			stack: callStack, skip: []string{"schedule"}},
		{title: compile(`BUG: lock held when returning to user space`),
			report: compile(`BUG: lock held when returning to user space(?:.*\n)+?.*leaving the kernel with locks still held(?:.*\n)+?.*at: (?:{{PC}} +)?{{FUNC}}`),
			typ:    Lockdep, tmpl: "BUG: lock held when returning to user space in {1}", noStack: true},
		{title: compile(`BUG: bad unlock balance detected!`), typ: Lockdep, tmpl: "BUG: bad unlock balance in {frame}",
			stack: []part{p(`{{PC}} +{{FUNC}}`, "["), callTrace, trace}},
		{title: compile(`BUG: held lock freed!`), report: compile(`BUG: held lock freed!(?:.*\n)+?.*{{PC}} +{{FUNC}}`),
			typ: Lockdep, tmpl: "BUG: held lock freed in {1}"},
		{title: compile(`BUG: Bad rss-counter state`), typ: Bug, tmpl: "BUG: Bad rss-counter state", noStack: true},
		{title: compile(`BUG: non-zero nr_ptes on freeing mm`), typ: Bug, tmpl: "BUG: non-zero nr_ptes on freeing mm", noStack: true},
		{title: compile(`BUG: non-zero nr_pmds on freeing mm`), typ: Bug, tmpl: "BUG: non-zero nr_pmds on freeing mm", noStack: true},
		{title: compile(`BUG: Dentry .* still in use`), report: compile(`BUG: Dentry .* still in use \([0-9]+\) \[(unmount) of ([^\]]+)\]`),
			typ: Bug, tmpl: "BUG: Dentry still in use in {1}"},
		{title: compile(`BUG: Bad page (state|cache)`), typ: Bug, tmpl: "BUG: Bad page {1} in {frame}",
			stack: []part{p(`page last allocated`), trace}, stack2: callStack,
			skip: []string{"(free|put|get|update|release)_page", "free_unref", "^_*folio", "truncate_inode_pages", "page_frag_free", "alloc", "vmap", "page_owner", "^bad_page$"}},
		{title: compile(`BUG: Bad page map`), typ: Bug, tmpl: "BUG: Bad page map"},
		{title: compile(`BUG: workqueue lockup`), typ: Bug, tmpl: "BUG: workqueue lockup", noStack: true},
		{title: compile(`BUG: sleeping function called from invalid context at (.*)`), typ: AtomicSleep,
			tmpl: "BUG: sleeping function called from invalid context in {frame}", stack: callStack},
		{title: compile(`BUG: using ([a-z_]+)\(\) in preemptible`), typ: Lockdep, tmpl: "BUG: using {1}() in preemptible code in {frame}",
			stack: callStack, skip: []string{"dump_stack", "preemption", "preempt", "debug_", "processor_id", "this_cpu"}},
		{title: compile(`BUG: workqueue leaked lock or atomic`), report: compile(`BUG: workqueue leaked lock or atomic(?:.*\n)+?.*last function: ([a-zA-Z0-9_]+)\n`),
			typ: Lockdep, tmpl: "BUG: workqueue leaked lock or atomic in {1}", noStack: true},
		{title: compile(`BUG: memory leak`), typ: Kmemleak, tmpl: "memory leak in {frame}", stack: kmemleakStack, skip: kmemleakSkip},
		{title: compile(`BUG: .*stack guard page was hit at`), typ: Bug, tmpl: "BUG: stack guard page was hit in {frame}",
			stack: ripStack, extract: stallFrame},
		// arm64 prints this lockdep report unlike x86_64; syzkaller names both alike.
		{title: compile(`BUG: Invalid wait context`), typ: Lockdep, tmpl: "WARNING: locking bug in {frame}",
			stack: callStack, skip: []string{"lock_sock", "release_sock"}},
		{title: compile(`BUG:[[:space:]]*$`), typ: Bug, tmpl: "BUG: corrupted", corrupted: true},
	}},
	{header: "WARNING:", kind: kHeader, typ: Warning, end: endMarker, ignore: res(
		`WARNING: /etc/ssh/moduli does not exist, using fixed modulus`, `WARNING: workqueue cpumask: online intersect > possible intersect`,
		`WARNING: [Tt]he mand mount option`, `WARNING: Unsupported flag value\(s\) of 0x%x in DT_FLAGS_1`,
		`WARNING: Unprivileged eBPF is enabled with eIBRS`, `WARNING: fbcon: Driver '(.*)' missed to adjust virtual screen size`,
		`WARNING: See https.* for mitigation options.`, `WARNING: kernel not compiled with CPU_SRSO`,
		`(?i)warning: .* uses (deprecated v2 capabilities|wireless extensions)`, `XFS \(\w+\): WARNING`, `EXT4-[Ff][Ss](?: \(.*\))?:`), formats: []*format{
		{title: compile(`WARNING: .*lib/debugobjects\.c.* (?:debug_print|debug_check|at)`), typ: Warning, tmpl: "WARNING: ODEBUG bug in {frame}",
			end: endMarker, stack: warningStack, stack2: warningStack2, where: warningWhere,
			skip: []string{"debug_", "rcu", "hrtimer_", "timer_", "work_", "percpu_", "vunmap", "vfree", "__free_", "debug_check", "kobject_"}},
		{title: compile(`WARNING: .*mm/usercopy\.c.* (?:usercopy_warn|at)`), typ: Usercopy, tmpl: "WARNING: bad usercopy in {frame}",
			end: endMarker, stack: warningStack, stack2: warningStack2, where: warningWhere, skip: []string{"usercopy", "__check"}},
		{title: compile(`WARNING: .*lib/kobject\.c.* (?:kobject_|at)`), typ: Warning, tmpl: "WARNING: kobject bug in {frame}",
			end: endMarker, stack: warningStack, stack2: warningStack2, where: warningWhere, skip: []string{"kobject_"}},
		{title: compile(`WARNING: .*fs/proc/generic\.c.* (?:proc_register|at)`), typ: Warning, tmpl: "WARNING: proc registration bug in {frame}",
			end: endMarker, stack: warningStack, stack2: warningStack2, where: warningWhere, skip: []string{"proc_"}},
		{title: compile(`WARNING: .*lib/refcount\.c.* (?:refcount_|at)`), typ: Refcount, tmpl: "WARNING: refcount bug in {frame}",
			end: endMarker, stack: warningStack, stack2: warningStack2, where: warningWhere, skip: []string{"refcount", "kobject_"}},
		{title: compile(`WARNING: .*kernel/locking/lockdep\.c.*lock_`), typ: Lockdep, tmpl: "WARNING: locking bug in {frame}",
			end: endMarker, stack: warningStack, stack2: warningStack2, where: warningWhere, skip: []string{"lock_sock", "release_sock"}},
		{title: compile(`WARNING: .*still has locks held!`), report: compile(`WARNING: .*still has locks held!(?:.*\n)+?.*at: {{FUNC}}`),
			typ: Lockdep, tmpl: "WARNING: still has locks held in {1}"},
		{title: compile(`WARNING: Nested lock was not taken`), typ: Lockdep, tmpl: "WARNING: nested lock was not taken in {frame}",
			stack: warningStack, stack2: warningStack2},
		{title: compile(`WARNING: lock held when returning to user space`),
			report: compile(`WARNING: lock held when returning to user space(?:.*\n)+?.*leaving the kernel with locks still held(?:.*\n)+?.*at: (?:{{PC}} +)?{{FUNC}}`),
			typ:    Lockdep, tmpl: "WARNING: lock held when returning to user space in {1}", noStack: true},
		{title: compile(`WARNING: .*mm/.*\.c.* k?.?malloc`), typ: Warning, tmpl: "WARNING: kmalloc bug in {frame}",
			end: endMarker, stack: warningStack, stack2: warningStack2, where: warningWhere, skip: []string{"kmalloc", "krealloc", "slab", "kmem"}},
		{title: compile(`WARNING: .*mm/vmalloc.c.*__vmalloc_node`), typ: Warning, tmpl: "WARNING: zero-size vmalloc in {frame}",
			end: endMarker, stack: warningStack, stack2: warningStack2, where: warningWhere},
		{title: compile(`WARNING: .* usb_submit_urb`), typ: Warning, tmpl: "WARNING in {frame}/usb_submit_urb",
			end: endMarker, stack: warningStack, stack2: warningStack2, where: warningWhere,
			skip: []string{"usb_submit_urb", "usb_start_wait_urb", "usb_bulk_msg", "usb_interrupt_msg", "usb_control_msg"}},
		// The format of 7.0 (lore.kernel.org/all/20251110114633.202485143@infradead.org).
		{title: compile(`WARNING: {{SRC}} at 0x\d+, CPU#\d+`), typ: Warning, tmpl: "WARNING in {frame}",
			end: endMarker, stack: warningStack, stack2: warningStack2, where: warningWhere},
		{title: compile(`WARNING: .* at {{SRC}} {{FUNC}}`), typ: Warning, tmpl: "WARNING in {frame}",
			end: endMarker, stack: warningStack, stack2: warningStack2, where: warningWhere},
		{title: compile(`WARNING: {{SRC}} at {{FUNC}}`), typ: Warning, tmpl: "WARNING in {frame}",
			end: endMarker, stack: warningStack, stack2: warningStack2, where: warningWhere},
		{title: compile(`WARNING: \[.*\] {{SRC}} at {{FUNC}}.*`), typ: Warning, tmpl: "WARNING in {frame}",
			end: endMarker, stack: warningStack, stack2: warningStack2, where: warningWhere},
		{title: compile(`WARNING: possible circular locking dependency detected`),
			report: compile(`WARNING: possible circular locking dependency detected(?:.*\n)+?.*is trying to acquire lock`),
			typ:    Lockdep, tmpl: "possible deadlock in {frame}",
			stack: []part{p(`at: (?:{{PC}} +)?{{FUNC}}`, "at: "), p(`at: (?:{{PC}} +)?{{FUNC}}`, "at: "), trace},
			// Workqueue functions take locks of their work items: the deadlock is the item's.
			skip: []string{"process_one_work", "flush_workqueue", "drain_workqueue", "destroy_workqueue"}},
		{title: compile(`WARNING: possible irq lock inversion dependency detected`),
			report: compile(`WARNING: possible irq lock inversion dependency detected(?:.*\n)+?.*just changed the state of lock(?:.*\n)+?.*at: (?:{{PC}} +)?{{FUNC}}`),
			typ:    Lockdep, tmpl: "possible deadlock in {1}"},
		{title: compile(`WARNING: .*-safe -> .*-unsafe lock order detected`), typ: Lockdep, tmpl: "possible deadlock in {frame}",
			stack: []part{p(`which became (?:.*) at:`), trace}},
		{title: compile(`WARNING: possible recursive locking detected`),
			report: compile(`WARNING: possible recursive locking detected(?:.*\n)+?.*is trying to acquire lock(?:.*\n)+?.*at: (?:{{PC}} +)?{{FUNC}}`),
			typ:    Lockdep, tmpl: "possible deadlock in {1}"},
		{title: compile(`WARNING: inconsistent lock state`),
			report: compile(`WARNING: inconsistent lock state(?:.*\n)+?.*takes(?:.*\n)+?.*at: (?:{{PC}} +)?{{FUNC}}`),
			typ:    Lockdep, tmpl: "inconsistent lock state in {frame}", stack: callStack,
			skip: []string{"^valid_state$", "^mark_lock_irq$", "^mark_usage$", "^lock_sock_nested$"}},
		{title: compile(`WARNING: suspicious RCU usage`), report: compile(`WARNING: suspicious RCU usage(?:.*\n)+?.*?{{SRC}}`),
			typ: Lockdep, tmpl: "WARNING: suspicious RCU usage in {frame}", stack: callStack, skip: []string{"rcu", "kmem", "slab"}},
		{title: compile(`WARNING: kernel stack regs at [0-9a-f]+ in [^ ]* has bad '([^']+)' value`), typ: Warning,
			tmpl: "WARNING: kernel stack regs has bad '{1}' value", noStack: true},
		{title: compile(`WARNING: kernel stack frame pointer at [0-9a-f]+ in [^ ]* has bad value`), typ: Warning,
			tmpl: "WARNING: kernel stack frame pointer has bad value", noStack: true},
		{title: compile(`WARNING: bad unlock balance detected!`), typ: Lockdep, tmpl: "WARNING: bad unlock balance in {frame}",
			stack: []part{p(`{{PC}} +{{FUNC}}`, "["), callTrace, trace}},
		{title: compile(`WARNING: held lock freed!`), report: compile(`WARNING: held lock freed!(?:.*\n)+?.*at:(?: {{PC}})? +{{FUNC}}`),
			typ: Lockdep, tmpl: "WARNING: held lock freed in {1}"},
		{title: compile(`WARNING:[[:space:]]*$`), typ: Warning, tmpl: "WARNING: corrupted", corrupted: true, end: endMarker},
	}},
	{header: "INFO:", kind: kHeader, typ: Bug, ignore: res(`INFO: lockdep is turned off`, `INFO: Stall ended before state dump start`,
		`INFO: NMI handler`, `INFO: recovery required on readonly filesystem`, `(handler|interrupt).*took too long`,
		`INFO: sys_.* is not present in /proc/kallsyms`, `INFO: no syscalls can create resource`), formats: []*format{
		{title: compile(`INFO: possible circular locking dependency detected`),
			report: compile(`INFO: possible circular locking dependency detected \](?:.*\n)+?.*is trying to acquire lock(?:.*\n)+?.*at: {{PC}} +{{FUNC}}`),
			typ:    Lockdep, tmpl: "possible deadlock in {1}"},
		{title: compile(`INFO: possible irq lock inversion dependency detected`),
			report: compile(`INFO: possible irq lock inversion dependency detected \](?:.*\n)+?.*just changed the state of lock(?:.*\n)+?.*at: {{PC}} +{{FUNC}}`),
			typ:    Lockdep, tmpl: "possible deadlock in {1}"},
		{title: compile(`INFO: SOFTIRQ-safe -> SOFTIRQ-unsafe lock order detected`),
			report: compile(`INFO: SOFTIRQ-safe -> SOFTIRQ-unsafe lock order detected \](?:.*\n)+?.*is trying to acquire(?:.*\n)+?.*at: {{PC}} +{{FUNC}}`),
			typ:    Lockdep, tmpl: "possible deadlock in {1}"},
		{title: compile(`INFO: possible recursive locking detected`),
			report: compile(`INFO: possible recursive locking detected \](?:.*\n)+?.*is trying to acquire lock(?:.*\n)+?.*at: {{PC}} +{{FUNC}}`),
			typ:    Lockdep, tmpl: "possible deadlock in {1}"},
		{title: compile(`INFO: inconsistent lock state`), report: compile(`INFO: inconsistent lock state \](?:.*\n)+?.*takes(?:.*\n)+?.*at: {{PC}} +{{FUNC}}`),
			typ: Lockdep, tmpl: "inconsistent lock state in {1}"},
		{title: compile(`INFO: rcu_(?:preempt|sched|bh|tasks) (?:self-)?detected(?: expedited)? stall`), typ: RCUStall,
			tmpl: "INFO: rcu detected stall in {frame}", extract: stallFrame, skip: []string{"apic_timer_interrupt", "rcu"},
			stack:  []part{p(`apic_timer_interrupt`), ripFrame, trace},
			stack2: []part{p(`(?:apic_timer_interrupt|Exception stack|el1h_64_irq)`), trace}},
		{title: compile(`INFO: trying to register non-static key`), typ: Lockdep, tmpl: "INFO: trying to register non-static key in {frame}",
			stack: callStack, skip: []string{"stack", "lock", "IRQ"}},
		{title: compile(`INFO: suspicious RCU usage`), report: compile(`INFO: suspicious RCU usage(?:.*\n)+?.*?{{SRC}}`),
			typ: Lockdep, tmpl: "INFO: suspicious RCU usage in {frame}", stack: callStack, skip: []string{"rcu", "kmem", "slab"}},
		{title: compile(`INFO: task .* blocked (?:in I/O wait )?for more than [0-9]+ seconds`), typ: HungTask, tmpl: "INFO: task hung in {frame}",
			stack: callStack, extract: hangFrame},
		{title: compile(`INFO: task .* can't die for more than .* seconds`), typ: HungTask, tmpl: "INFO: task can't die in {frame}",
			stack: callStack, skip: []string{"schedule"}},
		// Old-style KASAN reports, damaged.
		{title: compile(`INFO: (Freed|Allocated) in (.*)`), typ: Bug, tmpl: "INFO: {1} in {2}", corrupted: true},
		{title: compile(`INFO:[[:space:]]*$`), typ: Bug, tmpl: "INFO: corrupted", corrupted: true},
	}},
	{header: "Unable to handle kernel ", kind: kHeader, typ: PagingRequest, end: endMarker, formats: []*format{
		{title: compile(`Unable to handle kernel (NULL pointer dereference)`), typ: NullDeref,
			tmpl: "BUG: unable to handle kernel {1} in {frame}", end: endMarker, absorbs: true, stack: ripStack},
		{title: compile(`Unable to handle kernel (paging request|access to user memory)`), typ: PagingRequest,
			tmpl: "BUG: unable to handle kernel {1} in {frame}", end: endMarker, absorbs: true, stack: ripStack},
	}},
	{header: "general protection fault", kind: kOopsLine, typ: GPF, end: endMarker, ignore: res(`general protection fault .* error:\d+ in `), formats: []*format{
		{title: compile(`general protection fault.*:`), typ: GPF, tmpl: "general protection fault in {frame}", end: endMarker, stack: ripStack},
	}},
	{header: "segment-related general protection fault", kind: kOopsLine, typ: GPF, end: endMarker, formats: []*format{
		{title: compile(`general protection fault.*:`), typ: GPF, tmpl: "general protection fault in {frame}", end: endMarker, stack: ripStack},
	}},
	// Since 6.10 x86 prints "Oops: " before the trap's name.
	{header: "Oops", kind: kOopsLine, typ: Oops, end: endMarker, formats: []*format{
		{title: compile(`^Oops: general protection fault`), typ: GPF, tmpl: "general protection fault in {frame}", end: endMarker, stack: ripStack},
		{title: compile(`^Oops: invalid opcode`), typ: InvalidOpcode, tmpl: "invalid opcode in {frame}", end: endMarker, stack: []part{ripFrame}},
		{title: compile(`^Oops: divide error`), typ: DivideError, tmpl: "divide error in {frame}", end: endMarker, stack: []part{ripFrame}},
		{title: compile(`^Oops: stack segment`), typ: StackSegment, tmpl: "stack segment fault in {frame}", end: endMarker, stack: ripStack},
		{title: compile(`^Oops[: \-\[]`), typ: Oops, tmpl: "Oops in {frame}", end: endMarker, stack: ripStack},
	}},
	{header: "stack segment: ", kind: kOopsLine, typ: StackSegment, end: endMarker, formats: []*format{
		{title: compile(`stack segment: `), typ: StackSegment, tmpl: "stack segment fault in {frame}", end: endMarker, stack: ripStack},
	}},
	{header: "Kernel panic - not syncing", kind: kPanic, typ: Panic, formats: []*format{
		{title: compile(`Kernel panic - not syncing: stack-protector:`),
			report: compile(`Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: {{FUNC}}`),
			typ:    StackProtector, tmpl: "kernel panic: stack is corrupted in {1}", noStack: true},
		{title: compile(`Kernel panic - not syncing: stack-protector:`),
			report: compile(`Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: [a-f0-9]+`),
			typ:    StackProtector, tmpl: "kernel panic: stack is corrupted in {frame}", stack: callStack, skip: []string{"stack_chk"}},
		{title: compile(`Kernel panic - not syncing: corrupted stack end`), report: compile(`Kernel panic - not syncing: corrupted stack end detected inside scheduler`),
			typ: Panic, tmpl: "kernel panic: corrupted stack end in {frame}", stack: callStack, skip: []string{"schedule", "retint_kernel"},
			extract: stallFrame},
		{title: compile(`Kernel panic - not syncing: kernel stack overflow`), typ: Panic, tmpl: "kernel stack overflow in {frame}",
			stack: callStack, skip: []string{"bad_stack"}, extract: stallFrame},
		// rko: UML panics on a kernel-mode fault; name it as x86 names the same bug
		// (a fault in the first page is a NULL pointer dereference there).
		{title: compile(`Kernel panic - not syncing: Kernel mode fault at addr 0x[0-9a-f]{1,3},`), typ: NullDeref,
			tmpl: "BUG: unable to handle kernel NULL pointer dereference in {frame}", stack: ripStack},
		{title: compile(`Kernel panic - not syncing: Kernel mode fault at addr`), typ: PagingRequest,
			tmpl: "BUG: unable to handle kernel paging request in {frame}", stack: ripStack},
		{title: compile(`Kernel panic - not syncing: Attempted to kill init!`), typ: Panic, tmpl: "kernel panic: Attempted to kill init!", noStack: true},
		{title: compile(`Kernel panic - not syncing: Couldn't open N_TTY ldisc for [^ ]+ --- error -[0-9]+`), typ: Panic,
			tmpl: "kernel panic: Couldn't open N_TTY ldisc", noStack: true},
		// A panic that follows a report whose header was lost.
		{title: compile(`Kernel panic - not syncing: Fatal exception`), typ: Panic, tmpl: "kernel panic: Fatal exception", corrupted: true},
		{title: compile(`Kernel panic - not syncing: panic_on_warn set`), typ: Panic, tmpl: "kernel panic: panic_on_warn set", corrupted: true},
		{title: compile(`Kernel panic - not syncing: hung_task: blocked tasks`), typ: Panic, tmpl: "kernel panic: hung_task: blocked tasks", corrupted: true},
		{title: compile(`Kernel panic - not syncing: (.*)`), typ: Panic, tmpl: "kernel panic: {1}", noStack: true},
	}},
	{header: "PANIC: double fault", kind: kHeader, typ: DoubleFault, end: endMarker, formats: []*format{
		{title: compile(`PANIC: double fault`), typ: DoubleFault, tmpl: "PANIC: double fault in {frame}", end: endMarker, stack: []part{ripFrame}},
	}},
	{header: "rust_kernel: panicked", kind: kRustPanic, typ: RustPanic, end: endMarker, formats: []*format{
		{title: compile(`rust_kernel: panicked`), report: compile(`rust_kernel: panicked at [^\n]*?\n(.+?)\n`), typ: RustPanic,
			tmpl: "{1} in {frame}", end: endMarker, absorbs: true, stack: ripStack, stack2: riscvStack, where: rustWhere},
		{title: compile(`rust_kernel: panicked`), typ: RustPanic, tmpl: "rust_kernel panicked in {frame}", end: endMarker, absorbs: true,
			stack: ripStack, stack2: riscvStack, where: rustWhere},
	}},
	{header: "kernel BUG at ", kind: kKernelBUG, typ: KernelBUG, end: endMarker, formats: []*format{
		{title: compile(`kernel BUG at mm/usercopy.c`), typ: Usercopy, tmpl: "BUG: bad usercopy in {frame}", end: endMarker, absorbs: true,
			stack: callStack, skip: []string{"usercopy", "__check"}, where: kernelBUGWhere},
		{title: compile(`kernel BUG at lib/list_debug.c`), typ: ListCorruption, tmpl: "BUG: corrupted list in {frame}", end: endMarker, absorbs: true,
			stack: callStack, where: kernelBUGWhere},
		// skb wrappers BUG_ON their arguments; the bug is in the caller.
		{title: compile(`kernel BUG at (.*)`), typ: KernelBUG, tmpl: "kernel BUG in {frame}", end: endMarker, absorbs: true,
			stack: ripStack, skip: []string{"^skb_"}, where: kernelBUGWhere},
	}},
	// riscv64's oops line after "kernel BUG at" ("Kernel BUG [#1]").
	{header: "Kernel BUG ", kind: kOopsLine, typ: KernelBUG, end: endMarker, formats: []*format{
		{title: compile(`Kernel BUG (.*)`), typ: KernelBUG, tmpl: "kernel BUG {1}", end: endMarker, noStack: true},
	}},
	{header: "BUG kmalloc-", kind: kHeader, typ: Bug, formats: []*format{
		{title: compile(`BUG kmalloc-.*: Object already free`), typ: Bug, tmpl: "BUG: Object already free", noStack: true},
	}},
	{header: "divide error:", kind: kOopsLine, typ: DivideError, end: endMarker, formats: []*format{
		{title: compile(`divide error: `), typ: DivideError, tmpl: "divide error in {frame}", end: endMarker, stack: []part{ripFrame}},
	}},
	// A misspelling of the above, from 9d06c4027f21 ("x86/entry: Convert Divide Error to IDTENTRY").
	{header: "divide_error:", kind: kOopsLine, typ: DivideError, end: endMarker, formats: []*format{
		{title: compile(`divide_error: `), typ: DivideError, tmpl: "divide error in {frame}", end: endMarker, stack: []part{ripFrame}},
	}},
	{header: "invalid opcode:", kind: kOopsLine, typ: InvalidOpcode, end: endMarker, formats: []*format{
		{title: compile(`invalid opcode: `), typ: InvalidOpcode, tmpl: "invalid opcode in {frame}", end: endMarker, stack: []part{ripFrame}},
	}},
	{header: "UBSAN:", kind: kHeader, typ: UBSAN, end: endSep, formats: []*format{
		{title: compile(`UBSAN: Undefined behaviour in`), typ: UBSAN, tmpl: "UBSAN: undefined-behaviour in {frame}", end: endSep,
			stack: callStack, skip: []string{"ubsan", "overflow"}, where: ubsanWhere},
		{title: compile(`UBSAN: array-index-out-of-bounds in`), typ: UBSAN, tmpl: "UBSAN: array-index-out-of-bounds in {frame}", end: endSep,
			stack: callStack, skip: []string{"ubsan", "overflow"}, where: ubsanWhere},
		{title: compile(`UBSAN: (.*?) in`), typ: UBSAN, tmpl: "UBSAN: {1} in {frame}", end: endSep,
			stack: callStack, skip: []string{"ubsan", "overflow"}, where: ubsanWhere},
	}},
	{header: "Booting the kernel.", kind: kReboot, typ: Reboot, ignore: res(`Parsing ELF|Decompressing Linux|Unknown parameter '`), formats: []*format{
		{title: compile(`^Booting the kernel`), typ: Reboot, tmpl: "unexpected kernel reboot", noStack: true},
	}},
	{header: "unregister_netdevice: waiting for", kind: kHeader, typ: NetdevRefcount, formats: []*format{
		{title: compile(`unregister_netdevice: waiting for (?:.*) to become free`), typ: NetdevRefcount,
			tmpl: "unregister_netdevice: waiting for DEV to become free", noStack: true},
	}},
	// Printed by older kernels (syzkaller #3621).
	{header: "VFS: Close: file count is 0", kind: kHeader, typ: UseAfterFreeVFS, formats: []*format{
		{title: compile(`VFS: Close: file count is 0`), typ: UseAfterFreeVFS, tmpl: "VFS: Close: file count is zero (use-after-free)", noStack: true},
	}},
	{header: "VFS: Busy inodes after unmount", kind: kHeader, typ: UseAfterFreeVFS, formats: []*format{
		{title: compile(`VFS: Busy inodes after unmount`), typ: UseAfterFreeVFS, tmpl: "VFS: Busy inodes after unmount (use-after-free)", noStack: true},
	}},
	// arm64 names some faults "Internal error: synchronous external abort" that arm names
	// "Unable to handle kernel paging request".
	{header: "Internal error:", kind: kOopsLine, typ: Oops, end: endMarker, formats: []*format{
		{title: compile(`Internal error:`), typ: Oops, tmpl: "Internal error in {frame}", end: endMarker, stack: ripStack},
	}},
	{header: "Unhandled fault:", kind: kHeader, typ: Oops, end: endMarker, formats: []*format{
		{title: compile(`Unhandled fault:`), typ: Oops, tmpl: "Unhandled fault in {frame}", end: endMarker, absorbs: true, stack: ripStack},
	}},
	{header: "Alignment trap:", kind: kHeader, typ: Oops, end: endMarker, formats: []*format{
		{title: compile(`Alignment trap:`), typ: Oops, tmpl: "Alignment trap in {frame}", end: endMarker, absorbs: true, stack: ripStack},
	}},
	{header: "unreferenced object 0x", kind: kKmemleak, typ: Kmemleak, formats: []*format{
		{title: compile(`unreferenced object`), typ: Kmemleak, tmpl: "memory leak in {frame}", stack: kmemleakStack, skip: kmemleakSkip},
	}},
	// syzkaller's executor reports its own failures so.
	{header: "SYZFAIL:", kind: kHeader, typ: SyzFailure, formats: []*format{
		{title: compile(`SYZFAIL: (.*)`), typ: SyzFailure, tmpl: "SYZFAIL: {1}", noStack: true},
	}},
	{header: "SYZFATAL:", kind: kHeader, typ: SyzFailure, formats: []*format{
		{title: compile(`SYZFATAL: (.*)`), typ: SyzFailure, tmpl: "SYZFATAL: {1}", noStack: true},
	}},
}

var (
	kmemleakStack = []part{p(`backtrace(?: \(crc [[:xdigit:]]*\))?:`), trace}
	kmemleakSkip  = []string{"kmemleak", "mmap", "kmem", "slab", "alloc", "create_object", "idr_get", "list_lru_init",
		"kasprintf", "kvasprintf", "pcpu_create", "strdup", "strndup", "memdup"}
)

func res(patterns ...string) []*regexp.Regexp {
	out := make([]*regexp.Regexp, len(patterns))
	for i, s := range patterns {
		out[i] = compile(s)
	}
	return out
}

// byFirst indexes the families by the first byte of their header, for
// the per-line scan.
var byFirst [256][]*family

func init() {
	for _, fam := range families {
		byFirst[fam.header[0]] = append(byFirst[fam.header[0]], fam)
		for _, f := range fam.formats {
			f.skipRe = newSkipper(append(append([]string{}, skipPatterns...), f.skip...))
		}
	}
}

// provisional picks a family's format from the header line alone (the
// report regexps need the whole report): it decides how the report ends.
func (fam *family) provisional(header string, c *parseMemo) *format {
	return c.prov.get(memoKey{fam, header}, func() *format {
		for _, f := range fam.formats {
			if f.title.MatchString(header) {
				return f
			}
		}
		return nil
	})
}

// stallAnchors are the functions where the work that stalled was
// dispatched (syzkaller's linuxStallAnchorFrames): the frame before the
// first of them names the stall.
var stallAnchors = regexp.MustCompile(strings.Join([]string{
	"process_one_work", "do_syscall_", "do_fast_syscall_", "sysenter_dispatch", "tracesys_phase2",
	"netif_receive_skb", "do_softirq", "call_timer_fn", "_run_timers", "run_timer_softirq", "run_ksoftirqd",
	"smpboot_thread_fn", "^kthread$", "start_secondary", "cpu_startup_entry", "ret_from_fork",
	"vfs_write", "vfs_read", "vfs_iter_read", "vfs_iter_write", "do_iter_read", "do_iter_write", "vfs_ioctl",
	"ksys_ioctl", "compat_ioctl", "compat_sys_ioctl", "blkdev_driver_ioctl", "blkdev_ioctl", "^call_read_iter",
	"^call_write_iter", "do_iter_readv_writev", "^call_mmap", "mmap_region", "do_mmap", "do_dentry_open",
	"vfs_open", "^sock_sendmsg", "^sock_recvmsg", "^sock_release", "^__sock_release", "^setsockopt$",
	"kernel_setsockopt", "sock_common_setsockopt", "^listen$", "kernel_listen", "sk_common_release",
	"^sock_mmap", "^accept$", "kernel_accept", "^sock_do_ioctl", "^sock_ioctl", "^compat_sock_ioctl",
	"^nfnetlink_rcv_msg", "^rtnetlink_rcv_msg", "^netlink_dump", "^(sys_)?(socketpair|connect|ioctl)",
	"__do_fault", "do_page_fault", "^page_fault$", "__fput", "task_work_run", "exit_to_usermode",
	"smp_call_function", "tasklet_action", "tasklet_hi_action",
}, "|"))

// stallFrame names a stall or lockup: the loop it is caught in is often
// spread over several functions, so the frame just above the first
// dispatch point (the syscall, the work item) is taken rather than the
// top of the stack.
func stallFrame(names []string) string {
	prev := names[0]
	for _, n := range names {
		if stallAnchors.MatchString(n) {
			if strings.Contains(n, "smp_call_function") {
				prev = "smp_call_function"
			}
			return prev
		}
		prev = n
	}
	return ""
}

// hangFrame names a hung task: hangs on synchronize_rcu and rtnl_lock are
// grouped, else the first frame that is not a generic wait.
func hangFrame(names []string) string {
	for _, n := range names {
		switch {
		case strings.Contains(n, "rtnl_lock"):
			return n
		case strings.Contains(n, "synchronize_rcu"), strings.Contains(n, "synchronize_srcu"),
			strings.Contains(n, "synchronize_net"), strings.Contains(n, "synchronize_sched"):
			return "synchronize_rcu"
		}
	}
next:
	for _, n := range names {
		for _, w := range []string{"sched", "_lock", "_slowlock", "down", "rwsem", "completion", "kthread", "wait",
			"synchronize", "context_switch", "__switch_to", "cancel_delayed_work", "rcu_barrier"} {
			if strings.Contains(n, w) {
				continue next
			}
		}
		return n
	}
	return ""
}

// titleFixes make a title stable (syzkaller's dynamicTitleReplacement):
// no addresses, long numbers, line numbers, offsets or CPU numbers.
var titleFixes = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`syz-executor\.?[0-9]+((/|:)[0-9]+)?`), "syz-executor"},
	{regexp.MustCompile(`syzkaller[0-9]+((/|:)[0-9]+)?`), "syzkaller"},
	{regexp.MustCompile(`([^a-zA-Z0-9])(?:0x)?[0-9a-f]{6,}`), "${1}ADDR"},
	{regexp.MustCompile(`(:[0-9]+)+`), ":LINE"},
	{regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9_.]+)\+0x[0-9a-z]+/0x[0-9a-z]+`), "${1}"},
	{regexp.MustCompile(`CPU#[0-9]+`), "CPU"},
	{regexp.MustCompile(`[0-9]{5,}`), "NUM"},
	{regexp.MustCompile(`([^a-zA-Z0-9_])[0-9]+\b`), "${1}NUM"},
}

// sanitizeTitle applies titleFixes, drops control bytes and non-ASCII,
// folds spaces and cuts at 120 bytes.
func sanitizeTitle(t string) string { return cleanTitle(fixTitle(t)) }

// fixTitle applies titleFixes.
func fixTitle(t string) string {
	for _, f := range titleFixes {
		if strings.ContainsAny(t, "0123456789") {
			t = f.re.ReplaceAllString(t, f.with)
		}
	}
	return t
}

// cleanTitle drops control bytes and non-ASCII, folds spaces and cuts at
// 120 bytes.
func cleanTitle(t string) string {
	b := make([]byte, 0, min(len(t), 120))
	var prev byte
	for i := 0; i < len(t) && i < 120; i++ {
		c := t[i]
		if c == '\t' {
			c = ' '
		} else if c < 0x20 || c >= 0x7f {
			continue
		}
		if c == ' ' && prev == ' ' {
			continue
		}
		b = append(b, c)
		prev = c
	}
	return strings.TrimSpace(string(b))
}
