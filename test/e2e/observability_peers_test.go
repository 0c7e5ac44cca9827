package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/examples/dubbo/greeter"
	dto "github.com/prometheus/client_model/go"
)

// TestObservabilityPeerMetadata: a dubbo-go client calls through two proxy processes, the
// caller's sidecar (outbound listener, workload frontend) and the provider's (inbound
// listener, workload greeter-v2), to a dubbo-go server, with metadata_exchange and
// istio_stats on both. Scraped with the Prometheus text parser, each proxy's
// istio_requests_total names the other side's workload — the outbound proxy's
// destination_* labels are the provider's, the inbound proxy's source_* labels the
// caller's — and breeze_service_requests_total's response_status is the Dubbo status the
// client got: 20 for answers (an exception included), 60 SERVICE_NOT_FOUND for the
// inbound proxy's no-route reply.
func TestObservabilityPeerMetadata(t *testing.T) {
	requireE2E(t)
	g := startGreeter(t, "v2", freePort(t))
	inbound := startObservedProxy(t, "observability-peers.yaml", observedPorts{
		Listener: "inbound|20880||", Upstream: g.port, Interface: greeter.Interface,
		Workload: "greeter-v2", Namespace: "shop", App: "greeter", Version: "v2",
	})
	outbound := startObservedProxy(t, "observability-peers.yaml", observedPorts{
		Listener: "outbound|20880||greeter.shop.svc.cluster.local", Upstream: portOf(t, inbound.addr),
		Interface: "org.apache.dubbo.sample.", Workload: "frontend", Namespace: "web", App: "frontend", Version: "v1",
	})

	ctx := context.Background()
	const okCalls = 3
	c := dialGreeter(t, outbound.addr, greeter.Interface, "1.0.0", 10*time.Second)
	for i := range okCalls {
		if _, err := c.SayHello(ctx, fmt.Sprint("caller-", i)); err != nil {
			t.Fatalf("sayHello: %v", err)
		}
	}
	var reply string
	if err := c.Call(ctx, "noSuchMethod", []any{"x"}, &reply); err == nil {
		t.Fatalf("a method the server lacks answered %q", reply)
	}
	// Routed by the outbound proxy, refused by the inbound one.
	nobody := dialGreeter(t, outbound.addr, "org.apache.dubbo.sample.Nobody", "1.0.0", 10*time.Second)
	if _, err := nobody.SayHello(ctx, "x"); err == nil {
		t.Fatal("a call the inbound proxy cannot route succeeded")
	}

	frontend := map[string]string{
		"source_workload": "frontend", "source_workload_namespace": "web", "source_app": "frontend",
		"source_version": "v1", "source_canonical_service": "frontend", "source_canonical_revision": "v1",
	}
	provider := map[string]string{
		"destination_workload": "greeter-v2", "destination_workload_namespace": "shop", "destination_app": "greeter",
		"destination_version": "v2", "destination_canonical_service": "greeter", "destination_canonical_revision": "v2",
		"destination_service": "greeter.shop.svc.cluster.local",
	}
	const total = okCalls + 2
	outFams := scrapeUntil(t, outbound, total)
	inFams := scrapeUntil(t, inbound, total)

	for _, tc := range []struct {
		proxy  string
		fams   map[string]*dto.MetricFamily
		labels map[string]string
		want   float64
	}{
		{"outbound", outFams, merge(frontend, provider, map[string]string{"reporter": "source", "response_code": "0"}), okCalls},
		{"outbound", outFams, merge(frontend, provider, map[string]string{"reporter": "source", "response_code": "1"}), 1},
		// The inbound proxy's own reply carries no response mutation: the provider is unknown.
		{"outbound", outFams, merge(frontend, map[string]string{"reporter": "source", "destination_workload": "unknown", "response_code": "1"}), 1},
		{"inbound", inFams, merge(frontend, provider, map[string]string{"reporter": "destination", "response_code": "0"}), okCalls},
		{"inbound", inFams, merge(frontend, provider, map[string]string{"reporter": "destination", "response_code": "1", "response_flags": "-"}), 1},
		{"inbound", inFams, merge(frontend, provider, map[string]string{"reporter": "destination", "response_flags": "NR"}), 1},
	} {
		if got := counterTotal(seriesWith(tc.fams, "istio_requests_total", tc.labels)); got != tc.want {
			t.Errorf("%s proxy: istio_requests_total%v = %v, want %v", tc.proxy, tc.labels, got, tc.want)
		}
	}

	for _, tc := range []struct {
		proxy  string
		fams   map[string]*dto.MetricFamily
		labels map[string]string
		want   float64
	}{
		{"outbound", outFams, map[string]string{"method": "sayHello", "response_code": "0", "response_status": "20"}, okCalls},
		{"outbound", outFams, map[string]string{"method": "noSuchMethod", "response_code": "1", "response_status": "20"}, 1},
		{"outbound", outFams, map[string]string{"service": "org.apache.dubbo.sample.Nobody", "response_flags": "-", "response_status": "60"}, 1},
		{"inbound", inFams, map[string]string{"method": "sayHello", "response_code": "0", "response_status": "20"}, okCalls},
		{"inbound", inFams, map[string]string{"method": "noSuchMethod", "response_code": "1", "response_status": "20"}, 1},
		{"inbound", inFams, map[string]string{"service": "org.apache.dubbo.sample.Nobody", "response_flags": "NR", "response_status": "-"}, 1},
	} {
		if got := counterTotal(seriesWith(tc.fams, "breeze_service_requests_total", tc.labels)); got != tc.want {
			t.Errorf("%s proxy: breeze_service_requests_total%v = %v, want %v", tc.proxy, tc.labels, got, tc.want)
		}
	}
	if t.Failed() {
		for name, fams := range map[string]map[string]*dto.MetricFamily{"outbound": outFams, "inbound": inFams} {
			for _, fam := range []string{"istio_requests_total", "breeze_service_requests_total"} {
				for _, m := range fams[fam].GetMetric() {
					t.Logf("%s: %s %v %v", name, fam, m.GetLabel(), m.GetCounter().GetValue())
				}
			}
		}
	}
}

// scrapeUntil scrapes p until istio_requests_total adds up to n (a request's metrics are
// recorded just after its reply is queued, so the client can be faster).
func scrapeUntil(t *testing.T, p *proxyProcess, n float64) map[string]*dto.MetricFamily {
	t.Helper()
	var fams map[string]*dto.MetricFamily
	waitFor(t, fmt.Sprintf("istio_requests_total = %v", n), func() error {
		fams = p.scrape(t)
		if got := counterTotal(fams["istio_requests_total"].GetMetric()); got != n {
			return fmt.Errorf("istio_requests_total = %v", got)
		}
		return nil
	})
	return fams
}

// counterTotal adds up counters.
func counterTotal(ms []*dto.Metric) float64 {
	var sum float64
	for _, m := range ms {
		sum += m.GetCounter().GetValue()
	}
	return sum
}
