package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/examples/dubbo/greeter"
	"github.com/breeze-mesh/breeze/proxy/filters/tracing/tracingtest"
	tracev1 "go.opentelemetry.io/proto/otlp/trace/v1"
)

// TestObservabilityTraceAcrossTwoProxies: a dubbo-go client calls through two proxy
// processes, the caller's sidecar (outbound listener: client spans) and the provider's
// (inbound listener: server spans), to a dubbo-go server. A real OTLP/gRPC receiver started
// by the test gets both spans in one trace, the server span a child of the client span, and
// the server application finds the inbound proxy's span in its traceparent attachment.
func TestObservabilityTraceAcrossTwoProxies(t *testing.T) {
	requireE2E(t)
	receiver := tracingtest.Start(t)
	g := startGreeter(t, "v1", freePort(t))
	inbound := startObservedProxy(t, "observability-trace.yaml", observedPorts{
		Listener: "inbound|20880||", Upstream: g.port, Collector: receiver.Addr(), Service: "greeter-sidecar",
	})
	outbound := startObservedProxy(t, "observability-trace.yaml", observedPorts{
		Listener: "outbound|20880||greeter.shop.svc.cluster.local", Upstream: portOf(t, inbound.addr),
		Collector: receiver.Addr(), Service: "client-sidecar",
	})

	c := dialGreeter(t, outbound.addr, greeter.Interface, "1.0.0", 10*time.Second)
	seen, err := c.Attachment(context.Background(), "traceparent")
	if err != nil {
		t.Fatal(err)
	}

	var spans []tracingtest.Span
	waitFor(t, "two spans at the OTLP receiver", func() error {
		spans = receiver.Spans()
		if len(spans) < 2 {
			return fmt.Errorf("%d spans so far", len(spans))
		}
		return nil
	})
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2: %+v", len(spans), spans)
	}
	client, server := spans[0], spans[1]
	if client.Kind != tracev1.Span_SPAN_KIND_CLIENT {
		client, server = server, client
	}
	if client.Kind != tracev1.Span_SPAN_KIND_CLIENT || server.Kind != tracev1.Span_SPAN_KIND_SERVER {
		t.Fatalf("span kinds %v, %v: want a client and a server span", client.Kind, server.Kind)
	}
	if client.ServiceName != "client-sidecar" || server.ServiceName != "greeter-sidecar" {
		t.Errorf("service names %q (client span), %q (server span)", client.ServiceName, server.ServiceName)
	}
	if client.TraceID != server.TraceID {
		t.Errorf("two traces: client %s, server %s", client.TraceID, server.TraceID)
	}
	if server.ParentSpanID != client.SpanID {
		t.Errorf("server span's parent %q, want the client span %q", server.ParentSpanID, client.SpanID)
	}
	for _, s := range []tracingtest.Span{client, server} {
		if s.Name != greeter.Interface+"/"+greeter.MethodAttachment {
			t.Errorf("%v span named %q", s.Kind, s.Name)
		}
		if s.Attributes["rpc.system"] != "apache_dubbo" || s.Attributes["rpc.method"] != greeter.MethodAttachment || s.Attributes["rpc.service"] != greeter.Interface {
			t.Errorf("%v span attributes %v", s.Kind, s.Attributes)
		}
		if s.StatusCode == tracev1.Status_STATUS_CODE_ERROR {
			t.Errorf("%v span has an error status", s.Kind)
		}
	}
	if want := "00-" + server.TraceID + "-" + server.SpanID + "-01"; seen != want {
		t.Errorf("the server application saw traceparent %q, want %q (the inbound proxy's span)", seen, want)
	}
}

// portOf returns the port of a loopback host:port.
func portOf(t *testing.T, addr string) int {
	t.Helper()
	var port int
	if _, err := fmt.Sscanf(addr, "127.0.0.1:%d", &port); err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return port
}
