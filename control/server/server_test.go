package server_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	mpv1 "github.com/breeze-mesh/breeze/api/metaprotocol/v1alpha1"
	"github.com/breeze-mesh/breeze/control/server"
	"github.com/breeze-mesh/breeze/control/source/file"
	"github.com/breeze-mesh/breeze/control/translate"
	"github.com/breeze-mesh/breeze/internal/proctest"
)

type testServer struct {
	*server.Server
	addr string
	dir  string
	logs *proctest.SyncBuffer
}

// startServer writes files into a fresh directory and serves it on a loopback port until
// the test ends.
func startServer(t *testing.T, files map[string]string) *testServer {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		writeFile(t, dir, name, content)
	}
	logs := &proctest.SyncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := server.New(server.Options{Source: file.New(dir), Log: log, Codecs: []string{"dubbo"}})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if t.Failed() {
			t.Logf("control plane log:\n%s", logs.String())
		}
	})
	return &testServer{Server: s, addr: lis.Addr().String(), dir: dir, logs: logs}
}

// writeFile replaces a file the way editors do: write a temporary file, rename it over.
func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds, failing after a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

const greeterService = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: greeter, namespace: dubbo}
spec:
  hosts: [greeter.dubbo.svc.cluster.local]
  ports: [{number: 20880, name: tcp-metaprotocol-dubbo}]
  resolution: STATIC
  workloadSelector: {labels: {app: greeter}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: greeter-v1, namespace: dubbo}
spec:
  address: 127.0.0.1
  ports: {tcp-metaprotocol-dubbo: 20881}
  labels: {app: greeter, version: v1}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: greeter-v2, namespace: dubbo}
spec:
  address: 127.0.0.1
  ports: {tcp-metaprotocol-dubbo: 20882}
  labels: {app: greeter, version: v2}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: greeter, namespace: dubbo}
spec:
  host: greeter.dubbo.svc.cluster.local
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`

// greeterRouter splits sayHi between v1 and v2 with the given weight for v1.
func greeterRouter(weightV1, weightV2 string, exportTo string) string {
	return `
apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: MetaRouter
metadata: {name: greeter, namespace: dubbo}
spec:
  hosts: [greeter.dubbo.svc.cluster.local]
  exportTo: [` + exportTo + `]
  routes:
  - name: split
    match: {attributes: {method: {exact: sayHi}}}
    route:
    - {destination: {host: greeter.dubbo.svc.cluster.local, subset: v1}, weight: ` + weightV1 + `}
    - {destination: {host: greeter.dubbo.svc.cluster.local, subset: v2}, weight: ` + weightV2 + `}
