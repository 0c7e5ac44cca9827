package config

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	mpv1 "github.com/breeze-mesh/breeze/api/metaprotocol/v1alpha1"
	"github.com/breeze-mesh/breeze/protocol"
)

// Defaults applied by the conversion when a field is unset.
const (
	// DefaultConnectTimeout bounds a TCP connect to an endpoint when the cluster sets none.
	DefaultConnectTimeout = 5 * time.Second
	// DefaultConnectionsPerHost is how many connections a multiplexing codec spreads
	// requests over, per endpoint.
	DefaultConnectionsPerHost = 1
	// DefaultMaxConnectionsPerHost bounds the connections to one endpoint when the cluster's
	// circuit_breakers.per_host_thresholds set no max_connections.
	DefaultMaxConnectionsPerHost = 1024
)

// MetaProtocolProxyFilterNames are the network filter names a listener may give the
// meta-protocol proxy: Breeze's own, and those Envoy and Aeraki configurations use.
var MetaProtocolProxyFilterNames = []string{
	"breeze.meta_protocol_proxy",
	"envoy.filters.network.meta_protocol_proxy",
	"aeraki.meta_protocol_proxy",
}

// routerFilterNames are the names of a terminal router filter in meta_protocol_filters.
// Aeraki's control plane ends every chain with one; Breeze always routes after the last
// filter, so the entry is dropped.
var routerFilterNames = []string{
	"aeraki.meta_protocol.filters.router",
	"breeze.meta_protocol.filters.router",
	"router",
}

// Endpoint metadata namespaces whose fields become Endpoint.Labels. "envoy.lb" is where
// Envoy's subset load balancer reads endpoint labels, so a control plane that writes subsets
// for Envoy writes them there; "istio" is accepted for configurations written with Istio's
// conventions. When both set a key, "envoy.lb" wins.
const (
	LabelsNamespace      = "envoy.lb"
	IstioLabelsNamespace = "istio"
)

