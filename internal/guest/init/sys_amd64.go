package main

// sysFinitModule is finit_module(2) on x86_64 (and UML's x86_64
// subarchitecture); the syscall package has no name for it.
const sysFinitModule = 313
