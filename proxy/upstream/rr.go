package upstream

import (
	"slices"
	"sync/atomic"
)

// maxScheduleLen bounds the weighted round-robin order: weights whose sum is larger are
// scaled down to it (each host keeps at least one turn).
const maxScheduleLen = 4096

// roundRobinLB cycles through the usable hosts (Envoy's ROUND_ROBIN). With unequal weights
// it follows a precomputed order in which each host appears as often as its weight, its
// turns spread evenly rather than in runs.
type roundRobinLB struct {
	next atomic.Uint64
	// order is the weighted order for one host set, rebuilt when the set changes.
	order atomic.Pointer[rrOrder]
}

type rrOrder struct {
	set  *hostSet
	turn []uint32 // indexes into set.hosts
}

func (b *roundRobinLB) pick(s *hostSet, ctx PickContext) *Host {
	n := b.next.Add(1) - 1
	var h *Host
	if s.weights == nil {
		h = s.hosts[n%uint64(len(s.hosts))]
	} else {
		turn := b.orderFor(s).turn
		h = s.hosts[turn[n%uint64(len(turn))]]
	}
	if h == ctx.Avoid && len(s.hosts) > 1 {
		return avoid(s, h, ctx.Avoid)
	}
	return h
}

func (b *roundRobinLB) hashes() bool { return false }

// orderFor returns the weighted order of s, computing it when s is new.
func (b *roundRobinLB) orderFor(s *hostSet) *rrOrder {
	if o := b.order.Load(); o != nil && o.set == s {
		return o
	}
	o := &rrOrder{set: s, turn: weightedOrder(s.hosts)}
	b.order.Store(o)
	return o
}

// weightedOrder lists host indexes so that host i appears w_i times (weights reduced to at
// most maxScheduleLen turns in all), each host's turns evenly spaced: turn k of host i
// sits at (k + 1/2) / w_i of the cycle.
func weightedOrder(hosts []*Host) []uint32 {
	w := make([]uint64, len(hosts))
	var total, g uint64
	for i, h := range hosts {
		w[i] = uint64(weightOf(h))
		total += w[i]
		g = gcd(g, w[i])
	}
	for i := range w {
		w[i] /= g
	}
	total /= g
	if total > maxScheduleLen {
		scaled := uint64(0)
		for i := range w {
			w[i] = max(1, w[i]*maxScheduleLen/total)
			scaled += w[i]
		}
		total = scaled
	}
	type slot struct {
		at   float64
		host uint32
	}
	slots := make([]slot, 0, total)
	for i := range w {
		for k := range w[i] {
			slots = append(slots, slot{at: (float64(k) + 0.5) / float64(w[i]), host: uint32(i)})
		}
	}
	slices.SortStableFunc(slots, func(a, b slot) int {
		switch {
		case a.at < b.at:
			return -1
		case a.at > b.at:
			return 1
		}
		return 0
	})
	turn := make([]uint32, len(slots))
	for i, s := range slots {
		turn[i] = s.host
	}
	return turn
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
