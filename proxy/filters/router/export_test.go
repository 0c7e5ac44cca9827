package router

import (
	"sync"
	"testing"
	"time"
)

// BackOff exposes backOff to the tests.
var BackOff = backOff

// RecordBackOffs makes retries wait no time and records the waits the policy asked for,
// until the test ends.
func RecordBackOffs(t *testing.T) func() []time.Duration {
	var mu sync.Mutex
	var waits []time.Duration
	old := schedule
	schedule = func(d time.Duration, f func()) {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		go f()
	}
	t.Cleanup(func() { schedule = old })
	return func() []time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return append([]time.Duration(nil), waits...)
	}
}

// HoldBackOffs makes each retry wait until the test calls the function it receives, until
// the test ends.
func HoldBackOffs(t *testing.T) <-chan func() {
	held := make(chan func(), 16)
	old := schedule
	schedule = func(_ time.Duration, f func()) { held <- f }
	t.Cleanup(func() { schedule = old })
	return held
}

// LongestBackOffs makes every backoff the longest its policy allows, until the test ends.
func LongestBackOffs(t *testing.T) {
	old := jitter
	jitter = func(k int64) int64 { return k - 1 }
	t.Cleanup(func() { jitter = old })
}
