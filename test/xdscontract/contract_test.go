package xdscontract

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/breeze-mesh/breeze/control/model"
	"github.com/breeze-mesh/breeze/control/source/file"
	"github.com/breeze-mesh/breeze/control/translate"
	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/filter"

	// The codecs breeze proxy is built with: the conversion checks codec names.
	_ "github.com/breeze-mesh/breeze/protocol/dubbo"
	// The filters the control plane sends, registered as in breeze proxy.
	_ "github.com/breeze-mesh/breeze/proxy/filters/globalratelimit"
	_ "github.com/breeze-mesh/breeze/proxy/filters/istiostats"
	_ "github.com/breeze-mesh/breeze/proxy/filters/localratelimit"
	_ "github.com/breeze-mesh/breeze/proxy/filters/metadataexchange"
)

// goldenCase is the part of control/translate's case.yaml this test reads.
type goldenCase struct {
	Config      []string      `json:"config"`
	AllFeatures bool          `json:"allFeatures"`
	Proxies     []model.Proxy `json:"proxies"`
}

// TestProxyAcceptsTranslation runs every translation golden case and converts each proxy's
// resources as breeze proxy would on receiving them. Proxies whose cases use codecs breeze
// proxy is not built with say so in their metadata (codecs), as real ones would.
func TestProxyAcceptsTranslation(t *testing.T) {
	cases, err := filepath.Glob("../../control/translate/testdata/*/case.yaml")
	if err != nil || len(cases) == 0 {
		t.Fatalf("no translation cases found: %v", err)
	}
	for _, c := range cases {
		dir := filepath.Dir(c)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			data, err := os.ReadFile(c)
			if err != nil {
				t.Fatal(err)
			}
			var gc goldenCase
			if err := yaml.Unmarshal(data, &gc); err != nil {
				t.Fatal(err)
			}
			if len(gc.Config) == 0 {
				gc.Config = []string{"config"}
			}
			var paths []string
			for _, p := range gc.Config {
				paths = append(paths, filepath.Join(dir, p))
			}
			objs, _ := file.New(paths...).Load()
			m := model.Build(objs, model.Options{})
			for _, p := range gc.Proxies {
				p.ApplyDefaults()
				if p.Codecs == nil {
					p.Codecs = []string{"dubbo"}
				}
				t.Run(p.ID, func(t *testing.T) {
					res := translate.ForProxy(m, &p, translate.ProxyFeatures)
					accept(t, res, nodeOf(&p))
					checkFields(t, res)
				})
			}
		})
	}
}

// nodeOf is the bootstrap node a proxy described as p would have: the filters that name the
// proxy's workload (metadata_exchange, istio_stats) read it.
func nodeOf(p *model.Proxy) config.Node {
	md := map[string]any{"namespace": p.Namespace}
	if p.Workload != "" {
		md["workload"] = p.Workload
	}
	if len(p.Labels) > 0 {
		labels := map[string]any{}
		for k, v := range p.Labels {
			labels[k] = v
		}
		md["labels"] = labels
	}
	return config.Node{ID: p.ID, Metadata: md}
}

// accept converts resources the way the proxy's xDS client does, and validates the result
// as one configuration.
func accept(t *testing.T, res *translate.Resources, node config.Node) {
	t.Helper()
	routes := map[string]*config.RouteTable{}
	for _, rc := range res.Routes {
		table, err := config.FromRouteConfiguration(rc)
		if err != nil {
			t.Errorf("route configuration refused: %v", err)
			continue
		}
		routes[rc.GetName()] = table
	}
	endpoints := map[string][]config.Endpoint{}
	for _, cla := range res.LoadAssignments {
		eps, err := config.FromLoadAssignment(cla)
		if err != nil {
			t.Errorf("load assignment refused: %v", err)
			continue
		}
		endpoints[cla.GetClusterName()] = eps
	}
	b := &config.Bootstrap{}
	for _, c := range res.Clusters {
		cl, err := config.FromCluster(c)
		if err != nil {
			t.Errorf("cluster refused: %v", err)
			continue
		}
		cl.Endpoints = endpoints[c.GetName()]
		b.Clusters = append(b.Clusters, cl)
	}
	for _, l := range res.Listeners {
		cl, err := config.FromListener(l)
		if err != nil {
			t.Errorf("listener refused: %v", err)
			continue
		}
		// Build the listener's filters as the proxy does: a configuration the proxy's
		// conversion lets through but a filter refuses (a fill interval under 50ms) is a
		// NACK too.
		shared := filter.NewShared()
		fctx := filter.BuildContext{Listener: cl.Name, Codec: cl.Codec, Direction: filter.DirectionOf(cl.Name), Node: node, Shared: shared}
		for _, f := range cl.Filters {
			if _, err := filter.BuildWithContext(fctx, f.Name, f.Config); err != nil {
				t.Errorf("listener %q: filter %s refused: %v", cl.Name, f.Name, err)
			}
		}
		if err := shared.Close(context.Background()); err != nil {
			t.Errorf("closing the filters' shared objects: %v", err)
		}
		if cl.RouteConfigName == "" {
			t.Errorf("listener %q: routes are inline; the contract says RDS", cl.Name)
		} else if cl.Routes = routes[cl.RouteConfigName]; cl.Routes == nil {
			t.Errorf("listener %q: route configuration %q was not sent", cl.Name, cl.RouteConfigName)
		}
		b.Listeners = append(b.Listeners, cl)
	}
	if err := config.Validate(b); err != nil {
		t.Errorf("configuration refused as a whole:\n%v", err)
	}
}
