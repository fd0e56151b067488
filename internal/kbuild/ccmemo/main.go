// Command ccmemo stands in front of the kernel's C compiler (make
// CC="ccmemo clang") and remembers the answers to Kbuild's compiler probes.
//
// Every out-of-tree module build runs the kernel's top Makefile again, and
// with it about two dozen cc-option, as-option and as-instr probes
// (scripts/Makefile.compiler's try-run) plus "$(CC) --version": each is a
// full compiler start, and together they are half of a warm module build
// (0.45 s of 0.8 s on a 2-core host). Their answers only depend on the
// compiler binary, the argv, the input (/dev/null or stdin) and a few
// environment variables, so ccmemo keys them on exactly those and replays
// the exit status, the output and the -o file of an earlier run.
//
// Only probes are remembered: a run whose inputs are /dev/null or stdin
// ("-") and whose -o output, if any, is /dev/null or inside try-run's
// scratch directory (.tmp_PID/), or a lone --version. Anything else - every
// real compile - is exec'd as is, so ccmemo costs a real compile about a
// millisecond. A run killed by a signal, or one that exits with a status
// other than 0 or 1, is never remembered. If the memo directory cannot be
// written, the probe still runs; ccmemo never fails a build of its own.
//
// Usage: ccmemo COMPILER [ARGS...], with the memo directory in the
// environment as RKO_CCMEMO_DIR (without it, ccmemo just execs COMPILER).
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
)

// scratch matches try-run's scratch directory in a path: TMPOUT is
// ".tmp_$$" (the shell's PID, different on every run).
var scratch = regexp.MustCompile(`(^|/)\.tmp_[0-9]+(/|$)`)

// envKeys are the environment variables that change what a compiler
// answers (search paths, tools it runs, message language, dependency
// outputs); the rest of make's environment does not reach the answer.
var envKeys = []string{"PATH", "LC_ALL", "LC_MESSAGES", "LANG", "CPATH", "C_INCLUDE_PATH",
	"CPLUS_INCLUDE_PATH", "LIBRARY_PATH", "COMPILER_PATH", "GCC_EXEC_PREFIX", "SOURCE_DATE_EPOCH",
	"CCC_OVERRIDE_OPTIONS", "DEPENDENCIES_OUTPUT", "SUNPRO_DEPENDENCIES", "GCC_COMPARE_DEBUG",
	"RUSTC_BOOTSTRAP"}

// entry is one remembered answer.
type entry struct {
	Status int    `json:"status"`
	Stdout []byte `json:"stdout"`
	Stderr []byte `json:"stderr"`
	// Out is the -o file the probe wrote, when it wrote one.
	Out    []byte `json:"out,omitempty"`
	HasOut bool   `json:"has_out,omitempty"`
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: ccmemo COMPILER [ARGS...]")
		os.Exit(2)
	}
	compiler, args := os.Args[1], os.Args[2:]
	path, err := exec.LookPath(compiler)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ccmemo: %v\n", err)
		os.Exit(127)
	}
	dir := os.Getenv("RKO_CCMEMO_DIR")
	out, stdin, ok := probe(args)
	if dir == "" || !ok {
		execReal(path, compiler, args)
	}
	var input []byte
	if stdin {
		if input, err = io.ReadAll(os.Stdin); err != nil {
			execReal(path, compiler, args)
		}
	}
	key, err := memoKey(path, args, input)
	if err != nil {
		execReal(path, compiler, args)
	}
	file := filepath.Join(dir, key[:2], key+".json")
	if e, ok := load(file); ok {
		replay(e, out)
	}
	e, ok := runReal(path, compiler, args, input, out)
	if ok {
		store(file, e)
	}
	replay(e, "")
}

