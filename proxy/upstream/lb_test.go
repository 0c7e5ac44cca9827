package upstream

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/breeze-mesh/breeze/proxy/config"
)

// fakeCluster builds a cluster of policy over n hosts that are never dialled (these tests
// only pick), with the given weights (all 1 when none are given).
func fakeCluster(t *testing.T, policy config.LBPolicy, n int, weights ...uint32) (*Manager, *config.Cluster) {
	t.Helper()
	m, _ := newTestManager(t)
	cfg := fakeConfig(policy, n, weights...)
	m.Update([]*config.Cluster{cfg})
	return m, cfg
}

func fakeConfig(policy config.LBPolicy, n int, weights ...uint32) *config.Cluster {
	cfg := clusterCfg("c")
	cfg.LBPolicy = policy
	for i := range n {
		w := uint32(1)
		if i < len(weights) {
			w = weights[i]
		}
		cfg.Endpoints = append(cfg.Endpoints, config.Endpoint{Address: fakeAddr(i), Weight: w})
	}
	return cfg
}

func fakeAddr(i int) string { return "10.0.0." + strconv.Itoa(i+1) + ":20880" }

func counts(c *Cluster, picks int, ctx func(i int) PickContext) map[string]int {
	out := map[string]int{}
	for i := range picks {
		out[c.Pick(ctx(i)).Address]++
	}
	return out
}

func plain(int) PickContext { return PickContext{} }

func TestRoundRobinVisitsEveryHostEvenly(t *testing.T) {
	m, _ := fakeCluster(t, config.RoundRobin, 3)
	got := counts(m.Get("c"), 300, plain)
	for i := range 3 {
		if got[fakeAddr(i)] != 100 {
			t.Fatalf("picks %v, want 100 each", got)
		}
	}
}

func TestWeightedRoundRobinSpreadsTurns(t *testing.T) {
	m, _ := fakeCluster(t, config.RoundRobin, 2, 1, 3)
	c := m.Get("c")
	got := counts(c, 400, plain)
	if got[fakeAddr(0)] != 100 || got[fakeAddr(1)] != 300 {
		t.Fatalf("picks %v, want 100 and 300", got)
	}
	// The light host's turns are spread out: never two in a row.
	prev := ""
	for range 400 {
		a := c.Pick(PickContext{}).Address
		if a == fakeAddr(0) && prev == a {
			t.Fatal("the weight-1 host got two turns in a row; turns should be spread")
		}
		prev = a
	}
}

func TestRandomFollowsWeights(t *testing.T) {
	m, _ := fakeCluster(t, config.Random, 2, 1, 4)
	const n = 50000
	got := counts(m.Get("c"), n, plain)
	// Binomial(50000, 0.2): sd ≈ 89; ±6 sd fails by chance about once in 10^9 runs.
	if a := got[fakeAddr(0)]; a < 10000-540 || a > 10000+540 {
		t.Fatalf("host 0 picked %d times, want 10000±540", a)
	}
}

func TestLeastRequestAvoidsTheBusyHost(t *testing.T) {
	m, _ := fakeCluster(t, config.LeastRequest, 2)
	c := m.Get("c")
	c.Hosts[0].active.Store(50) // a slow host with many requests in flight
	if busy := counts(c, 1000, plain)[fakeAddr(0)]; busy != 0 {
		t.Fatalf("busy host picked %d of 1000 times; with two hosts both are compared", busy)
	}
	// Among 10 hosts, two distinct ones are drawn: the busiest never wins.
	m, _ = fakeCluster(t, config.LeastRequest, 10)
	c = m.Get("c")
	for i, h := range c.Hosts {
		h.active.Store(int64(i))
	}
	got := counts(c, 5000, plain)
	if busiest := got[fakeAddr(9)]; busiest != 0 {
		t.Fatalf("busiest of 10 hosts picked %d times", busiest)
	}
	if idlest := got[fakeAddr(0)]; idlest < 5000*15/100 {
		t.Fatalf("idlest host picked %d of 5000 times, want about 1000 (drawn in 1 of 5 pairs)", idlest)
	}
}

