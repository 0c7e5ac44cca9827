package tracing_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	tracingv1 "github.com/breeze-mesh/breeze/api/filters/tracing/v1alpha1"
	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/filter"
	"github.com/breeze-mesh/breeze/proxy/filters/tracing"
	"github.com/breeze-mesh/breeze/proxy/filters/tracing/tracingtest"
	"github.com/breeze-mesh/breeze/proxy/internal/proxytest"
	tracev1 "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

const (
	iface    = "org.example.Greeter"
	outbound = "outbound|20880||greeter.shop.svc.cluster.local"
	inbound  = "inbound|20880||"
)

// tracingConfig exports to r quickly, so tests poll for spans for milliseconds, not seconds.
func tracingConfig(r *tracingtest.Receiver, service string) *tracingv1.Tracing {
	return &tracingv1.Tracing{
		ServiceName: service,
		Otlp: &tracingv1.Otlp{
			Endpoint:     r.Addr(),
			Insecure:     true,
			BatchTimeout: durationpb.New(20 * time.Millisecond),
		},
	}
}

// startTraced runs one proxy with the tracing filter on a listener called name, routing
// every request for iface to upstream and "dead" to a closed port.
func startTraced(t *testing.T, name string, cfg *tracingv1.Tracing, upstream string) *proxytest.Proxy {
	t.Helper()
	return proxytest.StartProxy(t, &config.Bootstrap{
		Listeners: []*config.Listener{{
			Name: name, Address: "127.0.0.1:0", Codec: proxytest.Codec,
			Filters: []config.Filter{{Name: tracing.Name, Config: cfg}},
			Routes: &config.RouteTable{Routes: []*config.Route{
				{Name: "greeter", Match: proxytest.Exact("interface", iface), Cluster: "app"},
			}},
		}},
		Clusters: []*config.Cluster{proxytest.Cluster("app", upstream)},
	})
}

// waitSpans polls r until it holds n spans.
func waitSpans(t *testing.T, r *tracingtest.Receiver, n int) []tracingtest.Span {
	t.Helper()
	var spans []tracingtest.Span
	proxytest.WaitFor(t, fmt.Sprintf("%d spans at the receiver", n), func() error {
		spans = r.Spans()
		if len(spans) < n {
			return fmt.Errorf("%d spans so far", len(spans))
		}
		return nil
	})
	return spans
}

// TestChainOfTwoProxiesSharesOneTrace: client → proxy A (outbound, client span) → proxy B
// (inbound, server span) → server. Both spans reach the receiver in one trace, B's span is
// the child of A's, and the server's request carries B's span as its traceparent.
func TestChainOfTwoProxiesSharesOneTrace(t *testing.T) {
	r := tracingtest.Start(t)
	server := proxytest.StartServer(t, "greeter")
	b := startTraced(t, inbound, tracingConfig(r, "greeter-sidecar"), server.Addr())
	a := startTraced(t, outbound, tracingConfig(r, "client-sidecar"), b.Listener(t, inbound))

	c := proxytest.Dial(t, a.Listener(t, outbound))
	if reply := c.MustCall(t, map[string]string{"interface": iface, "method": "sayHello"}); reply.Error {
		t.Fatalf("call failed: %s", reply.Payload)
	}
	spans := waitSpans(t, r, 2)
	if len(spans) != 2 {
		t.Fatalf("got %d spans, want 2: %+v", len(spans), spans)
	}
	client, srv := spans[0], spans[1]
	if client.Kind != tracev1.Span_SPAN_KIND_CLIENT {
		client, srv = srv, client
	}
	if client.Kind != tracev1.Span_SPAN_KIND_CLIENT || srv.Kind != tracev1.Span_SPAN_KIND_SERVER {
		t.Fatalf("span kinds %v and %v, want one client and one server span", client.Kind, srv.Kind)
	}
	if client.TraceID != srv.TraceID {
		t.Errorf("trace ids differ: client %s, server %s", client.TraceID, srv.TraceID)
	}
	if client.ParentSpanID != "" {
		t.Errorf("client span has parent %s; the request came without a context", client.ParentSpanID)
	}
	if srv.ParentSpanID != client.SpanID {
		t.Errorf("server span's parent %s, want the client span %s", srv.ParentSpanID, client.SpanID)
	}
	if client.ServiceName != "client-sidecar" || srv.ServiceName != "greeter-sidecar" {
		t.Errorf("service names %q, %q", client.ServiceName, srv.ServiceName)
	}
	for _, s := range []tracingtest.Span{client, srv} {
		if s.Name != iface+"/sayHello" {
			t.Errorf("span name %q, want %s/sayHello", s.Name, iface)
		}
		want := map[string]string{"rpc.system": proxytest.Codec, "rpc.service": iface, "rpc.method": "sayHello",
			"breeze.response_flags": "-", "breeze.route": "greeter", "breeze.cluster": "app"}
		for k, v := range want {
			if s.Attributes[k] != v {
				t.Errorf("%v span: %s = %q, want %q", s.Kind, k, s.Attributes[k], v)
			}
		}
		if s.StatusCode == tracev1.Status_STATUS_CODE_ERROR {
			t.Errorf("%v span has error status for a successful call", s.Kind)
		}
	}
	if client.Attributes["server.address"] != "127.0.0.1" || client.Attributes["server.port"] != portOf(b.Listener(t, inbound)) {
		t.Errorf("client span peer %s:%s, want proxy B at %s", client.Attributes["server.address"], client.Attributes["server.port"], b.Listener(t, inbound))
	}
	if srv.Attributes["client.address"] != "127.0.0.1" || srv.Attributes["client.port"] == "" {
		t.Errorf("server span has no client address: %v", srv.Attributes)
	}

	got := server.Received()
	if len(got) != 1 {
		t.Fatalf("server received %d requests", len(got))
	}
	want := "00-" + srv.TraceID + "-" + srv.SpanID + "-01"
	if got[0]["traceparent"] != want {
		t.Errorf("server saw traceparent %q, want %q (proxy B's span)", got[0]["traceparent"], want)
	}
}

