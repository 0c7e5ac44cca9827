package server_test

import (
	"context"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/breeze-mesh/breeze/control/translate"
)

// TestDeltaRouteChangeSendsOneRoute runs the incremental protocol: a change to one
// MetaRouter sends that one route table, and nothing else.
func TestDeltaRouteChangeSendsOneRoute(t *testing.T) {
	ts := startServer(t, map[string]string{
		"greeter.yaml": greeterService,
		"router.yaml":  greeterRouter("20", "80", `"*"`),
		"other.yaml": `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: other, namespace: dubbo}
spec:
  hosts: [other.dubbo.svc.cluster.local]
  ports: [{number: 20990, name: tcp-metaprotocol-dubbo}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
`,
	})
	conn, err := grpc.NewClient(ts.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); conn.Close() })
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	node := newNode("delta", map[string]any{"namespace": "dubbo"})
	routes := []string{"outbound|20880||greeter.dubbo.svc.cluster.local", "outbound|20990||other.dubbo.svc.cluster.local"}
	for i, req := range []*discoveryv3.DeltaDiscoveryRequest{
		{Node: node, TypeUrl: translate.ClusterType},
		{TypeUrl: translate.ListenerType},
		{TypeUrl: translate.RouteType, ResourceNamesSubscribe: routes},
	} {
		if err := stream.Send(req); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	responses := make(chan *discoveryv3.DeltaDiscoveryResponse, 100)
	go func() {
		defer close(responses)
		for {
			resp, err := stream.Recv()
			if err != nil {
				return
			}
			responses <- resp
			_ = stream.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resp.GetTypeUrl(), ResponseNonce: resp.GetNonce()})
		}
	}()
	next := func() *discoveryv3.DeltaDiscoveryResponse {
		t.Helper()
		select {
		case r, ok := <-responses:
			if !ok {
				t.Fatal("stream ended")
			}
			return r
		case <-time.After(20 * time.Second):
			t.Fatal("no delta response within 20s")
			return nil
		}
	}
	seen := map[string]int{}
	for len(seen) < 3 {
		r := next()
		seen[r.GetTypeUrl()] += len(r.GetResources())
	}
	if seen[translate.RouteType] != 2 {
		t.Fatalf("initial routes = %d resources, want 2", seen[translate.RouteType])
	}

	writeFile(t, ts.dir, "router.yaml", greeterRouter("50", "50", `"*"`))
	r := next()
	if r.GetTypeUrl() != translate.RouteType {
		t.Fatalf("after a route change the first delta response is %s, want %s", r.GetTypeUrl(), translate.RouteType)
	}
	if len(r.GetResources()) != 1 || r.GetResources()[0].GetName() != routes[0] || len(r.GetRemovedResources()) != 0 {
		names := []string{}
		for _, res := range r.GetResources() {
			names = append(names, res.GetName())
		}
		t.Errorf("the delta response carries %v (removed %v), want only %s", names, r.GetRemovedResources(), routes[0])
	}
}
