// Package translate turns the model into the xDS resources of one proxy: listeners for the
// workload's own inbound ports and for the services the proxy may call, their route tables
// (Breeze's meta-protocol RouteConfiguration), EDS clusters and their load assignments.
//
// Translation is a pure function of the model, the proxy's description and the feature
// switches: the same inputs give the same resources, in the same order, which is what makes
// golden-file tests and content-hashed xDS versions work. Everything it emits converts with
// the proxy's own conversion (proxy/config): docs/xds.md lists the fields.
package translate

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	mpv1 "github.com/breeze-mesh/breeze/api/metaprotocol/v1alpha1"
	"github.com/breeze-mesh/breeze/control/config"
	"github.com/breeze-mesh/breeze/control/model"
)

// FilterName is the network filter name of the meta-protocol proxy in Breeze's listeners.
const FilterName = "breeze.meta_protocol_proxy"

// DefaultRouteName names the route of a service without a MetaRouter, and of inbound
// listeners.
const DefaultRouteName = "default"

// LocalhostAddress is where inbound clusters reach the application.
const LocalhostAddress = "127.0.0.1"

// Resources are one proxy's xDS resources, each list sorted by name.
type Resources struct {
	Listeners       []*listenerv3.Listener
	Clusters        []*clusterv3.Cluster
	LoadAssignments []*endpointv3.ClusterLoadAssignment
	Routes          []*mpv1.RouteConfiguration
	// Problems are this proxy's own: listeners left out (bind conflicts, codecs it lacks,
	// ports out of range) and MetaRouters it cannot use. Problems of the configuration
	// itself are in the model. They do not name the proxy (its id is not an input of the
	// translation), so proxies that describe themselves alike share one result.
	Problems config.Problems
}

// ForProxy builds the resources of proxy p.
func ForProxy(m *model.Model, p *model.Proxy, f Features) *Resources {
	t := &translator{m: m, p: p, f: f, out: &Resources{}, binds: map[uint32][]bind{}, clusters: map[string]bool{}}
	t.inbound()
	t.outbound()
	t.sort()
	return t.out
}

type translator struct {
	m   *model.Model
	p   *model.Proxy
	f   Features
	out *Resources
	// binds are the listen addresses taken so far, by port.
	binds map[uint32][]bind
	// clusters are the names of the clusters emitted so far.
	clusters map[string]bool
}

type bind struct {
	addr     netip.Addr
	listener string
}

func (t *translator) problem(sev config.Severity, object, format string, args ...any) {
	t.out.Problems = append(t.out.Problems, config.Problem{Severity: sev, Object: object,
		Message: fmt.Sprintf(format, args...)})
}

// inbound emits a listener for each inbound port the proxy declares that a meta-protocol
// service selecting its workload serves.
func (t *translator) inbound() {
	type target struct {
		svc  *model.Service
		port *model.Port
	}
	targets := map[uint32][]target{}
	for _, svc := range t.m.InboundServices(t.p) {
		for _, port := range svc.Ports {
			wp := t.m.WorkloadPort(t.p, port)
			if slices.Contains(t.p.InboundPorts, wp) {
				targets[wp] = append(targets[wp], target{svc, port})
			}
		}
	}
	ports := slices.Clone(t.p.InboundPorts)
	slices.Sort(ports)
	for _, wp := range slices.Compact(ports) {
		cands := targets[wp]
		if len(cands) == 0 {
			t.problem(config.Warning, "", "inbound port %d: no meta-protocol service selecting this workload (namespace %s, labels %s) uses it; no inbound listener",
				wp, t.p.Namespace, formatLabels(t.p.Labels))
			continue
		}
		first := cands[0]
		for _, c := range cands[1:] {
			if c.port.Codec != first.port.Codec {
				t.problem(config.Warning, c.svc.Source, "inbound port %d: host %s speaks %s but %s speaks %s; %s is served",
					wp, c.svc.Host, c.port.Protocol, first.svc.Host, first.port.Protocol, first.svc.Host)
			}
		}
		name := model.Inbound + "|" + strconv.FormatUint(uint64(wp), 10) + "||"
		if !t.p.HasCodec(first.port.Codec) {
			t.problem(config.Warning, first.svc.Source, "listener %s left out: the proxy does not have codec %q", name, first.port.Codec)
			continue
		}
		if !t.claim(t.p.InboundBind, wp, name) {
			continue
		}
		clusterName := model.ClusterName(model.Inbound, wp, "", first.svc.Host)
		// Telemetry first, then rate limits; the router is implicit. Aeraki puts the limits
		// first, so its provider-side metrics never show a refused request; here they do,
		// with response flag RL, as Istio's HTTP metrics show a rate limit's 429.
		filters := append(t.telemetryFilters(first.svc.Host), t.rateLimitFilters(first.svc)...)
		t.listener(name, t.p.InboundBind, wp, first.port, filters)
		t.out.Routes = append(t.out.Routes, &mpv1.RouteConfiguration{Name: name, Routes: []*mpv1.Route{{
			Name: DefaultRouteName, Route: &mpv1.RouteAction{ClusterSpecifier: &mpv1.RouteAction_Cluster{Cluster: clusterName}},
		}}})
		t.out.Clusters = append(t.out.Clusters, edsCluster(clusterName))
		t.clusters[clusterName] = true
		t.out.LoadAssignments = append(t.out.LoadAssignments, &endpointv3.ClusterLoadAssignment{
			ClusterName: clusterName,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{
				lbEndpoint(LocalhostAddress, t.p.AppPort(wp), 0),
			}}},
		})
	}
}