`
}

func listenerNames(c *adsClient) []string {
	var names []string
	for name := range c.resources(translate.ListenerType) {
		names = append(names, name)
	}
	return sorted(names)
}

func sorted(s []string) []string {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}

// TestNodesGetTheirOwnSnapshots connects a client proxy and the proxy of the v1 instance:
// only the latter gets an inbound listener, and each gets its outbound listener where its
// metadata says.
func TestNodesGetTheirOwnSnapshots(t *testing.T) {
	ts := startServer(t, map[string]string{"greeter.yaml": greeterService, "router.yaml": greeterRouter("20", "80", `"*"`)})

	consumer := dialADS(t, ts.addr, newNode("consumer", map[string]any{"namespace": "dubbo", "labels": map[string]any{"app": "consumer"}}), nil)
	consumer.syncAll()
	greeter := dialADS(t, ts.addr, newNode("greeter-v1", map[string]any{
		"namespace": "dubbo", "workload": "greeter-v1",
		"labels":        map[string]any{"app": "greeter", "version": "v1"},
		"inbound_ports": []any{20881}, "inbound_bind": "127.0.0.1",
		"inbound_app_ports":    map[string]any{"20881": 30881},
		"outbound_port_offset": "10000",
	}), nil)
	greeter.syncAll()

	if got, want := listenerNames(consumer), []string{"outbound|20880||greeter.dubbo.svc.cluster.local"}; !equal(got, want) {
		t.Errorf("consumer listeners = %v, want %v", got, want)
	}
	if got, want := listenerNames(greeter), []string{"inbound|20881||", "outbound|20880||greeter.dubbo.svc.cluster.local"}; !equal(got, want) {
		t.Errorf("greeter-v1 listeners = %v, want %v", got, want)
	}
	out := greeter.resources(translate.ListenerType)["outbound|20880||greeter.dubbo.svc.cluster.local"].(*listenerv3.Listener)
	if port := out.GetAddress().GetSocketAddress().GetPortValue(); port != 30880 {
		t.Errorf("greeter-v1's outbound listener port = %d, want 30880 (20880 + offset 10000)", port)
	}
	if _, ok := consumer.resources(translate.ClusterType)["inbound|20881||greeter.dubbo.svc.cluster.local"]; ok {
		t.Error("the consumer received the greeter's inbound cluster")
	}
	nodes := ts.Nodes()
	if len(nodes) != 2 || nodes[0].Versions[translate.ListenerType] == nodes[1].Versions[translate.ListenerType] {
		t.Errorf("want two nodes with different listener versions, got %+v", nodes)
	}
}

// TestExportToScoping: a MetaRouter exported to its own namespace only is never sent to a
// proxy in another namespace, which routes with the default route instead.
func TestExportToScoping(t *testing.T) {
	ts := startServer(t, map[string]string{"greeter.yaml": greeterService, "router.yaml": greeterRouter("20", "80", `"."`)})

	inside := dialADS(t, ts.addr, newNode("inside", map[string]any{"namespace": "dubbo"}), nil)
	inside.syncAll()
	outside := dialADS(t, ts.addr, newNode("outside", map[string]any{"namespace": "shop"}), nil)
	outside.syncAll()

	const name = "outbound|20880||greeter.dubbo.svc.cluster.local"
	in := inside.resources(translate.RouteType)[name].(*mpv1.RouteConfiguration)
	if routes := in.GetRoutes(); len(routes) != 1 || routes[0].GetName() != "split" {
		t.Errorf("inside the namespace: routes = %v, want the MetaRouter's", in)
	}
	out := outside.resources(translate.RouteType)[name].(*mpv1.RouteConfiguration)
	if routes := out.GetRoutes(); len(routes) != 1 || routes[0].GetName() != translate.DefaultRouteName {
		t.Errorf("outside the namespace: routes = %v, want only the default route", out)
	}
}

// TestRouteChangeSendsOnlyRoutes changes a MetaRouter's weights: the proxy receives a
// route update and nothing else, and the listener and cluster versions stay as they were.
// In ADS mode go-control-plane sends one snapshot's types in the order clusters, load
// assignments, listeners, routes, so any other type caused by the change would arrive
// before the routes.
func TestRouteChangeSendsOnlyRoutes(t *testing.T) {
	ts := startServer(t, map[string]string{"greeter.yaml": greeterService, "router.yaml": greeterRouter("20", "80", `"*"`)})
	c := dialADS(t, ts.addr, newNode("consumer", map[string]any{"namespace": "dubbo"}), nil)
	c.syncAll()
	before := ts.Nodes()[0].Versions

	writeFile(t, ts.dir, "router.yaml", greeterRouter("50", "50", `"*"`))
	resp := c.next()
	if resp.GetTypeUrl() != translate.RouteType {
		t.Fatalf("after a route change the first response is %s, want only %s", resp.GetTypeUrl(), translate.RouteType)
	}
	rc := c.resources(translate.RouteType)
	waitFor(t, "the new weights", func() bool {
		rc = c.resources(translate.RouteType)
		r := rc["outbound|20880||greeter.dubbo.svc.cluster.local"].(*mpv1.RouteConfiguration)
		return r.GetRoutes()[0].GetRoute().GetWeightedClusters().GetClusters()[0].GetWeight() == 50
	})
	after := ts.Nodes()[0].Versions
	for _, typeURL := range []string{translate.ListenerType, translate.ClusterType, translate.LoadAssignmentType} {
		if before[typeURL] != after[typeURL] {
			t.Errorf("%s version changed from %s to %s on a route-only change", typeURL, before[typeURL], after[typeURL])
		}
	}
	if before[translate.RouteType] == after[translate.RouteType] {
		t.Error("the route version did not change")
	}

	// An unrelated change that touches endpoints only: the next response is the load
	// assignments, which also proves no other response was queued after the routes.
	writeFile(t, ts.dir, "greeter.yaml", strings.Replace(greeterService, "20882", "20883", 1))
	if resp := c.next(); resp.GetTypeUrl() != translate.LoadAssignmentType {
		t.Errorf("after an endpoint change the next response is %s, want %s", resp.GetTypeUrl(), translate.LoadAssignmentType)
	}
}

// TestNACKIsLogged: a proxy refusing the listeners is logged with its reason and counted.
func TestNACKIsLogged(t *testing.T) {
	ts := startServer(t, map[string]string{"greeter.yaml": greeterService})
	refused := false
	c := dialADS(t, ts.addr, newNode("picky", map[string]any{"namespace": "dubbo"}), func(r *discoveryv3.DiscoveryResponse) string {
		if r.GetTypeUrl() == translate.ListenerType && !refused {
			refused = true
			return "listener outbound|20880||greeter: codec \"dubbo\" is not built in"
		}
		return ""
	})
	c.next()
	waitFor(t, "the NACK in the log", func() bool {
		return strings.Contains(ts.logs.String(), "NACK") && strings.Contains(ts.logs.String(), `is not built in`)
	})
	logs := ts.logs.String()
	for _, want := range []string{"node=picky", "type=Listener", "rejected_version="} {
		if !strings.Contains(logs, want) {
			t.Errorf("the NACK log lacks %q:\n%s", want, logs)
		}
	}
	if got := ts.Stats().NACKs; got != 1 {
		t.Errorf("NACK counter = %d, want 1", got)
	}
}

// TestInvalidNodeRefused: a stream whose node has no id, or metadata of the wrong shape, is
// closed with InvalidArgument and a message naming the problem.
func TestInvalidNodeRefused(t *testing.T) {
	ts := startServer(t, map[string]string{"greeter.yaml": greeterService})
	for _, tc := range []struct {
		name string
		node map[string]any
		id   string
		want string
	}{
		{"no id", map[string]any{"namespace": "dubbo"}, "", "node.id is empty"},
		{"bad port", map[string]any{"inbound_ports": []any{"http"}}, "p1", "inbound_ports[0]"},
		{"bad bind", map[string]any{"outbound_bind": "localhost"}, "p2", "outbound_bind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialADS(t, ts.addr, newNode(tc.id, tc.node), nil)
			select {
			case _, ok := <-c.responses:
				if ok {
					t.Fatal("the server answered an invalid node")
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the stream was not closed")
			}
			err := <-c.errc
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want InvalidArgument mentioning %q", err, tc.want)
			}
		})
	}
	if got := ts.Stats().RejectedNodes; got != 3 {
		t.Errorf("rejected nodes = %d, want 3", got)
	}
}

// TestBadFileKeepsOtherServices: breaking one file leaves the proxy's configuration from
// the other files (and the broken file's last valid version) in place, and the problem is
// logged with the file and line.
func TestBadFileKeepsOtherServices(t *testing.T) {
	ts := startServer(t, map[string]string{"greeter.yaml": greeterService, "router.yaml": greeterRouter("20", "80", `"*"`)})
	c := dialADS(t, ts.addr, newNode("consumer", map[string]any{"namespace": "dubbo"}), nil)
	c.syncAll()
	_, v1 := ts.Model()

	writeFile(t, ts.dir, "router.yaml", strings.Replace(greeterRouter("20", "80", `"*"`), "routes:", "rotues:", 1))
	waitFor(t, "the rebuild", func() bool { _, v := ts.Model(); return v > v1 })
	waitFor(t, "the problem in the log", func() bool {
		return strings.Contains(ts.logs.String(), `router.yaml:8: MetaRouter dubbo/greeter: spec.rotues: unknown field; hint: did you mean \"routes\"?`)
	})
	r := c.resources(translate.RouteType)["outbound|20880||greeter.dubbo.svc.cluster.local"].(*mpv1.RouteConfiguration)
	if r.GetRoutes()[0].GetName() != "split" {
		t.Errorf("the broken file's last valid routes were dropped: %v", r)
	}
	if ts.Stats().ConfigErrors == 0 {
		t.Error("the config error counter is 0")
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestNACKedVersionIsNotResent: a proxy that refuses the listeners is not sent the same
// listeners again (go-control-plane alone would answer its NACK with them at once); an
// unrelated change sends only what changed, and a change to the listeners sends them.
func TestNACKedVersionIsNotResent(t *testing.T) {
	ts := startServer(t, map[string]string{"greeter.yaml": greeterService})
	var mu sync.Mutex
	listenerResponses := 0
	c := dialADS(t, ts.addr, newNode("picky", map[string]any{"namespace": "dubbo"}), func(r *discoveryv3.DiscoveryResponse) string {
		if r.GetTypeUrl() != translate.ListenerType {
			return ""
		}
		mu.Lock()
		defer mu.Unlock()
		listenerResponses++
		if listenerResponses == 1 {
			return "listener outbound|20880||greeter: refused by the test"
		}
		return ""
	})
	// Clusters, load assignments and the refused listeners; no routes, since the proxy asks
	// for routes only once it has listeners.
	for seen := map[string]bool{}; len(seen) < 3; {
		seen[c.next().GetTypeUrl()] = true
	}
	waitFor(t, "the NACK's resend to be withheld", func() bool { return ts.Stats().NACKWithheld == 1 })
	refused := ts.Nodes()[0].Versions[translate.ListenerType]

	// An endpoint change: the next response is the load assignments, not the listeners.
	writeFile(t, ts.dir, "greeter.yaml", strings.Replace(greeterService, "20882", "20883", 1))
	if resp := c.next(); resp.GetTypeUrl() != translate.LoadAssignmentType {
		t.Fatalf("after a NACK and an endpoint change the next response is %s (version %s), want only %s",
			resp.GetTypeUrl(), resp.GetVersionInfo(), translate.LoadAssignmentType)
	}

	// New listener content is sent, and accepted.
	writeFile(t, ts.dir, "orders.yaml", strings.NewReplacer("greeter", "orders", "20880", "20990").Replace(greeterService))
	for {
		resp := c.next()
		if resp.GetTypeUrl() != translate.ListenerType {
			continue
		}
		if resp.GetVersionInfo() == refused {
			t.Fatalf("the refused listener version %s was sent again", refused)
		}
		break
	}
	waitFor(t, "the new listeners", func() bool { return len(c.resources(translate.ListenerType)) == 2 })
	mu.Lock()
	defer mu.Unlock()
	if listenerResponses != 2 {
		t.Errorf("listener responses = %d, want 2 (the refused one, then the changed one)", listenerResponses)
	}
	if !strings.Contains(ts.logs.String(), "not resending the configuration the proxy rejected") {
		t.Errorf("the withheld resend is not logged:\n%s", ts.logs.String())
	}
}

// TestNACKedVersionIsSentOnReconnect: a new stream of a proxy that refused a version gets
// it again (the proxy may have been fixed or upgraded in between).
func TestNACKedVersionIsSentOnReconnect(t *testing.T) {
	ts := startServer(t, map[string]string{"greeter.yaml": greeterService})
	node := newNode("picky", map[string]any{"namespace": "dubbo"})
	first := dialADS(t, ts.addr, node, func(r *discoveryv3.DiscoveryResponse) string {
		if r.GetTypeUrl() == translate.ListenerType {
			return "refused by the test"
		}
		return ""
	})
	for seen := map[string]bool{}; len(seen) < 3; {
		seen[first.next().GetTypeUrl()] = true
	}
	waitFor(t, "the NACK's resend to be withheld", func() bool { return ts.Stats().NACKWithheld == 1 })
	refused := ts.Nodes()[0].Versions[translate.ListenerType]

	second := dialADS(t, ts.addr, node, nil)
	second.syncAll()
	if got := ts.Nodes()[0].Versions[translate.ListenerType]; got != refused {
		t.Fatalf("the listener version changed from %s to %s", refused, got)
	}
	if len(second.resources(translate.ListenerType)) != 1 {
		t.Errorf("the new stream did not get the listeners: %v", second.resources(translate.ListenerType))
	}
}
