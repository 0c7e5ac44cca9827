package config

import (
	"maps"
	"slices"
	"strconv"
	"strings"
)

// SubsetConfig is a cluster's lb_subset_config: which subsets of its endpoints a route's
// metadata_match may choose, and what a request that matches none of them gets. Subsets are
// Envoy's: for each selector, the endpoints that have the same values for all its keys.
type SubsetConfig struct {
	// Selectors are the key sets that make subsets, each sorted, without duplicates.
	Selectors [][]string
	// Fallback is what a request gets when its metadata_match names no subset (or it has
	// none).
	Fallback SubsetFallback
	// DefaultSubset are the labels of the endpoints FallbackDefaultSubset balances over;
	// empty: every endpoint.
	DefaultSubset map[string]string
}

// SubsetFallback is Envoy's lb_subset_config.fallback_policy.
type SubsetFallback uint8

// Fallback policies, as Envoy's LbSubsetFallbackPolicy.
const (
	// FallbackNone: no endpoint; the request gets a no_healthy_upstream error.
	FallbackNone SubsetFallback = iota
	// FallbackAnyEndpoint: the cluster's endpoints, all of them.
	FallbackAnyEndpoint
	// FallbackDefaultSubset: the endpoints that have the labels of DefaultSubset.
	FallbackDefaultSubset
)

var subsetFallbackNames = [...]string{"NO_FALLBACK", "ANY_ENDPOINT", "DEFAULT_SUBSET"}

// String returns the policy's name in Envoy's spelling.
func (f SubsetFallback) String() string {
	if int(f) < len(subsetFallbackNames) {
		return subsetFallbackNames[f]
	}
	return "SubsetFallback(" + strconv.Itoa(int(f)) + ")"
}

// MetadataMatch is a route's metadata_match: the endpoint labels that choose a subset of a
// cluster's endpoints.
type MetadataMatch struct {
	// Labels must all equal the endpoint's, and their keys be exactly one subset
	// selector's.
	Labels map[string]string
	// Key identifies the subset (SubsetKey of Labels): computed once here so that the
	// upstream finds a subset with one map lookup, building nothing per request.
	Key string `json:"-"`
}

// NewMetadataMatch returns the match for labels, or nil when labels is empty.
func NewMetadataMatch(labels map[string]string) *MetadataMatch {
	if len(labels) == 0 {
		return nil
	}
	keys := slices.Sorted(maps.Keys(labels))
	return &MetadataMatch{Labels: labels, Key: SubsetKey(keys, labels)}
}

// SubsetKey names the subset of the endpoints whose labels have, for the sorted keys, the
// values in labels. Each key and value is written with its length first, so no two
// different label sets share a name whatever bytes they hold.
func SubsetKey(sortedKeys []string, labels map[string]string) string {
	var b strings.Builder
	for _, k := range sortedKeys {
		v := labels[k]
		b.WriteString(strconv.Itoa(len(k)))
		b.WriteByte(':')
		b.WriteString(k)
		b.WriteString(strconv.Itoa(len(v)))
		b.WriteByte(':')
		b.WriteString(v)
	}
	return b.String()
}
