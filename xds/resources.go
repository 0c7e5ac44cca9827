package xds

import (
	"fmt"
	"maps"
	"slices"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	mpv1 "github.com/breeze-mesh/breeze/api/metaprotocol/v1alpha1"
	"github.com/breeze-mesh/breeze/proxy/config"
)

// Type URLs of the resources the client subscribes to (docs/xds.md).
const (
	ClusterType  = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	EndpointType = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
	ListenerType = "type.googleapis.com/envoy.config.listener.v3.Listener"
	RouteType    = "type.googleapis.com/breeze.metaprotocol.v1alpha1.RouteConfiguration"
)

// resourceWrapperType is the envelope a server may put a resource in (to give it a TTL).
const resourceWrapperType = "type.googleapis.com/envoy.service.discovery.v3.Resource"

// kind is one of the four resource types, in the order a state-of-the-world server sends
// them: clusters before their endpoints, both before the listeners that route to them,
// listeners before their routes.
type kind int

const (
	clusters kind = iota
	endpoints
	listeners
	routes
	numKinds
)

var typeURLs = [numKinds]string{ClusterType, EndpointType, ListenerType, RouteType}

// shortNames are the kinds' names in logs, metrics and the config dump.
var shortNames = [numKinds]string{"clusters", "endpoints", "listeners", "routes"}

func (k kind) String() string  { return shortNames[k] }
func (k kind) typeURL() string { return typeURLs[k] }

// wildcard reports whether the kind is subscribed without names, every response carrying
// the whole set (LDS, CDS); the others are subscribed by name and a response may carry
// only some of them.
func (k kind) wildcard() bool { return k == clusters || k == listeners }

func kindOf(typeURL string) (kind, bool) {
	i := slices.Index(typeURLs[:], typeURL)
	return kind(i), i >= 0
}

// cluster is an accepted Cluster resource.
type cluster struct {
	cfg *config.Cluster
	// eds is the name its endpoints are fetched under, "" for a STATIC cluster that carries
	// them.
	eds string
}

// state is one consistent set of accepted dynamic resources. It is never modified once
// built: a response produces a new state (sharing what did not change), which replaces the
// old one only if the response is accepted.
type state struct {
	clusters  map[string]cluster
	endpoints map[string][]config.Endpoint // by EDS name
	listeners map[string]*config.Listener
	routes    map[string]*config.RouteTable

	// edsRefs and rdsRefs are the endpoint and route table names that the latest cluster
	// and listener responses name, whether accepted or not. The subscriptions cover them
	// too: a go-control-plane server in ADS mode answers a named subscription only if it
	// covers every resource of the type it holds for the node (docs/xds.md), so after a
	// NACK a subscription limited to the accepted resources would stall.
	edsRefs, rdsRefs map[string]bool
}

func emptyState() *state {
	return &state{
		clusters:  map[string]cluster{},
		endpoints: map[string][]config.Endpoint{},
		listeners: map[string]*config.Listener{},
		routes:    map[string]*config.RouteTable{},
	}
}

// update returns the state with the resources of one response of kind k applied. A
// wildcard kind's response replaces the whole set; a named kind's response sets the
// resources it carries that are subscribed and leaves the others (a server may send a
// resource nobody asked for: it is ignored). The error names the resource and the field at
// fault.
func (s *state) update(k kind, resp *discoveryv3.DiscoveryResponse, static *config.Bootstrap) (*state, error) {
	next := *s
	wanted := s.names(k, static)
	var err error
	switch k {
	case clusters:
		next.edsRefs = edsRefs(resp)
		next.clusters, err = decodeAll(resp, func(c *clusterv3.Cluster) string { return c.GetName() }, convertCluster)
		if err == nil {
			err = notStatic(next.clusters, staticClusterNames(static), "cluster")
		}
	case listeners:
		next.rdsRefs = rdsRefs(resp)
		next.listeners, err = decodeAll(resp, func(l *listenerv3.Listener) string { return l.GetName() }, config.FromListener)
		if err == nil {
			err = notStatic(next.listeners, staticListenerNames(static), "listener")
		}
	case endpoints:
		var got map[string][]config.Endpoint
		got, err = decodeAll(resp, func(c *endpointv3.ClusterLoadAssignment) string { return c.GetClusterName() }, config.FromLoadAssignment)
		next.endpoints = merge(s.endpoints, got, wanted)
	case routes:
		var got map[string]*config.RouteTable
		got, err = decodeAll(resp, func(r *mpv1.RouteConfiguration) string { return r.GetName() }, config.FromRouteConfiguration)
		next.routes = merge(s.routes, got, wanted)
	}
	if err != nil {
		return nil, err
	}
	// Endpoints and routes that nothing references any more are dropped, as the client
	// unsubscribes from them.
	next.endpoints = keepOnly(next.endpoints, next.edsNames())
	next.routes = keepOnly(next.routes, next.rdsNames(static))
	return &next, nil
}

