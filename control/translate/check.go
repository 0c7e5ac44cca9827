package translate

import (
	"errors"
	"fmt"

	mpv1 "github.com/breeze-mesh/breeze/api/metaprotocol/v1alpha1"
)

// Check verifies that the resources are consistent, as a proxy needs them to be: every
// listener's route table is present, every cluster a route names is present, every cluster
// has its load assignment, and names are unique. Translation guarantees it; the server
// checks again before sending, so that a bug shows as an error rather than as a proxy
// refusing its configuration.
func (r *Resources) Check() error {
	var errs []error
	clusters := map[string]bool{}
	for _, c := range r.Clusters {
		if clusters[c.GetName()] {
			errs = append(errs, fmt.Errorf("cluster %q is defined twice", c.GetName()))
		}
		clusters[c.GetName()] = true
	}
	assignments := map[string]bool{}
	for _, cla := range r.LoadAssignments {
		if !clusters[cla.GetClusterName()] {
			errs = append(errs, fmt.Errorf("load assignment %q has no cluster", cla.GetClusterName()))
		}
		if assignments[cla.GetClusterName()] {
			errs = append(errs, fmt.Errorf("load assignment %q is defined twice", cla.GetClusterName()))
		}
		assignments[cla.GetClusterName()] = true
	}
	for name := range clusters {
		if !assignments[name] {
			errs = append(errs, fmt.Errorf("cluster %q has no load assignment", name))
		}
	}
	routes := map[string]*mpv1.RouteConfiguration{}
	for _, rc := range r.Routes {
		if routes[rc.GetName()] != nil {
			errs = append(errs, fmt.Errorf("route configuration %q is defined twice", rc.GetName()))
		}
		routes[rc.GetName()] = rc
		for _, route := range rc.GetRoutes() {
			action := route.GetRoute()
			names := []string{action.GetCluster()}
			for _, cw := range action.GetWeightedClusters().GetClusters() {
				names = append(names, cw.GetName())
			}
			for _, m := range action.GetRequestMirrorPolicies() {
				names = append(names, m.GetCluster())
			}
			for _, n := range names {
				if n != "" && !clusters[n] {
					errs = append(errs, fmt.Errorf("route configuration %q, route %q: cluster %q is not defined", rc.GetName(), route.GetName(), n))
				}
			}
		}
	}
	listeners := map[string]bool{}
	for _, l := range r.Listeners {
		if listeners[l.GetName()] {
			errs = append(errs, fmt.Errorf("listener %q is defined twice", l.GetName()))
		}
		listeners[l.GetName()] = true
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				mp := &mpv1.MetaProtocolProxy{}
				if err := f.GetTypedConfig().UnmarshalTo(mp); err != nil {
					errs = append(errs, fmt.Errorf("listener %q: %w", l.GetName(), err))
					continue
				}
				if name := mp.GetRds().GetRouteConfigName(); name != "" && routes[name] == nil {
					errs = append(errs, fmt.Errorf("listener %q: route configuration %q is not defined", l.GetName(), name))
				}
			}
		}
	}
	return errors.Join(errs...)
}
