package xds

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	dto "github.com/prometheus/client_model/go"

	mpv1 "github.com/breeze-mesh/breeze/api/metaprotocol/v1alpha1"
	"github.com/breeze-mesh/breeze/proxy/config"
)

// serveTagged gives cp one listener "dubbo" (any free port) whose routes send everything to
// cluster "greeter" (the upstream), tagging requests with tag.
func serveTagged(cp *controlPlane, tag string) {
	cp.set(ClusterType, edsCluster("greeter"))
	cp.set(EndpointType, assignment("greeter", upstream.Addr()))
	cp.set(ListenerType, rdsListener("dubbo", "127.0.0.1:0", "dubbo-routes"))
	cp.set(RouteType, taggedRoutes("dubbo-routes", "greeter", tag))
}

// TestRouteUpdateReachesExistingConnection: new route tables apply to the next request on a
// connection opened before them, which stays open; each update is ACKed.
func TestRouteUpdateReachesExistingConnection(t *testing.T) {
	cp := startControlPlane(t, "127.0.0.1:0")
	serveTagged(cp, "one")
	p := startProxy(t, cp, nil)
	p.waitReady(t)

	conn := p.dial(t, "dubbo")
	if tag := routeTag(t, conn); tag != "one" {
		t.Fatalf("first request tagged %q, want one", tag)
	}
	for _, tag := range []string{"two", "three", "four"} {
		cp.set(RouteType, taggedRoutes("dubbo-routes", "greeter", tag))
		waitFor(t, "route table "+tag+" in use on the existing connection", func() error {
			if got := routeTag(t, conn); got != tag {
				return fmt.Errorf("request tagged %q", got)
			}
			return nil
		})
		waitFor(t, "route table "+tag+" ACKed", func() error {
			if v := cp.lastSent(RouteType); !cp.acked(RouteType, v) {
				return fmt.Errorf("version %q not ACKed", v)
			}
			return nil
		})
	}
	if n := gauge(t, p, "breeze_listener_downstream_connections", "listener", "dubbo"); n != 1 {
		t.Errorf("%v downstream connections, want the one opened before the updates", n)
	}
	if got := p.client.Status().Resources[routes].Version; got != cp.lastSent(RouteType) {
		t.Errorf("status shows route version %q, want %q", got, cp.lastSent(RouteType))
	}
	if n := counter(t, p, "breeze_xds_updates_total", "type", "routes", "result", "rejected"); n != 0 {
		t.Errorf("%v route updates rejected, want 0", n)
	}
}