// withRefs returns the state with the references of a rejected cluster or listener response
// recorded, and nothing else changed.
func (s *state) withRefs(k kind, resp *discoveryv3.DiscoveryResponse) *state {
	next := *s
	switch k {
	case clusters:
		next.edsRefs = edsRefs(resp)
	case listeners:
		next.rdsRefs = rdsRefs(resp)
	default:
		return s
	}
	return &next
}

// edsRefs reads the endpoint names the EDS clusters of a response use, skipping whatever
// does not decode.
func edsRefs(resp *discoveryv3.DiscoveryResponse) map[string]bool {
	out := map[string]bool{}
	for _, a := range resp.GetResources() {
		c, err := unpack[*clusterv3.Cluster](a, ClusterType)
		if err != nil || c.GetType() != clusterv3.Cluster_EDS {
			continue
		}
		name := c.GetEdsClusterConfig().GetServiceName()
		if name == "" {
			name = c.GetName()
		}
		out[name] = true
	}
	return out
}

// rdsRefs reads the route table names the listeners of a response use, skipping whatever
// does not decode.
func rdsRefs(resp *discoveryv3.DiscoveryResponse) map[string]bool {
	out := map[string]bool{}
	for _, a := range resp.GetResources() {
		l, err := unpack[*listenerv3.Listener](a, ListenerType)
		if err != nil {
			continue
		}
		for _, chain := range l.GetFilterChains() {
			for _, f := range chain.GetFilters() {
				mp := &mpv1.MetaProtocolProxy{}
				if f.GetTypedConfig().UnmarshalTo(mp) != nil {
					continue
				}
				if name := mp.GetRds().GetRouteConfigName(); name != "" {
					out[name] = true
				}
			}
		}
	}
	return out
}

// convertCluster converts a cluster and finds the name of its endpoints. Endpoints of an
// EDS cluster can only come over the ADS stream.
func convertCluster(c *clusterv3.Cluster) (cluster, error) {
	cfg, err := config.FromCluster(c)
	if err != nil {
		return cluster{}, err
	}
	out := cluster{cfg: cfg}
	if c.GetType() == clusterv3.Cluster_EDS {
		eds := c.GetEdsClusterConfig()
		if src := eds.GetEdsConfig(); src != nil && src.GetAds() == nil {
			return cluster{}, &config.FieldError{Resource: fmt.Sprintf("cluster %q", c.GetName()), Path: "eds_cluster_config.eds_config",
				Message: "only ads: {} is supported by Breeze (endpoints come over the ADS stream)"}
		}
		out.eds = c.GetName()
		if eds.GetServiceName() != "" {
			out.eds = eds.GetServiceName()
		}
	}
	return out, nil
}

// decodeAll unpacks and converts the resources of a response, keyed by name. Each must be of
// the response's type, named, and named once.
func decodeAll[M proto.Message, V any](resp *discoveryv3.DiscoveryResponse, name func(M) string, convert func(M) (V, error)) (map[string]V, error) {
	out := make(map[string]V, len(resp.GetResources()))
	for i, a := range resp.GetResources() {
		msg, err := unpack[M](a, resp.GetTypeUrl())
		if err != nil {
			return nil, fmt.Errorf("resources[%d]: %w", i, err)
		}
		n := name(msg)
		if n == "" {
			return nil, fmt.Errorf("resources[%d]: the resource has no name", i)
		}
		if _, dup := out[n]; dup {
			return nil, fmt.Errorf("resources[%d]: %q is sent twice in one response", i, n)
		}
		v, err := convert(msg)
		if err != nil {
			return nil, err
		}
		out[n] = v
	}
	return out, nil
}

