// Package ci writes the workflow files of existing CI engines for a
// matrix file (rko ci github): one CI job per matrix cell, each running
// rko test --job with the job the local matrix cell runs (rko matrix
// FILE --cell ID --print-job makes it on the runner, from the same file),
// and a last job that merges their reports (rko results merge). rko
// schedules nothing itself on CI: the engine's matrix does.
package ci

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"

	"github.com/rkodev/rko/internal/matrix"
)

// GitHubOptions are what the GitHub Actions workflow is made of.
type GitHubOptions struct {
	// Matrix is the matrix file, relative to the repository's root (the
	// runner's checkout), with slashes.
	Matrix string
	// Cells are the matrix's cells with their jobs; refused cells are
	// left out of the workflow and named in a comment.
	Cells []matrix.Planned
	// RkoVersion is the version go install fetches (default "latest").
	RkoVersion string
	// RkoModule is rko's Go module path (default github.com/rkodev/rko).
	RkoModule string
	// Runner is runs-on (default ubuntu-24.04: an x86 hosted runner,
	// which has /dev/kvm).
	Runner string
	// Fragments are the files, relative to the root, whose content is in
	// the kernels' cache keys besides the matrix file.
	Fragments []string
}

// ghCell is one include entry of the workflow's matrix.
type ghCell struct {
	Name, ID, Kernel string
}

type ghData struct {
	// Store is the cells' kernel store registry host ("" for none); GHCR
	// whether it is GitHub's (the job's token pushes to it).
	Store                                       string
	GHCR                                        bool
	Matrix, MatrixQ, Install, Runner, HashFiles string
	Cells                                       []ghCell
	Refused                                     []string
}

// safeRE is what a value placed in the workflow unquoted may hold.
var safeRE = regexp.MustCompile(`^[A-Za-z0-9._/@+-]+$`)

