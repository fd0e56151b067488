package device

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rkodev/rko/internal/run"
	"github.com/rkodev/rko/internal/target"
)

// BuildOpts are what Build needs to turn a job's devices into QEMU
// arguments.
type BuildOpts struct {
	// Target is the guest's architecture.
	Target *target.Target
	// Specs are the devices, checked or not (Build checks them).
	Specs []Spec
	// Dir is where compiled tables and trees are written (the run's
	// directory).
	Dir string
	// MachineArgs is the guest's QEMU argv without devices: a device-tree
	// node is added to the tree QEMU makes for exactly this machine
	// (memory, CPUs, firmware), dumped with -machine dumpdtb=.
	MachineArgs []string
	// Runner runs iasl, dtc and QEMU (nil: the host's).
	Runner run.Runner
}

// CompileError is a device source that its compiler refused: Error() is
// the device and the compiler's first error line; Output is all it said.
type CompileError struct {
	Spec   Spec
	Tool   string
	Output string
}

func (e *CompileError) Error() string {
	return fmt.Sprintf("device %s does not compile: %s: %s", e.Spec, e.Tool, firstError(e.Output))
}

// firstError picks the compiler's first error line (iasl prints its
// banner and the offending source line first), else its last line.
func firstError(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "Error") || strings.HasPrefix(t, "FATAL") {
			// iasl: "FILE  LINE:  source" then "Error  NNNN -  ^ message".
			if strings.HasPrefix(t, "Error ") && i > 0 && strings.Contains(lines[i-1], ":") {
				return strings.Join(strings.Fields(lines[i-1]), " ") + ": " + strings.Join(strings.Fields(t), " ")
			}
			return t
		}
	}
	return strings.TrimSpace(lines[len(lines)-1])
}

// Tools are the programs Build may run, by form kind, with the Debian
// package that ships them (scripts/setup installs them).
var Tools = map[string][2]string{KindACPI: {"iasl", "acpica-tools"}, KindDT: {"dtc", "device-tree-compiler"}}

// Build returns the QEMU arguments that attach o.Specs to a guest of
// o.Target: -device arguments as they are, each ACPI table compiled with
// iasl (-acpitable file=), and the device-tree nodes put into the
// machine's own tree (dumped by QEMU, recompiled by dtc, -dtb). A source
// that does not compile is a *CompileError with the compiler's message.
func Build(ctx context.Context, o BuildOpts) ([]string, error) {
	r := run.Or(o.Runner)
	var args []string
	var nodes []string
	for i, s := range o.Specs {
		f, err := s.Form(o.Target)
		if err != nil {
			return nil, err
		}
		if tool, ok := Tools[f.Kind]; ok {
			if _, err := run.LookPath(tool[0]); err != nil {
				return nil, fmt.Errorf("device %s needs %s, which is not installed (fix: scripts/setup, or apt-get install %s)", s, tool[0], tool[1])
			}
		}
		switch f.Kind {
		case KindArgs:
			args = append(args, f.Args...)
		case KindACPI:
			src := s.File
			if !f.FromFile {
				src = filepath.Join(o.Dir, fmt.Sprintf("device-%d-%s.dsl", i, s.Name))
				if err := os.WriteFile(src, []byte(f.ASL), 0o644); err != nil {
					return nil, err
				}
			}
			prefix := filepath.Join(o.Dir, fmt.Sprintf("device-%d", i))
			if out, err := r.Run(ctx, run.Opts{Timeout: time.Minute}, "iasl", "-p", prefix, src); err != nil {
				return nil, &CompileError{Spec: s, Tool: "iasl", Output: output(out, err)}
			}
			args = append(args, "-acpitable", "file="+prefix+".aml")
		case KindDT:
			src := s.File
			if !f.FromFile {
				src = filepath.Join(o.Dir, fmt.Sprintf("device-%d-%s.dtsi", i, s.Name))
				if err := os.WriteFile(src, []byte(f.DTS), 0o644); err != nil {
					return nil, err
				}
			}
			nodes = append(nodes, src)
		}
	}
	if len(nodes) > 0 {
		dtb, err := buildDTB(ctx, r, o, nodes)
		if err != nil {
			return nil, err
		}
		args = append(args, "-dtb", dtb)
	}
	return args, nil
}

// buildDTB dumps the machine's device tree, adds the node files inside
// its root node and compiles the result.
func buildDTB(ctx context.Context, r run.Runner, o BuildOpts, nodes []string) (string, error) {
	base := filepath.Join(o.Dir, "machine.dtb")
	argv := append(append([]string(nil), o.MachineArgs...), "-machine", "dumpdtb="+base)
	if out, err := r.Run(ctx, run.Opts{Timeout: time.Minute}, argv...); err != nil {
		return "", fmt.Errorf("dumping the machine's device tree (%s -machine dumpdtb=): %s", argv[0], output(out, err))
	}
	baseDTS := filepath.Join(o.Dir, "machine.dts")
	if out, err := r.Run(ctx, run.Opts{Timeout: time.Minute}, "dtc", "-q", "-I", "dtb", "-O", "dts", "-o", baseDTS, base); err != nil {
		return "", fmt.Errorf("decompiling the machine's device tree: %s", output(out, err))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "/include/ %s\n/ {\n", strconv.Quote(baseDTS))
	for _, n := range nodes {
		fmt.Fprintf(&b, "/include/ %s\n", strconv.Quote(n))
	}
	b.WriteString("};\n")
	combined := filepath.Join(o.Dir, "devices.dts")
	if err := os.WriteFile(combined, []byte(b.String()), 0o644); err != nil {
		return "", err
	}
	dtb := filepath.Join(o.Dir, "devices.dtb")
	if out, err := r.Run(ctx, run.Opts{Timeout: time.Minute}, "dtc", "-q", "-I", "dts", "-O", "dtb", "-o", dtb, combined); err != nil {
		sp := Spec{Name: "dt-node"}
		for _, s := range o.Specs {
			if f, _ := s.Form(o.Target); f.Kind == KindDT {
				sp = s
				if strings.Contains(output(out, err), s.File) && s.File != "" {
					break
				}
			}
		}
		return "", &CompileError{Spec: sp, Tool: "dtc", Output: output(out, err)}
	}
	return dtb, nil
}

// output is what a failed command printed, else its error.
func output(res *run.Result, err error) string {
	var re *run.Error
	if errors.As(err, &re) && len(strings.TrimSpace(string(re.Output))) > 0 {
		return string(re.Output)
	}
	if res != nil && len(res.Stderr)+len(res.Stdout) > 0 {
		return string(res.Stdout) + string(res.Stderr)
	}
	return err.Error()
}
