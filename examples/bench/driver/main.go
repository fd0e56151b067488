//go:build linux

// Command benchdrv runs inside the rko guest and drives the C and Rust bench
// twins, interleaved: C, Rust, then Rust, C, and so on (the order flips every
// repetition so that neither side always runs on a cache the other warmed).
// Each measurement is printed on stdout as
//
//	BENCH <workload> <c|rust> <value>
//
// which the guest init frames onto the console for the host to collect.
// It uses the standard library only and is built static (CGO_ENABLED=0), like
// rko's guest init, so the initramfs needs no libc for it. Hot loops use
// syscall.RawSyscall, which skips the Go scheduler's bookkeeping, so that
// the user-space share of each operation stays small and equal for both sides.
package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// ioctl numbers, as _IOW('k', 1, __u32) and _IOWR('k', 2, struct rbt_run).
const (
	kvSelect = 1<<30 | 4<<16 | 'k'<<8 | 1
	rbtRun   = 3<<30 | 24<<16 | 'k'<<8 | 2
	golden   = 2654435761
)

var langs = [2]string{"c", "rust"}

// out collects the BENCH lines.
var out strings.Builder

func main() {
	workload := flag.String("w", "", "workload: kv, kvi, rbt or blk")
	reps := flag.Int("reps", 10, "measured repetitions per side")
	warmup := flag.Int("warmup", 1, "unmeasured repetitions per side first")
	ops := flag.Int("ops", 2000, "kv: operations (select+write+read) per measurement")
	keys := flag.Int("keys", 2000, "rbt: keys per measurement")
	runtime := flag.Float64("runtime", 1, "blk: measured seconds per fio job")
	ramp := flag.Float64("ramp", 0, "blk: unmeasured seconds at the start of each fio job")
	fio := flag.String("fio", "/usr/bin/fio", "blk: the fio binary")
	iodepth := flag.Int("iodepth", 16, "blk: fio iodepth")
	profile := flag.Bool("profile", false, "attribution run (kv, kvi, rbt): after the warm-up, all C repetitions then all Rust ones, each side between two reads of /proc/version (the marks rko's TCG plugin cuts its counts at), then the twins' symbols from /proc/kallsyms")
	flag.Parse()
	// Samples are printed at the end, not as they come: every console line
	// costs emulated serial I/O on the one vCPU the twins run on.
	defer func() { os.Stdout.WriteString(out.String()) }()
	var err error
	if *profile {
		err = profileRun(*workload, *reps, *warmup, *ops, *keys)
		if err != nil {
			os.Stdout.WriteString(out.String())
			fmt.Fprintf(os.Stderr, "benchdrv: %v\n", err)
			os.Exit(1)
		}
		return
	}
	switch *workload {
	case "kv":
		err = kv("kv", [2]string{"rko_kv_c", "rko_kv_rust"}, *reps, *warmup, *ops)
	case "kvi":
		// The C device on read_iter/write_iter against the same Rust twin.
		err = kv("kvi", [2]string{"rko_kvi_c", "rko_kv_rust"}, *reps, *warmup, *ops)
	case "rbt":
		err = rbt(*reps, *warmup, *keys)
	case "blk":
		err = blk(*reps, *warmup, *runtime, *ramp, *fio, *iodepth)
	default:
		err = fmt.Errorf("unknown workload %q, want kv, kvi, rbt or blk", *workload)
	}
	if err != nil {
		os.Stdout.WriteString(out.String())
		fmt.Fprintf(os.Stderr, "benchdrv: %v\n", err)
		os.Exit(1)
	}
}

// order returns the side order of repetition i: C first on even ones.
func order(i int) [2]int {
	if i%2 == 0 {
		return [2]int{0, 1}
	}
	return [2]int{1, 0}
}

func openDevs(prefix string) ([2]int, error) {
	var fds [2]int
	for i, l := range langs {
		fd, err := syscall.Open("/dev/"+prefix+l, syscall.O_RDWR, 0)
		if err != nil {
			return fds, fmt.Errorf("open /dev/%s%s: %w", prefix, l, err)
		}
		fds[i] = fd
	}
	return fds, nil
}

func ioctl(fd int, req uintptr, arg unsafe.Pointer) syscall.Errno {
	_, _, e := syscall.RawSyscall(syscall.SYS_IOCTL, uintptr(fd), req, uintptr(arg))
	return e
}

