package workflow

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/rkodev/rko/internal/cache"
	"github.com/rkodev/rko/internal/kbuild"
	"github.com/rkodev/rko/internal/kernel"
	"github.com/rkodev/rko/internal/ui"
)

// WatchCycle is one cycle of rko watch: the report of the cycle (the
// same document rko test writes) and what rko watch adds
// (docs/schemas.md).
type WatchCycle struct {
	Cycle int `json:"cycle"`
	// EditToVerdictS is from the save (or Enter) to this verdict.
	EditToVerdictS float64 `json:"edit_to_verdict_s"`
	// Rebooted: this cycle ran on a freshly booted guest (the first cycle,
	// or one after a cycle whose kernel could not be trusted).
	Rebooted bool `json:"rebooted"`
	// RebootReason says why the guest is rebooted after this cycle.
	RebootReason string `json:"reboot_reason,omitempty"`
	// BuildError holds the compiler's diagnostics when the module did not
	// build (the guest keeps running).
	BuildError *BuildFailure `json:"build_error,omitempty"`
	// Build says whether the build replayed Kbuild's commands or ran
	// make, and why.
	Build *BuildPath `json:"build,omitempty"`
	// Phases says where the cycle's time went.
	Phases *Phases `json:"phases,omitempty"`
	*Report
}

// Phases is where one cycle's time went, in seconds, in the order they
// happen; they add up to edit_to_verdict_s (docs/schemas.md).
type Phases struct {
	// WaitS is from the save to the start of the build: the debounce's
	// quiet after the last file event (none by default), a cycle still
	// running, and a build thrown away because a save landed while it
	// ran.
	WaitS float64 `json:"wait_s"`
	// CompileS is the compile commands of the module's changed sources
	// (compiler, objtool, fixdep) when the build replayed them; 0 when
	// make ran (make's own time is all in BuildRestS).
	CompileS float64 `json:"compile_s"`
	// BuildRestS is the rest of the build: make's walk, or the replay's
	// modpost and link; and the checks of each .ko.
	BuildRestS float64 `json:"build_rest_s"`
	// BootWaitS is the wait for a guest still booting.
	BootWaitS float64 `json:"boot_wait_s"`
	// TransferS is stripping the modules and sending them and the test
	// programs, to the guest's answer to the last of them.
	TransferS float64 `json:"transfer_s"`
	// Steps are the plan's steps, in order.
	Steps []StepPhase `json:"steps,omitempty"`
	// VerdictS is from the last step's answer to the verdict: reading
	// the console, the results and the verdict.
	VerdictS float64 `json:"verdict_s"`
}

// StepPhase is one step of a cycle.
type StepPhase struct {
	Name string `json:"name"`
	// S is the step as the host saw it: from its command written (or
	// the answer before it, when later) to its answer.
	S float64 `json:"s"`
	// GuestS is the step's own time in the guest (its end frame's ms).
	GuestS float64 `json:"guest_s"`
}

// BuildFailure is a module build that failed: the compiler's messages,
// and the error when there are none.
type BuildFailure struct {
	Dir         string              `json:"dir,omitempty"`
	Diagnostics []kbuild.Diagnostic `json:"diagnostics,omitempty"`
	Error       string              `json:"error"`
}

// WatchOptions configure Watch.
type WatchOptions struct {
	// Debounce is the quiet after the last file event before a cycle; 0
	// starts the cycle at the first event (a build whose sources changed
	// meanwhile is done again).
	Debounce time.Duration
	// Cycles stops after this many cycles (0: until ctx ends).
	Cycles int
	// Enter: each line read from it runs a cycle too.
	Enter io.Reader
	// OnCycle gets each cycle's outcome, and the build error of a cycle
	// whose modules did not build.
	OnCycle func(c WatchCycle, buildErr error)
}

