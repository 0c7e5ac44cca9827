package translate

import (
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	mpv1 "github.com/breeze-mesh/breeze/api/metaprotocol/v1alpha1"
	"github.com/breeze-mesh/breeze/control/config"
	"github.com/breeze-mesh/breeze/control/model"
)

// routeTable builds the route table of an outbound listener: the MetaRouter's routes, or
// the default route when the service has none (or none this proxy can use).
func (t *translator) routeTable(name string, svc *model.Service, port *model.Port, router *model.Router) *mpv1.RouteConfiguration {
	rc := &mpv1.RouteConfiguration{Name: name}
	if router != nil && len(router.Routes) > 0 {
		routes, err := t.routes(svc, port, router)
		if err == nil {
			rc.Routes = routes
			return rc
		}
		t.problem(config.Warning, router.Source, "listener %s uses the default route instead: %v", name, err)
	}
	def := model.Destination{Host: svc.Host, Port: port.Number}
	action := &mpv1.RouteAction{ClusterSpecifier: &mpv1.RouteAction_Cluster{
		Cluster: model.ClusterName(model.Outbound, port.Number, "", svc.Host),
	}}
	if t.f.HashPolicy {
		action.HashPolicy = t.hashKeys([]model.Destination{def})
	}
	rc.Routes = []*mpv1.Route{{Name: DefaultRouteName, Route: action}}
	return rc
}

func (t *translator) routes(svc *model.Service, port *model.Port, router *model.Router) ([]*mpv1.Route, error) {
	var out []*mpv1.Route
	for _, r := range router.Routes {
		route := &mpv1.Route{Name: r.Name}
		if len(r.Match) > 0 {
			route.Match = &mpv1.RouteMatch{}
			for _, m := range r.Match {
				route.Match.Metadata = append(route.Match.Metadata, matcher(m))
			}
		}

		action := &mpv1.RouteAction{}
		dests := make([]model.Destination, len(r.Destinations))
		var weighted []*mpv1.ClusterWeight
		for i, wd := range r.Destinations {
			dests[i] = resolve(wd.Destination, port)
			cluster, err := t.cluster(dests[i])
			if err != nil {
				return nil, fmt.Errorf("route %q: %w", r.Name, err)
			}
			weighted = append(weighted, &mpv1.ClusterWeight{Name: cluster, Weight: wd.Weight})
		}
		if len(weighted) == 1 {
			action.ClusterSpecifier = &mpv1.RouteAction_Cluster{Cluster: weighted[0].Name}
		} else {
			action.ClusterSpecifier = &mpv1.RouteAction_WeightedClusters{WeightedClusters: &mpv1.WeightedCluster{Clusters: weighted}}
		}
		if t.f.HashPolicy {
			action.HashPolicy = t.hashKeys(dests)
		}
		if t.f.Mirror && r.Mirror != nil {
			cluster, err := t.cluster(resolve(*r.Mirror, port))
			if err != nil {
				return nil, fmt.Errorf("route %q: mirror: %w", r.Name, err)
			}
			action.RequestMirrorPolicies = []*mpv1.RequestMirrorPolicy{{Cluster: cluster, Percent: proto.Float64(r.MirrorPercent)}}
		}
		if r.Timeout > 0 {
			action.Timeout = durationpb.New(time.Duration(r.Timeout))
		}
		route.Route = action
		route.RequestMutation = keyValues(r.RequestMutation)
		route.ResponseMutation = keyValues(r.ResponseMutation)
		out = append(out, route)
	}
	return out, nil
}

// resolve fills in the port of a destination that names none: the port being routed.
func resolve(d model.Destination, port *model.Port) model.Destination {
	if d.Port == 0 {
		d.Port = port.Number
	}
	return d
}

// cluster returns the cluster of a destination, if this proxy has it.
func (t *translator) cluster(d model.Destination) (string, error) {
	name := model.ClusterName(model.Outbound, d.Port, d.Subset, d.Host)
	if t.clusters[name] {
		return name, nil
	}
	if t.m.ServiceFor(d.Host, t.p.Namespace) == nil {
		return "", fmt.Errorf("host %q is not visible from namespace %s (see its ServiceEntry's exportTo)", d.Host, t.p.Namespace)
	}
	return "", fmt.Errorf("subset %q of host %q is not defined by a DestinationRule visible from namespace %s", d.Subset, d.Host, t.p.Namespace)
}

// hashKeys returns the consistent-hash keys of the destinations' clusters, in order and
// without repeats.
func (t *translator) hashKeys(dests []model.Destination) []string {
	var keys []string
	for _, d := range dests {
		svc := t.m.ServiceFor(d.Host, t.p.Namespace)
		if svc == nil {
			continue
		}
		policy := t.m.PolicyFor(svc, t.p.Namespace)
		if policy == nil {
			continue
		}
		if k := policy.For(d.Port, d.Subset).HashKey; k != "" && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

func matcher(m model.Match) *mpv1.MetadataMatcher {
	mm := &mpv1.MetadataMatcher{Name: m.Key}
	switch m.Kind {
	case model.MatchExact:
		mm.MatchSpecifier = &mpv1.MetadataMatcher_Exact{Exact: m.Value}
	case model.MatchPrefix:
		mm.MatchSpecifier = &mpv1.MetadataMatcher_Prefix{Prefix: m.Value}
	case model.MatchRegex:
		mm.MatchSpecifier = &mpv1.MetadataMatcher_SafeRegex{SafeRegex: m.Value}
	case model.MatchPresent:
		mm.MatchSpecifier = &mpv1.MetadataMatcher_Present{Present: true}
	}
	return mm
}

func keyValues(kvs []model.KeyValue) []*mpv1.KeyValue {
	var out []*mpv1.KeyValue
	for _, kv := range kvs {
		out = append(out, &mpv1.KeyValue{Key: kv.Key, Value: kv.Value})
	}
	return out
}
