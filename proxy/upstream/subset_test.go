package upstream

import (
	"testing"

	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/stats"
)

// subsetConfig is six hosts: 0-2 version v1, 3-4 version v2, 5 v2 in zone b; hosts 0 and
// 3 are in zone a, the others have no zone except 5. Selectors: [version] and
// [version, zone].
func subsetConfig(policy config.LBPolicy, fallback config.SubsetFallback) *config.Cluster {
	cfg := fakeConfig(policy, 6)
	labels := []map[string]string{
		{"version": "v1", "zone": "a"}, {"version": "v1"}, {"version": "v1"},
		{"version": "v2", "zone": "a"}, {"version": "v2"}, {"version": "v2", "zone": "b"},
	}
	for i := range cfg.Endpoints {
		cfg.Endpoints[i].Labels = labels[i]
	}
	cfg.Subsets = &config.SubsetConfig{Selectors: [][]string{{"version"}, {"version", "zone"}}, Fallback: fallback}
	return cfg
}

func match(kv ...string) *config.MetadataMatch {
	labels := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		labels[kv[i]] = kv[i+1]
	}
	return config.NewMetadataMatch(labels)
}

func matchContext(mm *config.MetadataMatch) func(int) PickContext {
	return func(int) PickContext { return PickContext{MetadataMatch: mm} }
}

func addrs(idx ...int) map[string]bool {
	out := map[string]bool{}
	for _, i := range idx {
		out[fakeAddr(i)] = true
	}
	return out
}

// onlyFrom checks that the picks landed on exactly the hosts of want, each at least once.
func onlyFrom(t *testing.T, what string, got map[string]int, want map[string]bool) {
	t.Helper()
	for a, n := range got {
		if !want[a] {
			t.Errorf("%s: %d picks of %s, which is not in the subset %v", what, n, a, want)
		}
	}
	for a := range want {
		if got[a] == 0 {
			t.Errorf("%s: %s never picked (%v)", what, a, got)
		}
	}
}

// TestSubsetPicksOnlyMatchingHosts: every policy, hashed or not, picks only hosts whose
// labels match, and spreads over all of them.
func TestSubsetPicksOnlyMatchingHosts(t *testing.T) {
	for _, policy := range allPolicies {
		t.Run(policy.String(), func(t *testing.T) {
			m, _ := newTestManager(t)
			m.Update([]*config.Cluster{subsetConfig(policy, config.FallbackNone)})
			c := m.Get("c")
			for _, tc := range []struct {
				mm   *config.MetadataMatch
				want map[string]bool
			}{
				{match("version", "v1"), addrs(0, 1, 2)},
				{match("version", "v2"), addrs(3, 4, 5)},
				{match("version", "v2", "zone", "a"), addrs(3)},
				{match("zone", "b", "version", "v2"), addrs(5)},
			} {
				for _, hashed := range []bool{false, true} {
					got := counts(c, 600, func(i int) PickContext {
						ctx := keyContext(i)
						ctx.Hashed = hashed
						ctx.MetadataMatch = tc.mm
						return ctx
					})
					onlyFrom(t, tc.mm.Key, got, tc.want)
				}
			}
		})
	}
}

// TestSubsetFallback: a match whose keys are no selector's, values no host has, or no match
// at all get what fallback_policy says.
func TestSubsetFallback(t *testing.T) {
	misses := []*config.MetadataMatch{
		nil,                              // no metadata_match
		match("version", "v3"),           // no host has the value
		match("zone", "a"),               // no selector is [zone]
		match("version", "v1", "x", "y"), // no selector is [version, x]
	}
	m, _ := newTestManager(t)

	m.Update([]*config.Cluster{subsetConfig(config.RoundRobin, config.FallbackNone)})
	for _, mm := range misses {
		if h := m.Get("c").Pick(PickContext{MetadataMatch: mm}); h != nil {
			t.Errorf("NO_FALLBACK, match %v: picked %s, want none", mm, h.Address)
		}
	}

	m.Update([]*config.Cluster{subsetConfig(config.RoundRobin, config.FallbackAnyEndpoint)})
	for _, mm := range misses {
		onlyFrom(t, "ANY_ENDPOINT", counts(m.Get("c"), 60, matchContext(mm)), addrs(0, 1, 2, 3, 4, 5))
	}

	cfg := subsetConfig(config.RoundRobin, config.FallbackDefaultSubset)
	cfg.Subsets.DefaultSubset = map[string]string{"zone": "a"}
	m.Update([]*config.Cluster{cfg})
	for _, mm := range misses {
		onlyFrom(t, "DEFAULT_SUBSET zone=a", counts(m.Get("c"), 60, matchContext(mm)), addrs(0, 3))
	}
	// A match still reaches its subset.
	onlyFrom(t, "DEFAULT_SUBSET, version=v1", counts(m.Get("c"), 60, matchContext(match("version", "v1"))), addrs(0, 1, 2))

	cfg = subsetConfig(config.RoundRobin, config.FallbackDefaultSubset)
	cfg.Subsets.DefaultSubset = map[string]string{"zone": "c"}
	m.Update([]*config.Cluster{cfg})
	if h := m.Get("c").Pick(PickContext{}); h != nil {
		t.Errorf("a default subset no host is in: picked %s", h.Address)
	}

	// Without lb_subset_config, a metadata match is ignored, as in Envoy.
	m.Update([]*config.Cluster{fakeConfig(config.RoundRobin, 3)})
	onlyFrom(t, "no subsets", counts(m.Get("c"), 30, matchContext(match("version", "v9"))), addrs(0, 1, 2))
}

