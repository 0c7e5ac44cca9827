package config

import (
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	mpv1 "github.com/breeze-mesh/breeze/api/metaprotocol/v1alpha1"
	"github.com/breeze-mesh/breeze/protocol"
)

// No real codec is linked into this package's tests; "fake" and "other" stand in for them.
type fakeCodec struct{ protocol.Codec }

func init() {
	for _, name := range []string{"fake", "other"} {
		protocol.Register(protocol.Registration{Name: name, New: func(protocol.Options) protocol.Codec { return fakeCodec{} }})
	}
}

func mustAny(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func socket(host string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

func clusterRoute(name, cluster string) *mpv1.Route {
	return &mpv1.Route{Name: name, Route: &mpv1.RouteAction{ClusterSpecifier: &mpv1.RouteAction_Cluster{Cluster: cluster}}}
}

// minimalProxy is the smallest valid filter config: a codec and one route.
func minimalProxy() *mpv1.MetaProtocolProxy {
	return &mpv1.MetaProtocolProxy{
		Codec: &mpv1.Codec{Name: "fake"},
		RouteSpecifier: &mpv1.MetaProtocolProxy_RouteConfig{RouteConfig: &mpv1.RouteConfiguration{
			Name: "table", Routes: []*mpv1.Route{clusterRoute("all", "backend")},
		}},
	}
}

func listenerWith(t *testing.T, mp *mpv1.MetaProtocolProxy) *listenerv3.Listener {
	return &listenerv3.Listener{
		Name:    "front",
		Address: socket("127.0.0.1", 20880),
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{{
			Name:       "breeze.meta_protocol_proxy",
			ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(t, mp)},
		}}}},
	}
}

func routeConfig(mp *mpv1.MetaProtocolProxy) *mpv1.RouteConfiguration {
	return mp.GetRouteConfig()
}

// sameRegexes checks the compiled regexes by their source and clears them, so that
// reflect.DeepEqual can compare the rest.
func sameRegexes(t *testing.T, got, want []Matcher) {
	t.Helper()
	for i := range got {
		if i >= len(want) {
			return
		}
		var g, w string
		if got[i].Regex != nil {
			g = got[i].Regex.String()
		}
		if want[i].Regex != nil {
			w = want[i].Regex.String()
		}
		if g != w {
			t.Errorf("matcher %d: regex %q, want %q", i, g, w)
		}
		got[i].Regex, want[i].Regex = nil, nil
	}
}

