// Package cache locates rko's cache directory and gives the two primitives
// every cached artefact needs: an exclusive lock, so that two rko processes
// never build the same thing at once, and an atomic publish, so that a
// cache entry is either complete or absent.
package cache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/gofrs/flock"
)

// Dir returns the cache root: $RKO_CACHE, else $XDG_CACHE_HOME/rko, else
// ~/.cache/rko. It is created if missing.
func Dir() (string, error) {
	dir := os.Getenv("RKO_CACHE")
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("cannot find a cache directory: %w (set RKO_CACHE)", err)
		}
		dir = filepath.Join(base, "rko")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return "", fmt.Errorf("cannot create cache directory %s: %w (set RKO_CACHE to a writable directory)", abs, err)
	}
	return abs, nil
}

// Sub returns a directory under the cache root, created if missing.
func Sub(parts ...string) (string, error) {
	root, err := Dir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(append([]string{root}, parts...)...)
	return dir, os.MkdirAll(dir, 0o755)
}

// Lock takes an exclusive lock on path+".lock", waiting until ctx ends.
// If another process holds it, it calls waiting once first, so the caller
// can say that another rko holds the lock.
func Lock(ctx context.Context, path string, waiting func()) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	fl := flock.New(path + ".lock")
	ok, err := fl.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", fl.Path(), err)
	}
	if !ok {
		if waiting != nil {
			waiting()
		}
		ok, err = fl.TryLockContext(ctx, 250*time.Millisecond)
		if err != nil {
			return nil, fmt.Errorf("waiting for lock %s: %w", fl.Path(), err)
		}
		if !ok {
			return nil, fmt.Errorf("could not lock %s", fl.Path())
		}
	}
	return func() { fl.Unlock() }, nil
}

// Publish moves the finished directory tmp to final atomically. If final
// already exists (another process won), tmp is removed and final is kept.
func Publish(tmp, final string) error {
	if err := os.Rename(tmp, final); err != nil {
		if _, statErr := os.Stat(final); statErr == nil {
			return os.RemoveAll(tmp)
		}
		return fmt.Errorf("publish %s: %w", final, err)
	}
	return nil
}

// WriteFileAtomic writes data to path through a temporary file in the same
// directory and a rename, so readers never see a partial file.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// Key hashes the given parts into a short hex cache key.
func Key(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:", len(p))
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// NoSpaceError is a tool or a write that failed because the file system
// under the cache is full.
type NoSpaceError struct {
	Path string // the directory on the full file system
	Free uint64 // bytes free now
	Err  error
}

func (e *NoSpaceError) Error() string {
	return fmt.Sprintf("no space left on device under %s (%d MiB free now): %v (fix: free some space there, or point RKO_CACHE at a larger disk)", e.Path, e.Free>>20, e.Err)
}

// Unwrap returns the failure.
func (e *NoSpaceError) Unwrap() error { return e.Err }

// NoSpace turns err into a *NoSpaceError when it, or the output of the
// tool that failed, says the disk is full (ENOSPC); dir is where the tool
// was writing. Other errors are returned as they are.
func NoSpace(err error, output []byte, dir string) error {
	if err == nil {
		return nil
	}
	if !errors.Is(err, syscall.ENOSPC) && !bytes.Contains(bytes.ToLower(output), []byte("no space left on device")) {
		return err
	}
	e := &NoSpaceError{Path: dir, Err: err}
	var st syscall.Statfs_t
	if syscall.Statfs(dir, &st) == nil {
		e.Free = st.Bavail * uint64(st.Bsize)
	}
	return e
}

// TryLock takes the lock Lock would, without waiting: ok is false when
// another process holds it.
func TryLock(path string) (unlock func(), ok bool, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, false, err
	}
	fl := flock.New(path + ".lock")
	ok, err = fl.TryLock()
	if err != nil {
		return nil, false, fmt.Errorf("lock %s: %w", fl.Path(), err)
	}
	if !ok {
		return nil, false, nil
	}
	return func() { fl.Unlock() }, true, nil
}
