package upstream

import "math/rand/v2"

// defaultLeastRequestChoices is Envoy's choice_count default: the "power of two choices".
const defaultLeastRequestChoices = 2

// leastRequestLB draws a few distinct hosts at random (in proportion to their weights when
// they differ) and takes the one with the fewest requests in flight (Envoy's
// LEAST_REQUEST). Drawing two avoids the
// herd that a full scan for the global minimum causes when every proxy sees the same idle
// host; with no more hosts than draws, all are compared.
type leastRequestLB struct{ choices int }

func newLeastRequest(choices int) *leastRequestLB {
	if choices < 2 {
		choices = defaultLeastRequestChoices
	}
	return &leastRequestLB{choices: choices}
}

func (b *leastRequestLB) pick(s *hostSet, ctx PickContext) *Host {
	n := len(s.hosts)
	var best *Host
	consider := func(h *Host) {
		if h != ctx.Avoid && (best == nil || lessLoaded(h, best)) {
			best = h
		}
	}
	switch {
	case s.weights != nil:
		// Weighted: the draws follow the weights, so idle hosts share requests in
		// proportion to them; the load comparison then picks among the drawn.
		for range b.choices {
			consider(randomHost(s))
		}
	case n <= b.choices:
		start := rand.IntN(n) // ties go to a random host
		for i := range n {
			consider(s.hosts[(start+i)%n])
		}
	case b.choices == 2:
		i, j := rand.IntN(n), rand.IntN(n-1)
		if j >= i {
			j++ // two distinct hosts
		}
		consider(s.hosts[i])
		consider(s.hosts[j])
	default:
		for range b.choices {
			consider(s.hosts[rand.IntN(n)])
		}
	}
	if best == nil {
		return randomPick(s, ctx)
	}
	return best
}

func (b *leastRequestLB) hashes() bool { return false }

// lessLoaded reports whether a has fewer requests in flight than b.
func lessLoaded(a, b *Host) bool { return a.active.Load() < b.active.Load() }
