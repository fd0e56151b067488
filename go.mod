module github.com/rkodev/rko

go 1.26.8

require (
	github.com/BurntSushi/toml v1.6.0
	// roaring decodes the roaring bitmaps of rustdoc's search index (rko
	// doc): the reference Go implementation of the portable format.
	github.com/RoaringBitmap/roaring/v2 v2.30.0
	github.com/gofrs/flock v0.12.1
	// jsonschema-go is the SDK's own schema generator and validator: rko
	// mcp gives it the schemas of the types that marshal themselves.
	github.com/google/jsonschema-go v0.4.3
	// go-sdk serves rko mcp: the official Go SDK of the Model Context
	// Protocol (maintained with the protocol's authors and Go's team), with
	// typed tool handlers whose schemas come from Go types, progress,
	// cancellation, resources, the stdio transport, and the client the e2e
	// test drives the server with.
	github.com/modelcontextprotocol/go-sdk v1.8.0
	// go-sarif writes rko lint's SARIF: typed 2.1.0 builders, and it keeps
	// "results": [] on an empty run, which GitHub code scanning requires;
	// internal/lint checks its output against the OASIS 2.1.0 schema.
	github.com/owenrumney/go-sarif/v3 v3.3.1
	// jsonschema (tests only) validates that SARIF output against the schema.
	github.com/santhosh-tekuri/jsonschema/v6 v6.0.2
	github.com/spf13/cobra v1.10.2
	github.com/tree-sitter/go-tree-sitter v0.25.0
	github.com/tree-sitter/tree-sitter-rust v0.24.0
	// gonum/plot draws rko bench's ratio chart: pure Go (it adds no cgo; rko
	// links libc anyway, through tree-sitter's cgo), SVG and PNG from one
	// API, error bars built in.
	gonum.org/v1/plot v0.17.0
)

require (
	github.com/fsnotify/fsnotify v1.9.0
	github.com/ianlancetaylor/demangle v0.0.0-20260724033716-83e58baca724
	// go-shellwords (tests only) splits the run: lines of the workflow rko
	// ci github writes, to replay them (it comes with actionlint).
	github.com/mattn/go-shellwords v1.0.12
	// actionlint (tests only) checks the GitHub Actions workflow rko ci
	// github writes, as a library: the reference linter of workflow files
	// (syntax, expressions, action inputs, shellcheck on run: scripts).
	github.com/rhysd/actionlint v1.7.12
	github.com/spf13/pflag v1.0.9
	golang.org/x/sys v0.50.0
	golang.org/x/term v0.38.0
)

require (
	github.com/opencontainers/go-digest v1.0.0
	github.com/opencontainers/image-spec v1.1.1
	// oras-go moves kernels to and from OCI registries (rko kernel push and
	// pull, --kernel-store): the OCI project's own Go client for artifacts,
	// with digest checks, docker credential stores and resumable copies.
	oras.land/oras-go/v2 v2.7.0
)

require (
	codeberg.org/go-fonts/liberation v0.5.0 // indirect
	codeberg.org/go-latex/latex v0.2.0 // indirect
	codeberg.org/go-pdf/fpdf v0.11.1 // indirect
	git.sr.ht/~sbinet/gg v0.7.0 // indirect
	github.com/ajstarks/svgo v0.0.0-20211024235047-1546f124cd8b // indirect
	github.com/bits-and-blooms/bitset v1.24.4 // indirect
	github.com/bmatcuk/doublestar/v4 v4.10.0 // indirect
	github.com/clipperhouse/uax29/v2 v2.7.0 // indirect
	github.com/fatih/color v1.19.0 // indirect
	github.com/golang/freetype v0.0.0-20170609003504-e2365dfdc4a0 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/mattn/go-colorable v0.1.14 // indirect
	github.com/mattn/go-isatty v0.0.20 // indirect
	github.com/mattn/go-pointer v0.0.1 // indirect
	github.com/mattn/go-runewidth v0.0.21 // indirect
	github.com/mschoch/smat v0.2.0 // indirect
	github.com/robfig/cron/v3 v3.0.1 // indirect
	github.com/segmentio/asm v1.1.3 // indirect
	github.com/segmentio/encoding v0.5.4 // indirect
	github.com/xeipuuv/gojsonpointer v0.0.0-20180127040702-4e3ac2762d5f // indirect
	github.com/xeipuuv/gojsonreference v0.0.0-20180127040603-bd5ef7bd5415 // indirect
	github.com/xeipuuv/gojsonschema v1.2.0 // indirect
	github.com/yosida95/uritemplate/v3 v3.0.2 // indirect
	go.yaml.in/yaml/v4 v4.0.0-rc.3 // indirect
	golang.org/x/image v0.30.0 // indirect
	golang.org/x/oauth2 v0.35.0 // indirect
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/text v0.28.0 // indirect
	golang.org/x/time v0.15.0 // indirect
)
