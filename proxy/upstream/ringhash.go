package upstream

import (
	"slices"
	"strconv"

	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/cespare/xxhash/v2"
)

// Ring sizes. The bounds are Envoy's; pointsPerHost is the density of the ring.
const (
	defaultMinRingSize = 1024
	defaultMaxRingSize = 8 << 20
	// pointsPerHost is how many points a host of average weight gets. It does not depend
	// on the number of hosts (once there are enough of them for minimum_ring_size), so a
	// host joining or leaving changes no other host's points: only its own keys move.
	pointsPerHost = 160
)

// ringHash is consistent hashing on a ring (Envoy's RING_HASH): every host owns points on
// a circle of 64-bit hashes, as many as its weight relative to the average; a request goes
// to the owner of the first point at or after its key. Adding or removing one of N hosts
// moves only the keys next to its points, about 1/N of them.
//
// The ring covers all the cluster's hosts. A host that is not usable (failed health
// checks, ejected) is skipped: its keys go to the next usable owner along the ring, and come
// back when it does, while every other key stays where it was.
type ringHash struct {
	points []ringPoint // sorted by hash
}

type ringPoint struct {
	hash uint64
	host *Host
}

func newRingHash(hosts []*Host, cfg config.RingHashConfig) *ringHash {
	r := &ringHash{}
	if len(hosts) == 0 {
		return r
	}
	minSize, maxSize := uint64(defaultMinRingSize), uint64(defaultMaxRingSize)
	if cfg.MinimumRingSize > 0 {
		minSize = cfg.MinimumRingSize
	}
	if cfg.MaximumRingSize > 0 {
		maxSize = cfg.MaximumRingSize
	}
	minSize = min(minSize, maxSize)

	var total uint64
	for _, h := range hosts {
		total += uint64(weightOf(h))
	}
	size := min(max(minSize, pointsPerHost*uint64(len(hosts))), maxSize)

	r.points = make([]ringPoint, 0, size+uint64(len(hosts)))
	var buf []byte
	for _, h := range hosts {
		n := max(1, (size*uint64(weightOf(h))+total/2)/total)
		for i := range n {
			buf = strconv.AppendUint(append(append(buf[:0], h.Address...), '_'), i, 10)
			r.points = append(r.points, ringPoint{hash: xxhash.Sum64(buf), host: h})
		}
	}
	slices.SortFunc(r.points, func(a, b ringPoint) int {
		switch {
		case a.hash < b.hash:
			return -1
		case a.hash > b.hash:
			return 1
		}
		return 0
	})
	return r
}

func (r *ringHash) hashes() bool { return true }

func (r *ringHash) pick(s *hostSet, ctx PickContext) *Host {
	if !ctx.Hashed || len(r.points) == 0 {
		return randomPick(s, ctx)
	}
	n := len(r.points)
	i := r.search(ctx.Hash)
	for k := range n {
		j := i + k
		if j >= n {
			j -= n
		}
		if h := r.points[j].host; h != ctx.Avoid && s.usable(h) {
			return h
		}
	}
	// No usable host but the one to avoid.
	return randomPick(s, ctx)
}

// search returns the index of the first point at or after hash, wrapping to 0.
func (r *ringHash) search(hash uint64) int {
	lo, hi := 0, len(r.points)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if r.points[mid].hash < hash {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == len(r.points) {
		return 0
	}
	return lo
}
