// Package benchsrc holds the sources of rko's bench twins (C and Rust
// modules, each with its Kbuild) and of the guest driver that exercises
// them, embedded so that an installed rko can build them anywhere.
package benchsrc

import "embed"

// FS holds kv_c, kv_rust, rbt_c, rbt_rust (module directories) and
// driver/main.go (the guest driver, a static Go program).
//
//go:embed kv_c/Kbuild kv_c/*.c kv_rust/Kbuild kv_rust/*.rs rbt_c/Kbuild rbt_c/*.c rbt_rust/Kbuild rbt_rust/*.rs driver/main.go
var FS embed.FS
