package workflow

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rkodev/rko/internal/guest"
	"github.com/rkodev/rko/internal/guest/proto"
	"github.com/rkodev/rko/internal/job"
	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/toolchain"
	"github.com/rkodev/rko/internal/ui"
	"github.com/rkodev/rko/internal/vm"
)

// fakeKernel is a kernel value with a .config and nothing built: enough
// for the boot path, which only reads the config and names the image.
func fakeKernel(t *testing.T, arch, profile, config string) *kernel.Kernel {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".config"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return &kernel.Kernel{Key: "k-" + arch + "-" + profile, Dir: dir, BuildDir: dir, Arch: arch, Profile: profile,
		Image: filepath.Join(dir, "bzImage")}
}

// TestBootConfig checks the one boot path: what every command boots with
// comes from the job's boot options and the kernel, the same for rko
// test's plan and rko watch's command mode (watch's debug boot once
// lacked slab_debug=U, which kmemleak needs).
func TestBootConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the guest init")
	}
	debugCfg := "CONFIG_SLUB_DEBUG=y\nCONFIG_DEBUG_KMEMLEAK=y\nCONFIG_KUNIT=y\n"
	tests := []struct {
		name     string
		arch     string
		profile  string
		config   string
		boot     job.Boot
		serve    bool
		cmdline  []string // wanted among the arguments
		noArgs   []string // not wanted
		timeout  time.Duration
		memoryMB int
		uml      bool
		devices  []job.Device
		extra    string // wanted QEMU arguments (devices), joined
		err      string // wanted error
	}{
		{name: "default", arch: "x86_64", profile: "default", config: "CONFIG_KUNIT=y\n", boot: job.Boot{Kmemleak: "auto"},
			noArgs: []string{"slab_debug=U"}, timeout: 180 * time.Second},
		{name: "debug test", arch: "x86_64", profile: "debug", config: debugCfg, boot: job.Boot{Kmemleak: "auto"},
			cmdline: []string{"slab_debug=U"}, timeout: 10 * time.Minute, memoryMB: 1024},
		{name: "debug watch", arch: "x86_64", profile: "debug", config: debugCfg, boot: job.Boot{Kmemleak: "auto"}, serve: true,
			cmdline: []string{"slab_debug=U"}, timeout: 10 * time.Minute, memoryMB: 1024},
		{name: "debug, kmemleak off", arch: "x86_64", profile: "debug", config: debugCfg, boot: job.Boot{Kmemleak: "off"},
			noArgs: []string{"slab_debug=U"}, timeout: 10 * time.Minute, memoryMB: 1024},
		{name: "append and timeout", arch: "x86_64", profile: "default", config: "", boot: job.Boot{Kmemleak: "on", Append: []string{"dyndbg=+p"}, Timeout: job.Duration(time.Minute), MemoryMB: 300},
			cmdline: []string{"dyndbg=+p"}, noArgs: []string{"slab_debug=U"}, timeout: time.Minute, memoryMB: 300},
		{name: "uml", arch: "um", profile: "default", config: "", boot: job.Boot{Kmemleak: "auto"}, timeout: 180 * time.Second, uml: true},
		// The job's devices reach QEMU's argv on the one boot path.
		{name: "pci-testdev", arch: "x86_64", profile: "default", config: "CONFIG_PCI=y\n", boot: job.Boot{Kmemleak: "auto"},
			timeout: 180 * time.Second, devices: []job.Device{{Name: "pci-testdev"}}, extra: "-device pci-testdev"},
		// A kernel without the bus is told so before the boot.
		{name: "pci-testdev without PCI", arch: "x86_64", profile: "default", config: "CONFIG_KUNIT=y\n", boot: job.Boot{Kmemleak: "auto"},
			devices: []job.Device{{Name: "pci-testdev"}}, err: "device pci-testdev needs CONFIG_PCI, which kernel"},
		{name: "pci-testdev on virt without the host bridge", arch: "arm64", profile: "default", config: "CONFIG_PCI=y\n", boot: job.Boot{Kmemleak: "auto"},
			devices: []job.Device{{Name: "pci-testdev"}}, err: "needs CONFIG_PCI_HOST_GENERIC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := fakeKernel(t, tt.arch, tt.profile, tt.config)
			j := &job.Job{Kernel: job.Kernel{Kind: job.KindRko, Arch: tt.arch, Profile: tt.profile}, Boot: tt.boot}
			j.Defaults()
			e := &Env{Toolchain: &toolchain.Toolchain{Kind: toolchain.Host}, UI: ui.New(io.Discard, true)}
			r := &Resolved{Job: j, Env: e, Kernel: k}
			plan := &guest.Plan{Serve: tt.serve}
			dir := t.TempDir()
			o := r.BootOpts()
			o.Devices = tt.devices
			cfg, err := e.bootConfig(context.Background(), k, plan, nil, o, dir)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(cfg.Extra, " "); got != tt.extra {
				t.Errorf("QEMU arguments %q, want %q", got, tt.extra)
			}
			for _, a := range tt.cmdline {
				if !slices.Contains(cfg.Cmdline, a) {
					t.Errorf("cmdline %q lacks %q", cfg.Cmdline, a)
				}
			}
			for _, a := range tt.noArgs {
				if slices.Contains(cfg.Cmdline, a) {
					t.Errorf("cmdline %q has %q", cfg.Cmdline, a)
				}
			}
			if cfg.Timeout != tt.timeout || cfg.MemoryMB != tt.memoryMB || cfg.MaxConsole != 256<<20 {
				t.Errorf("timeout %s memory %d console %d, want %s %d %d", cfg.Timeout, cfg.MemoryMB, cfg.MaxConsole, tt.timeout, tt.memoryMB, 256<<20)
			}
			if (cfg.Wrap != nil) != tt.uml || cfg.Target.Name != tt.arch || cfg.Kernel != k.BootImage() {
				t.Errorf("target %s, image %s, wrap %v", cfg.Target.Name, cfg.Kernel, cfg.Wrap != nil)
			}
			if len(plan.Token) != 32 {
				t.Errorf("plan token %q, want 32 hex digits", plan.Token)
			}
			if _, err := os.Stat(cfg.Initrd); err != nil || filepath.Dir(cfg.Initrd) != dir {
				t.Errorf("initrd %s: %v", cfg.Initrd, err)
			}
			saved, err := os.ReadFile(filepath.Join(dir, "plan.json"))
			if err != nil || !strings.Contains(string(saved), plan.Token) {
				t.Errorf("plan.json in the run directory: %v", err)
			}
			forged := proto.Frame{Ev: proto.EvBoot}.Encode()
			if cfg.Ready(forged) {
				t.Errorf("Ready accepted an unsigned frame %q", forged)
			}
		})
	}
}

