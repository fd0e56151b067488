package report

import "strings"

// umlRIPPrefix starts the register dump UML prints before it panics on a
// fault in kernel mode (arch/um/kernel/trap.c: show_regs, with x86_64's
// user code segment): "RIP: 0033:item_set+0x0/0xfff [buggy_null]".
const umlRIPPrefix = "RIP: 0033:"

// umlFault gives UML's kernel-mode-fault panic its register dump:
//
//	RIP: 0033:item_set+0x0/0xfff [buggy_null]
//	...
//	Kernel panic - not syncing: Kernel mode fault at addr 0x4, ip 0x80c27001
//
// The dump comes before the panic line, so the last RIP line seen outside
// any report (rip) joins the panic's report, after its header, when it is
// at most 20 lines back; the format ("Kernel mode fault at addr" in
// formats.go) then finds its frame as on x86_64. Seen on 7.3.4
// (testdata/um/null_c).
func umlFault(p *pending, header string, rip *rawLine) {
	if rip == nil || len(p.lines) == 0 || p.lines[len(p.lines)-1].num-rip.num > 20 ||
		!strings.Contains(header, "Kernel panic - not syncing: Kernel mode fault at addr ") {
		return
	}
	p.lines = append(p.lines, *rip)
}
