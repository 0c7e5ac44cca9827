package istiostats_test

import (
	"net"
	"strconv"
	"sync"
	"testing"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/filters/istiostats"
	"github.com/breeze-mesh/breeze/proxy/filters/metadataexchange"
	"github.com/breeze-mesh/breeze/proxy/internal/connio"
	"github.com/breeze-mesh/breeze/proxy/internal/proxytest"
	"github.com/breeze-mesh/breeze/proxy/internal/testcodec"
)

// codeServer answers testcodec requests: method "fail" with an error response whose code
// is the request's "want-code", any other method with an OK response (code 0). It records
// the metadata of the requests it got.
type codeServer struct {
	ln       net.Listener
	mu       sync.Mutex
	received []map[string]string
	wg       sync.WaitGroup
}

func startCodeServer(t *testing.T) *codeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &codeServer{ln: ln}
	var conns []net.Conn
	var cmu sync.Mutex
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			cmu.Lock()
			conns = append(conns, c)
			cmu.Unlock()
			s.wg.Add(1)
			go s.serve(c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		cmu.Lock()
		for _, c := range conns {
			c.Close()
		}
		cmu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *codeServer) serve(c net.Conn) {
	defer s.wg.Done()
	defer c.Close()
	reg, _ := protocol.Lookup(proxytest.Codec)
	fr := connio.NewFrameReader(c, reg.New(protocol.Options{Side: protocol.RequestSide, MaxFrameSize: 1 << 20}), 1<<20)
	for {
		var msg protocol.Message
		if err := fr.Next(&msg); err != nil {
			return
		}
		md := map[string]string{}
		for _, kv := range msg.Metadata.All() {
			md[kv.Key] = kv.Value
		}
		s.mu.Lock()
		s.received = append(s.received, md)
		s.mu.Unlock()
		typ, reply := byte('R'), map[string]string{"code": "0"}
		if md["method"] == "fail" {
			typ, reply = 'E', map[string]string{"code": md["want-code"]}
		}
		if _, err := c.Write(testcodec.Frame(typ, msg.RequestID, reply, "ok")); err != nil {
			return
		}
	}
}