// kvOps runs n select+write+read operations on fd and returns ops per second.
func kvOps(fd, n int) (float64, error) {
	var key uint32
	buf := make([]byte, 32)
	out := make([]byte, 64)
	start := time.Now()
	for i := 0; i < n; i++ {
		key = uint32(i) & 63
		buf[0] = byte(i)
		if e := ioctl(fd, kvSelect, unsafe.Pointer(&key)); e != 0 {
			return 0, fmt.Errorf("KV_SELECT: %w", e)
		}
		if _, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf))); e != 0 {
			return 0, fmt.Errorf("write: %w", e)
		}
		r, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&out[0])), uintptr(len(out)))
		if e != 0 {
			return 0, fmt.Errorf("read: %w", e)
		}
		if r != uintptr(len(buf)) || out[0] != buf[0] {
			return 0, fmt.Errorf("read back %d bytes (first %d), want %d (first %d)", r, out[0], len(buf), buf[0])
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

func kv(name string, devs [2]string, reps, warmup, ops int) error {
	var fds [2]int
	for i, d := range devs {
		fd, err := syscall.Open("/dev/"+d, syscall.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("open /dev/%s: %w", d, err)
		}
		fds[i] = fd
	}
	for i := -warmup; i < reps; i++ {
		for _, s := range order(i) {
			v, err := kvOps(fds[s], ops)
			if err != nil {
				return fmt.Errorf("%s: %w", langs[s], err)
			}
			if i >= 0 {
				fmt.Fprintf(&out, "BENCH %s %s %.1f\n", name, langs[s], v)
			}
		}
	}
	return nil
}

// rbtOnce runs one RBT_RUN of keys keys and returns ns per key (one insert,
// one lookup and one removal) and the checksum the module reported.
func rbtOnce(fd, keys int, seed uint32) (float64, uint64, error) {
	var run [24]byte
	binary.LittleEndian.PutUint32(run[0:], uint32(keys))
	binary.LittleEndian.PutUint32(run[4:], seed)
	if e := ioctl(fd, rbtRun, unsafe.Pointer(&run[0])); e != 0 {
		return 0, 0, fmt.Errorf("RBT_RUN: %w", e)
	}
	ns := binary.LittleEndian.Uint64(run[8:])
	return float64(ns) / float64(keys), binary.LittleEndian.Uint64(run[16:]), nil
}

func rbt(reps, warmup, keys int) error {
	fds, err := openDevs("rko_rbt_")
	if err != nil {
		return err
	}
	for i := -warmup; i < reps; i++ {
		seed := uint32(i + warmup)
		var want uint64
		for k := 0; k < keys; k++ {
			want += uint64((uint32(k)+seed)*golden) * 3
		}
		for _, s := range order(i) {
			v, sum, err := rbtOnce(fds[s], keys, seed)
			if err != nil {
				return fmt.Errorf("%s: %w", langs[s], err)
			}
			if sum != want {
				return fmt.Errorf("%s: checksum %d, want %d: the twins do not do the same work", langs[s], sum, want)
			}
			if i >= 0 {
				fmt.Fprintf(&out, "BENCH rbt %s %.2f\n", langs[s], v)
			}
		}
	}
	return nil
}

// blkDevs are the C null_blk device (made by loading null_blk with
// nr_devices=1) and the rnull device made here through configfs.
var blkDevs = [2]string{"nullb0", "rnullb0"}

func writeFile(path, value string) error {
	return os.WriteFile(path, []byte(value), 0o644)
}

// setupRnull mounts configfs and makes a powered rnull device with 4 KiB
// blocks and completion in the submitting context (irqmode 0), matching the
// null_blk parameters the host passes.
func setupRnull() error {
	const cfs = "/sys/kernel/config"
	if _, err := os.Stat(cfs + "/rnull"); err != nil {
		os.MkdirAll(cfs, 0o755)
		if err := syscall.Mount("configfs", cfs, "configfs", 0, ""); err != nil && err != syscall.EBUSY {
			return fmt.Errorf("mount configfs: %w", err)
		}
	}
	dir := cfs + "/rnull/" + blkDevs[1]
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		return fmt.Errorf("rnull configfs: %w", err)
	}
	for _, kv := range [][2]string{{"blocksize", "4096"}, {"irqmode", "0"}, {"size", "1024"}, {"rotational", "0"}, {"power", "1"}} {
		if err := writeFile(filepath.Join(dir, kv[0]), kv[1]); err != nil {
			return fmt.Errorf("rnull %s=%s: %w", kv[0], kv[1], err)
		}
	}
	return nil
}