// TestIncomingContext: a sampled incoming context is continued; an unsampled one is left
// alone and reaches the server as it came; a malformed one starts a new trace.
func TestIncomingContext(t *testing.T) {
	r := tracingtest.Start(t)
	server := proxytest.StartServer(t, "greeter")
	p := startTraced(t, outbound, tracingConfig(r, "client-sidecar"), server.Addr())
	c := proxytest.Dial(t, p.Listener(t, outbound))
	const trace = "4bf92f3577b34da6a3ce929d0e0e4736"

	unsampled := "00-" + trace + "-00f067aa0ba902b7-00"
	c.MustCall(t, map[string]string{"interface": iface, "method": "a", "traceparent": unsampled})
	sampled := "00-" + trace + "-00f067aa0ba902b7-01"
	c.MustCall(t, map[string]string{"interface": iface, "method": "b", "traceparent": sampled})
	c.MustCall(t, map[string]string{"interface": iface, "method": "c", "traceparent": "00-zz-not-a-context"})

	spans := waitSpans(t, r, 2)
	byMethod := map[string]tracingtest.Span{}
	for _, s := range spans {
		byMethod[s.Attributes["rpc.method"]] = s
	}
	if _, ok := byMethod["a"]; ok {
		t.Error("a span was recorded for an unsampled incoming context")
	}
	if s := byMethod["b"]; s.TraceID != trace || s.ParentSpanID != "00f067aa0ba902b7" {
		t.Errorf("sampled context not continued: trace %s parent %s", s.TraceID, s.ParentSpanID)
	}
	if s := byMethod["c"]; s.TraceID == "" || s.ParentSpanID != "" {
		t.Errorf("malformed context: span %+v, want a new root span", s)
	}
	got := server.Received()
	if got[0]["traceparent"] != unsampled {
		t.Errorf("unsampled context reached the server as %q, want it unchanged", got[0]["traceparent"])
	}
	if !strings.HasPrefix(got[1]["traceparent"], "00-"+trace+"-") || got[1]["traceparent"] == sampled {
		t.Errorf("sampled context reached the server as %q, want the proxy's span in trace %s", got[1]["traceparent"], trace)
	}
}

// TestFailuresAreErrorSpans: an error response and a local reply both end their span with an
// error status; the local reply's span says why.
func TestFailuresAreErrorSpans(t *testing.T) {
	r := tracingtest.Start(t)
	server := proxytest.StartServer(t, "greeter")
	p := startTraced(t, outbound, tracingConfig(r, "client-sidecar"), server.Addr())
	c := proxytest.Dial(t, p.Listener(t, outbound))
	c.MustCall(t, map[string]string{"interface": iface, "method": proxytest.MethodFail})
	c.MustCall(t, map[string]string{"interface": "org.example.Nobody", "method": "x"})

	spans := waitSpans(t, r, 2)
	for _, s := range spans {
		if s.StatusCode != tracev1.Status_STATUS_CODE_ERROR {
			t.Errorf("span %s: status %v, want error", s.Name, s.StatusCode)
		}
	}
	flags := map[string]string{}
	for _, s := range spans {
		flags[s.Attributes["rpc.method"]] = s.Attributes["breeze.response_flags"]
	}
	if flags[proxytest.MethodFail] != "-" || flags["x"] != "NR" {
		t.Errorf("response flags %v, want fail: -, x: NR", flags)
	}
}

