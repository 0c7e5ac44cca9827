package upstream

import (
	"math/rand/v2"

	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/cespare/xxhash/v2"
)

// balancer picks a host for one request. Each policy is a small type in its own file;
// state lives in atomics or in values built when the cluster or its health changes, so
// picking takes no lock and allocates nothing.
//
// Round robin, random and least request pick from the host set, which holds only usable
// hosts. The hashing balancers keep their ring or table over all hosts, so that a host
// leaving the set moves only its own keys, and skip the hosts the set does not allow.
type balancer interface {
	pick(s *hostSet, ctx PickContext) *Host
	// hashes reports whether the policy uses the request's hash key.
	hashes() bool
}

func newBalancer(cc *config.Cluster, hosts []*Host) balancer {
	switch cc.LBPolicy {
	case config.Random:
		return randomLB{}
	case config.LeastRequest:
		return newLeastRequest(cc.LeastRequestChoices)
	case config.RingHash:
		return newRingHash(hosts, cc.RingHash)
	case config.Maglev:
		return newMaglev(hosts, cc.MaglevTableSize)
	default:
		return &roundRobinLB{}
	}
}

// HashValue folds one metadata value into a request's consistent-hash key: start from 0
// and fold in the values of the route's hash_policy keys, in order. The key depends on the
// values alone (xxHash64), so every proxy maps a value to the same endpoint.
func HashValue(key uint64, value string) uint64 {
	return mix64(key ^ xxhash.Sum64String(value))
}

// mix64 scrambles x (the finaliser of SplitMix64), so that keys built from similar inputs
// land far apart.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// weights holds cumulative host weights, or is nil when all weights are equal (the common
// case, which needs no search).
type weights struct {
	cumulative []uint64
	total      uint64
}

func newWeights(hosts []*Host) *weights {
	equal := true
	for _, h := range hosts {
		if h.Weight() != hosts[0].Weight() {
			equal = false
			break
		}
	}
	if equal {
		return nil
	}
	w := &weights{cumulative: make([]uint64, 0, len(hosts))}
	for _, h := range hosts {
		w.total += uint64(weightOf(h))
		w.cumulative = append(w.cumulative, w.total)
	}
	return w
}

// weightOf is a host's weight; 0 (unset) counts as 1.
func weightOf(h *Host) uint32 { return h.Weight() }

// at maps n in [0, total) to the index of the host whose weight range holds it.
func (w *weights) at(n uint64) int {
	lo, hi := 0, len(w.cumulative)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if w.cumulative[mid] > n {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// randomHost picks a host of s at random, in proportion to the weights.
func randomHost(s *hostSet) *Host {
	if s.weights == nil {
		return s.hosts[rand.IntN(len(s.hosts))]
	}
	return s.hosts[s.weights.at(rand.Uint64N(s.weights.total))]
}

// randomPick picks at random, avoiding ctx.Avoid when another host will do.
func randomPick(s *hostSet, ctx PickContext) *Host {
	return avoid(s, randomHost(s), ctx.Avoid)
}

// avoid returns h, or another host of s when h is the one to avoid and s has another.
func avoid(s *hostSet, h, not *Host) *Host {
	if h != not || not == nil || len(s.hosts) < 2 {
		return h
	}
	for range 4 {
		if h = randomHost(s); h != not {
			return h
		}
	}
	// A host that holds nearly all the weight: take any other.
	start := rand.IntN(len(s.hosts))
	for i := range s.hosts {
		if h = s.hosts[(start+i)%len(s.hosts)]; h != not {
			return h
		}
	}
	return not
}