func blk(reps, warmup int, runtime, ramp float64, fio string, iodepth int) error {
	if err := setupRnull(); err != nil {
		return err
	}
	for _, d := range blkDevs {
		deadline := time.Now().Add(5 * time.Second)
		for {
			if _, err := os.Stat("/dev/" + d); err == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("/dev/%s did not appear", d)
			}
			time.Sleep(10 * time.Millisecond)
		}
		// No I/O scheduler, as in the rnull RFC's measurements.
		sched := "/sys/block/" + d + "/queue/scheduler"
		if b, err := os.ReadFile(sched); err == nil && !bytes.HasPrefix(b, []byte("[none]")) {
			if err := writeFile(sched, "none"); err != nil {
				return fmt.Errorf("%s: %w", sched, err)
			}
		}
	}
	// One fio process runs every job in turn (stonewall), so fio's own
	// start-up (it links some 60 libraries) is paid once, not per sample.
	// The ramp leaves each job's own start (its thread, its libaio
	// context, the first touches of its buffers) out of its IOPS.
	var job strings.Builder
	fmt.Fprintf(&job, "[global]\nthread\ndirect=1\nrw=randread\nbs=4k\nioengine=libaio\niodepth=%d\n"+
		"time_based\nruntime=%dms\nnorandommap\nrandrepeat=0\nstonewall\n", iodepth, int(runtime*1000))
	if ramp > 0 {
		// In milliseconds: fio reads "0.2s" as 0, and a zero runtime
		// makes a time_based job read the whole device.
		fmt.Fprintf(&job, "ramp_time=%dms\n", int(ramp*1000))
	}
	for i := -warmup; i < reps; i++ {
		for _, s := range order(i) {
			name := fmt.Sprintf("%s-%s-%d", map[bool]string{true: "warm", false: "run"}[i < 0], langs[s], i)
			fmt.Fprintf(&job, "\n[%s]\nfilename=/dev/%s\n", name, blkDevs[s])
		}
	}
	if err := os.WriteFile("/tmp/bench.fio", []byte(job.String()), 0o644); err != nil {
		return err
	}
	cmd := exec.Command(fio, "--output-format=json", "/tmp/bench.fio")
	cmd.Stderr = os.Stderr
	js, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("fio: %w", err)
	}
	var res struct {
		Jobs []struct {
			Name  string `json:"jobname"`
			Error int    `json:"error"`
			Read  struct {
				IOPS float64 `json:"iops"`
			} `json:"read"`
		} `json:"jobs"`
	}
	if i := bytes.IndexByte(js, '{'); i > 0 {
		js = js[i:] // fio may print notes before the JSON
	}
	if err := json.Unmarshal(js, &res); err != nil {
		return fmt.Errorf("fio output: %w", err)
	}
	for _, j := range res.Jobs {
		if j.Error != 0 {
			return fmt.Errorf("fio job %s: error %d", j.Name, j.Error)
		}
		f := strings.Split(j.Name, "-")
		if len(f) == 3 && f[0] == "run" {
			fmt.Fprintf(&out, "BENCH blk %s %.1f\n", f[1], j.Read.IOPS)
		}
	}
	return nil
}

// mark reads /proc/version, whose show function is the address rko's TCG
// plugin starts a new segment of its counts at.
func mark() error {
	_, err := os.ReadFile("/proc/version")
	return err
}

// profileRun runs each side's repetitions in one block between marks (C
// first), after warmup interleaved repetitions, prints "PROFILE <workload>
// <side> <operations>" for each block and the twins' symbols as "KSYM
// <address> <type> <name> <module>" lines from /proc/kallsyms.
func profileRun(workload string, reps, warmup, ops, keys int) error {
	var one func(side, i int) error
	var perRep int
	var modules [2]string
	switch workload {
	case "kv", "kvi":
		devs := [2]string{"rko_kv_c", "rko_kv_rust"}
		if workload == "kvi" {
			devs[0] = "rko_kvi_c"
		}
		modules = [2]string{"rko_kv_c", "rko_kv_rust"}
		var fds [2]int
		for i, d := range devs {
			fd, err := syscall.Open("/dev/"+d, syscall.O_RDWR, 0)
			if err != nil {
				return fmt.Errorf("open /dev/%s: %w", d, err)
			}
			fds[i] = fd
		}
		perRep = ops
		one = func(side, _ int) error {
			_, err := kvOps(fds[side], ops)
			return err
		}
	case "rbt":
		fds, err := openDevs("rko_rbt_")
		if err != nil {
			return err
		}
		modules = [2]string{"rko_rbt_c", "rko_rbt_rust"}
		perRep = keys
		one = func(side, i int) error {
			_, _, err := rbtOnce(fds[side], keys, uint32(i))
			return err
		}
	default:
		return fmt.Errorf("no attribution run for workload %q (kv, kvi and rbt have one)", workload)
	}
	for i := 0; i < warmup; i++ {
		for _, s := range order(i) {
			if err := one(s, i); err != nil {
				return fmt.Errorf("%s: %w", langs[s], err)
			}
		}
	}
	if err := mark(); err != nil {
		return err
	}
	for s := range langs {
		for i := 0; i < reps; i++ {
			if err := one(s, i); err != nil {
				return fmt.Errorf("%s: %w", langs[s], err)
			}
		}
		if err := mark(); err != nil {
			return err
		}
		fmt.Fprintf(&out, "PROFILE %s %s %d\n", workload, langs[s], reps*perRep)
	}
	syms, err := os.ReadFile("/proc/kallsyms")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(syms), "\n") {
		f := strings.Fields(line)
		if len(f) == 4 && (f[3] == "["+modules[0]+"]" || f[3] == "["+modules[1]+"]") {
			fmt.Fprintf(&out, "KSYM %s\n", line)
		}
	}
	return nil
}