// GitHub writes the workflow. The values that come from the user's files
// (cell names, the matrix path) reach the shell only through env:
// variables, never inside a run: script.
func GitHub(o GitHubOptions) ([]byte, error) {
	if o.RkoVersion == "" {
		o.RkoVersion = "latest"
	}
	if o.RkoModule == "" {
		o.RkoModule = "github.com/rkodev/rko"
	}
	if o.Runner == "" {
		o.Runner = "ubuntu-24.04"
	}
	for _, v := range []string{o.RkoVersion, o.RkoModule, o.Runner} {
		if !safeRE.MatchString(v) {
			return nil, fmt.Errorf("%q: want letters, digits and ._/@+- only", v)
		}
	}
	for _, v := range append([]string{o.Matrix}, o.Fragments...) {
		if strings.Contains(v, "${{") {
			return nil, fmt.Errorf("%q holds \"${{\", which GitHub would evaluate as an expression: rename it", v)
		}
	}
	if filepath.IsAbs(o.Matrix) || strings.HasPrefix(o.Matrix, "../") {
		return nil, fmt.Errorf("the matrix file %s is outside the repository: the workflow runs in the repository's checkout", o.Matrix)
	}
	d := ghData{Matrix: o.Matrix, MatrixQ: quote(o.Matrix), Runner: o.Runner,
		Install: o.RkoModule + "/cmd/rko@" + o.RkoVersion}
	hash := []string{exprQuote(o.Matrix)}
	for _, f := range o.Fragments {
		hash = append(hash, exprQuote(f))
	}
	d.HashFiles = strings.Join(hash, ", ")
	for _, c := range o.Cells {
		if strings.Contains(c.Name, "${{") {
			return nil, fmt.Errorf("cell %q holds \"${{\", which GitHub would evaluate as an expression: rename the module or kernel directory", c.Name)
		}
		if c.Job == nil {
			d.Refused = append(d.Refused, oneLine(c.Name+": "+c.Refused))
			continue
		}
		k := c.Job.Kernel
		if k.Store != "" {
			host, _, _ := strings.Cut(k.Store, "/")
			d.Store, d.GHCR = host, host == "ghcr.io"
		}
		var parts []string
		for _, p := range []string{k.Kind, k.Version, k.Release, k.Dir, k.Arch, k.Profile, k.Rustc} {
			if p != "" {
				parts = append(parts, strings.Trim(idRE.ReplaceAllString(p, "-"), "-"))
			}
		}
		d.Cells = append(d.Cells, ghCell{Name: quote(c.Name), ID: c.ID, Kernel: strings.Join(parts, "-")})
	}
	if len(d.Cells) == 0 {
		return nil, fmt.Errorf("every cell of the matrix is refused: nothing to run")
	}
	var b bytes.Buffer
	if err := ghTemplate.Execute(&b, d); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

var idRE = regexp.MustCompile(`[^A-Za-z0-9._]+`)

// quote is s as a YAML double-quoted scalar (JSON's string syntax is
// YAML's).
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// exprQuote is s as a string literal of GitHub's expressions
// (single-quoted, a quote doubled).
func exprQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// ghTemplate is the workflow. The cell step's commands are the ones
// TestWorkflowRunsTheMatrixJobs replays: keep them in step.
var ghTemplate = template.Must(template.New("gh").Parse(`# Written by rko ci github for the matrix file {{.Matrix}}.
# Each job runs one cell of the matrix: the job "rko matrix FILE --cell ID
# --print-job" prints, which is the job "rko matrix FILE" runs locally for
# that cell, run by "rko test --job". Rewrite with: rko ci github --force.
{{- range .Refused}}
# Refused cell, not run: {{.}}
{{- end}}
name: rko

on:
  push:
  pull_request:
  workflow_dispatch:

permissions:
  contents: read
{{- if .GHCR}}
  packages: write
{{- end}}

env:
  RKO_MATRIX: {{.MatrixQ}}

jobs:
  cell:
    name: ${{"{{"}} matrix.cell {{"}}"}}
    runs-on: {{.Runner}}
    timeout-minutes: 120
    strategy:
      fail-fast: false
      matrix:
        include:
{{- range .Cells}}
          - cell: {{.Name}}
            id: {{.ID}}
            kernel: {{.Kernel}}
{{- end}}
    env:
      RKO_CELL: ${{"{{"}} matrix.id {{"}}"}}
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-go@v5
        with:
          go-version: "1.26"
          cache: false
      - name: Enable KVM where the runner has it (TCG otherwise)
        run: |
          if [ -e /dev/kvm ]; then
            echo 'KERNEL=="kvm", GROUP="kvm", MODE="0666", OPTIONS+="static_node=kvm"' | sudo tee /etc/udev/rules.d/99-kvm4all.rules
            sudo udevadm control --reload-rules
            sudo udevadm trigger --name-match=kvm
          else
            echo "no /dev/kvm on this runner: the guests run under TCG"
          fi
      - name: Host packages (QEMU, bubblewrap, mmdebstrap)
        run: |
          sudo apt-get update -qq
          sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-x86 qemu-system-arm qemu-system-misc binutils-aarch64-linux-gnu binutils-riscv64-linux-gnu bubblewrap mmdebstrap uidmap cpio xz-utils
          # Ubuntu's AppArmor refuses unprivileged user namespaces, which
          # bubblewrap and mmdebstrap's unshare mode need.
          sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 || true
      - name: Install rko
        run: go install {{.Install}}
      - uses: actions/cache@v4
        with:
          path: ~/.cache/rko
          key: rko-${{"{{"}} matrix.kernel {{"}}"}}-${{"{{"}} hashFiles({{.HashFiles}}) {{"}}"}}
          restore-keys: rko-${{"{{"}} matrix.kernel {{"}}"}}-
      - name: The cell's job
        run: |
          mkdir -p rko-results
          rko matrix "$RKO_MATRIX" --cell "$RKO_CELL" --print-job > "rko-results/$RKO_CELL.job.json"
          cat "rko-results/$RKO_CELL.job.json"
      - name: rko test --job
{{- if .Store}}
        env:
          # The kernel store ({{.Store}}): a kernel built here is pushed
          # for the next run (a push refused, e.g. from a fork, is said
          # and the cell goes on).
{{- if .GHCR}}
          RKO_REGISTRY_USER: ${{"{{"}} github.actor {{"}}"}}
          RKO_REGISTRY_PASSWORD: ${{"{{"}} secrets.GITHUB_TOKEN {{"}}"}}
{{- else}}
          RKO_REGISTRY_USER: ${{"{{"}} secrets.RKO_REGISTRY_USER {{"}}"}}
          RKO_REGISTRY_PASSWORD: ${{"{{"}} secrets.RKO_REGISTRY_PASSWORD {{"}}"}}
{{- end}}
{{- end}}
        run: |
          status=0
          rko test --job "rko-results/$RKO_CELL.job.json" --json --junit "rko-results/$RKO_CELL.xml" > "rko-results/$RKO_CELL.json" || status=$?
          if [ "$status" -ge 2 ]; then
            # rko could not run the cell: record it for the report.
            printf '{"schema": 1, "passed": false, "runs": [{"name": "%s", "source": "ci", "passed": false, "verdict": "error", "reason": "rko test exited %s: see the job log", "time_s": 0}]}\n' "$RKO_CELL" "$status" > "rko-results/$RKO_CELL.json"
          fi
          exit "$status"
      - uses: actions/upload-artifact@v4
        if: always()
        with:
          name: rko-cell-${{"{{"}} matrix.id {{"}}"}}
          path: rko-results/
          if-no-files-found: warn

  report:
    needs: cell
    if: always()
    runs-on: {{.Runner}}
    steps:
      - uses: actions/setup-go@v5
        with:
          go-version: "1.26"
          cache: false
      - name: Install rko
        run: go install {{.Install}}
      - uses: actions/download-artifact@v4
        with:
          pattern: rko-cell-*
          path: cells
      - name: rko results merge
        run: |
          shopt -s nullglob
          reports=()
          for f in cells/*/*.json; do
            case "$f" in *.job.json) ;; *) reports+=("$f") ;; esac
          done
          rko results merge --markdown "$GITHUB_STEP_SUMMARY" --junit rko-junit.xml --json "${reports[@]}" > rko-results.json
      - uses: actions/upload-artifact@v4
        if: always()
        with:
          name: rko-results
          path: |
            rko-results.json
            rko-junit.xml
`))
