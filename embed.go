// Package rko holds the files that the rko command carries inside its
// binary: kernel config fragments, module templates and the bundled
// examples, so that an installed rko works outside this repository.
package rko

import "embed"

// Configs holds configs/*.config, the kernel config fragments.
//
//go:embed configs/*.config
var Configs embed.FS