// outbound emits, for each service the proxy may call, its clusters, and a listener and
// route table per meta-protocol port.
func (t *translator) outbound() {
	services := t.m.VisibleServices(t.p.Namespace)
	// Clusters first, for every visible service, so that routes to other hosts find them.
	for _, svc := range services {
		policy := t.m.PolicyFor(svc, t.p.Namespace)
		for _, port := range svc.Ports {
			t.outboundCluster(svc, port, policy, nil)
			if policy != nil {
				for _, s := range policy.Subsets {
					t.outboundCluster(svc, port, policy, s)
				}
			}
		}
	}
	for _, svc := range services {
		router := t.m.RouterFor(svc, t.p.Namespace)
		for _, port := range svc.Ports {
			name := model.ClusterName(model.Outbound, port.Number, "", svc.Host)
			listenPort := uint64(port.Number) + uint64(t.p.OutboundPortOffset)
			switch {
			case !t.p.HasCodec(port.Codec):
				t.problem(config.Warning, svc.Source, "listener %s left out: the proxy does not have codec %q", name, port.Codec)
				continue
			case listenPort > 65535:
				t.problem(config.Warning, svc.Source, "listener %s left out: port %d plus outbound_port_offset %d is above 65535",
					name, port.Number, t.p.OutboundPortOffset)
				continue
			}
			if !t.claim(t.p.OutboundBind, uint32(listenPort), name) {
				continue
			}
			t.listener(name, t.p.OutboundBind, uint32(listenPort), port, t.telemetryFilters(svc.Host))
			t.out.Routes = append(t.out.Routes, t.routeTable(name, svc, port, router))
		}
	}
}

// claim reserves a listen address, or reports the listener that already has it.
func (t *translator) claim(host string, port uint32, listener string) bool {
	addr, err := netip.ParseAddr(host)
	if err != nil {
		t.problem(config.Warning, "", "listener %s left out: bind address %q is not an IP address", listener, host)
		return false
	}
	for _, b := range t.binds[port] {
		if b.addr == addr || b.addr.IsUnspecified() || addr.IsUnspecified() {
			t.problem(config.Warning, "", "listener %s left out: it would bind %s, which listener %s already binds (give the services distinct ports, or set outbound_port_offset or outbound_bind)",
				listener, netip.AddrPortFrom(addr, uint16(port)), b.listener)
			return false
		}
	}
	t.binds[port] = append(t.binds[port], bind{addr, listener})
	return true
}

func (t *translator) listener(name, host string, port uint32, p *model.Port, filters []*mpv1.MetaProtocolFilter) {
	proxy := &mpv1.MetaProtocolProxy{
		StatPrefix:          name,
		ApplicationProtocol: p.Protocol,
		Codec:               &mpv1.Codec{Name: p.Codec},
		RouteSpecifier: &mpv1.MetaProtocolProxy_Rds{Rds: &mpv1.Rds{
			RouteConfigName: name,
			ConfigSource: &mpv1.ConfigSource{
				ConfigSourceSpecifier: &mpv1.ConfigSource_Ads{Ads: &mpv1.AggregatedConfigSource{}},
				ResourceApiVersion:    mpv1.ApiVersion_V3,
			},
		}},
		MetaProtocolFilters: filters,
	}
	typed, err := anypb.New(proxy)
	if err != nil {
		panic(fmt.Sprintf("translate: marshalling MetaProtocolProxy: %v", err)) // cannot fail for a valid message
	}
	t.out.Listeners = append(t.out.Listeners, &listenerv3.Listener{
		Name:    name,
		Address: socketAddress(host, port),
		FilterChains: []*listenerv3.FilterChain{{
			Filters: []*listenerv3.Filter{{
				Name:       FilterName,
				ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: typed},
			}},
		}},
	})
}