func TestLeastRequestTiesGoAnywhere(t *testing.T) {
	m, _ := fakeCluster(t, config.LeastRequest, 2)
	got := counts(m.Get("c"), 1000, plain)
	if got[fakeAddr(0)] < 400 || got[fakeAddr(1)] < 400 {
		t.Fatalf("two idle hosts: picks %v, want about even", got)
	}
}

func TestLeastRequestFollowsWeights(t *testing.T) {
	m, _ := fakeCluster(t, config.LeastRequest, 2, 1, 9)
	c := m.Get("c")
	// Idle hosts share requests in proportion to their weights (a tie goes to the first
	// host drawn): 1 in 10 for the light host.
	if light := counts(c, 10000, plain)[fakeAddr(0)]; light < 700 || light > 1300 {
		t.Fatalf("idle weight-1 host picked %d of 10000 times, want about 1000", light)
	}
	// A drawn host with fewer requests in flight wins: the light host, idle, now gets every
	// pick in which it is drawn (about 19 in 100).
	c.Hosts[1].active.Store(30)
	if light := counts(c, 10000, plain)[fakeAddr(0)]; light < 1500 || light > 2300 {
		t.Fatalf("idle weight-1 host against a busy one picked %d of 10000 times, want about 1900", light)
	}
}

// keyContext hashes "key-<i>".
func keyContext(i int) PickContext {
	return PickContext{Hash: HashValue(0, "key-"+strconv.Itoa(i)), Hashed: true}
}

func mapping(c *Cluster, keys int) []string {
	out := make([]string, keys)
	for i := range keys {
		out[i] = c.Pick(keyContext(i)).Address
	}
	return out
}

var hashPolicies = []config.LBPolicy{config.RingHash, config.Maglev}

func TestHashingIsStableAndSpreads(t *testing.T) {
	for _, policy := range hashPolicies {
		t.Run(policy.String(), func(t *testing.T) {
			m, _ := fakeCluster(t, policy, 5)
			c := m.Get("c")
			const keys = 10000
			first := mapping(c, keys)
			if again := mapping(c, keys); fmt.Sprint(again) != fmt.Sprint(first) {
				t.Fatal("the same key reached different hosts")
			}
			share := map[string]int{}
			for _, a := range first {
				share[a]++
			}
			// Each of 5 hosts should own about 2000 keys; ring hash with 1024 points
			// spreads within about ±15%.
			for i := range 5 {
				if n := share[fakeAddr(i)]; n < 1500 || n > 2500 {
					t.Fatalf("host %d owns %d of %d keys, want about 2000 (%v)", i, n, keys, share)
				}
			}
		})
	}
}

func TestHashingFollowsWeights(t *testing.T) {
	for _, policy := range hashPolicies {
		t.Run(policy.String(), func(t *testing.T) {
			m, _ := fakeCluster(t, policy, 2, 1, 3)
			share := map[string]int{}
			for _, a := range mapping(m.Get("c"), 8000) {
				share[a]++
			}
			if n := share[fakeAddr(0)]; n < 1600 || n > 2400 {
				t.Fatalf("weight-1 host owns %d of 8000 keys, want about 2000", n)
			}
		})
	}
}

