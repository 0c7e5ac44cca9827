package upstream

import (
	"github.com/breeze-mesh/breeze/proxy/config"
)

// subsetTable is a cluster's subsets (Envoy's subset load balancer): for each of the
// cluster's subset selectors, one group per combination of values that the hosts' labels
// have for the selector's keys. A host that lacks one of the keys is in no subset of that
// selector. The table is built with the cluster version, when its endpoints or settings
// change, never per request; each subset balances with the cluster's policy, over its
// usable hosts, with its own panic mode.
type subsetTable struct {
	// byKey holds the subsets by config.SubsetKey of their labels, the same key a route's
	// config.MetadataMatch carries: finding a request's subset is one map lookup.
	byKey map[string]*hostGroup
	// fallback serves requests whose match names no subset; nil: they get no host.
	fallback *hostGroup
	// dflt is the default subset of a DEFAULT_SUBSET fallback with labels; nil otherwise.
	dflt *hostGroup
	// groups are the subsets, and dflt when set, for refresh.
	groups []*hostGroup
}

// defaultKey stands for the default subset in get.
const defaultKey = "default"

// newSubsetTable builds the subsets of hosts. all is the cluster's group of every host (the
// ANY_ENDPOINT fallback). prev, when set, is the table of the previous version of the
// cluster, with the same hosts and settings: its subsets' balancers are kept.
func newSubsetTable(cc *config.Cluster, hosts []*Host, all *hostGroup, prev *subsetTable) *subsetTable {
	t := &subsetTable{byKey: map[string]*hostGroup{}}
	newGroup := func(key string, members []*Host) *hostGroup {
		g := &hostGroup{members: members}
		if old := prev.get(key); old != nil {
			g.reuse(old)
		} else {
			g.lb = newBalancer(cc, members)
		}
		t.groups = append(t.groups, g)
		return g
	}

	// Group the hosts by their values for each selector's keys, keeping their order.
	members := map[string][]*Host{}
	var order []string
	for _, keys := range cc.Subsets.Selectors {
		for _, h := range hosts {
			labels := h.Labels()
			if !hasKeys(labels, keys) {
				continue
			}
			key := config.SubsetKey(keys, labels)
			if _, seen := members[key]; !seen {
				order = append(order, key)
			}
			members[key] = append(members[key], h)
		}
	}
	for _, key := range order {
		t.byKey[key] = newGroup(key, members[key])
	}

	switch cc.Subsets.Fallback {
	case config.FallbackAnyEndpoint:
		t.fallback = all
	case config.FallbackDefaultSubset:
		if len(cc.Subsets.DefaultSubset) == 0 {
			t.fallback = all // Envoy: an empty default subset is every host
			break
		}
		var in []*Host
		for _, h := range hosts {
			if hasLabels(h.Labels(), cc.Subsets.DefaultSubset) {
				in = append(in, h)
			}
		}
		// defaultKey is no subset's key (those start with a digit): the default subset
		// keeps its balancer across versions too.
		t.dflt = newGroup(defaultKey, in)
		t.fallback = t.dflt
	}
	return t
}

// get returns the subset of key, or nil (also for a nil table).
func (t *subsetTable) get(key string) *hostGroup {
	if t == nil {
		return nil
	}
	if key == defaultKey {
		return t.dflt
	}
	return t.byKey[key]
}

// find returns the group for a request's metadata match: its subset, or the fallback
// (nil with NO_FALLBACK).
func (t *subsetTable) find(mm *config.MetadataMatch) *hostGroup {
	if mm != nil {
		if g := t.byKey[mm.Key]; g != nil {
			return g
		}
	}
	return t.fallback
}

// refresh recomputes every subset's host set (the cluster's lock is held).
func (t *subsetTable) refresh(threshold float64) {
	if t == nil {
		return
	}
	for _, g := range t.groups {
		g.refresh(threshold)
	}
}

func hasKeys(labels map[string]string, keys []string) bool {
	for _, k := range keys {
		if _, ok := labels[k]; !ok {
			return false
		}
	}
	return true
}

func hasLabels(labels, want map[string]string) bool {
	for k, v := range want {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}