// TestInvalidUpdatesAreNACKed: a resource the proxy cannot run is NACKed with a message
// naming the resource and the field; the last good configuration keeps routing, and the
// next valid update is applied.
func TestInvalidUpdatesAreNACKed(t *testing.T) {
	cp := startControlPlane(t, "127.0.0.1:0")
	serveTagged(cp, "good")
	p := startProxy(t, cp, nil)
	p.waitReady(t)
	conn := p.dial(t, "dubbo")

	badRoutes := taggedRoutes("dubbo-routes", "greeter", "bad")
	badRoutes.Routes[0].Match = &mpv1.RouteMatch{Metadata: []*mpv1.MetadataMatcher{{
		Name: "method", MatchSpecifier: &mpv1.MetadataMatcher_SafeRegex{SafeRegex: "say("},
	}}}
	badCluster := edsCluster("greeter")
	badCluster.LbPolicy = clusterv3.Cluster_CLUSTER_PROVIDED
	// The upstream's own port is taken: the listener cannot bind it.
	clash := rdsListener("clash", upstream.Addr(), "clash-routes")

	cases := []struct {
		name    string
		typeURL string
		push    func()
		want    string
	}{
		{"route table with a bad regex", RouteType, func() { cp.set(RouteType, badRoutes) },
			`route configuration "dubbo-routes": routes[0].match.metadata[0].safe_regex: invalid regular expression "say("`},
		{"cluster with an unsupported policy", ClusterType, func() { cp.set(ClusterType, badCluster) },
			`cluster "greeter": lb_policy: CLUSTER_PROVIDED is not supported by Breeze`},
		// The listener is accepted and waits for its routes; when they arrive it cannot
		// bind: it is left out, the rest applies, and the route response is NACKed.
		{"listener on a port in use", RouteType, func() {
			cp.set(RouteType, taggedRoutes("dubbo-routes", "greeter", "good"), taggedRoutes("clash-routes", "greeter", "clash"))
			cp.set(ListenerType, rdsListener("dubbo", "127.0.0.1:0", "dubbo-routes"), clash)
		}, `listener "clash": listen tcp ` + upstream.Addr()},
	}
	for i, tc := range cases {
		before := len(cp.nacks(tc.typeURL))
		versions := p.client.Status().Resources
		tc.push()
		waitFor(t, tc.name+": NACK", func() error {
			nacks := cp.nacks(tc.typeURL)
			if len(nacks) == before {
				return fmt.Errorf("no NACK yet")
			}
			if msg := nacks[len(nacks)-1].GetErrorDetail().GetMessage(); !strings.Contains(msg, tc.want) {
				t.Fatalf("%s: NACK says %q, want it to contain %q", tc.name, msg, tc.want)
			}
			return nil
		})
		if tag := routeTag(t, conn); tag != "good" {
			t.Errorf("%s: after the NACK, requests are tagged %q, want good (the last good config)", tc.name, tag)
		}
		if k, _ := kindOf(tc.typeURL); i < 2 && p.client.Status().Resources[k].Version != versions[k].Version {
			t.Errorf("%s: status version moved from %q to %q", tc.name, versions[k].Version, p.client.Status().Resources[k].Version)
		}
	}
	st := p.client.Status()
	if r := st.Resources[routes]; r.Rejected == nil || !strings.Contains(r.Rejected.Error, `listener "clash"`) {
		t.Errorf("route status %+v, want the rejection", r)
	}
	if r := st.Resources[clusters]; r.Rejected == nil || !strings.Contains(r.Rejected.Error, "lb_policy") {
		t.Errorf("cluster status %+v, want the rejection", r)
	}
	if len(st.Failed) != 1 || !strings.Contains(st.Failed[0], `listener "clash": listen tcp`) {
		t.Errorf("failed listeners %q, want clash", st.Failed)
	}
	if p.srv.ListenerAddr("clash") != nil {
		t.Error("the listener that cannot bind runs")
	}
	// The route subscription still names every table the listener response named, the
	// rejected listener's included: a go-control-plane server in ADS mode answers nothing
	// less.
	waitFor(t, "route subscription covering the rejected listener's table", func() error {
		got := cp.lastRequest(RouteType).GetResourceNames()
		if !slices.Equal(got, []string{"clash-routes", "dubbo-routes"}) {
			return fmt.Errorf("route names %q", got)
		}
		return nil
	})
	for k, want := range map[string]float64{"routes": 2, "clusters": 1, "listeners": 0} {
		if n := counter(t, p, "breeze_xds_updates_total", "type", k, "result", "rejected"); n != want {
			t.Errorf("%v %s updates counted as rejected, want %v", n, k, want)
		}
	}

	// The listener that cannot run does not hold back the others' updates.
	cp.set(RouteType, taggedRoutes("dubbo-routes", "greeter", "still-updating"), taggedRoutes("clash-routes", "greeter", "clash"))
	waitFor(t, "route update while a listener cannot run", func() error {
		if tag := routeTag(t, conn); tag != "still-updating" {
			return fmt.Errorf("request tagged %q", tag)
		}
		return nil
	})

	// Valid resources again: applied.
	cp.set(ListenerType, rdsListener("dubbo", "127.0.0.1:0", "dubbo-routes"))
	cp.set(ClusterType, edsCluster("greeter"))
	cp.set(RouteType, taggedRoutes("dubbo-routes", "greeter", "fixed"))
	waitFor(t, "the fixed route table in use", func() error {
		if tag := routeTag(t, conn); tag != "fixed" {
			return fmt.Errorf("request tagged %q", tag)
		}
		return nil
	})
}