// TestHashingUnderEndpointChurn: adding one host to N moves about 1/(N+1) of the keys,
// (ring hash: all to the new host); removing it moves them back and nothing else.
func TestHashingUnderEndpointChurn(t *testing.T) {
	const n, keys = 9, 20000
	for _, policy := range hashPolicies {
		t.Run(policy.String(), func(t *testing.T) {
			m, cfg := fakeCluster(t, policy, n)
			before := mapping(m.Get("c"), keys)

			grown := fakeConfig(policy, n+1)
			m.Update([]*config.Cluster{grown})
			after := mapping(m.Get("c"), keys)
			moved, toNew := 0, 0
			for i := range keys {
				if before[i] != after[i] {
					moved++
					if after[i] == fakeAddr(n) {
						toNew++
					}
				}
			}
			ideal := keys / (n + 1)
			if moved < ideal/2 || moved > ideal*3/2 {
				t.Fatalf("adding 1 host to %d moved %d of %d keys, want about %d", n, moved, keys, ideal)
			}
			if policy == config.RingHash && toNew != moved {
				t.Fatalf("%d keys moved between old hosts; ring hash moves keys only to the new host", moved-toNew)
			}
			if policy == config.Maglev && toNew < moved*9/10 {
				t.Fatalf("only %d of %d moved keys went to the new host", toNew, moved)
			}

			m.Update([]*config.Cluster{cfg})
			back := mapping(m.Get("c"), keys)
			for i := range keys {
				if after[i] != fakeAddr(n) && back[i] != after[i] && policy == config.RingHash {
					t.Fatalf("key %d moved from %s to %s although its host stayed", i, after[i], back[i])
				}
			}
			restored := 0
			for i := range keys {
				if back[i] == before[i] {
					restored++
				}
			}
			if restored != keys {
				t.Fatalf("after removing the added host, %d of %d keys are back where they were; want all", restored, keys)
			}
		})
	}
}

// TestHashingSkipsUnusableHosts: an ejected host's keys go elsewhere, every other key stays,
// and the host's keys come back when it returns.
func TestHashingSkipsUnusableHosts(t *testing.T) {
	const keys = 5000
	for _, policy := range hashPolicies {
		t.Run(policy.String(), func(t *testing.T) {
			m, _ := fakeCluster(t, policy, 5)
			c := m.Get("c")
			before := mapping(c, keys)
			out := c.Hosts[2]
			out.setFlag(flagEjected, true)
			during := mapping(c, keys)
			for i := range keys {
				switch {
				case during[i] == out.Address:
					t.Fatalf("key %d still reaches the ejected host", i)
				case before[i] != out.Address && during[i] != before[i]:
					t.Fatalf("key %d moved from %s to %s although its host is usable", i, before[i], during[i])
				}
			}
			out.setFlag(flagEjected, false)
			if fmt.Sprint(mapping(c, keys)) != fmt.Sprint(before) {
				t.Fatal("keys did not come back to the returned host")
			}
		})
	}
}

var allPolicies = []config.LBPolicy{config.RoundRobin, config.Random, config.LeastRequest, config.RingHash, config.Maglev}

// TestEveryBalancerSkipsUnusableHosts: ejected and unhealthy hosts get no picks, hashed or
// not.
func TestEveryBalancerSkipsUnusableHosts(t *testing.T) {
	for _, policy := range allPolicies {
		t.Run(policy.String(), func(t *testing.T) {
			m, _ := fakeCluster(t, policy, 4, 1, 2, 3, 4)
			c := m.Get("c")
			c.Hosts[0].setFlag(flagEjected, true)
			c.Hosts[3].setFlag(flagFailedHealthCheck, true)
			for _, ctx := range []func(int) PickContext{plain, keyContext} {
				got := counts(c, 2000, ctx)
				if got[fakeAddr(0)] != 0 || got[fakeAddr(3)] != 0 {
					t.Fatalf("unusable hosts picked: %v", got)
				}
				if got[fakeAddr(1)] == 0 || got[fakeAddr(2)] == 0 {
					t.Fatalf("usable hosts not picked: %v", got)
				}
			}
		})
	}
}