// Watch is rko watch: it boots the job's kernel once in the init's
// command mode (through the one boot path) and runs a cycle (build, load,
// tests, unload, verdict) first and then on every save of a module's
// source or line on o.Enter, rebooting only when the guest cannot be
// trusted. It ends when ctx does or after o.Cycles cycles.
func Watch(ctx context.Context, r *Resolved, o WatchOptions) error {
	var abs []string
	for _, d := range r.Job.Modules {
		a, err := kbuild.CheckDir(d)
		if err != nil {
			return err
		}
		abs = append(abs, a)
		// Two watchers of one directory would build it under each
		// other's feet and load it twice.
		locks, err := cache.Sub("locks")
		if err != nil {
			return err
		}
		unlock, ok, err := cache.TryLock(filepath.Join(locks, "watch-"+cache.Key([]byte(a))))
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("another rko watch is already watching %s: stop it first (Ctrl-C in its terminal)", a)
		}
		defer unlock()
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching files: %w", err)
	}
	defer fw.Close()
	for _, d := range abs {
		for _, sub := range []string{d, filepath.Join(d, "tests"), filepath.Dir(d)} {
			fw.Add(sub) // tests/ may not exist; the parent tells when d is deleted or made again
		}
	}
	// A trigger waiting in the channel keeps its time (the burst's
	// first event); a forced one (the first cycle, Enter) runs even when
	// no source changed.
	triggers := make(chan watchTrigger, 1)
	trigger := func(t watchTrigger) {
		select {
		case triggers <- t:
		default:
			if t.force {
				select {
				case old := <-triggers:
					t.at = old.at
				default:
				}
				select {
				case triggers <- t:
				default:
				}
			}
		}
	}
	go watchFiles(ctx, fw, abs, o.Debounce, func(at time.Time) { trigger(watchTrigger{at: at}) })
	if o.Enter != nil {
		go func() { // Enter runs a cycle too
			sc := bufio.NewScanner(o.Enter)
			for sc.Scan() {
				trigger(watchTrigger{at: time.Now(), force: true})
			}
		}()
	}
	if o.OnCycle == nil {
		o.OnCycle = func(WatchCycle, error) {}
	}
	s := &watchSession{env: r.Env, k: r.Kernel, dirs: abs, opts: r.BootOpts(), p: r.Env.UI, print: o.OnCycle}
	defer s.stop()
	s.bootAhead(ctx)
	trigger(watchTrigger{at: time.Now(), force: true})
	var built string // the sources the last cycle built
	for n := 1; o.Cycles == 0 || n <= o.Cycles; {
		var t watchTrigger
		select {
		case t = <-triggers:
		case <-ctx.Done():
			return ctx.Err()
		}
		sum := sourceSum(abs)
		if !t.force && sum == built {
			// The rest of a burst the last cycle built already, or a
			// save that changed nothing (Enter runs a cycle anyway).
			continue
		}
		sum, err := s.cycle(ctx, n, t.at, sum)
		if err != nil {
			return err
		}
		built = sum
		n++
		if n == 2 {
			s.p.Logf("watching %s: save a file or press Enter to run again; Ctrl-C to stop", strings.Join(abs, ", "))
		}
	}
	return nil
}

// builtBy is how a cycle's build went (nil when it failed before make
// ran): the build's own path, or make's with the reason it ran, for a
// build that failed.
func builtBy(b *cycleBuild, err error) *BuildPath {
	if b != nil {
		p := b.path
		return &p
	}
	var be *kbuild.Error
	if errors.As(err, &be) {
		return &BuildPath{Path: kbuild.PathMake, Reason: be.Reason}
	}
	return nil
}

// watchTrigger asks for a cycle: at is the edit (the first file event of
// its burst) or the Enter; force runs it even when no source changed.
type watchTrigger struct {
	at    time.Time
	force bool
}