// TestControlPlaneRestart: while the control plane is down the proxy keeps serving its last
// configuration; once it is back (with new state, and versions starting over) the proxy
// reconnects and runs the new state.
func TestControlPlaneRestart(t *testing.T) {
	cp := startControlPlane(t, "127.0.0.1:0")
	serveTagged(cp, "before")
	p := startProxy(t, cp, nil)
	p.waitReady(t)
	conn := p.dial(t, "dubbo")
	if tag := routeTag(t, conn); tag != "before" {
		t.Fatalf("request tagged %q, want before", tag)
	}

	cp.stop()
	waitFor(t, "stream seen lost", func() error {
		if p.client.Status().Connected {
			return fmt.Errorf("still connected")
		}
		return nil
	})
	for range 20 {
		if tag := routeTag(t, conn); tag != "before" {
			t.Fatalf("without a control plane, request tagged %q, want before", tag)
		}
	}
	if err := p.client.Ready(); err != nil {
		t.Errorf("no longer ready without a control plane: %v", err)
	}

	restarted := startControlPlane(t, cp.addr)
	serveTagged(restarted, "after")
	waitFor(t, "resync with the restarted control plane", func() error {
		if tag := routeTag(t, conn); tag != "after" {
			return fmt.Errorf("request tagged %q", tag)
		}
		return nil
	})
	if st := p.client.Status(); !st.Connected || st.LastStreamError == "" {
		t.Errorf("status %+v: want connected, with the lost stream's error", st)
	}
	if n := counter(t, p, "breeze_xds_stream_failures_total"); n < 1 {
		t.Errorf("%v stream failures counted, want at least 1", n)
	}
}

// TestListenerWaitsForItsRoutes: a listener does not accept connections before its route
// table has arrived, and the proxy is not ready until then.
func TestListenerWaitsForItsRoutes(t *testing.T) {
	cp := startControlPlane(t, "127.0.0.1:0")
	cp.set(ClusterType, edsCluster("greeter"))
	cp.set(EndpointType, assignment("greeter", upstream.Addr()))
	cp.set(ListenerType, rdsListener("dubbo", "127.0.0.1:0", "dubbo-routes"))
	p := startProxy(t, cp, nil)

	waitFor(t, "listener accepted, routes awaited", func() error {
		st := p.client.Status()
		if st.Resources[listeners].Version == "" {
			return fmt.Errorf("no listeners yet")
		}
		if len(st.Pending) != 1 || !strings.Contains(st.Pending[0], `listener "dubbo": waiting for route configuration "dubbo-routes"`) {
			return fmt.Errorf("pending %q", st.Pending)
		}
		return nil
	})
	if p.srv.ListenerAddr("dubbo") != nil {
		t.Fatal("the listener runs without its routes")
	}
	if err := p.client.Ready(); err == nil || !strings.Contains(err.Error(), "dubbo-routes") {
		t.Fatalf("Ready() = %v, want it to wait for dubbo-routes", err)
	}

	cp.set(RouteType, taggedRoutes("dubbo-routes", "greeter", "arrived"))
	p.waitReady(t)
	if tag := routeTag(t, p.dial(t, "dubbo")); tag != "arrived" {
		t.Fatalf("request tagged %q, want arrived", tag)
	}
}

