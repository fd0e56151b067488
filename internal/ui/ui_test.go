package ui

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestEvery: f runs until stop, and not after stop returns.
func TestEvery(t *testing.T) {
	var n atomic.Int64
	stop := Every(time.Millisecond, func() { n.Add(1) })
	deadline := time.Now().Add(5 * time.Second)
	for n.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	stop()
	at := n.Load()
	if at < 3 {
		t.Fatalf("f ran %d times in 5 s", at)
	}
	time.Sleep(20 * time.Millisecond)
	if n.Load() != at {
		t.Errorf("f ran after stop returned (%d, then %d)", at, n.Load())
	}
	stop() // a second stop is harmless
}