func TestFromListenerFull(t *testing.T) {
	filterConfig := durationpb.New(3 * time.Second) // any registered message will do
	mp := &mpv1.MetaProtocolProxy{
		StatPrefix:   "front-stats",
		Codec:        &mpv1.Codec{Name: protocol.AerakiCodecPrefix + "fake"},
		MaxFrameSize: 1024,
		IdleTimeout:  durationpb.New(90 * time.Second),
		MetaProtocolFilters: []*mpv1.MetaProtocolFilter{
			{Name: "ratelimit", Config: mustAny(t, filterConfig)},
			{Name: "metrics"},
			{Name: "aeraki.meta_protocol.filters.router"},
		},
		RouteSpecifier: &mpv1.MetaProtocolProxy_RouteConfig{RouteConfig: &mpv1.RouteConfiguration{
			Name: "table",
			Routes: []*mpv1.Route{
				{
					Name: "v2",
					Match: &mpv1.RouteMatch{Metadata: []*mpv1.MetadataMatcher{
						{Name: "version", MatchSpecifier: &mpv1.MetadataMatcher_Exact{Exact: "2.0.0"}},
						{Name: "method", MatchSpecifier: &mpv1.MetadataMatcher_Prefix{Prefix: "say"}},
						{Name: "method", MatchSpecifier: &mpv1.MetadataMatcher_Suffix{Suffix: "Hello"}},
						{Name: "interface", MatchSpecifier: &mpv1.MetadataMatcher_Contains{Contains: "Greeter"}},
						{Name: "method", MatchSpecifier: &mpv1.MetadataMatcher_SafeRegex{SafeRegex: "say.*"}},
						{Name: "group", MatchSpecifier: &mpv1.MetadataMatcher_Present{Present: true}},
						{Name: "canary", MatchSpecifier: &mpv1.MetadataMatcher_Present{Present: false}},
						{Name: "env", MatchSpecifier: &mpv1.MetadataMatcher_Exact{Exact: "test"}, InvertMatch: true},
					}},
					Route: &mpv1.RouteAction{
						ClusterSpecifier: &mpv1.RouteAction_Cluster{Cluster: "v2"},
						Timeout:          durationpb.New(5 * time.Second),
						RequestMirrorPolicies: []*mpv1.RequestMirrorPolicy{
							{Cluster: "shadow"},
							{Cluster: "shadow-pct", Percent: proto.Float64(12.5)},
							{Cluster: "shadow-frac", RuntimeFraction: &mpv1.RuntimeFractionalPercent{DefaultValue: &mpv1.FractionalPercent{
								Numerator: 250, Denominator: mpv1.FractionalPercent_TEN_THOUSAND}}},
						},
					},
					RequestMutation:  []*mpv1.KeyValue{{Key: "x-routed-by", Value: "breeze"}},
					ResponseMutation: []*mpv1.KeyValue{{Key: "x-served-by", Value: "v2"}, {Key: "x-empty"}},
				},
				{
					Name: "split",
					Route: &mpv1.RouteAction{
						ClusterSpecifier: &mpv1.RouteAction_WeightedClusters{WeightedClusters: &mpv1.WeightedCluster{
							Clusters: []*mpv1.ClusterWeight{{Name: "v1", Weight: 80}, {Name: "v2", Weight: 20}, {Name: "v3"}},
						}},
						HashPolicy: []string{"user", "tenant"},
					},
				},
			},
		}},
	}
	got, err := FromListener(listenerWith(t, mp))
	if err != nil {
		t.Fatal(err)
	}

	want := &Listener{
		Name:         "front",
		Address:      "127.0.0.1:20880",
		StatPrefix:   "front-stats",
		Codec:        "fake",
		MaxFrameSize: 1024,
		IdleTimeout:  90 * time.Second,
		Filters:      []Filter{{Name: "ratelimit", Config: filterConfig}, {Name: "metrics"}},
		Routes: &RouteTable{Name: "table", Routes: []*Route{
			{
				Name: "v2",
				Match: []Matcher{
					{Key: "version", Kind: MatchExact, Value: "2.0.0"},
					{Key: "method", Kind: MatchPrefix, Value: "say"},
					{Key: "method", Kind: MatchSuffix, Value: "Hello"},
					{Key: "interface", Kind: MatchContains, Value: "Greeter"},
					{Key: "method", Kind: MatchRegex, Value: "say.*", Regex: mustRegex(t, "say.*")},
					{Key: "group", Kind: MatchPresent},
					{Key: "canary", Kind: MatchPresent, Invert: true},
					{Key: "env", Kind: MatchExact, Value: "test", Invert: true},
				},
				Cluster:          "v2",
				Timeout:          5 * time.Second,
				Mirrors:          []Mirror{{Cluster: "shadow", Percent: 100}, {Cluster: "shadow-pct", Percent: 12.5}, {Cluster: "shadow-frac", Percent: 2.5}},
				RequestMutation:  protocol.Mutation{{Key: "x-routed-by", Value: "breeze"}},
				ResponseMutation: protocol.Mutation{{Key: "x-served-by", Value: "v2"}, {Key: "x-empty"}},
			},
			{
				Name:             "split",
				WeightedClusters: []WeightedCluster{{Name: "v1", Weight: 80}, {Name: "v2", Weight: 20}, {Name: "v3"}},
				HashPolicy:       []string{"user", "tenant"},
			},
		}},
	}

	// Filter configs are proto messages: compare them with proto.Equal, then drop them.
	if len(got.Filters) != 2 || !proto.Equal(got.Filters[0].Config.(proto.Message), filterConfig) {
		t.Fatalf("filters = %+v, want ratelimit with %v and metrics", got.Filters, filterConfig)
	}
	got.Filters[0].Config, want.Filters[0].Config = nil, nil
	sameRegexes(t, got.Routes.Routes[0].Match, want.Routes.Routes[0].Match)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("FromListener:\n got %+v\nwant %+v", got, want)
		for i := range want.Routes.Routes {
			t.Errorf("route %d:\n got %+v\nwant %+v", i, got.Routes.Routes[i], want.Routes.Routes[i])
		}
	}
}

func mustRegex(t *testing.T, expr string) *regexp.Regexp {
	t.Helper()
	re, err := CompileMatchRegex(expr)
	if err != nil {
		t.Fatal(err)
	}
	return re
}

func TestCompileMatchRegexMatchesWholeValue(t *testing.T) {
	re, err := CompileMatchRegex("say|hello")
	if err != nil {
		t.Fatal(err)
	}
	for value, want := range map[string]bool{"say": true, "hello": true, "sayHello": false, "xsay": false, "": false} {
		if got := re.MatchString(value); got != want {
			t.Errorf("%q matches %q: %v, want %v", re, value, got, want)
		}
	}
	if _, err := CompileMatchRegex("a)|(b"); err == nil || !strings.Contains(err.Error(), `invalid regular expression "a)|(b"`) {
		t.Errorf("unbalanced expression: err = %v", err)
	}
}