// Two boots never share a token.
func TestBootTokensDiffer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the guest init")
	}
	k := fakeKernel(t, "x86_64", "default", "")
	e := &Env{Toolchain: &toolchain.Toolchain{Kind: toolchain.Host}, UI: ui.New(io.Discard, true)}
	var a, b guest.Plan
	if _, err := e.bootConfig(context.Background(), k, &a, nil, BootOpts{}, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.bootConfig(context.Background(), k, &b, nil, BootOpts{}, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if a.Token == b.Token || a.Token == "" {
		t.Errorf("tokens %q and %q", a.Token, b.Token)
	}
}

// TestResolveRefusesFirst: a job that cannot work is refused by Resolve
// before any toolchain is looked for or installed.
func TestResolveRefusesFirst(t *testing.T) {
	t.Setenv("RKO_CACHE", t.TempDir())
	j := &job.Job{Kernel: job.Kernel{Kind: job.KindDebian, Arch: "arm64"}, Modules: []string{t.TempDir()}}
	j.Defaults()
	_, err := Resolve(context.Background(), j, ui.New(io.Discard, true), true)
	var je *job.Error
	if !errors.As(err, &je) || je.Field != "--arch (kernel.arch)" {
		t.Fatalf("Resolve = %v, want the --arch refusal", err)
	}
	if ents, _ := os.ReadDir(os.Getenv("RKO_CACHE")); len(ents) != 0 {
		t.Errorf("Resolve wrote %d cache entries before refusing", len(ents))
	}
}

// TestJudgeForged: a forged frame fails a run that would have passed, and
// the verdict lists it.
func TestJudgeForged(t *testing.T) {
	s := session(true, true, "insmod hello:passed", "test hello/smoke.sh:passed", "rmmod hello:passed")
	s.Forged = []guest.ForgedFrame{{Step: "test hello/smoke.sh", Line: `@@rko {"ev":"end"}`, Why: "no token"}}
	s.ForgedCount = 1
	v := Judge(&TestRun{Session: s, Boot: &vm.Result{}}, "", 0)
	if v.Passed || v.Step != "test hello/smoke.sh" || !strings.Contains(v.Reason, "a forged frame was printed during step") {
		t.Errorf("verdict %+v, want a failure naming the forged frame's step", v)
	}
	if len(v.Forged) != 1 || v.Forged[0].Why != "no token" {
		t.Errorf("verdict.forged = %+v", v.Forged)
	}
}
