// Package kdoc builds and searches the rustdoc of the kernel's Rust
// crates (kernel, macros, pin_init and their neighbours) for one built
// kernel: the exact sources and config rko build uses. The docs are made
// once per kernel cache entry by the kernel's own make rustdoc, and
// queried through rustdoc's own search data (search-index.js and the
// search.desc shards, rustdoc 1.85's format), with each result's
// signature and source line read from its HTML page. An item the config
// leaves out is not in the docs at all; for one, the #[cfg] that removes
// it is found in the kernel's source and evaluated against the kernel's
// rustc_cfg, naming the option that would bring it in.
package kdoc