func TestFromListenerDefaults(t *testing.T) {
	mp := minimalProxy()
	mp.Codec = nil
	mp.Protocol = &mpv1.Protocol{Name: "Fake RPC", Codec: "fake"}
	l := listenerWith(t, mp)
	l.Address = socket("::1", 0)
	l.FilterChains[0].Filters[0].Name = "aeraki.meta_protocol_proxy"
	got, err := FromListener(l)
	if err != nil {
		t.Fatal(err)
	}
	want := &Listener{
		Name: "front", Address: "[::1]:0", StatPrefix: "front", Codec: "fake",
		MaxFrameSize: protocol.DefaultMaxFrameSize,
		Routes:       &RouteTable{Name: "table", Routes: []*Route{{Name: "all", Cluster: "backend"}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestFromListenerRDS(t *testing.T) {
	mp := minimalProxy()
	mp.RouteSpecifier = &mpv1.MetaProtocolProxy_Rds{Rds: &mpv1.Rds{
		RouteConfigName: "dubbo-routes",
		ConfigSource: &mpv1.ConfigSource{
			ConfigSourceSpecifier: &mpv1.ConfigSource_Ads{Ads: &mpv1.AggregatedConfigSource{}},
			ResourceApiVersion:    mpv1.ApiVersion_V3,
		},
	}}
	got, err := FromListener(listenerWith(t, mp))
	if err != nil {
		t.Fatal(err)
	}
	if got.Routes != nil || got.RouteConfigName != "dubbo-routes" {
		t.Errorf("Routes = %v, RouteConfigName = %q; want nil and dubbo-routes", got.Routes, got.RouteConfigName)
	}
}

func TestFromListenerErrors(t *testing.T) {
	const typed = "filter_chains[0].filters[0].typed_config"
	tests := []struct {
		name     string
		proxy    func(*mpv1.MetaProtocolProxy)
		listener func(*listenerv3.Listener)
		want     string
	}{
		{name: "no name", listener: func(l *listenerv3.Listener) { l.Name = "" },
			want: `listener "": name: required`},
		{name: "no address", listener: func(l *listenerv3.Listener) { l.Address = nil },
			want: `listener "front": address: required`},
		{name: "pipe address", listener: func(l *listenerv3.Listener) {
			l.Address = &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: "/tmp/x"}}}
		}, want: `address: only socket_address is supported by Breeze`},
		{name: "host name", listener: func(l *listenerv3.Listener) { l.Address = socket("localhost", 1) },
			want: `address.socket_address.address: "localhost" is not an IP address (Breeze does not resolve host names)`},
		{name: "port out of range", listener: func(l *listenerv3.Listener) { l.Address = socket("127.0.0.1", 70000) },
			want: `address.socket_address.port_value: 70000 is not a port number (0-65535)`},
		{name: "udp", listener: func(l *listenerv3.Listener) {
			l.Address.GetSocketAddress().Protocol = corev3.SocketAddress_UDP
		}, want: `address.socket_address.protocol: UDP is not supported by Breeze (only TCP)`},
		{name: "two chains", listener: func(l *listenerv3.Listener) { l.FilterChains = append(l.FilterChains, l.FilterChains[0]) },
			want: `filter_chains: exactly one filter chain is supported, got 2`},
		{name: "no filters", listener: func(l *listenerv3.Listener) { l.FilterChains[0].Filters = nil },
			want: `filter_chains[0].filters: exactly one filter (the meta-protocol proxy) is supported, got 0`},
		{name: "tls", listener: func(l *listenerv3.Listener) {
			l.FilterChains[0].TransportSocket = &corev3.TransportSocket{Name: "tls"}
		}, want: `filter_chains[0].transport_socket: TLS on listeners is not supported by Breeze`},
		{name: "other filter", listener: func(l *listenerv3.Listener) { l.FilterChains[0].Filters[0].Name = "envoy.filters.network.tcp_proxy" },
			want: `filter_chains[0].filters[0].name: unsupported filter "envoy.filters.network.tcp_proxy" (supported: breeze.meta_protocol_proxy, envoy.filters.network.meta_protocol_proxy, aeraki.meta_protocol_proxy)`},
		{name: "no typed config", listener: func(l *listenerv3.Listener) { l.FilterChains[0].Filters[0].ConfigType = nil },
			want: typed + `: required`},
		{name: "wrong typed config", listener: func(l *listenerv3.Listener) {
			l.FilterChains[0].Filters[0].ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(t, &mpv1.Codec{})}
		}, want: typed + `: type "type.googleapis.com/breeze.metaprotocol.v1alpha1.Codec" is not supported (want "type.googleapis.com/breeze.metaprotocol.v1alpha1.MetaProtocolProxy")`},
		{name: "no codec", proxy: func(mp *mpv1.MetaProtocolProxy) { mp.Codec = nil },
			want: typed + `.codec.name: required`},
		{name: "unknown codec", proxy: func(mp *mpv1.MetaProtocolProxy) { mp.Codec.Name = "dubbo" },
			want: typed + `.codec.name: unknown codec "dubbo" (registered: beating, fake, other)`},
		{name: "codec config", proxy: func(mp *mpv1.MetaProtocolProxy) { mp.Codec.Config = mustAny(t, &mpv1.Codec{}) },
			want: typed + `.codec.config: codec settings are not supported by Breeze yet; remove them`},
		{name: "codecs disagree", proxy: func(mp *mpv1.MetaProtocolProxy) { mp.Protocol = &mpv1.Protocol{Codec: "other"} },
			want: typed + `.protocol.codec: codec "other" disagrees with codec.name "fake"`},
		{name: "ping-pong", proxy: func(mp *mpv1.MetaProtocolProxy) {
			mp.Protocol = &mpv1.Protocol{Multiplexing: mpv1.Protocol_PING_PONG}
		}, want: typed + `.protocol.multiplexing: PING_PONG is not supported yet (only AUTO)`},
		{name: "negative idle timeout", proxy: func(mp *mpv1.MetaProtocolProxy) { mp.IdleTimeout = durationpb.New(-time.Second) },
			want: typed + `.idle_timeout: must not be negative, got -1s`},
		{name: "no routes", proxy: func(mp *mpv1.MetaProtocolProxy) { mp.RouteSpecifier = nil },
			want: typed + `: one of route_config or rds is required`},
		{name: "rds without name", proxy: func(mp *mpv1.MetaProtocolProxy) {
			mp.RouteSpecifier = &mpv1.MetaProtocolProxy_Rds{Rds: &mpv1.Rds{}}
		}, want: typed + `.rds.route_config_name: required`},
		{name: "rds v2", proxy: func(mp *mpv1.MetaProtocolProxy) {
			mp.RouteSpecifier = &mpv1.MetaProtocolProxy_Rds{Rds: &mpv1.Rds{RouteConfigName: "r",
				ConfigSource: &mpv1.ConfigSource{ResourceApiVersion: mpv1.ApiVersion_V2}}}
		}, want: typed + `.rds.config_source.resource_api_version: V2 is not supported; use V3`},
		{name: "duplicate route names", proxy: func(mp *mpv1.MetaProtocolProxy) {
			routeConfig(mp).Routes = append(routeConfig(mp).Routes, clusterRoute("all", "other"))
		}, want: typed + `.route_config.routes[1].name: route name "all" is already used by routes[0]`},
		{name: "route without action", proxy: func(mp *mpv1.MetaProtocolProxy) { routeConfig(mp).Routes[0].Route = nil },
			want: typed + `.route_config.routes[0].route: required`},
		{name: "route without destination", proxy: func(mp *mpv1.MetaProtocolProxy) {
			routeConfig(mp).Routes[0].Route.ClusterSpecifier = nil
		}, want: typed + `.route_config.routes[0].route: one of cluster or weighted_clusters is required`},
		{name: "empty cluster name", proxy: func(mp *mpv1.MetaProtocolProxy) { routeConfig(mp).Routes[0] = clusterRoute("all", "") },
			want: typed + `.route_config.routes[0].route.cluster: required`},
		{name: "empty split", proxy: func(mp *mpv1.MetaProtocolProxy) {
			routeConfig(mp).Routes[0].Route.ClusterSpecifier = &mpv1.RouteAction_WeightedClusters{WeightedClusters: &mpv1.WeightedCluster{}}
		}, want: typed + `.route_config.routes[0].route.weighted_clusters.clusters: at least one cluster is required`},
		{name: "zero weights", proxy: func(mp *mpv1.MetaProtocolProxy) {
			routeConfig(mp).Routes[0].Route.ClusterSpecifier = &mpv1.RouteAction_WeightedClusters{WeightedClusters: &mpv1.WeightedCluster{
				Clusters: []*mpv1.ClusterWeight{{Name: "a"}, {Name: "b"}}}}
		}, want: typed + `.route_config.routes[0].route.weighted_clusters.clusters: weights must not all be zero`},
		{name: "weights overflow", proxy: func(mp *mpv1.MetaProtocolProxy) {
			routeConfig(mp).Routes[0].Route.ClusterSpecifier = &mpv1.RouteAction_WeightedClusters{WeightedClusters: &mpv1.WeightedCluster{
				Clusters: []*mpv1.ClusterWeight{{Name: "a", Weight: 1 << 31}, {Name: "b", Weight: 1 << 31}}}}
		}, want: typed + `.route_config.routes[0].route.weighted_clusters.clusters: the sum of the weights (4294967296) must fit in 32 bits`},
		{name: "split lists a cluster twice", proxy: func(mp *mpv1.MetaProtocolProxy) {
			routeConfig(mp).Routes[0].Route.ClusterSpecifier = &mpv1.RouteAction_WeightedClusters{WeightedClusters: &mpv1.WeightedCluster{
				Clusters: []*mpv1.ClusterWeight{{Name: "a", Weight: 1}, {Name: "a", Weight: 2}}}}
		}, want: typed + `.route_config.routes[0].route.weighted_clusters.clusters[1].name: cluster "a" is already listed at clusters[0]`},
		{name: "split cluster without name", proxy: func(mp *mpv1.MetaProtocolProxy) {
			routeConfig(mp).Routes[0].Route.ClusterSpecifier = &mpv1.RouteAction_WeightedClusters{WeightedClusters: &mpv1.WeightedCluster{
				Clusters: []*mpv1.ClusterWeight{{Weight: 1}}}}
		}, want: typed + `.route_config.routes[0].route.weighted_clusters.clusters[0].name: required`},
		{name: "matcher without key", proxy: func(mp *mpv1.MetaProtocolProxy) {
			routeConfig(mp).Routes[0].Match = &mpv1.RouteMatch{Metadata: []*mpv1.MetadataMatcher{{MatchSpecifier: &mpv1.MetadataMatcher_Exact{Exact: "x"}}}}
		}, want: typed + `.route_config.routes[0].match.metadata[0].name: required`},
		{name: "matcher without comparison", proxy: func(mp *mpv1.MetaProtocolProxy) {
			routeConfig(mp).Routes[0].Match = &mpv1.RouteMatch{Metadata: []*mpv1.MetadataMatcher{{Name: "method"}}}
		}, want: typed + `.route_config.routes[0].match.metadata[0]: one of exact, prefix, suffix, contains, safe_regex or present is required`},
		{name: "bad regex", proxy: func(mp *mpv1.MetaProtocolProxy) {
			routeConfig(mp).Routes[0].Match = &mpv1.RouteMatch{Metadata: []*mpv1.MetadataMatcher{
				{Name: "method", MatchSpecifier: &mpv1.MetadataMatcher_Exact{Exact: "x"}},
				{Name: "method", MatchSpecifier: &mpv1.MetadataMatcher_SafeRegex{SafeRegex: "say(["}},
			}}
		}, want: typed + `.route_config.routes[0].match.metadata[1].safe_regex: invalid regular expression "say(["`},
		{name: "empty hash key", proxy: func(mp *mpv1.MetaProtocolProxy) { routeConfig(mp).Routes[0].Route.HashPolicy = []string{"user", ""} },
			want: typed + `.route_config.routes[0].route.hash_policy[1]: metadata key must not be empty`},
		{name: "negative timeout", proxy: func(mp *mpv1.MetaProtocolProxy) {
			routeConfig(mp).Routes[0].Route.Timeout = durationpb.New(-time.Millisecond)
		},
			want: typed + `.route_config.routes[0].route.timeout: must not be negative, got -1ms`},
		{name: "invalid timeout", proxy: func(mp *mpv1.MetaProtocolProxy) {
			routeConfig(mp).Routes[0].Route.Timeout = &durationpb.Duration{Seconds: 1, Nanos: -1}
		}, want: typed + `.route_config.routes[0].route.timeout: invalid duration`},
		{name: "mirror without cluster", proxy: func(mp *mpv1.MetaProtocolProxy) {
			routeConfig(mp).Routes[0].Route.RequestMirrorPolicies = []*mpv1.RequestMirrorPolicy{{}}
		}, want: typed + `.route_config.routes[0].route.request_mirror_policies[0].cluster: required`},
		{name: "mirror percent and fraction", proxy: func(mp *mpv1.MetaProtocolProxy) {
			routeConfig(mp).Routes[0].Route.RequestMirrorPolicies = []*mpv1.RequestMirrorPolicy{{Cluster: "m",
				Percent: proto.Float64(1), RuntimeFraction: &mpv1.RuntimeFractionalPercent{}}}
		}, want: typed + `.route_config.routes[0].route.request_mirror_policies[0]: set percent or runtime_fraction, not both`},
		{name: "mirror percent above 100", proxy: func(mp *mpv1.MetaProtocolProxy) {
			routeConfig(mp).Routes[0].Route.RequestMirrorPolicies = []*mpv1.RequestMirrorPolicy{{Cluster: "m", Percent: proto.Float64(150)}}
		}, want: typed + `.route_config.routes[0].route.request_mirror_policies[0].percent: must be between 0 and 100, got 150`},
		{name: "mirror runtime key", proxy: func(mp *mpv1.MetaProtocolProxy) {
			routeConfig(mp).Routes[0].Route.RequestMirrorPolicies = []*mpv1.RequestMirrorPolicy{{Cluster: "m",
				RuntimeFraction: &mpv1.RuntimeFractionalPercent{RuntimeKey: "mirror.enabled"}}}
		}, want: typed + `.route_config.routes[0].route.request_mirror_policies[0].runtime_fraction.runtime_key: runtime overrides are not supported by Breeze; remove runtime_key`},
		{name: "mutation without key", proxy: func(mp *mpv1.MetaProtocolProxy) {
			routeConfig(mp).Routes[0].ResponseMutation = []*mpv1.KeyValue{{Key: "a"}, {Value: "b"}}
		}, want: typed + `.route_config.routes[0].response_mutation[1].key: required`},
		{name: "router not last", proxy: func(mp *mpv1.MetaProtocolProxy) {
			mp.MetaProtocolFilters = []*mpv1.MetaProtocolFilter{{Name: "router"}, {Name: "metrics"}}
		}, want: typed + `.meta_protocol_filters[0].name: the router filter "router" must be the last filter`},
		{name: "filter without name", proxy: func(mp *mpv1.MetaProtocolProxy) {
			mp.MetaProtocolFilters = []*mpv1.MetaProtocolFilter{{}}
		}, want: typed + `.meta_protocol_filters[0].name: required`},
		{name: "filter config of unknown type", proxy: func(mp *mpv1.MetaProtocolProxy) {
			mp.MetaProtocolFilters = []*mpv1.MetaProtocolFilter{{Name: "x", Config: &anypb.Any{TypeUrl: "type.googleapis.com/no.such.Type"}}}
		}, want: typed + `.meta_protocol_filters[0].config: cannot decode "type.googleapis.com/no.such.Type"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mp := minimalProxy()
			if tt.proxy != nil {
				tt.proxy(mp)
			}
			l := listenerWith(t, mp)
			if tt.listener != nil {
				tt.listener(l)
			}
			_, err := FromListener(l)
			if err == nil {
				t.Fatalf("FromListener succeeded, want error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error:\n %v\nwant it to contain\n %s", err, tt.want)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("error is %T, want *FieldError", err)
			}
		})
	}
}

// staticCluster is a valid STATIC cluster with one endpoint.
func staticCluster() *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 "backend",
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: "backend",
			Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{
				lbEndpoint("127.0.0.1", 20881),
			}}},
		},
	}
}

func lbEndpoint(host string, port uint32) *endpointv3.LbEndpoint {
	return &endpointv3.LbEndpoint{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: socket(host, port)}}}
}

func mustStruct(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestFromClusterStatic(t *testing.T) {
	c := staticCluster()
	c.ConnectTimeout = durationpb.New(250 * time.Millisecond)
	c.LbPolicy = clusterv3.Cluster_LEAST_REQUEST
	c.CircuitBreakers = &clusterv3.CircuitBreakers{PerHostThresholds: []*clusterv3.CircuitBreakers_Thresholds{
		{MaxConnections: wrapperspb.UInt32(16)},
	}}
	labelled := lbEndpoint("10.0.0.2", 20882)
	labelled.LoadBalancingWeight = wrapperspb.UInt32(3)
	labelled.Metadata = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
		"istio":    mustStruct(t, map[string]any{"version": "v1", "zone": "a", "canary": true}),
		"envoy.lb": mustStruct(t, map[string]any{"version": "v2", "shard": 7}),
		"other":    mustStruct(t, map[string]any{"ignored": "yes"}),
	}}
	v6 := lbEndpoint("fe80::1", 9)
	c.LoadAssignment.Endpoints = append(c.LoadAssignment.Endpoints, &endpointv3.LocalityLbEndpoints{
		LbEndpoints: []*endpointv3.LbEndpoint{labelled, v6},
	})

	got, err := FromCluster(c)
	if err != nil {
		t.Fatal(err)
	}
	want := &Cluster{
		Name: "backend",
		Endpoints: []Endpoint{
			{Address: "127.0.0.1:20881", Weight: 1},
			{Address: "10.0.0.2:20882", Weight: 3, Labels: map[string]string{"version": "v2", "zone": "a", "canary": "true", "shard": "7"}},
			{Address: "[fe80::1]:9", Weight: 1},
		},
		LBPolicy:              LeastRequest,
		ConnectTimeout:        250 * time.Millisecond,
		ConnectionsPerHost:    1,
		MaxConnectionsPerHost: 16,
		Limits:                Limits{MaxRetries: DefaultMaxRetries},
		HealthyPanicThreshold: DefaultHealthyPanicThreshold,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestFromClusterDefaultsAndEDS(t *testing.T) {
	eds := &clusterv3.Cluster{Name: "svc", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}, LbPolicy: clusterv3.Cluster_RANDOM}
	got, err := FromCluster(eds)
	if err != nil {
		t.Fatal(err)
	}
	want := &Cluster{Name: "svc", LBPolicy: Random, ConnectTimeout: 5 * time.Second, ConnectionsPerHost: 1, MaxConnectionsPerHost: 1024,
		Limits: Limits{MaxRetries: DefaultMaxRetries}, HealthyPanicThreshold: DefaultHealthyPanicThreshold}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestFromClusterErrors(t *testing.T) {
	tests := []struct {
		name    string
		cluster func(*clusterv3.Cluster)
		want    string
	}{
		{name: "no name", cluster: func(c *clusterv3.Cluster) { c.Name = "" }, want: `cluster "": name: required`},
		{name: "dns", cluster: func(c *clusterv3.Cluster) {
			c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS}
		},
			want: `cluster "backend": type: STRICT_DNS is not supported by Breeze (supported: STATIC, EDS)`},
		{name: "custom type", cluster: func(c *clusterv3.Cluster) {
			c.ClusterDiscoveryType = &clusterv3.Cluster_ClusterType{ClusterType: &clusterv3.Cluster_CustomClusterType{Name: "x"}}
		}, want: `cluster_type: custom cluster types are not supported by Breeze`},
		{name: "cluster provided", cluster: func(c *clusterv3.Cluster) { c.LbPolicy = clusterv3.Cluster_CLUSTER_PROVIDED },
			want: `lb_policy: CLUSTER_PROVIDED is not supported by Breeze (supported: ROUND_ROBIN, RANDOM, LEAST_REQUEST, RING_HASH, MAGLEV)`},
		{name: "zero connect timeout", cluster: func(c *clusterv3.Cluster) { c.ConnectTimeout = durationpb.New(0) },
			want: `connect_timeout: must be positive`},
		{name: "tls", cluster: func(c *clusterv3.Cluster) { c.TransportSocket = &corev3.TransportSocket{Name: "tls"} },
			want: `transport_socket: TLS to upstreams is not supported by Breeze`},
		{name: "high priority threshold", cluster: func(c *clusterv3.Cluster) {
			c.CircuitBreakers = &clusterv3.CircuitBreakers{PerHostThresholds: []*clusterv3.CircuitBreakers_Thresholds{{Priority: corev3.RoutingPriority_HIGH}}}
		}, want: `circuit_breakers.per_host_thresholds[0].priority: HIGH is not supported by Breeze (only DEFAULT)`},
		{name: "zero max connections", cluster: func(c *clusterv3.Cluster) {
			c.CircuitBreakers = &clusterv3.CircuitBreakers{PerHostThresholds: []*clusterv3.CircuitBreakers_Thresholds{{MaxConnections: wrapperspb.UInt32(0)}}}
		}, want: `circuit_breakers.per_host_thresholds[0].max_connections: must be at least 1`},
		{name: "two thresholds", cluster: func(c *clusterv3.Cluster) {
			c.CircuitBreakers = &clusterv3.CircuitBreakers{PerHostThresholds: []*clusterv3.CircuitBreakers_Thresholds{{}, {}}}
		}, want: `circuit_breakers.per_host_thresholds[1]: only one threshold per priority is allowed`},
		{name: "eds with endpoints", cluster: func(c *clusterv3.Cluster) {
			c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}
		},
			want: `load_assignment: only STATIC clusters take inline endpoints; an EDS cluster gets them from the control plane`},
		{name: "assignment for another cluster", cluster: func(c *clusterv3.Cluster) { c.LoadAssignment.ClusterName = "frontend" },
			want: `load_assignment.cluster_name: "frontend" differs from the cluster's name "backend"`},
		{name: "endpoint port zero", cluster: func(c *clusterv3.Cluster) {
			c.LoadAssignment.Endpoints[0].LbEndpoints[0] = lbEndpoint("127.0.0.1", 0)
		}, want: `load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value: required (1-65535)`},
		{name: "endpoint host name", cluster: func(c *clusterv3.Cluster) {
			c.LoadAssignment.Endpoints[0].LbEndpoints[0] = lbEndpoint("provider.local", 1)
		}, want: `load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address: "provider.local" is not an IP address`},
		{name: "endpoint weight zero", cluster: func(c *clusterv3.Cluster) {
			c.LoadAssignment.Endpoints[0].LbEndpoints[0].LoadBalancingWeight = wrapperspb.UInt32(0)
		}, want: `load_assignment.endpoints[0].lb_endpoints[0].load_balancing_weight: must be at least 1`},
		{name: "named endpoint", cluster: func(c *clusterv3.Cluster) {
			c.LoadAssignment.Endpoints[0].LbEndpoints[0].HostIdentifier = &endpointv3.LbEndpoint_EndpointName{EndpointName: "x"}
		}, want: `load_assignment.endpoints[0].lb_endpoints[0].endpoint_name: named endpoints are not supported by Breeze; use endpoint`},
		{name: "endpoint missing", cluster: func(c *clusterv3.Cluster) {
			c.LoadAssignment.Endpoints[0].LbEndpoints[0].HostIdentifier = nil
		}, want: `load_assignment.endpoints[0].lb_endpoints[0].endpoint: required`},
		{name: "failover priority", cluster: func(c *clusterv3.Cluster) { c.LoadAssignment.Endpoints[0].Priority = 1 },
			want: `load_assignment.endpoints[0].priority: only priority 0 is supported by Breeze`},
		{name: "nested label", cluster: func(c *clusterv3.Cluster) {
			c.LoadAssignment.Endpoints[0].LbEndpoints[0].Metadata = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
				"envoy.lb": mustStruct(t, map[string]any{"version": map[string]any{"major": "1"}}),
			}}
		}, want: `load_assignment.endpoints[0].lb_endpoints[0].metadata.filter_metadata["envoy.lb"].version: label values must be strings, numbers or booleans`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := staticCluster()
			tt.cluster(c)
			_, err := FromCluster(c)
			if err == nil {
				t.Fatalf("FromCluster succeeded, want error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error:\n %v\nwant it to contain\n %s", err, tt.want)
			}
		})
	}
}

