package xds

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/breeze-mesh/breeze/proxy/config"
)

func table(name string, clusters ...string) *config.RouteTable {
	t := &config.RouteTable{Name: name}
	for _, c := range clusters {
		t.Routes = append(t.Routes, &config.Route{Name: "to-" + c, Cluster: c})
	}
	return t
}

func rdsConfig(name, routes string) *config.Listener {
	return &config.Listener{Name: name, Address: "127.0.0.1:0", Codec: "dubbo", RouteConfigName: routes}
}

func names[T any](items []T, name func(T) string) []string {
	var out []string
	for _, it := range items {
		out = append(out, name(it))
	}
	return out
}

func listenerNames(b *config.Bootstrap) []string {
	return names(b.Listeners, func(l *config.Listener) string { return l.Name })
}

func clusterNames(b *config.Bootstrap) []string {
	return names(b.Clusters, func(c *config.Cluster) string { return c.Name })
}

func TestAssemble(t *testing.T) {
	eps := []config.Endpoint{{Address: "127.0.0.1:20881", Weight: 1}}
	static := &config.Bootstrap{
		Admin:    "127.0.0.1:15000",
		Clusters: []*config.Cluster{{Name: "xds", Endpoints: []config.Endpoint{{Address: "127.0.0.1:15010", Weight: 1}}}},
		Dynamic:  &config.Dynamic{ADSCluster: "xds"},
		Node:     config.Node{ID: "proxy-1", Metadata: map[string]any{"namespace": "shop"}},
	}

	t.Run("complete", func(t *testing.T) {
		s := emptyState()
		s.clusters["a"] = cluster{cfg: &config.Cluster{Name: "a"}, eds: "a"}
		s.endpoints["a"] = eps
		s.listeners["front"] = rdsConfig("front", "front-routes")
		s.routes["front-routes"] = table("front-routes", "a")
		cfg, pending := assemble(static, s, nil, nil)
		if len(pending) != 0 {
			t.Fatalf("pending %q", pending)
		}
		if got := clusterNames(cfg); !slices.Equal(got, []string{"xds", "a"}) {
			t.Errorf("clusters %v", got)
		}
		if !reflect.DeepEqual(cfg.Clusters[1].Endpoints, eps) || s.clusters["a"].cfg.Endpoints != nil {
			t.Errorf("endpoints: assembled %v, accepted cluster %v (must stay untouched)", cfg.Clusters[1].Endpoints, s.clusters["a"].cfg.Endpoints)
		}
		if l := cfg.Listeners[0]; l.Routes != s.routes["front-routes"] || s.listeners["front"].Routes != nil {
			t.Errorf("listener routes: assembled %v, accepted listener %v (must stay untouched)", l.Routes, s.listeners["front"].Routes)
		}
		if cfg.Admin != static.Admin || cfg.Dynamic != static.Dynamic || !reflect.DeepEqual(cfg.Node, static.Node) {
			t.Errorf("admin %q dynamic %v node %v not carried over", cfg.Admin, cfg.Dynamic, cfg.Node)
		}
		if err := config.Validate(cfg); err != nil {
			t.Error(err)
		}
	})

	t.Run("new parts wait", func(t *testing.T) {
		s := emptyState()
		s.clusters["a"] = cluster{cfg: &config.Cluster{Name: "a"}, eds: "a-eds"}
		s.clusters["b"] = cluster{cfg: &config.Cluster{Name: "b"}} // static endpoints: ready
		s.listeners["no-routes"] = rdsConfig("no-routes", "missing")
		s.listeners["to-a"] = rdsConfig("to-a", "to-a")
		s.routes["to-a"] = table("to-a", "b", "a")
		s.listeners["inline"] = &config.Listener{Name: "inline", Address: "127.0.0.1:0", Routes: table("inline", "nowhere")}
		cfg, pending := assemble(static, s, nil, nil)
		want := []string{
			`cluster "a": waiting for its endpoints ("a-eds")`,
			`listener "inline": route configuration "inline" sends to cluster "nowhere", which is not ready`,
			`listener "no-routes": waiting for route configuration "missing"`,
			`listener "to-a": route configuration "to-a" sends to cluster "a", which is not ready`,
		}
		if !slices.Equal(pending, want) {
			t.Errorf("pending:\n%s\nwant:\n%s", strings.Join(pending, "\n"), strings.Join(want, "\n"))
		}
		if len(cfg.Listeners) != 0 || !slices.Equal(clusterNames(cfg), []string{"xds", "b"}) {
			t.Errorf("listeners %v clusters %v; want none and xds, b", listenerNames(cfg), clusterNames(cfg))
		}
	})

	t.Run("waiting listeners keep their previous version and its clusters", func(t *testing.T) {
		prevFront := &config.Listener{Name: "front", Address: "127.0.0.1:20880", Routes: table("front-routes", "old")}
		prev := &config.Bootstrap{
			Listeners: []*config.Listener{prevFront},
			Clusters:  []*config.Cluster{{Name: "xds"}, {Name: "old", Endpoints: eps}},
		}
		s := emptyState()
		// The control plane moved front to cluster "new" and dropped "old"; "new" has no
		// endpoints yet.
		s.clusters["new"] = cluster{cfg: &config.Cluster{Name: "new"}, eds: "new"}
		s.listeners["front"] = rdsConfig("front", "front-routes")
		s.routes["front-routes"] = table("front-routes", "new")
		cfg, pending := assemble(static, s, prev, nil)
		if len(cfg.Listeners) != 1 || cfg.Listeners[0] != prevFront {
			t.Fatalf("listeners %+v, want the previous front", cfg.Listeners)
		}
		if got := clusterNames(cfg); !slices.Equal(got, []string{"xds", "old"}) {
			t.Errorf("clusters %v, want xds and the lingering old", got)
		}
		if err := config.Validate(cfg); err != nil {
			t.Error(err)
		}
		if len(pending) != 2 {
			t.Errorf("pending %q", pending)
		}

		// Endpoints arrive: front moves to "new" and "old" goes.
		s.endpoints["new"] = eps
		cfg, pending = assemble(static, s, cfg, nil)
		if len(pending) != 0 || cfg.Listeners[0].Routes != s.routes["front-routes"] || !slices.Equal(clusterNames(cfg), []string{"xds", "new"}) {
			t.Errorf("after endpoints: pending %q, routes %v, clusters %v", pending, cfg.Listeners[0].Routes, clusterNames(cfg))
		}
	})

	t.Run("a listener that failed keeps its previous version until a new one comes", func(t *testing.T) {
		prevFront := &config.Listener{Name: "front", Address: "127.0.0.1:20880", Routes: table("front-routes", "xds")}
		prev := &config.Bootstrap{Listeners: []*config.Listener{prevFront}, Clusters: static.Clusters}
		s := emptyState()
		moved := rdsConfig("front", "front-routes")
		moved.Address = "127.0.0.1:20990"
		s.listeners["front"] = moved
		s.listeners["new"] = rdsConfig("new", "front-routes")
		s.routes["front-routes"] = table("front-routes", "xds")
		failed := map[string]failure{
			"front": {listener: moved},
			"new":   {listener: rdsConfig("new", "front-routes")}, // an older version: tried again
		}
		cfg, pending := assemble(static, s, prev, failed)
		if len(pending) != 0 || !slices.Equal(listenerNames(cfg), []string{"front", "new"}) || cfg.Listeners[0] != prevFront {
			t.Errorf("pending %q, listeners %+v: want the previous front and the new listener", pending, cfg.Listeners)
		}
	})

	t.Run("static listener with inline routes", func(t *testing.T) {
		withListener := *static
		withListener.Listeners = []*config.Listener{{Name: "static", Address: "127.0.0.1:0", Routes: table("t", "xds")}}
		cfg, pending := assemble(&withListener, emptyState(), nil, nil)
		if len(pending) != 0 || !slices.Equal(listenerNames(cfg), []string{"static"}) {
			t.Errorf("pending %q listeners %v", pending, listenerNames(cfg))
		}
	})
}