// probe reports whether args are a probe: the -o file (empty if none),
// whether the input is stdin, and ok.
func probe(args []string) (out string, stdin, ok bool) {
	if len(args) == 1 && args[0] == "--version" {
		return "", false, true
	}
	inputs := 0
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-o" && i+1 < len(args):
			i++
			out = args[i]
			if out != "/dev/null" && !scratch.MatchString(out) {
				return "", false, false
			}
		case strings.HasPrefix(a, "-o") && len(a) > 2:
			return "", false, false
		case strings.HasPrefix(a, "@"):
			// A response file: its content is part of the argv.
			return "", false, false
		case a == "-":
			stdin = true
			inputs++
		case a == "/dev/null":
			inputs++
		case strings.HasPrefix(a, "-"):
			// An option. Those taking a separate value argument that
			// could be a file name are not used by probes; a separate
			// -x value (c, assembler-with-cpp) is skipped below.
			if a == "-x" && i+1 < len(args) {
				i++
			}
		default:
			// A real input file: not a probe.
			return "", false, false
		}
	}
	if inputs == 0 {
		return "", false, false
	}
	if out == "/dev/null" {
		out = ""
	}
	return out, stdin, true
}

// memoKey hashes what decides a probe's answer: the compiler binary
// (path, size, modification time), the argv with the scratch directory's
// PID taken out, the working directory, the input and envKeys.
func memoKey(path string, args []string, input []byte) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "ccmemo 1\x00%s\x00%d\x00%d\x00%s\x00", path, st.Size(), st.ModTime().UnixNano(), wd)
	for _, a := range args {
		fmt.Fprintf(h, "a%s\x00", scratch.ReplaceAllString(a, "${1}.tmp_${2}"))
	}
	keys := append([]string(nil), envKeys...)
	sort.Strings(keys)
	for _, k := range keys {
		if v, ok := os.LookupEnv(k); ok {
			fmt.Fprintf(h, "e%s=%s\x00", k, v)
		}
	}
	fmt.Fprintf(h, "i%d\x00", len(input))
	h.Write(input)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// runReal runs the compiler on the probe and captures its answer; ok is
// false when the answer must not be remembered.
func runReal(path, compiler string, args []string, input []byte, out string) (entry, bool) {
	cmd := exec.Command(path, args...)
	cmd.Args[0] = compiler
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(input), &stdout, &stderr
	err := cmd.Run()
	e := entry{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	if err != nil {
		ee, isExit := err.(*exec.ExitError)
		if !isExit {
			fmt.Fprintf(os.Stderr, "ccmemo: %v\n", err)
			os.Exit(127)
		}
		e.Status = ee.ExitCode()
		if e.Status < 0 {
			// Killed by a signal: die the same way, remember nothing.
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				os.Stdout.Write(e.Stdout)
				os.Stderr.Write(e.Stderr)
				syscall.Kill(os.Getpid(), ws.Signal())
			}
			os.Exit(128)
		}
	}
	if out != "" {
		if b, err := os.ReadFile(out); err == nil {
			e.Out, e.HasOut = b, true
		}
	}
	return e, e.Status == 0 || e.Status == 1
}

// replay gives e's answer as the compiler did, writing its -o file to
// out, and exits.
func replay(e entry, out string) {
	if out != "" && e.HasOut {
		if err := os.WriteFile(out, e.Out, 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "ccmemo: %v\n", err)
			os.Exit(1)
		}
	}
	os.Stdout.Write(e.Stdout)
	os.Stderr.Write(e.Stderr)
	os.Exit(e.Status)
}

// load reads a remembered answer; a missing or damaged file is a miss.
func load(file string) (entry, bool) {
	b, err := os.ReadFile(file)
	if err != nil {
		return entry{}, false
	}
	var e entry
	if json.Unmarshal(b, &e) != nil {
		return entry{}, false
	}
	return e, true
}

// store remembers e at file, atomically (write, then rename), so that a
// concurrent build reads a whole answer or none. Errors are ignored: the
// probe's answer is already known.
func store(file string, e entry) {
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	if os.MkdirAll(filepath.Dir(file), 0o755) != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".tmp-*")
	if err != nil {
		return
	}
	if _, err := tmp.Write(b); err != nil || tmp.Close() != nil {
		os.Remove(tmp.Name())
		return
	}
	if os.Rename(tmp.Name(), file) != nil {
		os.Remove(tmp.Name())
	}
}

// execReal replaces ccmemo with the compiler.
func execReal(path, compiler string, args []string) {
	err := syscall.Exec(path, append([]string{compiler}, args...), os.Environ())
	fmt.Fprintf(os.Stderr, "ccmemo: exec %s: %v\n", path, err)
	os.Exit(127)
}
