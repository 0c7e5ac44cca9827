package proxy

import (
	"maps"
	"slices"
	"time"

	"github.com/breeze-mesh/breeze/proxy/config"
)

// clusterGrace is how long a cluster that left the configuration stays in the cluster
// manager. A request that a listener chain of the previous configuration is routing (its
// filters may take a while) must still find the cluster that chain routes to; the new
// chains no longer use it.
const clusterGrace = time.Second

// retiredCluster is a cluster that left the configuration, and when.
type retiredCluster struct {
	cfg *config.Cluster
	at  time.Time
}

// clustersFor is the cluster set to run with next: its clusters, and those that left the
// configuration less than clusterGrace ago. It records the clusters next drops and arms the
// timer that removes them. Called with s.mu held.
func (s *Server) clustersFor(next *config.Bootstrap) []*config.Cluster {
	now := time.Now()
	if s.retired == nil {
		s.retired = map[string]retiredCluster{}
	}
	defined := make(map[string]bool, len(next.Clusters))
	for _, c := range next.Clusters {
		defined[c.Name] = true
	}
	if s.applied != nil {
		for _, c := range s.applied.Clusters {
			if !defined[c.Name] {
				s.retired[c.Name] = retiredCluster{cfg: c, at: now}
			}
		}
	}
	maps.DeleteFunc(s.retired, func(name string, r retiredCluster) bool {
		return defined[name] || now.Sub(r.at) >= clusterGrace
	})
	if len(s.retired) > 0 && s.retireTimer == nil {
		s.retireTimer = time.AfterFunc(clusterGrace, s.expireRetired)
	}
	if len(s.retired) == 0 {
		return next.Clusters
	}
	return s.withRetired(next.Clusters)
}

// expireRetired removes the clusters retired long enough ago.
func (s *Server) expireRetired() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retireTimer = nil
	if s.closed || s.applied == nil {
		return
	}
	before := len(s.retired)
	now := time.Now()
	maps.DeleteFunc(s.retired, func(_ string, r retiredCluster) bool { return now.Sub(r.at) >= clusterGrace })
	if len(s.retired) != before {
		s.clusters.Update(s.withRetired(s.applied.Clusters))
	}
	if len(s.retired) > 0 {
		s.retireTimer = time.AfterFunc(clusterGrace/4, s.expireRetired)
	}
}

// withRetired is clusters and the retired ones. Called with s.mu held.
func (s *Server) withRetired(clusters []*config.Cluster) []*config.Cluster {
	out := slices.Clone(clusters)
	for _, name := range slices.Sorted(maps.Keys(s.retired)) {
		out = append(out, s.retired[name].cfg)
	}
	return out
}
