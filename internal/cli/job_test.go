package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/rkodev/rko/internal/job"
	"github.com/rkodev/rko/internal/target"
	"github.com/rkodev/rko/internal/testutil"
)

// moduleDir makes a module directory (a Kbuild is enough for job.Check).
func moduleDir(t *testing.T, name string) string { return testutil.ModuleDir(t, name) }

func testStreams(in string) (*Factory, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	return &Factory{IO: &IOStreams{In: strings.NewReader(in), Out: &out, ErrOut: &errOut}}, &out, &errOut
}

// captured runs one command of the tree made by mk with args and returns
// the job its runF got (nil when the command failed before it).
func captureJob(t *testing.T, cmd string, args []string, stdin string) (*job.Job, error) {
	t.Helper()
	f, _, _ := testStreams(stdin)
	var got *job.Job
	var c *cobra.Command
	switch cmd {
	case "test":
		c = NewCmdTest(f, func(_ context.Context, o *TestOptions) error { got = o.Job; return nil })
	case "run":
		c = NewCmdRun(f, func(_ context.Context, o *RunOptions) error { got = o.Job; return nil })
	case "shell":
		c = NewCmdShell(f, func(_ context.Context, o *RunOptions) error { got = o.Job; return nil })
	case "watch":
		c = NewCmdWatch(f, func(_ context.Context, o *WatchOptions) error { got = o.Job; return nil })
	case "bench":
		c = NewCmdBench(f, func(_ context.Context, o *BenchOptions) error { got = o.Job; return nil })
	case "debug":
		c = NewCmdDebug(f, func(_ context.Context, o *DebugOptions) error { got = o.Job; return nil })
	default:
		t.Fatalf("no command %s", cmd)
	}
	c.SilenceUsage, c.SilenceErrors = true, true
	c.SetArgs(args)
	err := c.ExecuteContext(context.Background())
	return got, err
}

// TestFlagsToJob checks each command's flags-to-job path: the job its
// run function gets, without building or booting anything.
func TestFlagsToJob(t *testing.T) {
	hello := moduleDir(t, "hello")
	other := moduleDir(t, "other")
	host := target.Host().Name
	base := func() job.Job {
		return job.Job{Schema: job.Schema, Kernel: job.Kernel{Kind: job.KindRko, Arch: host, Profile: "default"},
			Toolchain: "auto", Modules: []string{hello}, Boot: job.Boot{Accel: "auto", ConsoleLimitMB: 256, Kmemleak: "auto"}}
	}
	tests := []struct {
		name string
		cmd  string
		args []string
		want func(*job.Job)
	}{
		{"test defaults", "test", []string{hello}, func(j *job.Job) {}},
		{"test boot flags", "test", []string{"--accel", "tcg", "--timeout", "90s", "--memory", "768", "--cpus", "2",
			"--append", "dyndbg=+p", "--append", "loglevel=8", "--param", "hello.count=3", "--param", "hello.debug=1",
			"--kmemleak", "on", "--console-limit", "16", hello, other}, func(j *job.Job) {
			j.Modules = []string{hello, other}
			j.Boot = job.Boot{Accel: "tcg", Timeout: job.Duration(90 * time.Second), MemoryMB: 768, CPUs: 2,
				Append: []string{"dyndbg=+p", "loglevel=8"}, ConsoleLimitMB: 16, Kmemleak: "on"}
			j.Plan.Params = map[string]string{"hello": "count=3 debug=1"}
		}},
		{"test arch and profile", "test", []string{"--arch", "arm64", "--profile", "debug", hello}, func(j *job.Job) {
			j.Kernel.Arch, j.Kernel.Profile = "arm64", "debug"
		}},
		{"test debian", "test", []string{"--kernel", "debian:7.3.4+deb13", hello}, func(j *job.Job) {
			j.Kernel = job.Kernel{Kind: job.KindDebian, Release: "7.3.4+deb13-amd64"}
		}},
		{"test kernel dir", "test", []string{"--kernel", other, hello}, func(j *job.Job) {
			j.Kernel = job.Kernel{Kind: job.KindDir, Dir: other}
		}},
		{"run", "run", []string{hello, "--", "cat", "/proc/modules"}, func(j *job.Job) {
			j.Plan.Run = []string{"cat", "/proc/modules"}
			j.Boot.Timeout, j.Boot.Kmemleak = job.Duration(10*time.Minute), "off"
		}},
		{"shell", "shell", []string{hello}, func(j *job.Job) {
			j.Plan.Shell = true
			j.Boot.Kmemleak = "off"
		}},
		{"watch", "watch", []string{"--kernel", "debian", hello}, func(j *job.Job) {
			j.Kernel = job.Kernel{Kind: job.KindDebian}
		}},
		{"debug", "debug", []string{"--break", "init", hello}, func(j *job.Job) {
			j.Kernel.Profile = "debug"
		}},
		{"test gdb", "test", []string{"--gdb", "127.0.0.1:1234", "--keep-on-crash", hello}, func(j *job.Job) {
			j.Boot.GDB, j.Boot.KeepOnCrash = "127.0.0.1:1234", true
		}},
		{"bench", "bench", []string{"--accel", "tcg"}, func(j *job.Job) {
			j.Modules = nil
			j.Plan.Bench = []string{"kv", "kvi", "rbt", "blk"}
			j.Kernel.Profile = "bench"
			j.Boot.Accel, j.Boot.Kmemleak = "tcg", "off"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.cmd == "bench" && target.Host().ProfileError("bench") != nil {
				t.Skip("no bench profile on this host's architecture")
			}
			got, err := captureJob(t, tt.cmd, tt.args, "")
			if err != nil {
				t.Fatal(err)
			}
			want := base()
			tt.want(&want)
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("job =\n%s\nwant\n%s", got.JSON(), want.JSON())
			}
		})
	}
}

