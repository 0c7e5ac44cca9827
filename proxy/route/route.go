// Package route matches a request's metadata against a listener's route table and picks the
// destination cluster. It is pure: no I/O, no allocation on the match path.
package route

import (
	"math/rand/v2"
	"strings"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/config"
)

// Table is a compiled route table: routes in order, first match wins.
type Table struct {
	Name   string
	Routes []*Route
	// keys are the metadata keys any route matches on, in first-seen order; they make
	// "no route" errors say what the request looked like.
	keys []string
}

// Route is one compiled route.
type Route struct {
	*config.Route
	// Index is the route's position in its table: users keep per-route state (the
	// router's counters) in a slice indexed by it rather than a map.
	Index       int
	totalWeight uint32
}

// NewTable compiles rt. A nil rt gives an empty table (every request is unrouted).
func NewTable(rt *config.RouteTable) *Table {
	t := &Table{}
	if rt == nil {
		return t
	}
	t.Name = rt.Name
	seen := map[string]bool{}
	for _, r := range rt.Routes {
		cr := &Route{Route: r, Index: len(t.Routes)}
		for _, w := range r.WeightedClusters {
			cr.totalWeight += w.Weight
		}
		for _, m := range r.Match {
			if k := strings.ToLower(m.Key); !seen[k] {
				seen[k] = true
				t.keys = append(t.keys, m.Key)
			}
		}
		t.Routes = append(t.Routes, cr)
	}
	return t
}

// Match returns the first route whose conditions all hold for md, or nil.
func (t *Table) Match(md *protocol.Metadata) *Route {
	for _, r := range t.Routes {
		if matchAll(r.Match, md) {
			return r
		}
	}
	return nil
}

// Describe renders the metadata keys the table routes on, as "k=v, k2=v2", for error
// messages. Keys the request lacks are shown as "k=<absent>".
func (t *Table) Describe(md *protocol.Metadata) string {
	var b strings.Builder
	for i, k := range t.keys {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k)
		b.WriteByte('=')
		if v, ok := md.Get(k); ok {
			b.WriteString(v)
		} else {
			b.WriteString("<absent>")
		}
	}
	return b.String()
}

func matchAll(ms []config.Matcher, md *protocol.Metadata) bool {
	for i := range ms {
		if !matchOne(&ms[i], md) {
			return false
		}
	}
	return true
}

func matchOne(m *config.Matcher, md *protocol.Metadata) bool {
	v, present := md.Get(m.Key)
	var ok bool
	switch m.Kind {
	case config.MatchPresent:
		ok = present
	case config.MatchExact:
		ok = present && v == m.Value
	case config.MatchPrefix:
		ok = present && strings.HasPrefix(v, m.Value)
	case config.MatchSuffix:
		ok = present && strings.HasSuffix(v, m.Value)
	case config.MatchContains:
		ok = present && strings.Contains(v, m.Value)
	case config.MatchRegex:
		ok = present && m.Regex != nil && m.Regex.MatchString(v)
	}
	return ok != m.Invert
}

// PickCluster returns the route's destination: its cluster, or one of its weighted clusters
// chosen in proportion to the weights.
func (r *Route) PickCluster() string {
	name, _ := r.PickDestination()
	return name
}

// PickDestination returns the route's destination cluster, as PickCluster, and the
// metadata_match that chooses a subset of its endpoints (nil: none). A weighted cluster
// carries the route's match merged with its own.
//
// The weighted choice is random, independently per request (math/rand/v2's per-goroutine
// generator): over n requests the count of a cluster of share p is binomial(n, p).
func (r *Route) PickDestination() (string, *config.MetadataMatch) {
	if len(r.WeightedClusters) == 0 {
		return r.Cluster, r.MetadataMatch
	}
	if r.totalWeight == 0 {
		return r.WeightedClusters[0].Name, r.WeightedClusters[0].MetadataMatch
	}
	n := rand.Uint32N(r.totalWeight)
	for i := range r.WeightedClusters {
		w := &r.WeightedClusters[i]
		if n < w.Weight {
			return w.Name, w.MetadataMatch
		}
		n -= w.Weight
	}
	last := &r.WeightedClusters[len(r.WeightedClusters)-1]
	return last.Name, last.MetadataMatch
}