// TestPeerMetadataLabelsBothSides chains two proxies — client → outbound proxy (workload
// frontend) → inbound proxy (workload greeter-v2) → server — with metadata_exchange and
// istio_stats on both, as Aeraki's chain has them. Each proxy labels the other side's
// workload, and breeze_service_requests_total carries the server's status code.
func TestPeerMetadataLabelsBothSides(t *testing.T) {
	const (
		inbound = "inbound|20880||"
		local   = "inbound|20880||greeter.shop.svc.cluster.local"
	)
	server := startCodeServer(t)
	filters := []config.Filter{{Name: metadataexchange.AerakiName}, {Name: istiostats.Name}}
	greeter := proxytest.StartProxy(t, &config.Bootstrap{
		Listeners: []*config.Listener{{
			Name: inbound, Address: "127.0.0.1:0", Codec: proxytest.Codec, Filters: filters,
			Routes: &config.RouteTable{Routes: []*config.Route{{Name: "greeter", Match: proxytest.Exact("interface", iface), Cluster: local}}},
		}},
		Clusters: []*config.Cluster{proxytest.Cluster(local, server.ln.Addr().String())},
		Node: config.Node{ID: "sidecar~10.0.0.7~greeter-v2-1.shop~shop.svc.cluster.local", Metadata: map[string]any{
			"NAMESPACE": "shop", "WORKLOAD_NAME": "greeter-v2", "CLUSTER_ID": "east",
			"LABELS": map[string]any{"app": "greeter", "version": "v2"},
		}},
	})
	frontend := proxytest.StartProxy(t, &config.Bootstrap{
		Listeners: []*config.Listener{{
			Name: outbound, Address: "127.0.0.1:0", Codec: proxytest.Codec, Filters: filters,
			Routes: &config.RouteTable{Routes: []*config.Route{{Name: "all", Cluster: outbound}}},
		}},
		Clusters: []*config.Cluster{proxytest.Cluster(outbound, greeter.Listener(t, inbound))},
		Node: config.Node{ID: "frontend-1", Metadata: map[string]any{
			"namespace": "web", "workload": "frontend", "labels": map[string]any{"app": "frontend", "version": "v1"},
		}},
	})
	c := proxytest.Dial(t, frontend.Listener(t, outbound))
	for range 2 {
		c.MustCall(t, map[string]string{"interface": iface, "method": "sayHello"})
	}
	r := c.MustCall(t, map[string]string{"interface": iface, "method": "fail", "want-code": "42"})
	if !r.Error {
		t.Fatalf("fail: got %+v, want an error response", r)
	}
	// Routed by the outbound proxy, refused by the inbound one (no route): a local reply
	// there, an upstream error response for the outbound proxy.
	if r := c.MustCall(t, map[string]string{"interface": "org.example.Nobody", "method": "x"}); !r.Error {
		t.Fatalf("unroutable: got %+v, want an error reply", r)
	}

	frontendLabels := map[string]string{
		"source_workload": "frontend", "source_workload_namespace": "web", "source_app": "frontend",
		"source_version": "v1", "source_canonical_service": "frontend", "source_canonical_revision": "v1",
		"source_cluster": "unknown", "source_principal": "unknown",
	}
	greeterLabels := map[string]string{
		"destination_workload": "greeter-v2", "destination_workload_namespace": "shop", "destination_app": "greeter",
		"destination_version": "v2", "destination_canonical_service": "greeter", "destination_canonical_revision": "v2",
		"destination_cluster": "east", "destination_principal": "unknown",
	}
	unknownGreeter := map[string]string{"destination_workload": "unknown", "destination_app": "unknown"}

	out := waitTotal(t, frontend, 4)
	for _, tc := range []struct {
		labels map[string]string
		want   float64
	}{
		{with(with(frontendLabels, greeterLabels), map[string]string{"reporter": "source", "response_code": "0"}), 2},
		{with(with(frontendLabels, greeterLabels), map[string]string{"reporter": "source", "response_code": "1", "response_flags": "-"}), 1},
		// The inbound proxy's own error reply carries no response mutation: its workload
		// is unknown to the outbound proxy.
		{with(with(frontendLabels, unknownGreeter), map[string]string{"reporter": "source", "response_code": "1"}), 1},
	} {
		if got := out.Counter("istio_requests_total", tc.labels); got != tc.want {
			t.Errorf("outbound proxy: istio_requests_total%v = %v, want %v", tc.labels, got, tc.want)
		}
	}
	in := waitTotal(t, greeter, 4)
	for _, tc := range []struct {
		labels map[string]string
		want   float64
	}{
		{with(with(frontendLabels, greeterLabels), map[string]string{"reporter": "destination", "response_code": "0"}), 2},
		{with(with(frontendLabels, greeterLabels), map[string]string{"reporter": "destination", "response_code": "1", "response_flags": "-"}), 1},
		{with(with(frontendLabels, greeterLabels), map[string]string{"reporter": "destination", "response_flags": "NR"}), 1},
	} {
		if got := in.Counter("istio_requests_total", tc.labels); got != tc.want {
			t.Errorf("inbound proxy: istio_requests_total%v = %v, want %v", tc.labels, got, tc.want)
		}
	}

	// The server's status code, on both proxies; "-" for the inbound proxy's local reply.
	for name, m := range map[string]proxytest.Families{"outbound": out, "inbound": in} {
		for status, want := range map[string]float64{"0": 2, "42": 1} {
			labels := map[string]string{"service": iface, "response_status": status}
			if got := m.Counter("breeze_service_requests_total", labels); got != want {
				t.Errorf("%s proxy: breeze_service_requests_total%v = %v, want %v", name, labels, got, want)
			}
		}
	}
	if got := in.Counter("breeze_service_requests_total", map[string]string{"response_flags": "NR", "response_status": "-"}); got != 1 {
		t.Errorf("inbound proxy: the no-route reply counted %v times with response_status \"-\", want 1", got)
	}

	// The headers reach the application: mutations only add (docs: not stripped).
	server.mu.Lock()
	defer server.mu.Unlock()
	if len(server.received) == 0 || server.received[0][metadataexchange.HeaderMetadataID] != "frontend-1" {
		t.Errorf("the server got %v, want the outbound proxy's x-envoy-peer-metadata-id", server.received)
	}
}

// TestResponseStatusIsCapped sends more distinct status codes than a listener labels: the
// rest are counted under "other".
func TestResponseStatusIsCapped(t *testing.T) {
	server := startCodeServer(t)
	p := proxytest.StartProxy(t, &config.Bootstrap{
		Listeners: []*config.Listener{{
			Name: outbound, Address: "127.0.0.1:0", Codec: proxytest.Codec,
			Filters: []config.Filter{{Name: istiostats.Name}},
			Routes:  &config.RouteTable{Routes: []*config.Route{{Name: "all", Cluster: outbound}}},
		}},
		Clusters: []*config.Cluster{proxytest.Cluster(outbound, server.ln.Addr().String())},
	})
	c := proxytest.Dial(t, p.Listener(t, outbound))
	const n = 70 // the cap is 64 distinct codes per listener
	for i := range n {
		c.MustCall(t, map[string]string{"interface": iface, "method": "fail", "want-code": strconv.Itoa(1000 + i)})
	}
	m := waitTotal(t, p, n)
	if got := m.Counter("breeze_service_requests_total", map[string]string{"response_status": "other"}); got != n-64 {
		t.Errorf("response_status=\"other\": %v, want %d", got, n-64)
	}
	if got := m.Counter("breeze_service_requests_total", map[string]string{"response_status": "1063"}); got != 1 {
		t.Errorf("response_status=\"1063\" (the 64th code): %v, want 1", got)
	}
}