func TestDestinations(t *testing.T) {
	rt := &config.RouteTable{Routes: []*config.Route{
		{Cluster: "a", Mirrors: []config.Mirror{{Cluster: "shadow"}}},
		{WeightedClusters: []config.WeightedCluster{{Name: "b"}, {Name: "a"}}},
	}}
	if got := destinations(rt); !slices.Equal(got, []string{"a", "shadow", "b"}) {
		t.Errorf("destinations %v", got)
	}
}

func response(typeURL string, resources ...proto.Message) *discoveryv3.DiscoveryResponse {
	resp := &discoveryv3.DiscoveryResponse{TypeUrl: typeURL, VersionInfo: "1"}
	for _, r := range resources {
		resp.Resources = append(resp.Resources, mustAny(r))
	}
	return resp
}

func TestStateUpdate(t *testing.T) {
	static := &config.Bootstrap{
		Clusters:  []*config.Cluster{{Name: "xds"}},
		Listeners: []*config.Listener{rdsConfig("static", "static-routes")},
	}
	s, err := emptyState().update(clusters, response(ClusterType, edsCluster("a"), edsCluster("b")), static)
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(mapKeys(s.edsNames())); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("EDS names %v", got)
	}
	if got := slices.Sorted(mapKeys(s.rdsNames(static))); !slices.Equal(got, []string{"static-routes"}) {
		t.Errorf("RDS names %v: want the static listener's", got)
	}

	// A named type takes what is subscribed, keeps what the response leaves out, and
	// ignores what nobody asked for.
	s, err = s.update(endpoints, response(EndpointType, assignment("a", "127.0.0.1:1"), assignment("stranger", "127.0.0.1:2")), static)
	if err != nil {
		t.Fatal(err)
	}
	s, err = s.update(endpoints, response(EndpointType, assignment("b", "127.0.0.1:3")), static)
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(mapKeys(s.endpoints)); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("endpoints for %v", got)
	}

	// A cluster leaves: its endpoints go with it.
	next, err := s.update(clusters, response(ClusterType, edsCluster("a")), static)
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(mapKeys(next.endpoints)); !slices.Equal(got, []string{"a"}) {
		t.Errorf("after removing b: endpoints for %v", got)
	}
	if len(s.endpoints) != 2 {
		t.Error("update changed the state it started from")
	}

	// A resource in a Resource envelope (as servers send resources with a TTL).
	wrapped := &discoveryv3.DiscoveryResponse{TypeUrl: ClusterType, Resources: []*anypb.Any{
		mustAny(&discoveryv3.Resource{Name: "c", Resource: mustAny(edsCluster("c"))}),
	}}
	if s, err := s.update(clusters, wrapped, static); err != nil || s.clusters["c"].cfg == nil {
		t.Errorf("wrapped cluster: %v", err)
	}
}