// TestNewClusterWarmsBeforeItsRoutes: routes that send to a cluster the proxy does not have
// yet (or whose endpoints have not arrived) are accepted but wait; requests keep the old
// routes until the cluster is ready, then move.
func TestNewClusterWarmsBeforeItsRoutes(t *testing.T) {
	cp := startControlPlane(t, "127.0.0.1:0")
	serveTagged(cp, "old")
	p := startProxy(t, cp, nil)
	p.waitReady(t)
	conn := p.dial(t, "dubbo")

	cp.set(RouteType, taggedRoutes("dubbo-routes", "greeter-next", "new"))
	waitFor(t, "new routes accepted and waiting", func() error {
		if v := cp.lastSent(RouteType); !cp.acked(RouteType, v) {
			return fmt.Errorf("routes %q not ACKed", v)
		}
		return pendingContains(p, `sends to cluster "greeter-next", which is not ready`)
	})
	if tag := routeTag(t, conn); tag != "old" {
		t.Fatalf("request tagged %q before the cluster exists, want old", tag)
	}

	cp.set(ClusterType, edsCluster("greeter"), edsCluster("greeter-next"))
	waitFor(t, "new cluster awaiting endpoints", func() error {
		return pendingContains(p, `cluster "greeter-next": waiting for its endpoints`)
	})
	if tag := routeTag(t, conn); tag != "old" {
		t.Fatalf("request tagged %q before the cluster has endpoints, want old", tag)
	}

	cp.set(EndpointType, assignment("greeter", upstream.Addr()), assignment("greeter-next", upstream.Addr()))
	waitFor(t, "new routes in use", func() error {
		if tag := routeTag(t, conn); tag != "new" {
			return fmt.Errorf("request tagged %q", tag)
		}
		return nil
	})

	// The old cluster leaves: nothing routes to it any more.
	cp.set(ClusterType, edsCluster("greeter-next"))
	waitFor(t, "old cluster removed", func() error {
		if p.srv.Clusters().Get("greeter") != nil {
			return fmt.Errorf("cluster greeter still present")
		}
		return nil
	})
	if tag := routeTag(t, conn); tag != "new" {
		t.Fatalf("request tagged %q, want new", tag)
	}
}

// TestStaticListenerWithRDS: a bootstrap listener may take its routes from the control
// plane; with no listener subscription, the proxy asks for that route table alone.
func TestStaticListenerWithRDS(t *testing.T) {
	cp := startControlPlane(t, "127.0.0.1:0")
	cp.set(ClusterType, edsCluster("greeter"))
	cp.set(EndpointType, assignment("greeter", upstream.Addr()))
	cp.set(RouteType, taggedRoutes("static-routes", "greeter", "static"))
	p := startProxy(t, cp, func(b *config.Bootstrap) {
		b.Dynamic.Listeners = false
		b.Listeners = append(b.Listeners, &config.Listener{
			Name: "static", Address: "127.0.0.1:0", Codec: "dubbo", RouteConfigName: "static-routes",
		})
	})
	p.waitReady(t)
	if tag := routeTag(t, p.dial(t, "static")); tag != "static" {
		t.Fatalf("request tagged %q, want static", tag)
	}
}

func pendingContains(p *testProxy, want string) error {
	pending := p.client.Status().Pending
	for _, line := range pending {
		if strings.Contains(line, want) {
			return nil
		}
	}
	return fmt.Errorf("pending %q, want a line with %q", pending, want)
}

// metricValue finds the series of name whose labels include labels (name/value pairs).
func metricValue(t *testing.T, p *testProxy, name string, labels ...string) (float64, bool) {
	t.Helper()
	families, err := p.srv.Metrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if hasLabels(m, labels) {
				switch {
				case m.GetCounter() != nil:
					return m.GetCounter().GetValue(), true
				case m.GetGauge() != nil:
					return m.GetGauge().GetValue(), true
				}
			}
		}
	}
	return 0, false
}

