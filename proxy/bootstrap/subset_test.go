package bootstrap

import (
	"reflect"
	"strings"
	"testing"

	"github.com/breeze-mesh/breeze/proxy/config"
)

// subsetBootstrap is the subset example of docs/bootstrap.md: one cluster with labelled
// endpoints and lb_subset_config, routes choosing subsets with metadata_match.
const subsetBootstrap = `
static_resources:
  listeners:
  - name: in
    address: {socket_address: {address: 127.0.0.1, port_value: 0}}
    filter_chains:
    - filters:
      - name: breeze.meta_protocol_proxy
        typed_config:
          "@type": type.googleapis.com/breeze.metaprotocol.v1alpha1.MetaProtocolProxy
          codec: {name: beating}
          route_config:
            routes:
            - route:
                metadata_match: {filter_metadata: {envoy.lb: {zone: a}}}
                weighted_clusters:
                  clusters:
                  - {name: greeter, weight: 90, metadata_match: {filter_metadata: {envoy.lb: {version: v1}}}}
                  - {name: greeter, weight: 10, metadata_match: {filter_metadata: {envoy.lb: {version: v2}}}}
  clusters:
  - name: greeter
    lb_subset_config:
      fallback_policy: DEFAULT_SUBSET
      default_subset: {version: v1}
      subset_selectors: [{keys: [version, zone]}]
    load_assignment:
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 10.0.0.1, port_value: 20880}}}
          metadata: {filter_metadata: {envoy.lb: {version: v1, zone: a}}}
        - endpoint: {address: {socket_address: {address: 10.0.0.2, port_value: 20880}}}
          metadata: {filter_metadata: {envoy.lb: {version: v2, zone: a}}}
`

func TestLoadSubsetFields(t *testing.T) {
	b, err := Parse([]byte(subsetBootstrap), "bootstrap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ws := b.Listeners[0].Routes.Routes[0].WeightedClusters
	if ws[0].MetadataMatch.Labels["version"] != "v1" || ws[1].MetadataMatch.Labels["version"] != "v2" || ws[1].MetadataMatch.Labels["zone"] != "a" {
		t.Errorf("weighted clusters: %+v %+v", ws[0].MetadataMatch, ws[1].MetadataMatch)
	}
	want := &config.SubsetConfig{Selectors: [][]string{{"version", "zone"}}, Fallback: config.FallbackDefaultSubset, DefaultSubset: map[string]string{"version": "v1"}}
	if got := b.Clusters[0].Subsets; !reflect.DeepEqual(got, want) {
		t.Errorf("subsets: %+v, want %+v", got, want)
	}
}

func TestSubsetFieldsRefused(t *testing.T) {
	for _, tt := range []struct{ old, new, want string }{
		{"fallback_policy: DEFAULT_SUBSET", "fallback_policy: KEYS_SUBSET",
			`lb_subset_config.fallback_policy: unknown value "KEYS_SUBSET" (values: NO_FALLBACK, ANY_ENDPOINT, DEFAULT_SUBSET)`},
		{"[{keys: [version, zone]}]", "[{keys: [version], single_host_per_subset: true}]", `subset_selectors[0].single_host_per_subset: not supported by Breeze`},
		{"fallback_policy: DEFAULT_SUBSET", "panic_mode_any: true", `lb_subset_config.panic_mode_any: not supported by Breeze`},
		{"metadata_match: {filter_metadata: {envoy.lb: {zone: a}}}", "metadata_match: {filter_metadata: {istio: {zone: a}}}",
			`metadata_match.filter_metadata.istio: not supported by Breeze (supported keys here: envoy.lb)`},
	} {
		_, err := Parse([]byte(strings.Replace(subsetBootstrap, tt.old, tt.new, 1)), "bootstrap.yaml")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s → %s: error %v\nwant it to contain %s", tt.old, tt.new, err, tt.want)
		}
	}
}
