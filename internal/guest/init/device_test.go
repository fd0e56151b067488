package main

import "testing"

// TestParseFilterBounds: the two /proc files the fail-nth sweep's stack
// filter is made from, as a 7.3.4 x86_64 guest has them (nokaslr).
func TestParseFilterBounds(t *testing.T) {
	kallsyms := []byte("ffffffff81000000 T _text\nffffffff81001000 T _stext\nffffffff81a3d700 T _etext\nffffffff81a3d710 t other\n")
	stext, etext, err := parseKernelText(kallsyms)
	if err != nil || stext != 0xffffffff81001000 || etext != 0xffffffff81a3d700 {
		t.Errorf("kernel text %#x-%#x, %v", stext, etext, err)
	}
	if _, _, err := parseKernelText([]byte("0000000000000000 T _stext\n0000000000000000 T _etext\n")); err == nil {
		t.Error("hidden addresses (kptr_restrict) were taken")
	}
	modules := []byte("failnth_c 12288 0 - Live 0xffffffffa0000000 (O)\nother 4096 1 failnth_c, Live 0xffffffffa0010000\n")
	if a, err := parseModuleAddress(modules, "failnth_c"); err != nil || a != 0xffffffffa0000000 {
		t.Errorf("address %#x, %v", a, err)
	}
	if _, err := parseModuleAddress([]byte("failnth_c 12288 0 - Live 0x0000000000000000 (O)\n"), "failnth_c"); err == nil {
		t.Error("a hidden address was taken")
	}
	if _, err := parseModuleAddress(modules, "missing"); err == nil {
		t.Error("a module not loaded was found")
	}
}
