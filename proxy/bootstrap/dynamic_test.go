package bootstrap

import (
	"reflect"
	"strings"
	"testing"

	"github.com/breeze-mesh/breeze/proxy/config"
)

const xdsExamplePath = "../../examples/bootstrap/dubbo-xds.yaml"

func TestLoadXDSExample(t *testing.T) {
	got, err := Load(xdsExamplePath)
	if err != nil {
		t.Fatal(err)
	}
	want := &config.Dynamic{
		ADSCluster: "xds",
		Listeners:  true,
		Clusters:   true,
	}
	if !reflect.DeepEqual(got.Dynamic, want) {
		t.Errorf("Dynamic:\n got %+v\nwant %+v", got.Dynamic, want)
	}
	wantNode := config.Node{
		ID:      "greeter-client-1",
		Cluster: "greeter-client",
		Metadata: map[string]any{
			"namespace":            "default",
			"workload":             "greeter-client-1",
			"labels":               map[string]any{"app": "greeter-client"},
			"outbound_port_offset": float64(10000),
		},
	}
	if !reflect.DeepEqual(got.Node, wantNode) {
		t.Errorf("Node:\n got %+v\nwant %+v", got.Node, wantNode)
	}
	if len(got.Listeners) != 0 || len(got.Clusters) != 1 || got.Clusters[0].Endpoints[0].Address != "127.0.0.1:15010" {
		t.Errorf("static part: %+v", got)
	}
}

// dynamicBase is a valid bootstrap with a control plane; the cases below change one thing.
const dynamicBase = `node:
  id: proxy-1
  metadata: {namespace: default, inbound_ports: [20880]}
dynamic_resources:
  ads_config:
    api_type: GRPC
    grpc_services: [{envoy_grpc: {cluster_name: xds}}]
  cds_config: {ads: {}}
static_resources:
  listeners:
  - name: static-rds
    address: {socket_address: {address: 127.0.0.1, port_value: 20880}}
    filter_chains:
    - filters:
      - name: breeze.meta_protocol_proxy
        typed_config:
          "@type": type.googleapis.com/breeze.metaprotocol.v1alpha1.MetaProtocolProxy
          codec: {name: fake}
          rds: {route_config_name: from-control-plane, config_source: {ads: {}, resource_api_version: V3}}
  clusters:
  - name: xds
    load_assignment:
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 15010}}}
`