// TestSubsetRespectsHealth: unusable hosts leave their subsets; a subset whose hosts are all
// down gives no host (it does not fall back), unless its own panic mode applies.
func TestSubsetRespectsHealth(t *testing.T) {
	m, _ := newTestManager(t)
	cfg := subsetConfig(config.RoundRobin, config.FallbackAnyEndpoint)
	cfg.HealthyPanicThreshold = 0
	m.Update([]*config.Cluster{cfg})
	c := m.Get("c")
	v1 := matchContext(match("version", "v1"))
	c.Hosts[0].setFlag(flagEjected, true)
	onlyFrom(t, "host 0 ejected", counts(c, 60, v1), addrs(1, 2))
	c.Hosts[1].setFlag(flagFailedHealthCheck, true)
	c.Hosts[2].setFlag(flagFailedHealthCheck, true)
	if h := c.Pick(v1(0)); h != nil {
		t.Fatalf("every v1 host down: picked %s, want none", h.Address)
	}
	c.Hosts[1].setFlag(flagFailedHealthCheck, false)
	onlyFrom(t, "host 1 back", counts(c, 60, v1), addrs(1))

	// With panic mode (50%), one usable host of three puts the subset in panic: all three.
	cfg = subsetConfig(config.RoundRobin, config.FallbackAnyEndpoint)
	m.Update([]*config.Cluster{cfg})
	c = m.Get("c")
	onlyFrom(t, "v1 in panic", counts(c, 60, v1), addrs(0, 1, 2))
	onlyFrom(t, "v2 healthy", counts(c, 60, matchContext(match("version", "v2"))), addrs(3, 4, 5))
}

// TestSubsetsFollowEndpointUpdates: a new endpoint version rebuilds the subsets from the
// new labels; the same version keeps the subsets' balancers.
func TestSubsetsFollowEndpointUpdates(t *testing.T) {
	m, _ := newTestManager(t)
	cfg := subsetConfig(config.RingHash, config.FallbackNone)
	m.Update([]*config.Cluster{cfg})
	before := m.Get("c").subsets.byKey[match("version", "v1").Key].lb
	m.Update([]*config.Cluster{subsetConfig(config.RingHash, config.FallbackNone)})
	if m.Get("c").subsets.byKey[match("version", "v1").Key].lb != before {
		t.Error("an identical update rebuilt a subset's ring")
	}
	cfg = subsetConfig(config.RingHash, config.FallbackNone)
	cfg.Endpoints[4].Labels = map[string]string{"version": "v1"}
	m.Update([]*config.Cluster{cfg})
	got := counts(m.Get("c"), 600, func(i int) PickContext {
		ctx := keyContext(i)
		ctx.MetadataMatch = match("version", "v1")
		return ctx
	})
	onlyFrom(t, "v1 after relabel", got, addrs(0, 1, 2, 4))
}

// TestSubsetPickDoesNotAllocate: choosing a subset is a map lookup on a key computed with
// the route, and picking in it is the policy's allocation-free pick.
func TestSubsetPickDoesNotAllocate(t *testing.T) {
	for _, policy := range allPolicies {
		m, _ := newTestManager(t)
		m.Update([]*config.Cluster{subsetConfig(policy, config.FallbackAnyEndpoint)})
		c := m.Get("c")
		c.Hosts[1].setFlag(flagEjected, true)
		ctx := keyContext(7)
		ctx.MetadataMatch = match("version", "v1")
		miss := PickContext{MetadataMatch: match("version", "v7")}
		c.Pick(PickContext{MetadataMatch: ctx.MetadataMatch}) // builds the weighted order once
		allocs := testing.AllocsPerRun(1000, func() {
			c.Pick(ctx)
			c.Pick(PickContext{MetadataMatch: ctx.MetadataMatch})
			c.Pick(miss)
		})
		if allocs != 0 {
			t.Errorf("%v: %v allocations per subset pick", policy, allocs)
		}
	}
}

// BenchmarkSubsetPick measures a pick in a subset (version=v1, three of six hosts) against
// a pick on the same cluster without a match (ANY_ENDPOINT fallback).
func BenchmarkSubsetPick(b *testing.B) {
	for _, bc := range []struct {
		name string
		mm   *config.MetadataMatch
	}{
		{"round_robin_subset", match("version", "v1")},
		{"round_robin_two_key_subset", match("version", "v2", "zone", "a")},
		{"round_robin_fallback", nil},
	} {
		b.Run(bc.name, func(b *testing.B) {
			m := NewManager(stats.New())
			defer m.Close()
			m.Update([]*config.Cluster{subsetConfig(config.RoundRobin, config.FallbackAnyEndpoint)})
			c := m.Get("c")
			ctx := PickContext{MetadataMatch: bc.mm}
			b.ReportAllocs()
			for b.Loop() {
				if c.Pick(ctx) == nil {
					b.Fatal("no host")
				}
			}
		})
	}
}
