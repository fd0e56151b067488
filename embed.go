// Package rko holds the files that the rko command carries inside its
// binary: kernel config fragments, module templates and the bundled
// examples, so that an installed rko works outside this repository.
package rko

import "embed"

// Configs holds configs/*.config, the kernel config fragments.
//
//go:embed configs/*.config
var Configs embed.FS

// Templates holds templates/, the module templates of rko new.
//
//go:embed templates
var Templates embed.FS

// Examples holds examples/hello, the bundled Rust module and its C twin
// that rko quickstart builds and tests.
//
//go:embed examples/hello
var Examples embed.FS

// Docs holds docs/*.md and docs/lint/*.md, rko's documentation, which rko
// mcp serves as resources (rko://docs/NAME.md).
//
//go:embed docs/*.md docs/lint/*.md
var Docs embed.FS