// FieldError is a problem with one field of a proto being converted. Path locates the field
// within Resource in proto field names ("filter_chains[0].filters[0].typed_config.codec"),
// so a caller that knows where the resource sits (the bootstrap loader) can report the full
// path.
type FieldError struct {
	// Resource names the converted proto, e.g. `listener "dubbo-outbound"`; it is empty when
	// Path starts at the root of a whole bootstrap.
	Resource string
	// Path is the field's location, empty for the resource as a whole.
	Path string
	// Message says what is wrong, and what would be right.
	Message string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Resource != "" {
		b.WriteString(e.Resource)
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// converter carries the resource name into every error of one conversion.
type converter struct {
	resource string
}

func (c converter) errorf(path, format string, args ...any) error {
	return &FieldError{Resource: c.resource, Path: path, Message: fmt.Sprintf(format, args...)}
}

// join appends a field name or index to a path.
func join(path, field string) string {
	if path == "" || strings.HasPrefix(field, "[") {
		return path + field
	}
	return path + "." + field
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// mapKey appends a map key to a path, quoted in brackets unless it is a plain identifier:
// filter_metadata["envoy.lb"].
func mapKey(path, key string) string {
	if plainKey.MatchString(key) {
		return join(path, key)
	}
	return path + "[" + strconv.Quote(key) + "]"
}

var plainKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// FromBootstrap converts the admin address, the static listeners and clusters, and the
// dynamic_resources and node of an Envoy bootstrap. It does not look at any other field:
// the caller rejects what Breeze does not support (proxy/bootstrap does, with an allow-list)
// and then calls Validate for the checks that span resources. Error paths start at the bootstrap's root.
func FromBootstrap(b *bootstrapv3.Bootstrap) (*Bootstrap, error) {
	c := converter{}
	out := &Bootstrap{}
	if admin := b.GetAdmin(); admin != nil {
		addr, err := c.socketAddress("admin.address", admin.GetAddress(), true)
		if err != nil {
			return nil, err
		}
		out.Admin = addr
	}
	for i, l := range b.GetStaticResources().GetListeners() {
		rl, err := c.listener(index("static_resources.listeners", i), l)
		if err != nil {
			return nil, err
		}
		out.Listeners = append(out.Listeners, rl)
	}
	for i, cl := range b.GetStaticResources().GetClusters() {
		rc, err := c.cluster(index("static_resources.clusters", i), cl)
		if err != nil {
			return nil, err
		}
		out.Clusters = append(out.Clusters, rc)
	}
	if n := b.GetNode(); n != nil {
		out.Node = Node{ID: n.GetId(), Cluster: n.GetCluster()}
		if md := n.GetMetadata(); md != nil {
			out.Node.Metadata = md.AsMap()
		}
	}
	if b.GetDynamicResources() != nil {
		d, err := c.dynamic(b)
		if err != nil {
			return nil, err
		}
		out.Dynamic = d
	}
	for i, l := range out.Listeners {
		if l.RouteConfigName != "" && out.Dynamic == nil {
			return nil, c.errorf(join(index("static_resources.listeners", i), "filter_chains[0].filters[0].typed_config.rds"),
				"routes over RDS need a control plane (dynamic_resources.ads_config); without one, give the routes inline in route_config")
		}
	}
	return out, nil
}

// FromListener converts an Envoy listener whose single filter is Breeze's meta-protocol
// proxy. Checks that need other resources (do the routes' clusters exist?) are Validate's.
func FromListener(l *listenerv3.Listener) (*Listener, error) {
	return converter{resource: fmt.Sprintf("listener %q", l.GetName())}.listener("", l)
}

// FromCluster converts an Envoy cluster. A STATIC cluster takes its endpoints from
// load_assignment; an EDS cluster has none until the xDS client converts its
// ClusterLoadAssignment with FromLoadAssignment.
func FromCluster(c *clusterv3.Cluster) (*Cluster, error) {
	return converter{resource: fmt.Sprintf("cluster %q", c.GetName())}.cluster("", c)
}

// FromLoadAssignment converts the endpoints of a ClusterLoadAssignment, as EDS delivers them.
// Endpoints reported unhealthy, draining or timed out are left out.
func FromLoadAssignment(cla *endpointv3.ClusterLoadAssignment) ([]Endpoint, error) {
	return converter{resource: fmt.Sprintf("load assignment %q", cla.GetClusterName())}.endpoints("", cla)
}

// FromRouteConfiguration converts a meta-protocol route table, as RDS delivers it.
func FromRouteConfiguration(rc *mpv1.RouteConfiguration) (*RouteTable, error) {
	return converter{resource: fmt.Sprintf("route configuration %q", rc.GetName())}.routeTable("", rc)
}

func (c converter) listener(path string, l *listenerv3.Listener) (*Listener, error) {
	if l == nil {
		return nil, c.errorf(path, "listener is empty")
	}
	if l.GetName() == "" {
		return nil, c.errorf(join(path, "name"), "required")
	}
	addr, err := c.socketAddress(join(path, "address"), l.GetAddress(), true)
	if err != nil {
		return nil, err
	}
	chains := l.GetFilterChains()
	if len(chains) != 1 {
		return nil, c.errorf(join(path, "filter_chains"), "exactly one filter chain is supported, got %d", len(chains))
	}
	chainPath := index(join(path, "filter_chains"), 0)
	chain := chains[0]
	if chain.GetTransportSocket() != nil {
		// Refused rather than ignored: a listener configured for TLS must not accept
		// plaintext.
		return nil, c.errorf(join(chainPath, "transport_socket"), "TLS on listeners is not supported by Breeze")
	}
	if len(chain.GetFilters()) != 1 {
		return nil, c.errorf(join(chainPath, "filters"), "exactly one filter (the meta-protocol proxy) is supported, got %d", len(chain.GetFilters()))
	}
	filterPath := index(join(chainPath, "filters"), 0)
	mp, err := c.metaProtocolProxy(filterPath, chain.GetFilters()[0])
	if err != nil {
		return nil, err
	}
	out := &Listener{Name: l.GetName(), Address: addr}
	if err := c.fillProxy(join(filterPath, "typed_config"), mp, out); err != nil {
		return nil, err
	}
	return out, nil
}

// metaProtocolProxy checks a listener filter's name and unpacks its typed_config.
func (c converter) metaProtocolProxy(path string, f *listenerv3.Filter) (*mpv1.MetaProtocolProxy, error) {
	if !slices.Contains(MetaProtocolProxyFilterNames, f.GetName()) {
		return nil, c.errorf(join(path, "name"), "unsupported filter %q (supported: %s)", f.GetName(), strings.Join(MetaProtocolProxyFilterNames, ", "))
	}
	if f.GetConfigDiscovery() != nil {
		return nil, c.errorf(join(path, "config_discovery"), "filter config discovery is not supported by Breeze; use typed_config")
	}
	anyConfig := f.GetTypedConfig()
	if anyConfig == nil {
		return nil, c.errorf(join(path, "typed_config"), "required")
	}
	mp := &mpv1.MetaProtocolProxy{}
	want := "type.googleapis.com/" + string(mp.ProtoReflect().Descriptor().FullName())
	if anyConfig.GetTypeUrl() != want {
		return nil, c.errorf(join(path, "typed_config"), "type %q is not supported (want %q)", anyConfig.GetTypeUrl(), want)
	}
	if err := anyConfig.UnmarshalTo(mp); err != nil {
		return nil, c.errorf(join(path, "typed_config"), "cannot decode: %v", err)
	}
	return mp, nil
}

// fillProxy sets the listener fields that come from the meta-protocol proxy's config.
func (c converter) fillProxy(path string, mp *mpv1.MetaProtocolProxy, out *Listener) error {
	out.StatPrefix = mp.GetStatPrefix()
	if out.StatPrefix == "" {
		out.StatPrefix = out.Name
	}

	codec, err := c.codecName(path, mp)
	if err != nil {
		return err
	}
	out.Codec = codec

	out.MaxFrameSize = int(mp.GetMaxFrameSize())
	if out.MaxFrameSize == 0 {
		out.MaxFrameSize = protocol.DefaultMaxFrameSize
	}
	if out.IdleTimeout, err = c.duration(join(path, "idle_timeout"), mp.GetIdleTimeout()); err != nil {
		return err
	}

	switch spec := mp.GetRouteSpecifier().(type) {
	case *mpv1.MetaProtocolProxy_RouteConfig:
		if out.Routes, err = c.routeTable(join(path, "route_config"), spec.RouteConfig); err != nil {
			return err
		}
	case *mpv1.MetaProtocolProxy_Rds:
		if out.RouteConfigName, err = c.rds(join(path, "rds"), spec.Rds); err != nil {
			return err
		}
	default:
		return c.errorf(path, "one of route_config or rds is required")
	}

	out.Filters, err = c.filters(join(path, "meta_protocol_filters"), mp.GetMetaProtocolFilters())
	return err
}

// codecName resolves the codec from codec.name or protocol.codec and returns its
// registered (short) name.
func (c converter) codecName(path string, mp *mpv1.MetaProtocolProxy) (string, error) {
	if mp.GetCodec().GetConfig() != nil {
		return "", c.errorf(join(path, "codec.config"), "codec settings are not supported by Breeze yet; remove them")
	}
	if m := mp.GetProtocol().GetMultiplexing(); m != mpv1.Protocol_AUTO {
		return "", c.errorf(join(path, "protocol.multiplexing"), "%s is not supported yet (only AUTO)", m)
	}
	name, namePath := mp.GetCodec().GetName(), join(path, "codec.name")
	if name == "" {
		name, namePath = mp.GetProtocol().GetCodec(), join(path, "protocol.codec")
	}
	if name == "" {
		return "", c.errorf(join(path, "codec.name"), "required")
	}
	reg, err := protocol.Lookup(name)
	if err != nil {
		return "", c.errorf(namePath, "%v", err)
	}
	if other := mp.GetProtocol().GetCodec(); other != "" {
		otherReg, err := protocol.Lookup(other)
		if err != nil {
			return "", c.errorf(join(path, "protocol.codec"), "%v", err)
		}
		if otherReg.Name != reg.Name {
			return "", c.errorf(join(path, "protocol.codec"), "codec %q disagrees with codec.name %q", other, name)
		}
	}
	return reg.Name, nil
}

func (c converter) rds(path string, rds *mpv1.Rds) (string, error) {
	if rds.GetRouteConfigName() == "" {
		return "", c.errorf(join(path, "route_config_name"), "required")
	}
	if src := rds.GetConfigSource(); src != nil {
		if src.GetResourceApiVersion() == mpv1.ApiVersion_V2 {
			return "", c.errorf(join(path, "config_source.resource_api_version"), "V2 is not supported; use V3")
		}
		if src.GetConfigSourceSpecifier() == nil {
			return "", c.errorf(join(path, "config_source"), "ads is required: routes are only fetched over the aggregated xDS stream")
		}
		if _, err := c.duration(join(path, "config_source.initial_fetch_timeout"), src.GetInitialFetchTimeout()); err != nil {
			return "", err
		}
	}
	return rds.GetRouteConfigName(), nil
}

func (c converter) filters(path string, in []*mpv1.MetaProtocolFilter) ([]Filter, error) {
	var out []Filter
	for i, f := range in {
		fp := index(path, i)
		if f.GetName() == "" {
			return nil, c.errorf(join(fp, "name"), "required")
		}
		if slices.Contains(routerFilterNames, f.GetName()) {
			if i != len(in)-1 {
				return nil, c.errorf(join(fp, "name"), "the router filter %q must be the last filter", f.GetName())
			}
			continue
		}
		var cfg any
		if f.GetConfig() != nil {
			msg, err := anypb.UnmarshalNew(f.GetConfig(), proto.UnmarshalOptions{})
			if err != nil {
				return nil, c.errorf(join(fp, "config"), "cannot decode %q: %v", f.GetConfig().GetTypeUrl(), err)
			}
			cfg = msg
		}
		out = append(out, Filter{Name: f.GetName(), Config: cfg})
	}
	return out, nil
}

func (c converter) routeTable(path string, rc *mpv1.RouteConfiguration) (*RouteTable, error) {
	table := &RouteTable{Name: rc.GetName()}
	seen := make(map[string]int, len(rc.GetRoutes()))
	for i, r := range rc.GetRoutes() {
		rp := index(join(path, "routes"), i)
		if r.GetName() != "" {
			if first, dup := seen[r.GetName()]; dup {
				return nil, c.errorf(join(rp, "name"), "route name %q is already used by routes[%d]", r.GetName(), first)
			}
			seen[r.GetName()] = i
		}
		route, err := c.route(rp, r)
		if err != nil {
			return nil, err
		}
		table.Routes = append(table.Routes, route)
	}
	return table, nil
}

func (c converter) route(path string, r *mpv1.Route) (*Route, error) {
	out := &Route{Name: r.GetName()}
	for i, m := range r.GetMatch().GetMetadata() {
		matcher, err := c.matcher(index(join(path, "match.metadata"), i), m)
		if err != nil {
			return nil, err
		}
		out.Match = append(out.Match, matcher)
	}

	action := r.GetRoute()
	ap := join(path, "route")
	if action == nil {
		return nil, c.errorf(ap, "required")
	}
	switch dest := action.GetClusterSpecifier().(type) {
	case *mpv1.RouteAction_Cluster:
		if dest.Cluster == "" {
			return nil, c.errorf(join(ap, "cluster"), "required")
		}
		out.Cluster = dest.Cluster
	case *mpv1.RouteAction_WeightedClusters:
		split, err := c.weightedClusters(join(ap, "weighted_clusters"), dest.WeightedClusters)
		if err != nil {
			return nil, err
		}
		out.WeightedClusters = split
	default:
		return nil, c.errorf(ap, "one of cluster or weighted_clusters is required")
	}

	for i, key := range action.GetHashPolicy() {
		if key == "" {
			return nil, c.errorf(index(join(ap, "hash_policy"), i), "metadata key must not be empty")
		}
	}
	out.HashPolicy = action.GetHashPolicy()
	if err := c.routeMetadataMatch(ap, action, out); err != nil { // convert_subset.go
		return nil, err
	}

	var err error
	if out.Timeout, err = c.duration(join(ap, "timeout"), action.GetTimeout()); err != nil {
		return nil, err
	}
	for i, mp := range action.GetRequestMirrorPolicies() {
		mirror, err := c.mirror(index(join(ap, "request_mirror_policies"), i), mp)
		if err != nil {
			return nil, err
		}
		out.Mirrors = append(out.Mirrors, mirror)
	}
	if out.Retry, err = c.retryPolicy(join(ap, "retry_policy"), action.GetRetryPolicy()); err != nil {
		return nil, err
	}

	if out.RequestMutation, err = c.mutation(join(path, "request_mutation"), r.GetRequestMutation()); err != nil {
		return nil, err
	}
	if out.ResponseMutation, err = c.mutation(join(path, "response_mutation"), r.GetResponseMutation()); err != nil {
		return nil, err
	}
	return out, nil
}

func (c converter) matcher(path string, m *mpv1.MetadataMatcher) (Matcher, error) {
	if m.GetName() == "" {
		return Matcher{}, c.errorf(join(path, "name"), "required")
	}
	out := Matcher{Key: m.GetName(), Invert: m.GetInvertMatch()}
	switch spec := m.GetMatchSpecifier().(type) {
	case *mpv1.MetadataMatcher_Exact:
		out.Kind, out.Value = MatchExact, spec.Exact
	case *mpv1.MetadataMatcher_Prefix:
		out.Kind, out.Value = MatchPrefix, spec.Prefix
	case *mpv1.MetadataMatcher_Suffix:
		out.Kind, out.Value = MatchSuffix, spec.Suffix
	case *mpv1.MetadataMatcher_Contains:
		out.Kind, out.Value = MatchContains, spec.Contains
	case *mpv1.MetadataMatcher_SafeRegex:
		re, err := CompileMatchRegex(spec.SafeRegex)
		if err != nil {
			return Matcher{}, c.errorf(join(path, "safe_regex"), "%v", err)
		}
		out.Kind, out.Value, out.Regex = MatchRegex, spec.SafeRegex, re
	case *mpv1.MetadataMatcher_Present:
		// present: false asks for the key to be absent, which is a negated presence test.
		out.Kind = MatchPresent
		out.Invert = m.GetInvertMatch() != !spec.Present
	default:
		return Matcher{}, c.errorf(path, "one of exact, prefix, suffix, contains, safe_regex or present is required")
	}
	return out, nil
}

// CompileMatchRegex compiles a route's safe_regex so that MatchString reports whether the
// whole value matches, as Envoy's safe_regex does: "say" does not match "sayHello".
func CompileMatchRegex(expr string) (*regexp.Regexp, error) {
	if _, err := regexp.Compile(expr); err != nil {
		// Compile the expression alone first so the error shows what the user wrote.
		return nil, fmt.Errorf("invalid regular expression %q: %w", expr, err)
	}
	return regexp.Compile(`^(?:` + expr + `)$`)
}

func (c converter) weightedClusters(path string, wc *mpv1.WeightedCluster) ([]WeightedCluster, error) {
	clusters := wc.GetClusters()
	if len(clusters) == 0 {
		return nil, c.errorf(join(path, "clusters"), "at least one cluster is required")
	}
	var total uint64
	seen := make(map[string]int, len(clusters))
	out := make([]WeightedCluster, 0, len(clusters))
	for i, cw := range clusters {
		cp := index(join(path, "clusters"), i)
		if cw.GetName() == "" {
			return nil, c.errorf(join(cp, "name"), "required")
		}
		// With their own metadata_match, the same cluster may be listed once per subset
		// (convert_subset.go checks that pair).
		if first, dup := seen[cw.GetName()]; dup && !ownMetadataMatch(clusters) {
			return nil, c.errorf(join(cp, "name"), "cluster %q is already listed at clusters[%d]", cw.GetName(), first)
		}
		seen[cw.GetName()] = i
		total += uint64(cw.GetWeight())
		out = append(out, WeightedCluster{Name: cw.GetName(), Weight: cw.GetWeight()})
	}
	if total == 0 {
		return nil, c.errorf(join(path, "clusters"), "weights must not all be zero")
	}
	if total > math.MaxUint32 {
		return nil, c.errorf(join(path, "clusters"), "the sum of the weights (%d) must fit in 32 bits", total)
	}
	return out, nil
}

func (c converter) mirror(path string, mp *mpv1.RequestMirrorPolicy) (Mirror, error) {
	if mp.GetCluster() == "" {
		return Mirror{}, c.errorf(join(path, "cluster"), "required")
	}
	out := Mirror{Cluster: mp.GetCluster(), Percent: 100}
	switch {
	case mp.Percent != nil && mp.GetRuntimeFraction() != nil:
		return Mirror{}, c.errorf(path, "set percent or runtime_fraction, not both")
	case mp.Percent != nil:
		p := mp.GetPercent()
		if math.IsNaN(p) || p < 0 || p > 100 {
			return Mirror{}, c.errorf(join(path, "percent"), "must be between 0 and 100, got %v", p)
		}
		out.Percent = p
	case mp.GetRuntimeFraction() != nil:
		rf := mp.GetRuntimeFraction()
		if rf.GetRuntimeKey() != "" {
			return Mirror{}, c.errorf(join(path, "runtime_fraction.runtime_key"), "runtime overrides are not supported by Breeze; remove runtime_key")
		}
		var denominator float64
		switch d := rf.GetDefaultValue().GetDenominator(); d {
		case mpv1.FractionalPercent_HUNDRED:
			denominator = 100
		case mpv1.FractionalPercent_TEN_THOUSAND:
			denominator = 10_000
		case mpv1.FractionalPercent_MILLION:
			denominator = 1_000_000
		default:
			return Mirror{}, c.errorf(join(path, "runtime_fraction.default_value.denominator"), "unknown denominator %d", d)
		}
		// An unset default_value is 0/100: Envoy mirrors nothing then, and so does Breeze.
		out.Percent = math.Min(100, float64(rf.GetDefaultValue().GetNumerator())*100/denominator)
	}
	return out, nil
}

func (c converter) mutation(path string, kvs []*mpv1.KeyValue) (protocol.Mutation, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	out := make(protocol.Mutation, 0, len(kvs))
	for i, kv := range kvs {
		if kv.GetKey() == "" {
			return nil, c.errorf(join(index(path, i), "key"), "required")
		}
		out = append(out, protocol.KeyValue{Key: kv.GetKey(), Value: kv.GetValue()})
	}
	return out, nil
}

func (c converter) cluster(path string, cl *clusterv3.Cluster) (*Cluster, error) {
	if cl == nil {
		return nil, c.errorf(path, "cluster is empty")
	}
	if cl.GetName() == "" {
		return nil, c.errorf(join(path, "name"), "required")
	}
	out := &Cluster{
		Name:                  cl.GetName(),
		ConnectTimeout:        DefaultConnectTimeout,
		ConnectionsPerHost:    DefaultConnectionsPerHost,
		MaxConnectionsPerHost: DefaultMaxConnectionsPerHost,
	}

	if _, custom := cl.GetClusterDiscoveryType().(*clusterv3.Cluster_ClusterType); custom {
		return nil, c.errorf(join(path, "cluster_type"), "custom cluster types are not supported by Breeze (supported type: STATIC, EDS)")
	}
	discovery := cl.GetType()
	switch discovery {
	case clusterv3.Cluster_STATIC, clusterv3.Cluster_EDS:
	default:
		return nil, c.errorf(join(path, "type"), "%s is not supported by Breeze (supported: STATIC, EDS)", discovery)
	}

	if cl.GetConnectTimeout() != nil {
		d, err := c.duration(join(path, "connect_timeout"), cl.GetConnectTimeout())
		if err != nil {
			return nil, err
		}
		if d == 0 {
			return nil, c.errorf(join(path, "connect_timeout"), "must be positive")
		}
		out.ConnectTimeout = d
	}

	// Balancing and resilience: convert_upstream.go.
	if err := c.upstreamPolicies(path, cl, out); err != nil {
		return nil, err
	}

	if cl.GetTransportSocket() != nil {
		// Refused rather than ignored: a cluster configured for TLS must not be dialled in
		// plaintext.
		return nil, c.errorf(join(path, "transport_socket"), "TLS to upstreams is not supported by Breeze")
	}

	maxConns, err := c.perHostMaxConnections(join(path, "circuit_breakers.per_host_thresholds"), cl.GetCircuitBreakers().GetPerHostThresholds())
	if err != nil {
		return nil, err
	}
	if maxConns > 0 {
		out.MaxConnectionsPerHost = maxConns
	}

	if cla := cl.GetLoadAssignment(); cla != nil {
		lap := join(path, "load_assignment")
		if discovery != clusterv3.Cluster_STATIC {
			return nil, c.errorf(lap, "only STATIC clusters take inline endpoints; an EDS cluster gets them from the control plane")
		}
		if name := cla.GetClusterName(); name != "" && name != cl.GetName() {
			return nil, c.errorf(join(lap, "cluster_name"), "%q differs from the cluster's name %q", name, cl.GetName())
		}
		if out.Endpoints, err = c.endpoints(lap, cla); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// perHostMaxConnections reads max_connections from the DEFAULT-priority per-host threshold;
// 0 means unset.
func (c converter) perHostMaxConnections(path string, thresholds []*clusterv3.CircuitBreakers_Thresholds) (int, error) {
	maxConns, found := 0, false
	for i, t := range thresholds {
		tp := index(path, i)
		if t.GetPriority() != corev3.RoutingPriority_DEFAULT {
			return 0, c.errorf(join(tp, "priority"), "%s is not supported by Breeze (only DEFAULT)", t.GetPriority())
		}
		if found {
			return 0, c.errorf(tp, "only one threshold per priority is allowed")
		}
		found = true
		if v := t.GetMaxConnections(); v != nil {
			if v.GetValue() == 0 {
				return 0, c.errorf(join(tp, "max_connections"), "must be at least 1")
			}
			maxConns = int(v.GetValue())
		}
	}
	return maxConns, nil
}

func (c converter) endpoints(path string, cla *endpointv3.ClusterLoadAssignment) ([]Endpoint, error) {
	var out []Endpoint
	for i, locality := range cla.GetEndpoints() {
		lp := index(join(path, "endpoints"), i)
		if locality.GetPriority() != 0 {
			// Priorities are failover tiers; spreading requests over all of them would send
			// traffic to the standby hosts.
			return nil, c.errorf(join(lp, "priority"), "only priority 0 is supported by Breeze")
		}
		for j, lbe := range locality.GetLbEndpoints() {
			ep, keep, err := c.endpoint(index(join(lp, "lb_endpoints"), j), lbe)
			if err != nil {
				return nil, err
			}
			if keep {
				out = append(out, ep)
			}
		}
	}
	return out, nil
}

// endpoint converts one LbEndpoint; keep is false for endpoints reported unusable.
func (c converter) endpoint(path string, lbe *endpointv3.LbEndpoint) (ep Endpoint, keep bool, err error) {
	if _, named := lbe.GetHostIdentifier().(*endpointv3.LbEndpoint_EndpointName); named {
		return Endpoint{}, false, c.errorf(join(path, "endpoint_name"), "named endpoints are not supported by Breeze; use endpoint")
	}
	if lbe.GetEndpoint() == nil {
		return Endpoint{}, false, c.errorf(join(path, "endpoint"), "required")
	}
	ep.Address, err = c.socketAddress(join(path, "endpoint.address"), lbe.GetEndpoint().GetAddress(), false)
	if err != nil {
		return Endpoint{}, false, err
	}
	ep.Weight = 1
	if w := lbe.GetLoadBalancingWeight(); w != nil {
		if w.GetValue() == 0 {
			return Endpoint{}, false, c.errorf(join(path, "load_balancing_weight"), "must be at least 1")
		}
		ep.Weight = w.GetValue()
	}
	if ep.Labels, err = c.labels(join(path, "metadata.filter_metadata"), lbe.GetMetadata()); err != nil {
		return Endpoint{}, false, err
	}
	switch lbe.GetHealthStatus() {
	case corev3.HealthStatus_UNHEALTHY, corev3.HealthStatus_DRAINING, corev3.HealthStatus_TIMEOUT:
		return ep, false, nil
	}
	return ep, true, nil
}

// labels flattens the label namespaces of an endpoint's filter_metadata. Other namespaces
// are left alone: they belong to other consumers of the metadata.
func (c converter) labels(path string, md *corev3.Metadata) (map[string]string, error) {
	var out map[string]string
	// Istio's namespace first, so that envoy.lb overrides it.
	for _, ns := range []string{IstioLabelsNamespace, LabelsNamespace} {
		st := md.GetFilterMetadata()[ns]
		if st == nil {
			continue
		}
		for key, v := range st.GetFields() {
			var s string
			switch k := v.GetKind().(type) {
			case *structpb.Value_StringValue:
				s = k.StringValue
			case *structpb.Value_NumberValue:
				s = strconv.FormatFloat(k.NumberValue, 'f', -1, 64)
			case *structpb.Value_BoolValue:
				s = strconv.FormatBool(k.BoolValue)
			default:
				return nil, c.errorf(mapKey(mapKey(path, ns), key), "label values must be strings, numbers or booleans")
			}
			if out == nil {
				out = make(map[string]string)
			}
			out[key] = s
		}
	}
	return out, nil
}

// socketAddress returns host:port for an Envoy address, which must be a TCP socket address
// with a literal IP: Breeze resolves no host names in its config.
func (c converter) socketAddress(path string, a *corev3.Address, allowPortZero bool) (string, error) {
	if a == nil {
		return "", c.errorf(path, "required")
	}
	sa := a.GetSocketAddress()
	if sa == nil {
		return "", c.errorf(path, "only socket_address is supported by Breeze")
	}
	sp := join(path, "socket_address")
	if sa.GetProtocol() != corev3.SocketAddress_TCP {
		return "", c.errorf(join(sp, "protocol"), "%s is not supported by Breeze (only TCP)", sa.GetProtocol())
	}
	if sa.GetResolverName() != "" {
		return "", c.errorf(join(sp, "resolver_name"), "custom resolvers are not supported by Breeze")
	}
	if _, named := sa.GetPortSpecifier().(*corev3.SocketAddress_NamedPort); named {
		return "", c.errorf(join(sp, "named_port"), "named ports are not supported by Breeze; use port_value")
	}
	host := sa.GetAddress()
	if host == "" {
		return "", c.errorf(join(sp, "address"), "required")
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return "", c.errorf(join(sp, "address"), "%q is not an IP address (Breeze does not resolve host names)", host)
	}
	port := sa.GetPortValue()
	if port > math.MaxUint16 {
		return "", c.errorf(join(sp, "port_value"), "%d is not a port number (0-65535)", port)
	}
	if port == 0 && !allowPortZero {
		return "", c.errorf(join(sp, "port_value"), "required (1-65535)")
	}
	return net.JoinHostPort(host, strconv.FormatUint(uint64(port), 10)), nil
}

// duration converts an optional duration; unset is 0, negative or out-of-range is an error.
func (c converter) duration(path string, d *durationpb.Duration) (time.Duration, error) {
	if d == nil {
		return 0, nil
	}
	if err := d.CheckValid(); err != nil {
		return 0, c.errorf(path, "invalid duration: %v", err)
	}
	if d.AsDuration() < 0 {
		return 0, c.errorf(path, "must not be negative, got %v", d.AsDuration())
	}
	return d.AsDuration(), nil
}
