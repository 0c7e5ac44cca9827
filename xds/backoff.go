package xds

import (
	"math/rand/v2"
	"time"
)

// backoff spaces reconnection attempts: exponential from min to max, with jitter so that
// many proxies that lost the same control plane do not all call back at the same instant.
type backoff struct {
	min, max time.Duration
	attempt  int
}

// next returns how long to wait before the next attempt: half the exponential step plus a
// random part of up to the other half, so never less than min/2 and never more than max.
func (b *backoff) next() time.Duration {
	step := b.max
	if b.attempt < 32 {
		if d := b.min << b.attempt; d > 0 && d < b.max {
			step = d
		}
	}
	b.attempt++
	half := step / 2
	return half + rand.N(step-half+1)
}

// reset starts over from min, after a stream that worked.
func (b *backoff) reset() { b.attempt = 0 }