// unpack decodes one resource, unwrapping a discovery Resource envelope.
func unpack[M proto.Message](a *anypb.Any, typeURL string) (M, error) {
	var zero M
	if a.GetTypeUrl() == resourceWrapperType {
		wrapper := &discoveryv3.Resource{}
		if err := a.UnmarshalTo(wrapper); err != nil {
			return zero, fmt.Errorf("cannot decode the Resource envelope: %w", err)
		}
		if wrapper.GetResource() == nil {
			// A TTL heartbeat: Breeze does not expire resources, so there is nothing to do.
			return zero, fmt.Errorf("resource %q carries no resource (TTL heartbeats are not supported)", wrapper.GetName())
		}
		a = wrapper.GetResource()
	}
	if a.GetTypeUrl() != typeURL {
		return zero, fmt.Errorf("type %q in a response of type %q", a.GetTypeUrl(), typeURL)
	}
	msg := zero.ProtoReflect().New().Interface().(M)
	if err := a.UnmarshalTo(msg); err != nil {
		return zero, fmt.Errorf("cannot decode %s: %w", typeURL, err)
	}
	return msg, nil
}

// merge returns base with the entries of got that are wanted set.
func merge[V any](base, got map[string]V, wanted map[string]bool) map[string]V {
	out := maps.Clone(base)
	for name, v := range got {
		if wanted[name] {
			out[name] = v
		}
	}
	return out
}

// keepOnly returns m without the entries whose names are not in names (m itself when
// nothing goes).
func keepOnly[V any](m map[string]V, names map[string]bool) map[string]V {
	for name := range m {
		if !names[name] {
			out := maps.Clone(m)
			maps.DeleteFunc(out, func(n string, _ V) bool { return !names[n] })
			return out
		}
	}
	return m
}

// notStatic refuses dynamic resources that would replace static ones: the bootstrap's
// resources are not the control plane's to change (Envoy refuses this too).
func notStatic[V any](dynamic map[string]V, static map[string]bool, what string) error {
	for _, name := range slices.Sorted(maps.Keys(dynamic)) {
		if static[name] {
			return fmt.Errorf("%s %q: the bootstrap defines a static %s of this name, which the control plane cannot replace", what, name, what)
		}
	}
	return nil
}

func staticClusterNames(b *config.Bootstrap) map[string]bool {
	out := make(map[string]bool, len(b.Clusters))
	for _, c := range b.Clusters {
		out[c.Name] = true
	}
	return out
}

func staticListenerNames(b *config.Bootstrap) map[string]bool {
	out := make(map[string]bool, len(b.Listeners))
	for _, l := range b.Listeners {
		out[l.Name] = true
	}
	return out
}

// edsNames are the endpoint names to subscribe to: those the accepted clusters need, and
// those the latest cluster response named.
func (s *state) edsNames() map[string]bool {
	out := maps.Clone(s.edsRefs)
	if out == nil {
		out = map[string]bool{}
	}
	for _, c := range s.clusters {
		if c.eds != "" {
			out[c.eds] = true
		}
	}
	return out
}

// rdsNames are the route tables to subscribe to: those the static and the accepted
// listeners need, and those the latest listener response named.
func (s *state) rdsNames(static *config.Bootstrap) map[string]bool {
	out := maps.Clone(s.rdsRefs)
	if out == nil {
		out = map[string]bool{}
	}
	for _, l := range static.Listeners {
		if l.Routes == nil && l.RouteConfigName != "" {
			out[l.RouteConfigName] = true
		}
	}
	for _, l := range s.listeners {
		if l.Routes == nil && l.RouteConfigName != "" {
			out[l.RouteConfigName] = true
		}
	}
	return out
}

// names returns the names the client subscribes to for kind k: nil for a wildcard kind.
func (s *state) names(k kind, static *config.Bootstrap) map[string]bool {
	switch k {
	case endpoints:
		return s.edsNames()
	case routes:
		return s.rdsNames(static)
	}
	return nil
}

// count is how many resources of kind k the state holds.
func (s *state) count(k kind) int {
	switch k {
	case clusters:
		return len(s.clusters)
	case endpoints:
		return len(s.endpoints)
	case listeners:
		return len(s.listeners)
	default:
		return len(s.routes)
	}
}