func TestStateUpdateErrors(t *testing.T) {
	static := &config.Bootstrap{Clusters: []*config.Cluster{{Name: "xds"}}}
	noName := edsCluster("")
	tests := []struct {
		name string
		resp *discoveryv3.DiscoveryResponse
		want string
	}{
		{"wrong type", &discoveryv3.DiscoveryResponse{TypeUrl: ClusterType, Resources: []*anypb.Any{mustAny(assignment("a"))}},
			`resources[0]: type "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment" in a response of type "type.googleapis.com/envoy.config.cluster.v3.Cluster"`},
		{"twice", response(ClusterType, edsCluster("a"), edsCluster("a")), `resources[1]: "a" is sent twice in one response`},
		{"no name", response(ClusterType, noName), `resources[0]: the resource has no name`},
		{"replaces a static cluster", response(ClusterType, edsCluster("xds")),
			`cluster "xds": the bootstrap defines a static cluster of this name, which the control plane cannot replace`},
		{"undecodable", &discoveryv3.DiscoveryResponse{TypeUrl: ClusterType, Resources: []*anypb.Any{{TypeUrl: ClusterType, Value: []byte{0xff}}}},
			`resources[0]: cannot decode`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := emptyState().update(clusters, tt.resp, static)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	b := backoff{min: 100 * time.Millisecond, max: 2 * time.Second}
	for i := range 100 {
		step := min(b.min<<min(i, 30), b.max)
		d := b.next()
		if d < step/2 || d > step {
			t.Fatalf("attempt %d: %v outside [%v, %v]", i, d, step/2, step)
		}
	}
	b.reset()
	if d := b.next(); d > b.min {
		t.Errorf("after reset: %v, want at most %v", d, b.min)
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
