package mcpserver

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// dirLocks serialize the calls that build in a module directory: two
// builds of one directory at once would write the same objects under each
// other's feet. A call on a directory another call holds waits for it
// (and says so in its result); a call on a directory a watch session
// holds is refused, since the session holds it until watch_stop.
type dirLocks struct {
	mu      sync.Mutex
	held    map[string]chan struct{} // closed when the holder releases
	watched map[string]string        // dir -> watch session id
}

func newDirLocks() *dirLocks {
	return &dirLocks{held: map[string]chan struct{}{}, watched: map[string]string{}}
}

// canon is the key of a directory: absolute, cleaned, symbolic links
// resolved where the directory exists.
func canon(dir string) string {
	a := absPath(dir)
	if r, err := filepath.EvalSymlinks(a); err == nil {
		return r
	}
	return filepath.Clean(a)
}

// busyError is a call refused because a watch session holds a directory.
type busyError struct{ dir, session string }

func (e *busyError) Error() string {
	return fmt.Sprintf("dirs: %s is held by watch session %s: call watch_cycle with session %s for a verdict, or watch_stop it first", e.dir, e.session, e.session)
}

// acquire takes every directory of dirs for one call, in a fixed order
// (no two calls can wait for each other), waiting while other calls hold
// them, until ctx ends. It returns the release function and how long it
// waited. watch, when not empty, marks the directories as held by that
// watch session until release.
func (l *dirLocks) acquire(ctx context.Context, dirs []string, watch string) (release func(), waited time.Duration, err error) {
	keys := map[string]bool{}
	for _, d := range dirs {
		keys[canon(d)] = true
	}
	var sorted []string
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	start := time.Now()
	var mine []string
	releaseAll := func() {
		l.mu.Lock()
		for _, k := range mine {
			close(l.held[k])
			delete(l.held, k)
			delete(l.watched, k)
		}
		l.mu.Unlock()
	}
	for _, k := range sorted {
		for {
			l.mu.Lock()
			if s, ok := l.watched[k]; ok {
				l.mu.Unlock()
				releaseAll()
				return nil, 0, &busyError{dir: k, session: s}
			}
			ch, busy := l.held[k]
			if !busy {
				l.held[k] = make(chan struct{})
				if watch != "" {
					l.watched[k] = watch
				}
				mine = append(mine, k)
				l.mu.Unlock()
				break
			}
			l.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				releaseAll()
				return nil, 0, ctx.Err()
			}
		}
	}
	var once sync.Once
	return func() { once.Do(releaseAll) }, time.Since(start), nil
}