func TestFromLoadAssignmentSkipsUnusableEndpoints(t *testing.T) {
	healthy, unhealthy, draining, degraded := lbEndpoint("10.0.0.1", 1), lbEndpoint("10.0.0.2", 1), lbEndpoint("10.0.0.3", 1), lbEndpoint("10.0.0.4", 1)
	healthy.HealthStatus = corev3.HealthStatus_HEALTHY
	unhealthy.HealthStatus = corev3.HealthStatus_UNHEALTHY
	draining.HealthStatus = corev3.HealthStatus_DRAINING
	degraded.HealthStatus = corev3.HealthStatus_DEGRADED
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: "svc", Endpoints: []*endpointv3.LocalityLbEndpoints{{
		LbEndpoints: []*endpointv3.LbEndpoint{healthy, unhealthy, draining, degraded},
	}}}
	got, err := FromLoadAssignment(cla)
	if err != nil {
		t.Fatal(err)
	}
	want := []Endpoint{{Address: "10.0.0.1:1", Weight: 1}, {Address: "10.0.0.4:1", Weight: 1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}

	cla.Endpoints[0].LbEndpoints = append(cla.Endpoints[0].LbEndpoints, lbEndpoint("10.0.0.5", 0))
	if _, err := FromLoadAssignment(cla); err == nil || !strings.Contains(err.Error(), `load assignment "svc": endpoints[0].lb_endpoints[4].endpoint.address.socket_address.port_value: required`) {
		t.Errorf("port 0: err = %v", err)
	}
}

func TestFromRouteConfigurationNamesTheTable(t *testing.T) {
	rc := &mpv1.RouteConfiguration{Name: "dubbo-routes", Routes: []*mpv1.Route{clusterRoute("a", "")}}
	_, err := FromRouteConfiguration(rc)
	if err == nil || err.Error() != `route configuration "dubbo-routes": routes[0].route.cluster: required` {
		t.Errorf("err = %v", err)
	}
}