// sourceSum is a digest of what the module directories are built and
// tested from: the name and content of each module source (isModuleSource)
// and of each file of tests/. A cycle compares it before and after its
// build: a save that lands while the build runs (or an editor's save in
// two writes, the first seen alone) changes it, and the build is done
// again before anything is loaded.
func sourceSum(dirs []string) string {
	h := sha256.New()
	for _, d := range dirs {
		for _, sub := range []string{d, filepath.Join(d, "tests")} {
			ents, _ := os.ReadDir(sub)
			for _, e := range ents {
				name := e.Name()
				if e.IsDir() || strings.HasPrefix(name, ".") || sub == d && !isModuleSource(name) {
					continue
				}
				data, err := os.ReadFile(filepath.Join(sub, name))
				if err != nil {
					data = []byte("\x00unreadable: " + err.Error())
				}
				fmt.Fprintf(h, "%s\x00%d\x00", filepath.Join(sub, name), len(data))
				h.Write(data)
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// watchFiles turns file events in the module directories into cycle
// triggers: at once (debounce 0, the default), or after debounce of quiet.
// Build products (and editors' swap files) are not edits.
func watchFiles(ctx context.Context, fw *fsnotify.Watcher, dirs []string, debounce time.Duration, trigger func(time.Time)) {
	// Every event restarts the quiet timer; the cycle's edit time is the
	// first event of the burst. gen tells a stale timer from the last one.
	fire := make(chan int, 1)
	var first time.Time
	var timer *time.Timer
	gen, pending := 0, false
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-fw.Events:
			if !ok {
				return
			}
			if !isSourceEvent(ev, dirs) {
				continue
			}
			if ev.Has(fsnotify.Create) {
				for _, d := range dirs {
					if ev.Name == d || ev.Name == filepath.Join(d, "tests") {
						fw.Add(ev.Name) // made again after a delete
						fw.Add(filepath.Join(d, "tests"))
					}
				}
			}
			if !pending {
				first, pending = time.Now(), true
			}
			gen++
			if timer != nil {
				timer.Stop()
			}
			wait := debounce
			if debounce <= 0 {
				if !truncated(ev) {
					// The leading edge: the cycle starts at the first
					// event, and checks the sources did not change
					// while it built (Watch's sourceSum).
					pending = false
					trigger(first)
					continue
				}
				// An editor's save that truncates the file, then
				// writes it: the write's event follows at once. (A
				// file really emptied gets its cycle after the wait.)
				wait = truncateWait
			}
			g := gen
			timer = time.AfterFunc(wait, func() {
				select {
				case fire <- g:
				default:
				}
			})
		case g := <-fire:
			if g == gen && pending {
				pending = false
				trigger(first)
			}
		case <-fw.Errors:
		}
	}
}

// truncateWait is how long a leading-edge watch waits after an event
// that left its file empty (truncated before it is written) for the next.
const truncateWait = 20 * time.Millisecond

// truncated reports whether ev is a write that left its file empty: the
// first half of a save that truncates, then writes. Starting the cycle
// there would build the empty file, find the sources changed after the
// build, and build again.
func truncated(ev fsnotify.Event) bool {
	if !ev.Has(fsnotify.Write) && !ev.Has(fsnotify.Create) {
		return false
	}
	st, err := os.Stat(ev.Name)
	return err == nil && st.Mode().IsRegular() && st.Size() == 0
}

// isSourceEvent reports whether ev is an edit of a module's sources: a
// source file (.rs, .c, .h, .S, Kbuild, Makefile) of a module directory,
// any file of its tests/, or the directory itself deleted or made again.
// What the build writes (objects, .mod.c, rustc's temporaries) and
// editors' dot files and backups are not edits.
func isSourceEvent(ev fsnotify.Event, dirs []string) bool {
	name := filepath.Base(ev.Name)
	parent := filepath.Dir(ev.Name)
	if ev.Has(fsnotify.Chmod) && !ev.Has(fsnotify.Write) && !ev.Has(fsnotify.Create) {
		return false
	}
	hidden := strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") || strings.HasSuffix(name, ".swp")
	for _, d := range dirs {
		switch {
		case ev.Name == d:
			return true
		case parent == filepath.Join(d, "tests"):
			return !hidden
		case parent == d:
			return !hidden && isModuleSource(name)
		}
	}
	return false
}

// isModuleSource reports whether name is a file a module is built from.
func isModuleSource(name string) bool {
	switch name {
	case "Kbuild", "Makefile":
		return true
	}
	if strings.HasSuffix(name, ".mod.c") {
		return false // modpost writes it
	}
	switch filepath.Ext(name) {
	case ".rs", ".c", ".h", ".S":
		return true
	}
	return false
}

// watchSession holds the guest between cycles.
type watchSession struct {
	env   *Env
	k     *kernel.Kernel
	dirs  []string
	opts  BootOpts
	p     *ui.Printer
	print func(WatchCycle, error)
	guest *Guest
	boot  chan bootResult // a guest booted ahead, or why it did not
	fresh bool            // the guest has run no cycle yet
}

type bootResult struct {
	g   *Guest
	err error
}

// bootAhead starts booting the next guest, in the background, while the
// user edits (or the first cycle's module builds), so a cycle seldom
// waits for a boot. Only the cycle loop calls it: s.boot is its own.
func (s *watchSession) bootAhead(ctx context.Context) {
	ch := make(chan bootResult, 1)
	s.boot = ch
	go func() {
		g, err := s.env.StartGuest(ctx, s.k, s.opts, "watch")
		ch <- bootResult{g, err}
	}()
}

// take returns a running guest, waiting for the one booting ahead.
func (s *watchSession) take(ctx context.Context) (*Guest, error) {
	if s.guest != nil && s.guest.Alive() {
		return s.guest, nil
	}
	if s.boot == nil {
		s.bootAhead(ctx)
	}
	r := <-s.boot
	s.boot = nil
	if r.err != nil {
		return nil, r.err
	}
	s.guest, s.fresh = r.g, true
	if r.g.AccelNote != "" {
		s.p.Logf("KVM not used: %s", r.g.AccelNote)
	}
	s.p.Logf("guest up in %.1fs (%s)", r.g.Booted.Seconds(), r.g.Accel)
	return s.guest, nil
}

func (s *watchSession) stop() {
	if s.guest != nil {
		s.guest.Stop()
		s.guest = nil
	}
	if s.boot != nil {
		if r := <-s.boot; r.g != nil {
			r.g.Stop()
		}
		s.boot = nil
	}
}

// cycle runs one edit: build, then the plan on the guest, then the
// verdict, printed.
// sum is the sources' digest as the cycle begins (sourceSum); it returns
// the digest of the sources it built.
func (s *watchSession) cycle(ctx context.Context, n int, at time.Time, sum string) (string, error) {
	out := WatchCycle{Cycle: n}
	ph := &Phases{}
	out.Phases = ph
	var (
		buildStart time.Time
		buildTime  time.Duration
		b          *cycleBuild
		err        error
	)
	var discarded []DiscardedBuild
	for try := 0; ; try++ {
		buildStart = time.Now()
		b, err = s.env.buildCycle(ctx, s.k, s.dirs)
		buildTime = time.Since(buildStart)
		// Sources that changed while they were built are built again
		// (the first build's time counts as the wait): what is loaded
		// and reported is what is saved. After a few tries (a file
		// rewritten all the time) the last build stands.
		after := sourceSum(s.dirs)
		if errors.Is(err, context.Canceled) || try == 4 || after == sum {
			break
		}
		if bp := builtBy(b, err); bp != nil {
			discarded = append(discarded, DiscardedBuild{Path: bp.Path, Reason: bp.Reason})
		}
		sum = after
	}
	ph.WaitS = seconds(buildStart.Sub(at))
	out.Build = builtBy(b, err)
	if out.Build != nil && len(discarded) > 0 {
		out.Build.Discarded = discarded
	}
	if b != nil {
		ph.CompileS = seconds(b.compile)
		ph.BuildRestS = seconds(buildTime - b.compile)
	} else {
		ph.BuildRestS = seconds(buildTime)
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return sum, err
		}
		var be *kbuild.Error
		reason := err.Error()
		out.BuildError = &BuildFailure{Error: err.Error()}
		if errors.As(err, &be) {
			out.BuildError.Dir, out.BuildError.Diagnostics = be.Dir, be.Diagnostics
			if len(be.Diagnostics) > 0 {
				reason = "module build failed: " + be.Diagnostics[0].String()
			}
		}
		out.Report = &Report{Kernel: InfoOf(s.k), Verdict: Verdict{Reason: reason}}
		out.EditToVerdictS = seconds(time.Since(at))
		ph.VerdictS = seconds(time.Since(buildStart.Add(buildTime)))
		s.print(out, err)
		return sum, nil
	}
	mods := b.mods
	waitStart := time.Now()
	g, err := s.take(ctx)
	if err != nil {
		return sum, err
	}
	ph.BootWaitS = seconds(time.Since(waitStart))
	out.Rebooted = s.fresh
	s.fresh = false
	runStart := time.Now()
	c, err := s.env.RunCycle(ctx, g, mods, s.opts)
	runTime := time.Since(runStart)
	if err != nil {
		return sum, err
	}
	rep := NewReport(ctx, s.k, mods, c.Run)
	// boot_s is the time on the guest: sending the modules and running
	// the plan (the guest was booted before).
	rep.Timings = Timings{Build: seconds(buildTime), Boot: seconds(runTime)}
	out.Report = rep
	out.RebootReason = c.Reboot
	if out.RebootReason == "" && len(rep.Crashes) > 0 {
		out.RebootReason = "a crash was reported: " + rep.Crashes[0].Title
	}
	ph.TransferS = seconds(c.Transfer)
	answered := c.Transfer
	for _, st := range c.Steps {
		sp := StepPhase{Name: st.Name, S: seconds(st.Took)}
		for _, r := range rep.Steps {
			if r.Name == st.Name {
				sp.GuestS = float64(r.Ms) / 1000
			}
		}
		ph.Steps = append(ph.Steps, sp)
		answered += st.Took
	}
	out.EditToVerdictS = seconds(time.Since(at))
	ph.VerdictS = seconds(time.Since(runStart) - answered)
	rep.Timings.Total = out.EditToVerdictS
	s.print(out, nil)
	if out.RebootReason != "" {
		s.guest.Stop()
		s.guest = nil
		s.bootAhead(ctx)
	}
	return sum, nil
}
