// Command rko is a workbench for Linux kernel modules written in Rust: it
// checks and provisions the toolchain, builds a Rust-enabled kernel, builds
// modules out of tree, boots them in QEMU, tests and triages them, lints them
// against the Rust-for-Linux rules and benchmarks Rust against C.
package main

import (
	"os"

	"github.com/rkodev/rko/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
