package bootstrap

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/config"
)

// No real codec is linked into this package's tests; these stand in for them.
type fakeCodec struct{ protocol.Codec }

func init() {
	for _, name := range []string{"dubbo", "fake"} {
		protocol.Register(protocol.Registration{Name: name, New: func(protocol.Options) protocol.Codec { return fakeCodec{} }})
	}
}

const examplePath = "../../examples/bootstrap/dubbo-static.yaml"

func TestLoadExample(t *testing.T) {
	got, err := Load(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	regex, err := config.CompileMatchRegex("sayHello.*")
	if err != nil {
		t.Fatal(err)
	}
	want := &config.Bootstrap{
		Admin: "127.0.0.1:15000",
		Listeners: []*config.Listener{{
			Name:         "dubbo-outbound",
			Address:      "127.0.0.1:20880",
			StatPrefix:   "dubbo-outbound",
			Codec:        "dubbo",
			MaxFrameSize: 8388608,
			IdleTimeout:  300 * time.Second,
			Routes: &config.RouteTable{Name: "dubbo-routes", Routes: []*config.Route{
				{
					Name: "to-v2",
					Match: []config.Matcher{
						{Key: "version", Kind: config.MatchExact, Value: "2.0.0"},
						{Key: "method", Kind: config.MatchPrefix, Value: "say"},
						{Key: "method", Kind: config.MatchRegex, Value: "sayHello.*", Regex: regex},
						{Key: "interface", Kind: config.MatchPresent},
						{Key: "env", Kind: config.MatchExact, Value: "test", Invert: true},
					},
					Cluster:          "dubbo-v2",
					Timeout:          5 * time.Second,
					RequestMutation:  protocol.Mutation{{Key: "x-routed-by", Value: "breeze"}},
					ResponseMutation: protocol.Mutation{{Key: "x-served-by", Value: "v2"}},
				},
				{
					Name:             "default",
					WeightedClusters: []config.WeightedCluster{{Name: "dubbo-v1", Weight: 80}, {Name: "dubbo-v2", Weight: 20}},
				},
			}},
		}},
		Clusters: []*config.Cluster{
			{
				Name:                  "dubbo-v1",
				Endpoints:             []config.Endpoint{{Address: "127.0.0.1:20881", Weight: 1, Labels: map[string]string{"version": "v1"}}},
				LBPolicy:              config.RoundRobin,
				ConnectTimeout:        time.Second,
				ConnectionsPerHost:    1,
				MaxConnectionsPerHost: 64,
				Limits:                config.Limits{MaxRetries: config.DefaultMaxRetries},
				HealthyPanicThreshold: config.DefaultHealthyPanicThreshold,
			},
			{
				Name:                  "dubbo-v2",
				Endpoints:             []config.Endpoint{{Address: "127.0.0.1:20882", Weight: 1, Labels: map[string]string{"version": "v2"}}},
				LBPolicy:              config.LeastRequest,
				ConnectTimeout:        time.Second,
				ConnectionsPerHost:    1,
				MaxConnectionsPerHost: 1024,
				Limits:                config.Limits{MaxRetries: config.DefaultMaxRetries},
				HealthyPanicThreshold: config.DefaultHealthyPanicThreshold,
			},
		},
	}

	// Compiled regexes compare by their source; the rest compares deeply.
	gotMatch, wantMatch := got.Listeners[0].Routes.Routes[0].Match, want.Listeners[0].Routes.Routes[0].Match
	for i := range wantMatch {
		if i < len(gotMatch) && (gotMatch[i].Regex == nil) != (wantMatch[i].Regex == nil) ||
			gotMatch[i].Regex != nil && gotMatch[i].Regex.String() != wantMatch[i].Regex.String() {
			t.Errorf("matcher %d: regex %v, want %v", i, gotMatch[i].Regex, wantMatch[i].Regex)
		}
		if i < len(gotMatch) {
			gotMatch[i].Regex = nil
		}
		wantMatch[i].Regex = nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load:\n got %+v\nwant %+v", got, want)
		for i := range want.Listeners[0].Routes.Routes {
			t.Errorf("route %d:\n got %+v\nwant %+v", i, got.Listeners[0].Routes.Routes[i], want.Listeners[0].Routes.Routes[i])
		}
		for i := range want.Clusters {
			t.Errorf("cluster %d:\n got %+v\nwant %+v", i, got.Clusters[i], want.Clusters[i])
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.yaml")
	_, err := Load(path)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Errorf("err = %v, want a not-exist error naming %s", err, path)
	}
}

// base is a small valid bootstrap; the error cases each change one thing in it. Line
// numbers in the expected errors refer to this text.
const base = `static_resources:
  listeners:
  - name: front
    address: {socket_address: {address: 127.0.0.1, port_value: 20880}}
    filter_chains:
    - filters:
      - name: breeze.meta_protocol_proxy
        typed_config:
          "@type": type.googleapis.com/breeze.metaprotocol.v1alpha1.MetaProtocolProxy
          codec: {name: fake}
          route_config:
            routes:
            - name: first
              match:
                metadata: [{name: method, exact: sayHello}]
              route: {cluster: backend}
            - name: second
              route: {cluster: backend}
  clusters:
  - name: backend
    load_assignment:
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 20881}}}
`

// proxyPath is the path of the meta-protocol proxy's config in base.
const proxyPath = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config"

func TestParseBase(t *testing.T) {
	b, err := Parse([]byte(base), "bootstrap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Listeners) != 1 || len(b.Clusters) != 1 || b.Admin != "" {
		t.Fatalf("got %+v", b)
	}
	if l := b.Listeners[0]; l.StatPrefix != "front" || l.MaxFrameSize != protocol.DefaultMaxFrameSize || len(l.Routes.Routes) != 2 {
		t.Errorf("listener %+v", l)
	}
	if c := b.Clusters[0]; c.ConnectTimeout != 5*time.Second || c.MaxConnectionsPerHost != 1024 || len(c.Endpoints) != 1 {
		t.Errorf("cluster %+v", c)
	}
}

// TestParseAcceptedSpellings covers inputs that look unusual but are valid.
func TestParseAcceptedSpellings(t *testing.T) {
	tests := []struct {
		name     string
		old, new string
		check    func(*testing.T, *config.Bootstrap)
	}{
		{
			name: "camelCase JSON names",
			old:  "address: {socket_address: {address: 127.0.0.1, port_value: 20880}}",
			new:  "address: {socketAddress: {address: 127.0.0.1, portValue: 20881}}",
			check: func(t *testing.T, b *config.Bootstrap) {
				if b.Listeners[0].Address != "127.0.0.1:20881" {
					t.Errorf("address %q", b.Listeners[0].Address)
				}
			},
		},
		{
			name: "Aeraki codec and filter names",
			old:  "      - name: breeze.meta_protocol_proxy",
			new:  "      - name: aeraki.meta_protocol_proxy",
			check: func(t *testing.T, b *config.Bootstrap) {
				if b.Listeners[0].Codec != "fake" {
					t.Errorf("codec %q", b.Listeners[0].Codec)
				}
			},
		},
		{
			name: "integers as strings and filters with well-known config types",
			old:  "codec: {name: fake}",
			new: `codec: {name: aeraki.meta_protocol.codec.fake}
          max_frame_size: "4096"
          meta_protocol_filters:
          - name: delay
            config: {"@type": type.googleapis.com/google.protobuf.Duration, value: 0.5s}
          - name: aeraki.meta_protocol.filters.router`,
			check: func(t *testing.T, b *config.Bootstrap) {
				l := b.Listeners[0]
				if l.MaxFrameSize != 4096 || len(l.Filters) != 1 || l.Filters[0].Name != "delay" || l.Filters[0].Config == nil {
					t.Errorf("listener %+v", l)
				}
			},
		},
		{
			name: "an empty document section",
			old:  "static_resources:",
			new:  "admin: {address: {socket_address: {address: \"::1\", port_value: 15000}}}\nstatic_resources:",
			check: func(t *testing.T, b *config.Bootstrap) {
				if b.Admin != "[::1]:15000" {
					t.Errorf("admin %q", b.Admin)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := strings.Replace(base, tt.old, tt.new, 1)
			if doc == base {
				t.Fatalf("test bug: %q is not in the base document", tt.old)
			}
			b, err := Parse([]byte(doc), "bootstrap.yaml")
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, b)
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name     string
		old, new string // base with old replaced by new; old "" means new is the whole document
		want     string // the whole error message
	}{
		// YAML syntax.
		{name: "bad indentation", old: "    filter_chains:", new: "   filter_chains:",
			want: `bootstrap.yaml:4: invalid YAML: did not find expected key`},
		{name: "tab indentation", old: "  clusters:", new: "\tclusters:",
			want: `bootstrap.yaml:19: invalid YAML: found character that cannot start any token`},
		{name: "duplicate key", old: "  - name: backend", new: "  - name: backend\n    name: other",
			want: `bootstrap.yaml:21: invalid YAML: key "name" already set in map`},
		{name: "empty document", old: "", new: "# nothing here\n",
			want: `bootstrap.yaml: the document is empty`},
		{name: "not a mapping", old: "", new: "- a\n- b\n",
			want: `bootstrap.yaml:1: expected a mapping (a Bootstrap), got a list`},

		// Unknown fields and types, with suggestions.
		{name: "misspelt field", old: "              match:\n                metadata:", new: "              match:\n                metdata:",
			want: `bootstrap.yaml:15: ` + proxyPath + `.route_config.routes[0].match.metdata: unknown field (did you mean "metadata"?)`},
		{name: "camelCase misspelt field", old: "codec: {name: fake}", new: "codec: {name: fake}\n          statPrefx: x",
			want: `bootstrap.yaml:11: ` + proxyPath + `.statPrefx: unknown field (did you mean "stat_prefix"?)`},
		{name: "unrelated field", old: "route: {cluster: backend}\n            - name: second", new: "route: {cluster: backend, colour: blue}\n            - name: second",
			want: `bootstrap.yaml:16: ` + proxyPath + `.route_config.routes[0].route.colour: unknown field (supported fields here: cluster, weighted_clusters, timeout, hash_policy, retry_policy, request_mirror_policies, metadata_match)`},
		{name: "several unknown fields in document order", old: "  - name: backend", new: "  - name: backend\n    lb_polcy: RANDOM\n    conect_timeout: 1s",
			want: "bootstrap.yaml:21: static_resources.clusters[0].lb_polcy: unknown field (did you mean \"lb_policy\"?)\n" +
				"bootstrap.yaml:22: static_resources.clusters[0].conect_timeout: unknown field (did you mean \"connect_timeout\"?)"},
		{name: "misspelt type", old: "MetaProtocolProxy\n", new: "MetaProtocolProxi\n",
			want: `bootstrap.yaml:9: ` + proxyPath + `.@type: unknown type "type.googleapis.com/breeze.metaprotocol.v1alpha1.MetaProtocolProxi" (did you mean "type.googleapis.com/breeze.metaprotocol.v1alpha1.MetaProtocolProxy"?)`},
		{name: "missing type", old: "          \"@type\": type.googleapis.com/breeze.metaprotocol.v1alpha1.MetaProtocolProxy\n", new: "",
			want: `bootstrap.yaml:8: ` + proxyPath + `: missing "@type" (e.g. "@type": type.googleapis.com/breeze.metaprotocol.v1alpha1.MetaProtocolProxy)`},
		{name: "misspelt enum value", old: "  - name: backend", new: "  - name: backend\n    lb_policy: LEAST_REQUST",
			want: `bootstrap.yaml:21: static_resources.clusters[0].lb_policy: unknown value "LEAST_REQUST" (did you mean "LEAST_REQUEST"?)`},

		// Values of the wrong shape.
		{name: "number for a string", old: "exact: sayHello", new: "exact: 2",
			want: `bootstrap.yaml:15: ` + proxyPath + `.route_config.routes[0].match.metadata[0].exact: expected a string, got the number 2 (quote it)`},
		{name: "negative port", old: "port_value: 20880", new: "port_value: -1",
			want: `bootstrap.yaml:4: static_resources.listeners[0].address.socket_address.port_value: expected an integer from 0 to 4294967295, got the number -1`},
		{name: "scalar for a list", old: "route: {cluster: backend}\n            - name: second", new: "route: {cluster: backend, hash_policy: user}\n            - name: second",
			want: `bootstrap.yaml:16: ` + proxyPath + `.route_config.routes[0].route.hash_policy: expected a list, got the string "user"`},
		{name: "duration in minutes", old: "  - name: backend", new: "  - name: backend\n    connect_timeout: 1m",
			want: `bootstrap.yaml:21: static_resources.clusters[0].connect_timeout: invalid duration "1m" (write it in seconds: "60s")`},
		{name: "duration as a number", old: "codec: {name: fake}", new: "codec: {name: fake}\n          idle_timeout: 300",
			want: `bootstrap.yaml:11: ` + proxyPath + `.idle_timeout: expected a duration such as "5s", got the number 300`},
		{name: "two destinations", old: "route: {cluster: backend}\n            - name: second", new: "route: {cluster: backend, weighted_clusters: {clusters: [{name: backend, weight: 1}]}}\n            - name: second",
			want: `bootstrap.yaml:16: ` + proxyPath + `.route_config.routes[0].route.weighted_clusters: cannot be set together with "cluster" (only one of cluster, weighted_clusters)`},
		{name: "field set under both names", old: "  - name: backend", new: "  - name: backend\n    lb_policy: RANDOM\n    lbPolicy: RANDOM",
			want: `bootstrap.yaml:21: static_resources.clusters[0].lb_policy: set twice (also as "lbPolicy")`},

		// Fields Envoy has and Breeze does not implement.
		{name: "http health check", old: "  - name: backend", new: "  - name: backend\n    health_checks: [{timeout: 1s, interval: 1s, unhealthy_threshold: 1, healthy_threshold: 1, http_health_check: {path: /}}]",
			want: `bootstrap.yaml:21: static_resources.clusters[0].health_checks[0].http_health_check: not supported by Breeze (supported fields here: timeout, interval, interval_jitter, unhealthy_threshold, healthy_threshold, tcp_health_check, custom_health_check)`},
		{name: "listener filters", old: "    filter_chains:", new: "    listener_filters: [{name: envoy.filters.listener.tls_inspector}]\n    filter_chains:",
			want: `bootstrap.yaml:5: static_resources.listeners[0].listener_filters: not supported by Breeze (supported fields here: name, address, filter_chains)`},
		{name: "eds in a static file", old: "  - name: backend", new: "  - name: backend\n    type: EDS",
			want: `bootstrap.yaml:21: static_resources.clusters[0].type: EDS is not supported by Breeze (supported values: STATIC)`},
		{name: "dynamic resources without a server", old: "static_resources:", new: "dynamic_resources: {ads_config: {api_type: GRPC}}\nstatic_resources:",
			want: `bootstrap.yaml:1: dynamic_resources.ads_config.grpc_services: exactly one gRPC service (the control plane) is supported, got 0`},
		{name: "tls on a cluster", old: "  - name: backend", new: "  - name: backend\n    transport_socket: {name: envoy.transport_sockets.tls}",
			want: `bootstrap.yaml:21: static_resources.clusters[0].transport_socket: not supported by Breeze (supported fields here: name, type, connect_timeout, lb_policy, load_assignment, circuit_breakers, ring_hash_lb_config, maglev_lb_config, least_request_lb_config, common_lb_config, outlier_detection, health_checks, common_http_protocol_options, upstream_connection_options, lb_subset_config)`},
		{name: "rds alone", old: "          route_config:\n            routes:\n            - name: first\n              match:\n                metadata: [{name: method, exact: sayHello}]\n              route: {cluster: backend}\n            - name: second\n              route: {cluster: backend}\n",
			new:  "          rds: {route_config_name: dubbo-routes}\n",
			want: `bootstrap.yaml:11: ` + proxyPath + `.rds: routes over RDS need a control plane (dynamic_resources.ads_config); without one, give the routes inline in route_config`},
		{name: "codec config", old: "codec: {name: fake}", new: "codec: {name: fake, config: {\"@type\": type.googleapis.com/google.protobuf.Empty, value: {}}}",
			want: `bootstrap.yaml:10: ` + proxyPath + `.codec.config: not supported by Breeze (supported fields here: name)`},
		{name: "label namespace", old: "port_value: 20881}}}", new: "port_value: 20881}}}\n          metadata: {filter_metadata: {envoy.lbb: {version: v1}}}",
			want: `bootstrap.yaml:25: static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].metadata.filter_metadata["envoy.lbb"]: not supported by Breeze (supported keys here: envoy.lb, istio)`},
		{name: "other filter config type", old: "", new: `static_resources:
  listeners:
  - name: front
    filter_chains:
    - filters:
      - name: breeze.meta_protocol_proxy
        typed_config: {"@type": type.googleapis.com/breeze.metaprotocol.v1alpha1.Codec, name: fake}
`,
			want: `bootstrap.yaml:7: static_resources.listeners[0].filter_chains[0].filters[0].typed_config.@type: type.googleapis.com/breeze.metaprotocol.v1alpha1.Codec is not supported by Breeze here (supported: breeze.metaprotocol.v1alpha1.MetaProtocolProxy)`},

		// Conversion: codecs, regexes, weights, names.
		{name: "unknown codec", old: "codec: {name: fake}", new: "codec: {name: thrift}",
			want: `bootstrap.yaml:10: ` + proxyPath + `.codec.name: unknown codec "thrift" (registered: beating, dubbo, fake)`},
		{name: "bad regex", old: "exact: sayHello", new: `safe_regex: "say("`,
			want: "bootstrap.yaml:15: " + proxyPath + ".route_config.routes[0].match.metadata[0].safe_regex: invalid regular expression \"say(\": error parsing regexp: missing closing ): `say(`"},
		{name: "zero weights", old: "route: {cluster: backend}\n            - name: second", new: "route: {weighted_clusters: {clusters: [{name: backend, weight: 0}]}}\n            - name: second",
			want: `bootstrap.yaml:16: ` + proxyPath + `.route_config.routes[0].route.weighted_clusters.clusters: weights must not all be zero`},
		{name: "duplicate route name", old: "- name: second", new: "- name: first",
			want: `bootstrap.yaml:17: ` + proxyPath + `.route_config.routes[1].name: route name "first" is already used by routes[0]`},
		{name: "host name endpoint", old: "address: 127.0.0.1, port_value: 20881", new: "address: provider.local, port_value: 20881",
			want: `bootstrap.yaml:24: static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address: "provider.local" is not an IP address (Breeze does not resolve host names)`},

		// Checks across resources.
		{name: "undefined cluster", old: "- name: second\n              route: {cluster: backend}", new: "- name: second\n              route: {cluster: dubbo-v3}",
			want: `bootstrap.yaml: listener "front": route "second": cluster "dubbo-v3" is not defined (defined clusters: backend)`},
		{name: "duplicate cluster", old: "  clusters:\n", new: "  clusters:\n  - name: backend\n",
			want: `bootstrap.yaml: cluster "backend" is defined more than once`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := tt.new
			if tt.old != "" {
				doc = strings.Replace(base, tt.old, tt.new, 1)
				if doc == base {
					t.Fatalf("test bug: %q is not in the base document", tt.old)
				}
			}
			cfg, err := Parse([]byte(doc), "bootstrap.yaml")
			if err == nil {
				t.Fatalf("Parse succeeded (%+v), want error:\n%s", cfg, tt.want)
			}
			if err.Error() != tt.want {
				t.Fatalf("error:\n%v\nwant:\n%s", err, tt.want)
			}
			var be *Error
			if !errors.As(err, &be) || be.Source != "bootstrap.yaml" || len(be.Problems) == 0 {
				t.Errorf("error is %#v, want *Error with problems", err)
			}
		})
	}
}

func TestParseListsAtMostMaxProblems(t *testing.T) {
	var doc strings.Builder
	doc.WriteString("static_resources:\n  clusters:\n")
	for i := range maxProblems + 5 {
		fmt.Fprintf(&doc, "  - {name: c%d, colour: blue}\n", i)
	}
	_, err := Parse([]byte(doc.String()), "many.yaml")
	var be *Error
	if !errors.As(err, &be) {
		t.Fatalf("err = %v, want *Error", err)
	}
	if len(be.Problems) != maxProblems+1 {
		t.Fatalf("%d problems, want %d and a note:\n%v", len(be.Problems), maxProblems, err)
	}
	if first := be.Problems[0]; first.Line != 3 || first.Path != "static_resources.clusters[0].colour" {
		t.Errorf("first problem %+v, want line 3, clusters[0].colour", first)
	}
	if last := be.Problems[maxProblems]; last.Message != "more problems not shown (only the first 20 are listed)" {
		t.Errorf("last problem %+v", last)
	}
}
