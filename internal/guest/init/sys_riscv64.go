package main

// sysFinitModule is finit_module(2) in the generic syscall table
// (include/uapi/asm-generic/unistd.h) that riscv64 uses; the syscall
// package has no name for it.
const sysFinitModule = 273
