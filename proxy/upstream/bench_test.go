package upstream

import (
	"testing"

	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/stats"
)

// BenchmarkPick measures one pick per policy over 10 hosts, with equal and unequal weights,
// and for the hashing policies with a hash key (a hash key on ROUND_ROBIN uses the
// fallback ring).
func BenchmarkPick(b *testing.B) {
	cases := []struct {
		name     string
		policy   config.LBPolicy
		weighted bool
		hashed   bool
	}{
		{"round_robin", config.RoundRobin, false, false},
		{"round_robin_weighted", config.RoundRobin, true, false},
		{"random", config.Random, false, false},
		{"random_weighted", config.Random, true, false},
		{"least_request", config.LeastRequest, false, false},
		{"least_request_weighted", config.LeastRequest, true, false},
		{"ring_hash", config.RingHash, false, true},
		{"maglev", config.Maglev, false, true},
		{"round_robin_with_hash_key", config.RoundRobin, false, true},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			var ws []uint32
			if bc.weighted {
				ws = []uint32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
			}
			m := NewManager(stats.New())
			defer m.Close()
			m.Update([]*config.Cluster{fakeConfig(bc.policy, 10, ws...)})
			c := m.Get("c")
			keys := make([]PickContext, 1024)
			for i := range keys {
				keys[i] = keyContext(i)
				keys[i].Hashed = bc.hashed
			}
			c.Pick(keys[0])
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if c.Pick(keys[i&1023]) == nil {
					b.Fatal("no host")
				}
			}
		})
	}
}
