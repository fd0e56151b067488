package main

import (
	"syscall"
	"unsafe"
)

func unsafePointerT(t *syscall.Termios) unsafe.Pointer { return unsafe.Pointer(t) }
