package main

import "unsafe"

// sysFinitModule is finit_module(2) on x86_64; the syscall package has
// no name for it.
const sysFinitModule = 313

func unsafePointer(p *byte) unsafe.Pointer { return unsafe.Pointer(p) }