// TestSamplingAndB3: with random_sampling 0 nothing is recorded and the request goes
// upstream untouched; B3 propagation writes the b3 header instead of traceparent.
func TestSamplingAndB3(t *testing.T) {
	r := tracingtest.Start(t)
	server := proxytest.StartServer(t, "greeter")
	off := tracingConfig(r, "off")
	off.RandomSampling = wrapperspb.Double(0)
	p := startTraced(t, outbound, off, server.Addr())
	c := proxytest.Dial(t, p.Listener(t, outbound))
	for range 20 {
		c.MustCall(t, map[string]string{"interface": iface, "method": "m"})
	}

	b3cfg := tracingConfig(r, "b3")
	b3cfg.Propagation = []tracingv1.Tracing_Propagation{tracingv1.Tracing_B3}
	b3cfg.MetadataAttributes = []string{"tenant"}
	pb := startTraced(t, outbound, b3cfg, server.Addr())
	cb := proxytest.Dial(t, pb.Listener(t, outbound))
	cb.MustCall(t, map[string]string{"interface": iface, "method": "m", "tenant": "acme"})

	spans := waitSpans(t, r, 1)
	if len(spans) != 1 || spans[0].ServiceName != "b3" {
		t.Fatalf("spans %+v, want only the B3 proxy's one", spans)
	}
	if spans[0].Attributes["rpc.request.metadata.tenant"] != "acme" {
		t.Errorf("metadata attribute missing: %v", spans[0].Attributes)
	}
	got := server.Received()
	for _, md := range got[:20] {
		if len(md) != 2 {
			t.Fatalf("an unsampled request reached the server with %v, want it untouched", md)
		}
	}
	want := spans[0].TraceID + "-" + spans[0].SpanID + "-1"
	if got[20]["b3"] != want || got[20]["traceparent"] != "" {
		t.Errorf("B3 request reached the server with b3=%q traceparent=%q, want b3=%q", got[20]["b3"], got[20]["traceparent"], want)
	}
}

// TestCollectorDownNeverFailsRequests: with no collector listening, requests are served and
// the proxy still shuts down (its exporter gives up within the shutdown deadline).
func TestCollectorDownNeverFailsRequests(t *testing.T) {
	server := proxytest.StartServer(t, "greeter")
	cfg := &tracingv1.Tracing{Otlp: &tracingv1.Otlp{
		Endpoint: proxytest.ClosedPort(t), Insecure: true,
		BatchTimeout: durationpb.New(10 * time.Millisecond), Timeout: durationpb.New(100 * time.Millisecond),
		MaxQueueSize: 4, MaxExportBatchSize: 2,
	}}
	p := startTraced(t, outbound, cfg, server.Addr())
	c := proxytest.Dial(t, p.Listener(t, outbound))
	for range 50 {
		if reply := c.MustCall(t, map[string]string{"interface": iface, "method": "m"}); reply.Error {
			t.Fatalf("request failed with the collector down: %s", reply.Payload)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  any
		want string
	}{
		{"no config", nil, "otlp.endpoint is required"},
		{"no endpoint", &tracingv1.Tracing{}, "otlp.endpoint is required"},
		{"sampling above 100", &tracingv1.Tracing{Otlp: &tracingv1.Otlp{Endpoint: "127.0.0.1:1"}, RandomSampling: wrapperspb.Double(101)}, "percentage"},
		{"batch above queue", &tracingv1.Tracing{Otlp: &tracingv1.Otlp{Endpoint: "127.0.0.1:1", MaxQueueSize: 2, MaxExportBatchSize: 3}}, "exceeds"},
		{"bad timeout", &tracingv1.Tracing{Otlp: &tracingv1.Otlp{Endpoint: "127.0.0.1:1", Timeout: durationpb.New(-time.Second)}}, "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := filter.Build(tracing.Name, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func portOf(addr string) string { return addr[strings.LastIndexByte(addr, ':')+1:] }

// TestReadmeExample loads the README's example through the bootstrap loader: it is a valid
// configuration, and with its collector absent requests are still served.
func TestReadmeExample(t *testing.T) {
	server := proxytest.StartServer(t, "greeter")
	example := proxytest.ExampleFilters(t, "README.md")
	example = strings.Replace(example, "127.0.0.1:4317", proxytest.ClosedPort(t), 1)
	p := proxytest.StartProxy(t, proxytest.LoadBootstrap(t, outbound, example, server.Addr()))
	c := proxytest.Dial(t, p.Listener(t, outbound))
	if reply := c.MustCall(t, map[string]string{"interface": iface, "method": "m"}); reply.Error {
		t.Fatalf("call failed: %s", reply.Payload)
	}
}
