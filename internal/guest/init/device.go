package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rkodev/rko/internal/guest/proto"
)

// driverFiles are the entries of a driver's sysfs directory that are not
// bound devices.
var driverFiles = map[string]bool{"module": true, "bind": true, "unbind": true, "uevent": true, "new_id": true, "remove_id": true}

// boundDevices lists the devices bound to each driver module registered
// (/sys/module/NAME/drivers/BUS:DRIVER -> the driver's directory, whose
// symlinks other than driverFiles are its devices); nil when the module
// registered no driver.
func boundDevices(module string) map[string][]string {
	dir := "/sys/module/" + module + "/drivers"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	out := map[string][]string{}
	for _, e := range ents {
		drv := dir + "/" + e.Name()
		devs, _ := os.ReadDir(drv)
		out[e.Name()] = nil
		for _, d := range devs {
			if driverFiles[d.Name()] || d.Type()&os.ModeSymlink == 0 {
				continue
			}
			out[e.Name()] = append(out[e.Name()], d.Name())
		}
	}
	return out
}

// bound waits up to 5 s for every driver of module to bind a device
// (a driver may probe asynchronously) and says what each bound.
func bound(module string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		drivers := boundDevices(module)
		if drivers == nil {
			fmt.Printf("%s registers no driver\n", module)
			return nil
		}
		var none []string
		for d, devs := range drivers {
			if len(devs) == 0 {
				none = append(none, d)
			}
		}
		if len(none) == 0 || time.Now().After(deadline) {
			for d, devs := range drivers {
				if len(devs) > 0 {
					fmt.Printf("driver %s bound %s\n", d, strings.Join(devs, " "))
				}
			}
			if len(none) > 0 {
				return fmt.Errorf("%s: driver %s bound no device (the attached devices do not match it, or its probe failed: see the kernel log)", module, strings.Join(none, ", "))
			}
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kindFailNthTry is the child of one try of a fail-nth step (Params carry
// the module's parameters, TimeoutSec the N): a process of its own, so
// that its pid names the try in a later kmemleak report.
const kindFailNthTry = "fail-nth-try"

// failInjectKnobs lift the defaults of failslab and fail_page_alloc that
// keep the N-th call from failing: both skip allocations that may sleep
// (ignore-gfp-wait), and fail_page_alloc skips order-0 pages (min-order 1)
// and highmem; verbose 2 prints each injected failure with its stack.
var failInjectKnobs = map[string]string{
	"/sys/kernel/debug/failslab/ignore-gfp-wait":           "N",
	"/sys/kernel/debug/fail_page_alloc/ignore-gfp-wait":    "N",
	"/sys/kernel/debug/fail_page_alloc/ignore-gfp-highmem": "N",
	"/sys/kernel/debug/fail_page_alloc/min-order":          "0",
	"/sys/kernel/debug/failslab/verbose":                   "2",
	"/sys/kernel/debug/fail_page_alloc/verbose":            "2",
}

// taintBad are the taint flags of a crash (the kernel's TAINT_BAD_PAGE,
// TAINT_DIE, TAINT_WARN, TAINT_SOFTLOCKUP): loading an out-of-tree module
// taints the kernel too (O), and that is no finding.
const taintBad = 1<<5 | 1<<7 | 1<<9 | 1<<14

// maxFailNth bounds a sweep: a load with more fault-injectable calls is
// cut off there (reported as such).
const maxFailNth = 2000

// failNth is the sweep of a fail-nth step: one child per N.
func failNth(st Step) error {
	if _, err := os.Stat("/proc/self/fail-nth"); err != nil {
		return errors.New("the kernel has no /proc/self/fail-nth: it was built without CONFIG_FAULT_INJECTION (rko's debug profile has it: --profile debug)")
	}
	for path, v := range failInjectKnobs {
		if err := os.WriteFile(path, []byte(v), 0); err != nil {
			return fmt.Errorf("fail-nth: setting %s: %v (the kernel needs CONFIG_FAILSLAB, CONFIG_FAIL_PAGE_ALLOC and CONFIG_FAULT_INJECTION_DEBUG_FS)", path, err)
		}
	}
	if err := moduleCallsOnly(st); err != nil {
		return err
	}
	before := tainted() & taintBad
	for n := 1; n <= maxFailNth; n++ {
		try := st
		try.Kind, try.TimeoutSec = kindFailNthTry, n
		b, _ := json.Marshal(try)
		cmd := exec.Command("/init")
		cmd.Env = append(os.Environ(), "RKO_STEP="+string(b))
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		err := cmd.Run()
		if taint := tainted() & taintBad; taint != before {
			return fmt.Errorf("fail-nth: the load with call %d failing tainted the kernel (taint %d -> %d): see the report above", n, before, taint)
		}
		var xe *exec.ExitError
		if errors.As(err, &xe) && xe.ExitCode() == 3 {
			// The load ran with nothing injected: every call was tried.
			fmt.Printf("fail-nth: done: %d fault-injectable calls tried\n", n-1)
			return nil
		}
		if errors.As(err, &xe) && xe.ExitCode() == 4 {
			return fmt.Errorf("fail-nth: the load fails with nothing injected (try %d): the module does not load at all; rko test without --fail-nth shows why", n)
		}
		if err != nil && !errors.As(err, &xe) {
			return err
		}
		if err != nil {
			return fmt.Errorf("fail-nth: try %d ended badly (%v)", n, err)
		}
	}
	return fmt.Errorf("fail-nth: stopped after %d calls: the load has more fault-injectable calls than rko tries", maxFailNth)
}

// failAttrs are the fault injectors whose stack filter the sweep sets.
var failAttrs = []string{"/sys/kernel/debug/failslab", "/sys/kernel/debug/fail_page_alloc"}

// countedAttr is the injector whose calls the sweep counts: failslab, the
// slab allocations (kmalloc, kzalloc, krealloc, kvmalloc's, vmalloc's
// bookkeeping, and the kmemleak metadata each of them brings). The page
// allocator's calls under module code are mostly the slab allocator
// refilling a cache, which one load does and the next does not: counted,
// they moved the module's later calls from one load to the next, and a
// NULL write after a failed kmalloc_array was never reached (seen on
// 7.3.4). So fail_page_alloc gets an empty range.
const countedAttr = "/sys/kernel/debug/failslab"

// moduleCallsOnly makes the sweep count only the fault-injectable calls
// made with module code on the stack (the module's init and its probe,
// and what they call), so that N names the same call of the module's on
// every load. Counting every call of the loading task (the kernel's
// module loader, kernfs, kmemleak's bookkeeping) let the module's calls
// move between loads and fall between two N.
//
// The filter is the injectors' require-start/require-end range
// (CONFIG_FAULT_INJECTION_STACKTRACE_FILTER): a call counts when a frame
// of its stack lies in the range. Modules live on one side of the core
// kernel's text (above it on x86_64, below it on arm64 and riscv64), so
// a clean load first tells which side, and the range is everything on
// that side of [_stext, _etext). That load also proves the module loads
// at all before hundreds of tries.
func moduleCallsOnly(st Step) error {
	if err := insmod(st.Path, st.Params); err != nil {
		return fmt.Errorf("fail-nth: the module does not load with nothing injected: %v (rko test without --fail-nth shows why)", err)
	}
	addr, aerr := moduleAddress(st.Module)
	if err := rmmod(st.Module); err != nil {
		return fmt.Errorf("fail-nth: the module loaded but does not unload: %v", err)
	}
	if _, err := os.Stat(failAttrs[0] + "/require-start"); err != nil {
		fmt.Println("fail-nth: warning: the kernel has no fault-injection stack filter (CONFIG_FAULT_INJECTION_STACKTRACE_FILTER): every call of the load is counted, and a call of the module's can fall between two tries")
		return nil
	}
	if aerr != nil {
		return fmt.Errorf("fail-nth: %v", aerr)
	}
	stext, etext, err := kernelText()
	if err != nil {
		return fmt.Errorf("fail-nth: %v", err)
	}
	lo, hi := uint64(0), stext
	if addr >= etext {
		lo, hi = etext, ^uint64(0)
	} else if addr >= stext {
		return fmt.Errorf("fail-nth: module %s at %#x lies inside the kernel's text [%#x, %#x): no stack filter can tell its calls", st.Module, addr, stext, etext)
	}
	for _, dir := range failAttrs {
		start, end := lo, hi
		if dir != countedAttr {
			start, end = 1, 2 // no kernel frame lies there
		}
		for file, v := range map[string]string{"require-start": strconv.FormatUint(start, 10), "require-end": strconv.FormatUint(end, 10), "stacktrace-depth": "32"} {
			if err := os.WriteFile(dir+"/"+file, []byte(v), 0); err != nil {
				return fmt.Errorf("fail-nth: setting %s/%s: %v", dir, file, err)
			}
		}
	}
	fmt.Printf("fail-nth: counting slab allocations with a frame in [%#x, %#x) (module %s at %#x)\n", lo, hi, st.Module, addr)
	return nil
}

// moduleAddress is where a loaded module's core text lies (/proc/modules).
func moduleAddress(name string) (uint64, error) {
	data, err := os.ReadFile("/proc/modules")
	if err != nil {
		return 0, err
	}
	return parseModuleAddress(data, name)
}

// parseModuleAddress reads a module's address from /proc/modules' text.
func parseModuleAddress(data []byte, name string) (uint64, error) {
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 6 && f[0] == name {
			a, err := strconv.ParseUint(strings.TrimPrefix(f[5], "0x"), 16, 64)
			if err != nil || a == 0 {
				return 0, fmt.Errorf("/proc/modules gives %s no address (%q): kallsyms hides it", name, f[5])
			}
			return a, nil
		}
	}
	return 0, fmt.Errorf("module %s is not in /proc/modules after its load", name)
}

// kernelText is the core kernel's text, [_stext, _etext), from
// /proc/kallsyms.
func kernelText() (stext, etext uint64, err error) {
	data, err := os.ReadFile("/proc/kallsyms")
	if err != nil {
		return 0, 0, err
	}
	return parseKernelText(data)
}

// parseKernelText reads _stext and _etext from /proc/kallsyms' text.
func parseKernelText(data []byte) (stext, etext uint64, err error) {
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || (f[2] != "_stext" && f[2] != "_etext") {
			continue
		}
		a, err := strconv.ParseUint(f[0], 16, 64)
		if err != nil {
			return 0, 0, err
		}
		if f[2] == "_stext" {
			stext = a
		} else {
			etext = a
		}
	}
	if stext == 0 || etext <= stext {
		return 0, 0, fmt.Errorf("/proc/kallsyms gives no kernel text (_stext %#x, _etext %#x): the kernel needs CONFIG_KALLSYMS", stext, etext)
	}
	return stext, etext, nil
}

// failNthTry loads the module with its n-th fault-injectable call
// failing, says how it went, and unloads it if it loaded. Exit status 3:
// the load succeeded and nothing was injected (the sweep is done).
func failNthTry(st Step) error {
	n := st.TimeoutSec
	name := st.Module
	f, err := os.Open(st.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	p, err := syscall.BytePtrFromString(st.Params)
	if err != nil {
		return err
	}
	// fail-nth is per task: the write, the finit_module and the read
	// back are on the same thread, through one descriptor opened before
	// (an open is itself fault-injectable).
	runtime.LockOSThread()
	tid := syscall.Gettid()
	nth, err := os.OpenFile("/proc/thread-self/fail-nth", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("opening /proc/thread-self/fail-nth: %v", err)
	}
	fmt.Printf("%sn=%d pid=%d\n", proto.FailNthStartLine, n, tid)
	if _, err := syscall.Pwrite(int(nth.Fd()), []byte(strconv.Itoa(n)), 0); err != nil {
		return fmt.Errorf("writing /proc/thread-self/fail-nth: %v", err)
	}
	_, _, errno := syscall.Syscall(sysFinitModule, f.Fd(), uintptr(unsafePointer(p)), 0)
	buf := make([]byte, 32)
	k, _ := syscall.Pread(int(nth.Fd()), buf, 0)
	syscall.Pwrite(int(nth.Fd()), []byte("0"), 0)
	nth.Close()
	left := buf[:max(k, 0)]
	runtime.UnlockOSThread()
	// The counter is decremented by each fault-injectable call and reads
	// 0 once the n-th failed; a count left means fewer than n calls.
	injected := strings.TrimSpace(string(left)) == "0"
	result := "ok"
	if errno != 0 {
		result = errnoName(errno)
	}
	fmt.Printf("%sn=%d pid=%d result=%s injected=%t taint=%d\n", proto.FailNthLine, n, tid, result, injected, tainted())
	if errno != 0 && !injected {
		os.Exit(4)
	}
	if errno == 0 {
		if err := rmmod(name); err != nil {
			return fmt.Errorf("fail-nth: n=%d: the module loaded but does not unload: %v", n, err)
		}
		if !injected {
			os.Exit(3)
		}
	}
	return nil
}

// errnoName is the kernel's name of an errno (ENOMEM), else its number.
func errnoName(e syscall.Errno) string {
	names := map[syscall.Errno]string{syscall.ENOMEM: "ENOMEM", syscall.EINVAL: "EINVAL", syscall.ENODEV: "ENODEV",
		syscall.EBUSY: "EBUSY", syscall.EEXIST: "EEXIST", syscall.ENOENT: "ENOENT", syscall.EFAULT: "EFAULT",
		syscall.ENOSPC: "ENOSPC", syscall.EIO: "EIO", syscall.ENOEXEC: "ENOEXEC", syscall.EAGAIN: "EAGAIN",
		syscall.EPERM: "EPERM", syscall.ENXIO: "ENXIO", syscall.EINTR: "EINTR"}
	if s, ok := names[e]; ok {
		return s
	}
	return "errno" + strconv.Itoa(int(e))
}
