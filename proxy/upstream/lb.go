package upstream

import (
	"math/rand/v2"
	"sort"
	"sync/atomic"

	"github.com/breeze-mesh/breeze/proxy/config"
)

// balancer picks a host for one request. Each policy is a small type; state lives in
// atomics so picking takes no lock.
type balancer interface {
	pick(hosts []*Host) *Host
}

func newBalancer(policy config.LBPolicy, hosts []*Host) balancer {
	w := newWeights(hosts)
	switch policy {
	case config.Random:
		return &randomLB{w: w}
	case config.LeastRequest:
		return &leastRequestLB{w: w}
	default:
		return &roundRobinLB{w: w}
	}
}

// weights holds cumulative endpoint weights, or nil when all weights are equal (the common
// case, which needs no search).
type weights struct {
	cumulative []uint64
	total      uint64
}

func newWeights(hosts []*Host) *weights {
	equal := true
	for _, h := range hosts {
		if h.Weight != hosts[0].Weight {
			equal = false
		}
	}
	if equal {
		return nil
	}
	w := &weights{}
	for _, h := range hosts {
		w.total += uint64(max(h.Weight, 1))
		w.cumulative = append(w.cumulative, w.total)
	}
	return w
}

// at maps n in [0, total) to the host whose weight range holds it.
func (w *weights) at(n uint64) int {
	return sort.Search(len(w.cumulative), func(i int) bool { return w.cumulative[i] > n })
}

// roundRobinLB cycles through the hosts; with unequal weights each host gets a run of picks
// as long as its weight per cycle.
type roundRobinLB struct {
	w    *weights
	next atomic.Uint64
}

func (b *roundRobinLB) pick(hosts []*Host) *Host {
	n := b.next.Add(1) - 1
	if b.w == nil {
		return hosts[n%uint64(len(hosts))]
	}
	return hosts[b.w.at(n%b.w.total)]
}

// randomLB picks uniformly, or in proportion to the weights.
type randomLB struct{ w *weights }

func (b *randomLB) pick(hosts []*Host) *Host {
	if b.w == nil {
		return hosts[rand.IntN(len(hosts))]
	}
	return hosts[b.w.at(rand.Uint64N(b.w.total))]
}

// leastRequestLB draws two hosts (weighted) and takes the one with fewer requests in flight:
// the "power of two choices", which avoids the herd a full scan causes.
type leastRequestLB struct{ w *weights }

func (b *leastRequestLB) pick(hosts []*Host) *Host {
	r := randomLB{w: b.w}
	a, c := r.pick(hosts), r.pick(hosts)
	if c.active.Load() < a.active.Load() {
		return c
	}
	return a
}
