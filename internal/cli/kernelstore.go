package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rkodev/rko/internal/job"
	"github.com/rkodev/rko/internal/store"
	"github.com/rkodev/rko/internal/toolchain"
)

// KernelStoreOptions are rko kernel push's and pull's options.
type KernelStoreOptions struct {
	IO *IOStreams
	// Ref is the registry reference: REPOSITORY (the kernel key is the
	// tag), REPOSITORY:TAG or REPOSITORY@sha256:DIGEST.
	Ref   store.Ref
	flags *kernelFlags
	JSON  bool
}

// NewCmdKernelPush makes rko kernel push.
func NewCmdKernelPush(f *Factory, runF func(context.Context, *KernelStoreOptions) error) *cobra.Command {
	return kernelStoreCmd(f, runF, "push", "Push a built kernel to an OCI registry, tagged with its cache key",
		`push uploads the kernel the flags name (built already: rko kernel build)
to the registry repository REF as an OCI artifact: its image, vmlinux and
System.map, the build tree a module build needs (Module.symvers, .config,
include/generated, scripts, the Rust metadata and proc-macro libraries),
and its self-check record, tagged with its cache key (or REF's tag).
Credentials: the docker config and its credential helpers, or
RKO_REGISTRY_USER and RKO_REGISTRY_PASSWORD (docs/scale.md).`, runKernelPush)
}

// NewCmdKernelPull makes rko kernel pull.
func NewCmdKernelPull(f *Factory, runF func(context.Context, *KernelStoreOptions) error) *cobra.Command {
	return kernelStoreCmd(f, runF, "pull", "Pull a kernel from an OCI registry into the cache",
		`pull fetches a kernel pushed by rko kernel push: REF is a repository (the
tag is the cache key of the kernel the flags name on this machine), or
REPOSITORY:TAG, or REPOSITORY@sha256:DIGEST (pinned). Every blob's digest
and size is verified; a kernel built by another toolchain or from another
linux-source than this machine's is refused; the entry appears in the
cache only when it is whole. The pulled build tree's Makefiles run when a
module is built against it, so it is used only with the rootfs toolchain,
inside its sandbox (docs/scale.md#what-trusting-a-registry-means).`, runKernelPull)
}

func kernelStoreCmd(f *Factory, runF func(context.Context, *KernelStoreOptions) error, use, short, long string,
	run func(context.Context, *KernelStoreOptions) error) *cobra.Command {
	o := &KernelStoreOptions{IO: f.IO, flags: &kernelFlags{}}
	c := &cobra.Command{
		Use:   use + " REF",
		Short: short,
		Long:  long,
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			ref, err := store.ParseRef(args[0])
			if err != nil {
				return &job.Error{Field: "REF", Msg: err.Error()}
			}
			o.Ref = ref
			if runF != nil {
				return runF(c.Context(), o)
			}
			return run(c.Context(), o)
		},
	}
	o.flags.add(c, "default")
	c.Flags().BoolVar(&o.JSON, "json", false, "print what was done as JSON (docs/schemas.md#rko-kernel-push---json)")
	return c
}

func runKernelPush(ctx context.Context, o *KernelStoreOptions) error {
	p := o.IO.Printer(o.flags.quiet || o.JSON)
	_, k, err := o.flags.cachedKernel(ctx, p)
	if err != nil {
		return err
	}
	done := p.Phase("push " + k.Key)
	pushed, err := store.Push(ctx, o.Ref, k, p.Logf)
	if err != nil {
		return err
	}
	done()
	if o.JSON {
		return writeJSON(o.IO.Out, pushed)
	}
	fmt.Fprintf(o.IO.Out, "pushed kernel %s (%s %s) to %s: %s, %.1f MiB, %d files, %.1fs\n", k.Key, k.Target().Name, k.Release,
		pushed.Ref, pushed.Digest, float64(pushed.Size)/(1<<20), pushed.Files, pushed.Seconds)
	return nil
}

func runKernelPull(ctx context.Context, o *KernelStoreOptions) error {
	p := o.IO.Printer(o.flags.quiet || o.JSON)
	env, jk, err := o.flags.prepare(ctx, p, true)
	if err != nil {
		return err
	}
	if jk.Kind != job.KindRko {
		return &job.Error{Field: "--kernel", Msg: "a registry holds the kernels rko builds: drop --kernel " + jk.Spec()}
	}
	if env.Toolchain.Kind != toolchain.Rootfs {
		return &job.Error{Field: "--toolchain", Msg: "a pulled kernel's Makefiles run when a module is built against it, so rko uses one only with the rootfs toolchain, inside its sandbox: give --toolchain rootfs"}
	}
	want := store.Expect{Toolchain: env.Toolchain.ID, Source: env.Source}
	if o.Ref.Reference.Reference == "" {
		if want.Key, err = env.KernelKey(jk); err != nil {
			return err
		}
	}
	done := p.Phase("pull " + o.Ref.WithKey(want.Key).String())
	pulled, err := store.Pull(ctx, o.Ref, want, "", p.Logf)
	if err != nil {
		return err
	}
	done()
	if o.JSON {
		return writeJSON(o.IO.Out, pulled)
	}
	how := fmt.Sprintf("%.1f MiB in %.1fs", float64(pulled.Size)/(1<<20), pulled.Seconds)
	if pulled.Cached {
		how = "in the cache already"
	}
	k := pulled.Kernel
	fmt.Fprintf(o.IO.Out, "kernel %s (%s %s, profile %s) from %s (%s): %s\n  KDIR: %s\n", k.Key, k.Target().Name, k.Release, k.Profile,
		pulled.Ref, pulled.Digest, how, k.BuildDir)
	return nil
}
