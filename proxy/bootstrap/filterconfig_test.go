package bootstrap

import (
	"strings"
	"testing"

	istiostatsv1 "github.com/breeze-mesh/breeze/api/filters/istiostats/v1alpha1"
	mpv1 "github.com/breeze-mesh/breeze/api/metaprotocol/v1alpha1"
)

// filterBootstrap is a bootstrap with one listener whose meta_protocol_filters entry is
// filter (indented to fit).
func filterBootstrap(filter string) string {
	return `static_resources:
  listeners:
  - name: l
    address: {socket_address: {address: 127.0.0.1, port_value: 0}}
    filter_chains:
    - filters:
      - name: breeze.meta_protocol_proxy
        typed_config:
          "@type": type.googleapis.com/breeze.metaprotocol.v1alpha1.MetaProtocolProxy
          codec: {name: dubbo}
          route_config: {routes: [{route: {cluster: c}}]}
          meta_protocol_filters:
` + filter + `
  clusters:
  - name: c
    load_assignment:
      endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 1}}}}]}]
`
}

// TestBuiltInFilterConfigIsCheckedAndConverted: a built-in filter's config is walked (a
// misspelt field is reported with its path) and arrives as its typed message.
func TestBuiltInFilterConfigIsCheckedAndConverted(t *testing.T) {
	good := filterBootstrap(`          - name: breeze.meta_protocol.filters.istio_stats
            config:
              "@type": type.googleapis.com/breeze.filters.istio_stats.v1alpha1.IstioStats
              workload: {name: shop-client}`)
	cfg, err := Parse([]byte(good), "good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, ok := cfg.Listeners[0].Filters[0].Config.(*istiostatsv1.IstioStats)
	if !ok || got.GetWorkload().GetName() != "shop-client" {
		t.Fatalf("filter config %#v, want the IstioStats message", cfg.Listeners[0].Filters[0].Config)
	}

	bad := strings.Replace(good, "workload: {name:", "workload: {nome:", 1)
	_, err = Parse([]byte(bad), "bad.yaml")
	if err == nil || !strings.Contains(err.Error(), "meta_protocol_filters[0].config.workload.nome") {
		t.Fatalf("error %v, want the misspelt field's path", err)
	}
}

// TestOtherFilterConfigsPassThrough: a config type the allow-list does not list is not
// walked: the filter it belongs to checks it when it is built.
func TestOtherFilterConfigsPassThrough(t *testing.T) {
	// RouteConfiguration stands for some other filter's registered config type; its
	// hash_policy would be refused if the loader walked into it.
	doc := filterBootstrap(`          - name: some.other.filter
            config:
              "@type": type.googleapis.com/breeze.metaprotocol.v1alpha1.RouteConfiguration
              routes: [{route: {cluster: c, hash_policy: [x]}}]`)
	cfg, err := Parse([]byte(doc), "other.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg.Listeners[0].Filters[0].Config.(*mpv1.RouteConfiguration); !ok {
		t.Fatalf("filter config %T, want *RouteConfiguration", cfg.Listeners[0].Filters[0].Config)
	}
}
