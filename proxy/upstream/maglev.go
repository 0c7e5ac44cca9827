package upstream

import "github.com/cespare/xxhash/v2"

// defaultMaglevTableSize is Envoy's default table size, a prime.
const defaultMaglevTableSize = 65537

// maglevRehashes is how many times a key whose slot holds an unusable host is hashed again
// before a random usable host is taken.
const maglevRehashes = 16

// maglev is Maglev consistent hashing (Envoy's MAGLEV): a lookup table of prime size in
// which every host fills slots along its own permutation, in turn, so that each host owns
// a share of the slots proportional to its weight; a request goes to the owner of slot
// key mod size. Lookup is one index, and adding or removing one of N hosts changes little
// more than 1/N of the slots.
//
// The table covers all the cluster's hosts. A key whose slot belongs to a host that is not
// usable is hashed again, so it lands on a usable host while every other key stays put.
type maglev struct {
	table []int32 // host index per slot
	hosts []*Host
}

func newMaglev(hosts []*Host, size uint64) *maglev {
	if size == 0 {
		size = defaultMaglevTableSize
	}
	for !isPrime(size) {
		size++ // the permutations need a prime size to reach every slot
	}
	m := &maglev{hosts: hosts}
	if len(hosts) == 0 {
		return m
	}
	offset := make([]uint64, len(hosts))
	skip := make([]uint64, len(hosts))
	next := make([]uint64, len(hosts))
	var heaviest uint64
	for i, h := range hosts {
		hash := xxhash.Sum64String(h.Address)
		offset[i] = hash % size
		skip[i] = mix64(hash)%(size-1) + 1
		heaviest = max(heaviest, uint64(weightOf(h)))
	}
	m.table = make([]int32, size)
	for i := range m.table {
		m.table[i] = -1
	}
	filled := uint64(0)
	// In round r a host of weight w takes floor(r*w/heaviest) - floor((r-1)*w/heaviest)
	// slots: the heaviest one each round, the others in proportion.
	for round := uint64(1); filled < size; round++ {
		for i, h := range hosts {
			w := uint64(weightOf(h))
			turns := round*w/heaviest - (round-1)*w/heaviest
			for ; turns > 0 && filled < size; turns-- {
				for {
					slot := (offset[i] + next[i]*skip[i]) % size
					next[i]++
					if m.table[slot] < 0 {
						m.table[slot] = int32(i)
						filled++
						break
					}
				}
			}
		}
	}
	return m
}

func (m *maglev) hashes() bool { return true }

func (m *maglev) pick(s *hostSet, ctx PickContext) *Host {
	if !ctx.Hashed || len(m.table) == 0 {
		return randomPick(s, ctx)
	}
	size := uint64(len(m.table))
	key := ctx.Hash
	for attempt := uint64(0); attempt <= maglevRehashes; attempt++ {
		if attempt > 0 {
			key = mix64(ctx.Hash + attempt*0x9e3779b97f4a7c15)
		}
		if h := m.hosts[m.table[key%size]]; h != ctx.Avoid && s.usable(h) {
			return h
		}
	}
	return randomPick(s, ctx)
}

func isPrime(n uint64) bool {
	if n < 2 {
		return false
	}
	for d := uint64(2); d*d <= n; d++ {
		if n%d == 0 {
			return false
		}
	}
	return true
}
