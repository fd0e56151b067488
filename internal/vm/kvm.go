package vm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrNotSupported means the host cannot run QEMU with KVM; any other error
// from ProbeKVM means rko could not tell.
var ErrNotSupported = errors.New("not supported")

// KVM ioctl numbers from include/uapi/linux/kvm.h.
const (
	kvmGetAPIVersion     = 0xAE00
	kvmCreateVM          = 0xAE01
	kvmGetVcpuMmapSize   = 0xAE04
	kvmCreateVcpu        = 0xAE41
	kvmSetUserMemRegion  = 0x4020AE46
	kvmRun               = 0xAE80
	kvmGetSregs          = 0x8138AE83
	kvmSetSregs          = 0x4138AE84
	kvmSetRegs           = 0x4090AE82
	kvmExitHlt           = 5
	kvmAPIVersion        = 12
	sregsSize            = 312
	regsSize             = 144
	probeGuestPhys       = 0x1000
	probeGuestMemorySize = 0x1000
)

var (
	kvmOnce   sync.Once
	kvmResult error
)

// ProbeKVM reports whether KVM really runs a guest: /dev/kvm existing is
// not enough (nested virtualisation may be off, or access denied). It
// creates a VM with one vCPU, runs a one-instruction guest (HLT) and
// checks that it exits with KVM_EXIT_HLT. The answer is cached for the
// process. A nil error means KVM works; an error wrapping ErrNotSupported
// means it does not, with the reason.
func ProbeKVM() error {
	kvmOnce.Do(func() { kvmResult = probeKVM() })
	return kvmResult
}

func notSupported(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrNotSupported}, args...)...)
}

func ioctl(fd int, req uintptr, arg uintptr) (uintptr, error) {
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, arg)
	if errno != 0 {
		return r, errno
	}
	return r, nil
}

func probeKVM() error {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR|unix.O_CLOEXEC, 0)
	if errors.Is(err, os.ErrNotExist) {
		return notSupported("/dev/kvm does not exist (no KVM module, or not exposed to this container)")
	}
	if errors.Is(err, os.ErrPermission) {
		return notSupported("/dev/kvm is not accessible to this user (fix: add yourself to the kvm group and log in again)")
	}
	if err != nil {
		return notSupported("open /dev/kvm: %v", err)
	}
	defer f.Close()
	kfd := int(f.Fd())
	v, err := ioctl(kfd, kvmGetAPIVersion, 0)
	if err != nil || v != kvmAPIVersion {
		return notSupported("KVM_GET_API_VERSION = %d, %v", v, err)
	}
	vmfd, err := ioctl(kfd, kvmCreateVM, 0)
	if err != nil {
		return notSupported("KVM_CREATE_VM: %v (nested virtualisation off, or another hypervisor holds VT-x/AMD-V)", err)
	}
	defer unix.Close(int(vmfd))
	mem, err := unix.Mmap(-1, 0, probeGuestMemorySize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return fmt.Errorf("mmap guest memory: %w", err)
	}
	defer unix.Munmap(mem)
	mem[0] = 0xf4 // hlt
	var region [32]byte
	binary.LittleEndian.PutUint32(region[0:], 0)                                         // slot
	binary.LittleEndian.PutUint32(region[4:], 0)                                         // flags
	binary.LittleEndian.PutUint64(region[8:], probeGuestPhys)                            // guest_phys_addr
	binary.LittleEndian.PutUint64(region[16:], probeGuestMemorySize)                     // memory_size
	binary.LittleEndian.PutUint64(region[24:], uint64(uintptr(unsafe.Pointer(&mem[0])))) // userspace_addr
	if _, err := ioctl(int(vmfd), kvmSetUserMemRegion, uintptr(unsafe.Pointer(&region[0]))); err != nil {
		return notSupported("KVM_SET_USER_MEMORY_REGION: %v", err)
	}
	cpufd, err := ioctl(int(vmfd), kvmCreateVcpu, 0)
	if err != nil {
		return notSupported("KVM_CREATE_VCPU: %v", err)
	}
	defer unix.Close(int(cpufd))
	size, err := ioctl(kfd, kvmGetVcpuMmapSize, 0)
	if err != nil {
		return notSupported("KVM_GET_VCPU_MMAP_SIZE: %v", err)
	}
	runMem, err := unix.Mmap(int(cpufd), 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return notSupported("mmap kvm_run: %v", err)
	}
	defer unix.Munmap(runMem)
	var sregs [sregsSize]byte
	if _, err := ioctl(int(cpufd), kvmGetSregs, uintptr(unsafe.Pointer(&sregs[0]))); err != nil {
		return notSupported("KVM_GET_SREGS: %v", err)
	}
	binary.LittleEndian.PutUint64(sregs[0:], 0)  // cs.base
	binary.LittleEndian.PutUint16(sregs[12:], 0) // cs.selector
	if _, err := ioctl(int(cpufd), kvmSetSregs, uintptr(unsafe.Pointer(&sregs[0]))); err != nil {
		return notSupported("KVM_SET_SREGS: %v", err)
	}
	var regs [regsSize]byte
	binary.LittleEndian.PutUint64(regs[128:], probeGuestPhys) // rip
	binary.LittleEndian.PutUint64(regs[136:], 2)              // rflags
	if _, err := ioctl(int(cpufd), kvmSetRegs, uintptr(unsafe.Pointer(&regs[0]))); err != nil {
		return notSupported("KVM_SET_REGS: %v", err)
	}
	if _, err := ioctl(int(cpufd), kvmRun, 0); err != nil {
		return notSupported("KVM_RUN: %v (the host has /dev/kvm but cannot run guests; nested virtualisation is probably off)", err)
	}
	if reason := binary.LittleEndian.Uint32(runMem[8:]); reason != kvmExitHlt {
		return notSupported("the probe guest exited with KVM exit reason %d, want %d (HLT)", reason, kvmExitHlt)
	}
	return nil
}