// TestPrintJobRoundTrip prints a job with --print-job, runs it with
// --job, and gets the same job; --job - reads stdin.
func TestPrintJobRoundTrip(t *testing.T) {
	hello := moduleDir(t, "hello")
	f, out, _ := testStreams("")
	c := NewCmdTest(f, nil)
	c.SetArgs([]string{"--print-job", "--arch", "riscv64", "--memory", "640", "--param", "hello.n=1", hello})
	if err := c.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	printed := out.String()
	file := filepath.Join(t.TempDir(), "job.json")
	os.WriteFile(file, []byte(printed), 0o644)
	for _, args := range [][]string{{"--job", file}, {"--job", "-"}} {
		got, err := captureJob(t, "test", args, printed)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if string(got.JSON()) != printed {
			t.Errorf("%v: job =\n%s\nwant\n%s", args, got.JSON(), printed)
		}
	}
	// The same job serves run, shell and watch where it fits.
	if got, err := captureJob(t, "watch", []string{"--job", file, "--cycles", "1", "--json"}, ""); err != nil || got.Kernel.Arch != "riscv64" {
		t.Errorf("watch --job: %v, %+v", err, got)
	}
}

// TestBadInput: every invalid combination is refused with a job.Error
// (exit 2) naming the field, before the command's work starts.
func TestBadInput(t *testing.T) {
	hello := moduleDir(t, "hello")
	tmp := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(tmp, name)
		os.WriteFile(p, []byte(data), 0o644)
		return p
	}
	notJSON := write("bad.json", "{kernel: rko}")
	unknown := write("unknown.json", `{"schema":1,"kernel":{"kind":"rko","arch":"x86_64"},"modules":["`+hello+`"],"boot":{},"plan":{},"colour":"red"}`)
	wrongType := write("type.json", `{"schema":1,"kernel":{"kind":"rko"},"modules":"`+hello+`"}`)
	oldSchema := write("schema.json", `{"schema":7}`)
	missingKernel := write("nokernel.json", `{"schema":1,"kernel":{"kind":"dir","dir":"/nonexistent/tree"},"modules":["`+hello+`"]}`)
	missingModule := write("nomodule.json", `{"schema":1,"modules":["/nonexistent/module"]}`)
	armDebian := write("armdebian.json", `{"schema":1,"kernel":{"kind":"debian","arch":"arm64"},"modules":["`+hello+`"]}`)
	tests := []struct {
		name  string
		cmd   string
		args  []string
		field string
		want  string
	}{
		{"append with spaces", "test", []string{"--append", "dyndbg=+p loglevel=8", hello}, "--append", "one kernel argument per --append"},
		{"empty append", "test", []string{"--append", "", hello}, "--append", "one kernel argument"},
		{"kmemleak", "test", []string{"--kmemleak", "maybe", hello}, "--kmemleak", "want auto, on or off"},
		{"param without dot", "test", []string{"--param", "nodot", hello}, "--param", "MODULE.NAME=VALUE"},
		{"param without value", "test", []string{"--param", "mod.novalue", hello}, "--param", "MODULE.NAME=VALUE"},
		{"param with space", "test", []string{"--param", "m.x=a b", hello}, "--param", "MODULE.NAME=VALUE"},
		{"unknown arch", "test", []string{"--arch", "mips", hello}, "--arch", "mips"},
		{"arm64 with debian", "test", []string{"--arch", "arm64", "--kernel", "debian", hello}, "--arch", "x86_64 (amd64) only"},
		{"profile with debian", "test", []string{"--profile", "debug", "--kernel", "debian", hello}, "--profile", "drop them"},
		{"unknown profile", "test", []string{"--profile", "fast", hello}, "--profile", "unknown profile"},
		{"missing fragment", "test", []string{"--fragment", "/nonexistent.config", hello}, "--fragment", "not a config fragment"},
		{"missing kernel dir", "test", []string{"--kernel", "/nonexistent/tree", hello}, "--kernel", "does not exist"},
		{"missing module dir", "test", []string{"/nonexistent/module"}, "module directory", "does not exist"},
		{"module dir without Kbuild", "test", []string{tmp}, "module directory", "neither a Kbuild nor a Makefile"},
		{"unknown accel", "test", []string{"--accel", "hvf", hello}, "--accel", "want auto, kvm or tcg"},
		{"kvm for a foreign guest", "test", []string{"--accel", "kvm", "--arch", foreignArch(), hello}, "--accel", "KVM cannot run"},
		{"console limit", "test", []string{"--console-limit", "0", hello}, "--console-limit", "at least 1"},
		{"negative cpus", "test", []string{"--cpus", "-1", hello}, "--cpus", "want 1 to 64"},
		{"tiny memory", "test", []string{"--memory", "8", hello}, "--memory", "at least 64"},
		{"toolchain", "test", []string{"--toolchain", "nightly", hello}, "--toolchain", "want auto, host or rootfs"},
		{"job not JSON", "test", []string{"--job", notJSON}, "job", "not JSON"},
		{"job unknown field", "test", []string{"--job", unknown}, "colour", "unknown field"},
		{"job wrong type", "test", []string{"--job", wrongType}, "modules", "want a JSON"},
		{"job schema", "test", []string{"--job", oldSchema}, "schema", "want 1"},
		{"job missing kernel", "test", []string{"--job", missingKernel}, "--kernel", "does not exist"},
		{"job missing module", "test", []string{"--job", missingModule}, "module directory", "does not exist"},
		{"job arm64 debian", "test", []string{"--job", armDebian}, "--arch", "x86_64 (amd64) only"},
		{"job missing file", "test", []string{"--job", filepath.Join(tmp, "none.json")}, "--job", "no such file"},
		{"job with flags", "test", []string{"--job", unknown, "--arch", "arm64"}, "--job", "drop --arch"},
		{"job with dirs", "test", []string{"--job", unknown, hello}, "--job", "module directories"},
		{"run without command", "run", []string{hello}, "command", "needs the command after --"},
		{"run with empty command", "run", []string{hello, "--"}, "command", "nothing to run"},
		{"bench cpus", "bench", []string{"--cpus", "2"}, "--cpus", "one vCPU"},
		{"debug debian", "debug", []string{"--kernel", "debian", hello}, "--kernel", "no debug info"},
		{"debug uml", "debug", []string{"--arch", "um", hello}, "--arch", "host process"},
		{"debug batch and listen", "debug", []string{"--batch", "x.gdb", "--listen", "127.0.0.1:1", hello}, "--batch", "give one"},
		{"gdb address", "test", []string{"--gdb", "1234", hello}, "--gdb", "HOST:PORT"},
		{"gdb on uml", "test", []string{"--keep-on-crash", "--arch", "um", hello}, "--gdb", "host process"},
		{"bench target", "bench", []string{"--target", "2"}, "--target", "(0, 1)"},
		{"bench threshold without baseline", "bench", []string{"--threshold", "0.02"}, "--threshold", "give --baseline FILE"},
		{"bench threshold", "bench", []string{"--baseline", "x.json", "--threshold", "5"}, "--threshold", "(0, 1)"},
		{"bench count", "bench", []string{"--count", "cycles"}, "--count", "want instructions or time"},
		{"bench instructions under kvm", "bench", []string{"--count", "instructions", "--accel", "kvm"}, "--count", "--accel tcg"},
		{"bench unknown workload", "bench", []string{"-w", "kv,btree"}, "--workload", `unknown workload "btree"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := captureJob(t, tt.cmd, tt.args, "")
			if got != nil {
				t.Fatalf("the command ran with job %s", got.JSON())
			}
			var je *job.Error
			if !errors.As(err, &je) {
				t.Fatalf("err = %v (%T), want a *job.Error", err, err)
			}
			if !strings.Contains(je.Field, tt.field) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q (field %q), want field %q and %q", err, je.Field, tt.field, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("err = %q: want one line", err)
			}
			if s := exitStatus(err, &bytes.Buffer{}); s != ExitError {
				t.Errorf("exit status %d, want %d", s, ExitError)
			}
		})
	}
}

// foreignArch is an architecture KVM cannot run on this host.
func foreignArch() string {
	if target.Host().Name == "arm64" {
		return "riscv64"
	}
	return "arm64"
}

// TestKernelList checks --kernel A,B on rko test: one job per kernel,
// equal but for the kernel; and that the commands that run one kernel
// refuse a list.
func TestKernelList(t *testing.T) {
	m := moduleDir(t, "hello")
	f, _, _ := testStreams("")
	var got *TestOptions
	c := NewCmdTest(f, func(_ context.Context, o *TestOptions) error { got = o; return nil })
	c.SilenceUsage, c.SilenceErrors = true, true
	c.SetArgs([]string{"--kernel", "6.12,7.3", "--rustc", "1.98", "--accel", "tcg", m})
	if err := c.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(got.Jobs) != 2 || got.Jobs[0].Kernel.Version != "6.12" || got.Jobs[1].Kernel.Version != "7.3" {
		t.Fatalf("jobs = %+v", got.Jobs)
	}
	for _, j := range got.Jobs {
		if j.Kernel.Rustc != "1.98" || j.Boot.Accel != "tcg" || !reflect.DeepEqual(j.Modules, []string{m}) {
			t.Errorf("job %+v lost the other flags", j)
		}
	}
	for _, args := range [][]string{{"run", m, "--", "true"}, {"shell", m}, {"watch", m}} {
		cmd := args[0]
		_, err := captureJob(t, cmd, append([]string{"--kernel", "6.12,7.3"}, args[1:]...), "")
		var je *job.Error
		if !errors.As(err, &je) || je.Field != "--kernel" {
			t.Errorf("rko %s --kernel 6.12,7.3: %v, want a --kernel error", cmd, err)
		}
	}
}
