package upstream

import (
	"testing"

	"github.com/breeze-mesh/breeze/proxy/config"
)

func hosts(weights ...uint32) []*Host {
	var hs []*Host
	for i, w := range weights {
		hs = append(hs, &Host{Address: string(rune('a' + i)), Weight: w})
	}
	return hs
}

func TestWeightedRoundRobinFollowsWeights(t *testing.T) {
	hs := hosts(1, 3)
	b := newBalancer(config.RoundRobin, hs)
	counts := map[string]int{}
	for range 400 {
		counts[b.pick(hs).Address]++
	}
	if counts["a"] != 100 || counts["b"] != 300 {
		t.Fatalf("picks %v, want a=100 b=300", counts)
	}
}

func TestRandomFollowsWeights(t *testing.T) {
	hs := hosts(1, 4)
	b := newBalancer(config.Random, hs)
	counts := map[string]int{}
	const n = 50000
	for range n {
		counts[b.pick(hs).Address]++
	}
	// Binomial(50000, 0.2): sd ≈ 89; ±6 sd fails by chance about once in 10^9 runs.
	if a := counts["a"]; a < 10000-540 || a > 10000+540 {
		t.Fatalf("a picked %d times, want 10000±540", a)
	}
}

func TestLeastRequestAvoidsTheBusyHost(t *testing.T) {
	hs := hosts(1, 1)
	hs[0].active.Store(50) // a slow host with many requests in flight
	b := newBalancer(config.LeastRequest, hs)
	busy := 0
	for range 1000 {
		if b.pick(hs) == hs[0] {
			busy++
		}
	}
	// The busy host wins only when both draws pick it: about 1 in 4.
	if busy > 330 {
		t.Fatalf("busy host picked %d of 1000 times, want about 250", busy)
	}
}