func hasLabels(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func counter(t *testing.T, p *testProxy, name string, labels ...string) float64 {
	t.Helper()
	v, ok := metricValue(t, p, name, labels...)
	if !ok {
		t.Fatalf("no series %s%v", name, labels)
	}
	return v
}

func gauge(t *testing.T, p *testProxy, name string, labels ...string) float64 {
	t.Helper()
	return counter(t, p, name, labels...)
}

// TestListenerCannotMove: a running listener whose address changes cannot follow (the
// proxy cannot rebind it under the same name): the update is NACKed with the reason, the
// listener keeps serving where it was, and the rest of the update applies.
func TestListenerCannotMove(t *testing.T) {
	cp := startControlPlane(t, "127.0.0.1:0")
	serveTagged(cp, "here")
	p := startProxy(t, cp, nil)
	p.waitReady(t)
	conn := p.dial(t, "dubbo")
	addr := p.srv.ListenerAddr("dubbo").String()

	cp.set(ListenerType, rdsListener("dubbo", "127.0.0.2:0", "dubbo-routes"), rdsListener("other", "127.0.0.1:0", "dubbo-routes"))
	waitFor(t, "NACK of the move", func() error {
		nacks := cp.nacks(ListenerType)
		if len(nacks) == 0 {
			return fmt.Errorf("no NACK yet")
		}
		if msg := nacks[0].GetErrorDetail().GetMessage(); !strings.Contains(msg, `listener "dubbo": changing the address or codec of a running listener is not supported`) {
			t.Fatalf("NACK says %q", msg)
		}
		return nil
	})
	if got := p.srv.ListenerAddr("dubbo"); got == nil || got.String() != addr {
		t.Errorf("listener dubbo at %v, want it still at %s", got, addr)
	}
	if tag := routeTag(t, conn); tag != "here" {
		t.Errorf("request tagged %q, want here", tag)
	}
	if tag := routeTag(t, p.dial(t, "other")); tag != "here" {
		t.Errorf("the other listener of the update: request tagged %q, want here", tag)
	}
}

// TestRepeatedNACKsAreHeldBack: a go-control-plane snapshot cache answers a NACK by sending
// the refused version again at once; the client refuses it again, but more and more
// slowly, instead of looping with the server at full speed.
func TestRepeatedNACKsAreHeldBack(t *testing.T) {
	cache := cachev3.NewSnapshotCache(false, cachev3.IDHash{}, nil)
	bad := edsCluster("greeter")
	bad.LbPolicy = clusterv3.Cluster_CLUSTER_PROVIDED
	snap, err := cachev3.NewSnapshot("1", map[resourcev3.Type][]types.Resource{resourcev3.ClusterType: {bad}})
	if err != nil {
		t.Fatal(err)
	}
	if err := cache.SetSnapshot(context.Background(), t.Name(), snap); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var nacks []time.Time
	cp := startServer(t, cache, serverv3.CallbackFuncs{
		StreamRequestFunc: func(_ int64, req *discoveryv3.DiscoveryRequest) error {
			if req.GetErrorDetail() != nil {
				mu.Lock()
				nacks = append(nacks, time.Now())
				mu.Unlock()
			}
			return nil
		},
	})
	startProxy(t, cp, func(b *config.Bootstrap) { b.Dynamic.Listeners = false })

	waitFor(t, "four NACKs", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(nacks) < 4 {
			return fmt.Errorf("%d NACKs", len(nacks))
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	// The third NACK is held twice nackDelayMin, the fourth four times.
	if held, least := nacks[3].Sub(nacks[1]), 6*nackDelayMin; held < least {
		t.Errorf("NACKs 2 to 4 went out within %v; the client holds them at least %v", held, least)
	}
}

func TestNACKDelay(t *testing.T) {
	want := []time.Duration{0, 0, nackDelayMin, 2 * nackDelayMin, 4 * nackDelayMin}
	for n, d := range want {
		if got := nackDelay(n); got != d {
			t.Errorf("nackDelay(%d) = %v, want %v", n, got, d)
		}
	}
	if got := nackDelay(100); got != nackDelayMax {
		t.Errorf("nackDelay(100) = %v, want the cap %v", got, nackDelayMax)
	}
}