// outboundCluster emits the cluster of a service port, or of one of its subsets, with its
// load assignment.
func (t *translator) outboundCluster(svc *model.Service, port *model.Port, policy *model.Policy, subset *model.Subset) {
	subsetName := ""
	var cp model.ClusterPolicy
	if subset != nil {
		subsetName = subset.Name
	}
	if policy != nil {
		cp = policy.For(port.Number, subsetName)
	}
	name := model.ClusterName(model.Outbound, port.Number, subsetName, svc.Host)
	c := edsCluster(name)
	switch cp.LB {
	case model.Random:
		c.LbPolicy = clusterv3.Cluster_RANDOM
	case model.LeastRequest:
		c.LbPolicy = clusterv3.Cluster_LEAST_REQUEST
	}
	if cp.ConnectTimeout > 0 {
		c.ConnectTimeout = durationpb.New(time.Duration(cp.ConnectTimeout))
	}
	if t.f.OutlierDetection && cp.Outlier != nil {
		od := &clusterv3.OutlierDetection{Consecutive_5Xx: wrapperspb.UInt32(cp.Outlier.ConsecutiveErrors)}
		if cp.Outlier.Interval > 0 {
			od.Interval = durationpb.New(time.Duration(cp.Outlier.Interval))
		}
		if cp.Outlier.BaseEjectionTime > 0 {
			od.BaseEjectionTime = durationpb.New(time.Duration(cp.Outlier.BaseEjectionTime))
		}
		if cp.Outlier.MaxEjectionPercent > 0 {
			od.MaxEjectionPercent = wrapperspb.UInt32(cp.Outlier.MaxEjectionPercent)
		}
		c.OutlierDetection = od
	}
	if l := cp.Limits; t.f.CircuitBreakers && l != (model.Limits{}) {
		th := &clusterv3.CircuitBreakers_Thresholds{}
		th.MaxConnections = optionalUInt32(l.MaxConnections)
		th.MaxPendingRequests = optionalUInt32(l.MaxPendingRequests)
		th.MaxRequests = optionalUInt32(l.MaxRequests)
		th.MaxRetries = optionalUInt32(l.MaxRetries)
		c.CircuitBreakers = &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{th}}
	}
	t.out.Clusters = append(t.out.Clusters, c)
	t.clusters[name] = true

	var lbes []*endpointv3.LbEndpoint
	for _, ep := range svc.Endpoints {
		if subset != nil && !labelsMatch(subset.Labels, ep.Labels) {
			continue
		}
		lbes = append(lbes, lbEndpoint(ep.Address, ep.PortFor(port), ep.Weight))
	}
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: name}
	if len(lbes) > 0 {
		cla.Endpoints = []*endpointv3.LocalityLbEndpoints{{LbEndpoints: lbes}}
	}
	t.out.LoadAssignments = append(t.out.LoadAssignments, cla)
}

func optionalUInt32(v uint32) *wrapperspb.UInt32Value {
	if v == 0 {
		return nil
	}
	return wrapperspb.UInt32(v)
}

func labelsMatch(selector, labels map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func edsCluster(name string) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{EdsConfig: &corev3.ConfigSource{
			ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
			ResourceApiVersion:    corev3.ApiVersion_V3,
		}},
	}
}

func lbEndpoint(host string, port uint32, weight uint32) *endpointv3.LbEndpoint {
	lbe := &endpointv3.LbEndpoint{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
		Address: socketAddress(host, port),
	}}}
	if weight > 0 {
		lbe.LoadBalancingWeight = wrapperspb.UInt32(weight)
	}
	return lbe
}

func socketAddress(host string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address:       host,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

func (t *translator) sort() {
	slices.SortFunc(t.out.Listeners, func(a, b *listenerv3.Listener) int { return cmp.Compare(a.GetName(), b.GetName()) })
	slices.SortFunc(t.out.Clusters, func(a, b *clusterv3.Cluster) int { return cmp.Compare(a.GetName(), b.GetName()) })
	slices.SortFunc(t.out.LoadAssignments, func(a, b *endpointv3.ClusterLoadAssignment) int {
		return cmp.Compare(a.GetClusterName(), b.GetClusterName())
	})
	slices.SortFunc(t.out.Routes, func(a, b *mpv1.RouteConfiguration) int { return cmp.Compare(a.GetName(), b.GetName()) })
	t.out.Problems.Sort()
}

// Type URLs of the resources, as docs/xds.md lists them.
const (
	ListenerType       = "type.googleapis.com/envoy.config.listener.v3.Listener"
	ClusterType        = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	LoadAssignmentType = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
	RouteType          = "type.googleapis.com/breeze.metaprotocol.v1alpha1.RouteConfiguration"
)

// formatLabels writes labels as "a=1,b=2", sorted; "none" when empty.
func formatLabels(labels map[string]string) string {
	if len(labels) == 0 {
		return "none"
	}
	pairs := make([]string, 0, len(labels))
	for k, v := range labels {
		pairs = append(pairs, k+"="+v)
	}
	slices.Sort(pairs)
	return strings.Join(pairs, ",")
}
