package xds

import (
	"fmt"
	"maps"
	"slices"

	"github.com/breeze-mesh/breeze/proxy/config"
)

// assemble builds the proxy configuration to run from the bootstrap's static resources and
// the accepted dynamic ones. Only what is complete is run, so that no request meets a
// half-configured proxy (Envoy's warming, made stricter):
//
//   - an EDS cluster is ready once its endpoints have arrived;
//   - a listener is ready once its route table has arrived and every cluster the table
//     routes, splits or mirrors to is ready.
//
// A listener that is not ready keeps running its previous version (from prev, the
// configuration running now), together with the clusters that version routes to, even
// if the control plane has since removed them; a new listener that is not ready does not
// start. A listener in failed (one the proxy could not run) is treated the same way, but
// is not pending: nothing will arrive to change it until the control plane sends a new
// version. pending says what is being waited for, one line per listener or cluster.
func assemble(static *config.Bootstrap, s *state, prev *config.Bootstrap, failed map[string]failure) (cfg *config.Bootstrap, pending []string) {
	cfg = &config.Bootstrap{Admin: static.Admin, Dynamic: static.Dynamic, Node: static.Node}

	ready := make(map[string]*config.Cluster, len(static.Clusters)+len(s.clusters))
	for _, c := range static.Clusters {
		ready[c.Name] = c
		cfg.Clusters = append(cfg.Clusters, c)
	}
	for _, name := range slices.Sorted(maps.Keys(s.clusters)) {
		c := s.clusters[name]
		if c.eds != "" {
			eps, ok := s.endpoints[c.eds]
			if !ok {
				pending = append(pending, fmt.Sprintf("cluster %q: waiting for its endpoints (%q)", name, c.eds))
				continue
			}
			withEndpoints := *c.cfg
			withEndpoints.Endpoints = eps
			ready[name] = &withEndpoints
		} else {
			ready[name] = c.cfg
		}
		cfg.Clusters = append(cfg.Clusters, ready[name])
	}

	var previous map[string]*config.Listener
	var previousClusters map[string]*config.Cluster
	if prev != nil {
		previous = make(map[string]*config.Listener, len(prev.Listeners))
		for _, l := range prev.Listeners {
			previous[l.Name] = l
		}
		previousClusters = make(map[string]*config.Cluster, len(prev.Clusters))
		for _, c := range prev.Clusters {
			previousClusters[c.Name] = c
		}
	}
	lingering := map[string]*config.Cluster{}

	all := slices.Clone(static.Listeners)
	for _, name := range slices.Sorted(maps.Keys(s.listeners)) {
		all = append(all, s.listeners[name])
	}
	keepPrevious := func(name string) {
		old := previous[name]
		if old == nil {
			return
		}
		cfg.Listeners = append(cfg.Listeners, old)
		for _, name := range destinations(old.Routes) {
			if ready[name] == nil && lingering[name] == nil && previousClusters[name] != nil {
				lingering[name] = previousClusters[name]
			}
		}
	}
	for _, l := range all {
		if f, ok := failed[l.Name]; ok && f.listener == l {
			keepPrevious(l.Name)
			continue
		}
		table, wait := routeTable(l, s, ready)
		if wait != "" {
			pending = append(pending, fmt.Sprintf("listener %q: %s", l.Name, wait))
			keepPrevious(l.Name)
			continue
		}
		run := *l
		run.Routes = table
		cfg.Listeners = append(cfg.Listeners, &run)
	}
	for _, name := range slices.Sorted(maps.Keys(lingering)) {
		cfg.Clusters = append(cfg.Clusters, lingering[name])
	}
	return cfg, pending
}

// routeTable returns the route table l runs, or what it waits for.
func routeTable(l *config.Listener, s *state, ready map[string]*config.Cluster) (*config.RouteTable, string) {
	table := l.Routes
	if table == nil {
		table = s.routes[l.RouteConfigName]
		if table == nil {
			return nil, fmt.Sprintf("waiting for route configuration %q", l.RouteConfigName)
		}
	}
	for _, name := range destinations(table) {
		if ready[name] == nil {
			return nil, fmt.Sprintf("route configuration %q sends to cluster %q, which is not ready", table.Name, name)
		}
	}
	return table, ""
}

// destinations lists every cluster a route table sends to, splits to or mirrors to, in
// order of first use.
func destinations(t *config.RouteTable) []string {
	if t == nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	add := func(name string) {
		if name != "" && !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	for _, r := range t.Routes {
		add(r.Cluster)
		for _, w := range r.WeightedClusters {
			add(w.Name)
		}
		for _, m := range r.Mirrors {
			add(m.Cluster)
		}
	}
	return out
}