// TestPanicMode: when fewer than the panic threshold of hosts are usable, every host is
// balanced to; with panic mode disabled, none is and Pick says so.
func TestPanicMode(t *testing.T) {
	m, cfg := fakeCluster(t, config.RoundRobin, 4)
	c := m.Get("c")
	c.Hosts[0].setFlag(flagEjected, true)
	c.Hosts[1].setFlag(flagFailedHealthCheck, true)
	if got := counts(c, 100, plain); len(got) != 2 {
		t.Fatalf("2 of 4 usable (50%%, not below the threshold): picks %v, want the 2 usable hosts", got)
	}
	c.Hosts[2].setFlag(flagFailedHealthCheck, true)
	if got := counts(c, 100, plain); len(got) != 4 {
		t.Fatalf("1 of 4 usable (below 50%%): picks %v, want all 4 hosts (panic mode)", got)
	}

	noPanic := *cfg
	noPanic.HealthyPanicThreshold = 0
	m.Update([]*config.Cluster{&noPanic})
	c = m.Get("c")
	// (The update cleared the flags: the cluster has no health checks or outlier
	// detection that would keep them. Set them again.)
	for _, h := range c.Hosts[:3] {
		h.setFlag(flagEjected, true)
	}
	if got := counts(c, 100, plain); len(got) != 1 || got[fakeAddr(3)] != 100 {
		t.Fatalf("panic disabled: picks %v, want only the usable host", got)
	}
	c.Hosts[3].setFlag(flagEjected, true)
	if h := c.Pick(PickContext{}); h != nil {
		t.Fatalf("no usable host and panic disabled: picked %s, want none", h.Address)
	}
}

// TestPickAvoidsTheFailedHost: a retry's pick prefers another host, whatever the policy,
// and still gets the only host when there is no other.
func TestPickAvoidsTheFailedHost(t *testing.T) {
	for _, policy := range allPolicies {
		t.Run(policy.String(), func(t *testing.T) {
			m, _ := fakeCluster(t, policy, 3)
			c := m.Get("c")
			for i := range 300 {
				ctx := keyContext(i)
				first := c.Pick(ctx)
				ctx.Avoid = first
				if again := c.Pick(ctx); again == first {
					t.Fatalf("pick avoiding %s returned it", first.Address)
				}
			}
			single, _ := fakeCluster(t, policy, 1)
			h := single.Get("c").Hosts[0]
			if got := single.Get("c").Pick(PickContext{Avoid: h}); got != h {
				t.Fatal("the only host must still be picked")
			}
		})
	}
}

// TestHashOnAnyPolicy: a hashed request on a cluster whose policy does not hash still gets
// consistent hashing.
func TestHashOnAnyPolicy(t *testing.T) {
	m, _ := fakeCluster(t, config.RoundRobin, 4)
	c := m.Get("c")
	first := mapping(c, 1000)
	if fmt.Sprint(mapping(c, 1000)) != fmt.Sprint(first) {
		t.Fatal("hashed requests on a ROUND_ROBIN cluster are not consistent")
	}
	seen := map[string]bool{}
	for _, a := range first {
		seen[a] = true
	}
	if len(seen) != 4 {
		t.Fatalf("keys reach %d of 4 hosts", len(seen))
	}
}

func TestHashValueDependsOnEveryValue(t *testing.T) {
	a := HashValue(HashValue(0, "x"), "y")
	if a == HashValue(0, "x") || a == HashValue(HashValue(0, "x"), "z") || a != HashValue(HashValue(0, "x"), "y") {
		t.Fatal("HashValue does not fold values deterministically")
	}
}

// TestPickDoesNotAllocate keeps the request path free of allocations for every policy.
func TestPickDoesNotAllocate(t *testing.T) {
	for _, policy := range allPolicies {
		for _, weighted := range []bool{false, true} {
			ws := []uint32{1, 1, 1, 1, 1, 1, 1, 1}
			if weighted {
				ws = []uint32{1, 2, 3, 4, 5, 6, 7, 8}
			}
			m, _ := fakeCluster(t, policy, 8, ws...)
			c := m.Get("c")
			c.Hosts[1].setFlag(flagEjected, true)
			c.Pick(PickContext{}) // builds the weighted order once
			ctx := keyContext(7)
			ctx.Avoid = c.Hosts[2]
			allocs := testing.AllocsPerRun(1000, func() {
				c.Pick(PickContext{})
				c.Pick(ctx)
			})
			if allocs != 0 {
				t.Errorf("%v (weighted %v): %v allocations per pick", policy, weighted, allocs)
			}
		}
	}
}