func TestParseDynamic(t *testing.T) {
	b, err := Parse([]byte(dynamicBase), "bootstrap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d := b.Dynamic
	if d == nil || d.ADSCluster != "xds" || d.Listeners || !d.Clusters || b.Node.ID != "proxy-1" {
		t.Fatalf("Dynamic = %+v, Node = %+v", d, b.Node)
	}
	if ports := b.Node.Metadata["inbound_ports"]; !reflect.DeepEqual(ports, []any{float64(20880)}) {
		t.Errorf("inbound_ports = %#v", ports)
	}
	if l := b.Listeners[0]; l.RouteConfigName != "from-control-plane" || l.Routes != nil {
		t.Errorf("static listener: RouteConfigName %q, Routes %v", l.RouteConfigName, l.Routes)
	}
}

// TestNodeWithoutControlPlane: a static proxy may name itself with a node, for the
// telemetry filters (istio_stats, metadata_exchange) to read its workload from.
func TestNodeWithoutControlPlane(t *testing.T) {
	static := strings.Replace(dynamicBase, "dynamic_resources:\n  ads_config:\n    api_type: GRPC\n    grpc_services: [{envoy_grpc: {cluster_name: xds}}]\n  cds_config: {ads: {}}\n", "", 1)
	static = strings.Replace(static, "rds: {route_config_name: from-control-plane, config_source: {ads: {}, resource_api_version: V3}}", "route_config: {routes: [{route: {cluster: xds}}]}", 1)
	if static == dynamicBase {
		t.Fatal("the test's edit of the bootstrap no longer applies")
	}
	b, err := Parse([]byte(static), "bootstrap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if b.Dynamic != nil || b.Node.ID != "proxy-1" || b.Node.Metadata["inbound_ports"] == nil {
		t.Errorf("Dynamic = %+v, Node = %+v; want no control plane and node proxy-1 with its metadata", b.Dynamic, b.Node)
	}
}

func TestParseDynamicErrors(t *testing.T) {
	tests := []struct {
		name     string
		old, new string
		want     string
	}{
		{name: "delta", old: "api_type: GRPC", new: "api_type: DELTA_GRPC",
			want: `bootstrap.yaml:6: dynamic_resources.ads_config.api_type: DELTA_GRPC is not supported by Breeze (supported values: GRPC)`},
		{name: "no ads_config", old: "  ads_config:\n    api_type: GRPC\n    grpc_services: [{envoy_grpc: {cluster_name: xds}}]\n", new: "",
			want: `bootstrap.yaml:4: dynamic_resources.ads_config: required: Breeze fetches dynamic resources over one aggregated (ADS) stream`},
		{name: "cds from a file", old: "cds_config: {ads: {}}", new: "cds_config: {path_config_source: {path: /tmp/cds.yaml}}",
			want: `bootstrap.yaml:8: dynamic_resources.cds_config.path_config_source: not supported by Breeze (supported fields here: ads, resource_api_version)`},
		{name: "empty cds_config", old: "cds_config: {ads: {}}", new: "cds_config: {resource_api_version: V3}",
			want: `bootstrap.yaml:8: dynamic_resources.cds_config: only ads: {} is supported by Breeze (resources come over the ads_config stream)`},
		{name: "google grpc", old: "{envoy_grpc: {cluster_name: xds}}", new: "{google_grpc: {target_uri: 127.0.0.1:15010, stat_prefix: x}}",
			want: `bootstrap.yaml:7: dynamic_resources.ads_config.grpc_services[0].google_grpc: not supported by Breeze (supported fields here: envoy_grpc)`},
		{name: "no cluster name", old: "{envoy_grpc: {cluster_name: xds}}", new: "{envoy_grpc: {}}",
			want: `bootstrap.yaml:7: dynamic_resources.ads_config.grpc_services[0].envoy_grpc.cluster_name: required: the static cluster holding the control plane's address`},
		{name: "undefined ads cluster", old: "cluster_name: xds", new: "cluster_name: control",
			want: `bootstrap.yaml: dynamic_resources.ads_config: cluster "control" is not defined in static_resources (defined clusters: xds)`},
		{name: "ads cluster without endpoints", old: "    load_assignment:\n      endpoints:\n      - lb_endpoints:\n        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 15010}}}\n", new: "",
			want: `bootstrap.yaml: dynamic_resources.ads_config: cluster "xds" has no endpoints; give it the control plane's address in load_assignment`},
		{name: "no node id", old: "  id: proxy-1\n", new: "",
			want: `bootstrap.yaml:1: node.id: required with dynamic_resources: the control plane tells proxies apart by it`},
		{name: "node locality", old: "  id: proxy-1\n", new: "  id: proxy-1\n  locality: {zone: a}\n",
			want: `bootstrap.yaml:3: node.locality: not supported by Breeze (supported fields here: id, cluster, metadata)`},
		{name: "rds from elsewhere", old: "config_source: {ads: {}, resource_api_version: V3}", new: "config_source: {resource_api_version: V3}",
			want: `bootstrap.yaml:19: static_resources.listeners[0].filter_chains[0].filters[0].typed_config.rds.config_source: ads is required: routes are only fetched over the aggregated xDS stream`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := strings.Replace(dynamicBase, tt.old, tt.new, 1)
			if doc == dynamicBase {
				t.Fatalf("test bug: %q is not in the base document", tt.old)
			}
			cfg, err := Parse([]byte(doc), "bootstrap.yaml")
			if err == nil {
				t.Fatalf("Parse succeeded (%+v), want error:\n%s", cfg, tt.want)
			}
			if err.Error() != tt.want {
				t.Fatalf("error:\n%v\nwant:\n%s", err, tt.want)
			}
		})
	}
}
