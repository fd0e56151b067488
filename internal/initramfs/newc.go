package initramfs

import (
	"fmt"
	"io"
)

// File type bits of the newc mode field (as in stat's st_mode).
const (
	modeDir  = 0o040000
	modeReg  = 0o100000
	modeLink = 0o120000
	modeChar = 0o020000
)

type newcHeader struct {
	ino, mode, nlink, rmajor, rminor uint32
	name                             string
}

// newcWriter writes the "070701" format the kernel's initramfs unpacker
// reads (Documentation/driver-api/early-userspace/buffer-format.rst).
type newcWriter struct {
	w io.Writer
	n int64
}

func (nw *newcWriter) put(b []byte) error {
	k, err := nw.w.Write(b)
	nw.n += int64(k)
	return err
}

func (nw *newcWriter) pad() error {
	if r := nw.n % 4; r != 0 {
		return nw.put(make([]byte, 4-r))
	}
	return nil
}

func (nw *newcWriter) write(h newcHeader, body []byte) error {
	// magic ino mode uid gid nlink mtime filesize devmajor devminor
	// rdevmajor rdevminor namesize check
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		h.ino, h.mode, 0, 0, h.nlink, 0, len(body), 0, 0, h.rmajor, h.rminor, len(h.name)+1, 0)
	if err := nw.put([]byte(hdr + h.name + "\x00")); err != nil {
		return err
	}
	if err := nw.pad(); err != nil {
		return err
	}
	if err := nw.put(body); err != nil {
		return err
	}
	return nw.pad()
}

func (nw *newcWriter) trailer() error {
	return nw.write(newcHeader{name: "TRAILER!!!", nlink: 1}, nil)
}
