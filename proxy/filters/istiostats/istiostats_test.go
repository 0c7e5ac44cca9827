package istiostats_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	istiostatsv1 "github.com/breeze-mesh/breeze/api/filters/istiostats/v1alpha1"
	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/filter"
	"github.com/breeze-mesh/breeze/proxy/filters/istiostats"
	"github.com/breeze-mesh/breeze/proxy/internal/proxytest"
	"github.com/breeze-mesh/breeze/proxy/internal/testcodec"
	dto "github.com/prometheus/client_model/go"
)

const (
	outbound  = "outbound|20880||greeter.shop.svc.cluster.local"
	deadHost  = "outbound|20880||dead.shop.svc.cluster.local"
	iface     = "org.example.Greeter"
	routeWait = 300 * time.Millisecond
)

// startOutbound runs a proxy whose outbound listener has the istio_stats filter with cfg,
// routing interface iface to a real server and interface "dead" to a closed port.
func startOutbound(t *testing.T, cfg *istiostatsv1.IstioStats) (*proxytest.Proxy, *proxytest.Client) {
	server := proxytest.StartServer(t, "greeter")
	p := proxytest.StartProxy(t, &config.Bootstrap{
		Listeners: []*config.Listener{{
			Name: outbound, Address: "127.0.0.1:0", Codec: proxytest.Codec,
			Filters: []config.Filter{{Name: istiostats.Name, Config: cfg}},
			Routes: &config.RouteTable{Routes: []*config.Route{
				{Name: "greeter", Match: proxytest.Exact("interface", iface), Cluster: outbound, Timeout: routeWait},
				{Name: "dead", Match: proxytest.Exact("interface", "dead"), Cluster: deadHost},
			}},
		}},
		Clusters: []*config.Cluster{proxytest.Cluster(outbound, server.Addr()), proxytest.Cluster(deadHost, proxytest.ClosedPort(t))},
	})
	return p, proxytest.Dial(t, p.Listener(t, outbound))
}

// TestIstioMetricsMatchTheTraffic sends successes, error responses, a timeout, an
// unroutable request and one to a dead upstream, then scrapes /stats/prometheus and checks
// every count, byte sum, bucket and label against what was sent.
func TestIstioMetricsMatchTheTraffic(t *testing.T) {
	p, c := startOutbound(t, &istiostatsv1.IstioStats{
		Workload: &istiostatsv1.Workload{Name: "shop-client", Namespace: "shop", App: "client", Version: "v1"},
	})
	sent := map[string]int{} // bytes per outcome ("0/-", "1/-", "1/UT", ...)
	call := func(md map[string]string, wantErr bool, outcome string) {
		t.Helper()
		r := c.MustCall(t, md)
		if r.Error != wantErr {
			t.Fatalf("call %v: error reply %v, want %v (%s)", md, r.Error, wantErr, r.Payload)
		}
		sent[outcome] += len(testcodec.Frame('Q', 0, md, "hi"))
	}
	for range 3 {
		call(map[string]string{"interface": iface, "method": "sayHello"}, false, "0/-")
	}
	for range 2 {
		call(map[string]string{"interface": iface, "method": proxytest.MethodFail}, true, "1/-")
	}
	call(map[string]string{"interface": iface, "method": proxytest.MethodHold}, true, "1/UT")
	call(map[string]string{"interface": "org.example.Nobody", "method": "x"}, true, "1/NR")
	call(map[string]string{"interface": "dead", "method": "x"}, true, "1/UF")

	// A request's metrics are recorded just after its reply is queued: wait for all eight.
	m := waitTotal(t, p, 8)
	self := map[string]string{
		"reporter": "source", "source_workload": "shop-client", "source_workload_namespace": "shop",
		"source_app": "client", "source_version": "v1", "source_canonical_service": "client",
		"source_canonical_revision": "v1", "source_principal": "unknown", "source_cluster": "unknown",
		"destination_workload": "unknown", "destination_workload_namespace": "unknown",
		"request_protocol": proxytest.Codec, "connection_security_policy": "unknown", "grpc_response_status": "",
	}
	greeter := with(self, map[string]string{
		"destination_service":           "greeter.shop.svc.cluster.local",
		"destination_service_name":      "greeter",
		"destination_service_namespace": "shop",
	})
	cases := []struct {
		outcome string
		labels  map[string]string
	}{
		{"0/-", with(greeter, map[string]string{"response_code": "0", "response_flags": "-"})},
		{"1/-", with(greeter, map[string]string{"response_code": "1", "response_flags": "-"})},
		{"1/UT", with(greeter, map[string]string{"response_code": "1", "response_flags": "UT"})},
		{"1/NR", with(self, map[string]string{"response_code": "1", "response_flags": "NR", "destination_service": "unknown"})},
		{"1/UF", with(self, map[string]string{"response_code": "1", "response_flags": "UF",
			"destination_service": "dead.shop.svc.cluster.local", "destination_service_name": "dead"})},
	}
	want := map[string]float64{"0/-": 3, "1/-": 2, "1/UT": 1, "1/NR": 1, "1/UF": 1}
	for _, tc := range cases {
		series := m.Series("istio_requests_total", tc.labels)
		if len(series) != 1 {
			t.Errorf("%s: %d istio_requests_total series with %v, want 1", tc.outcome, len(series), tc.labels)
			continue
		}
		if got := series[0].GetCounter().GetValue(); got != want[tc.outcome] {
			t.Errorf("%s: istio_requests_total = %v, want %v", tc.outcome, got, want[tc.outcome])
		}
		if n := len(series[0].GetLabel()); n != 25 {
			t.Errorf("%s: %d labels, want Istio's 25", tc.outcome, n)
		}
		for _, name := range []string{"istio_request_duration_milliseconds", "istio_request_bytes", "istio_response_bytes"} {
			hs := m.Series(name, tc.labels)
			if len(hs) != 1 || hs[0].GetHistogram().GetSampleCount() != uint64(want[tc.outcome]) {
				t.Errorf("%s: %s has %d series (count %v), want one with count %v", tc.outcome, name, len(hs), sampleCount(hs), want[tc.outcome])
			}
		}
		reqBytes := m.Series("istio_request_bytes", tc.labels)
		if len(reqBytes) == 1 && reqBytes[0].GetHistogram().GetSampleSum() != float64(sent[tc.outcome]) {
			t.Errorf("%s: istio_request_bytes sum = %v, want %d (the frames sent)", tc.outcome, reqBytes[0].GetHistogram().GetSampleSum(), sent[tc.outcome])
		}
	}
	// The timed-out request waited for the route's timeout: it cannot be in a bucket below it.
	ut := m.Series("istio_request_duration_milliseconds", with(greeter, map[string]string{"response_flags": "UT"}))
	if len(ut) != 1 {
		t.Fatalf("%d duration series for the timeout", len(ut))
	}
	for _, b := range ut[0].GetHistogram().GetBucket() {
		if b.GetUpperBound() < float64(routeWait.Milliseconds()) && b.GetCumulativeCount() != 0 {
			t.Errorf("timed-out request counted in bucket le=%v", b.GetUpperBound())
		}
	}
	// Local replies have no upstream response: 0 response bytes.
	nr := m.Series("istio_response_bytes", map[string]string{"response_flags": "NR"})
	if len(nr) != 1 || nr[0].GetHistogram().GetSampleSum() != 0 {
		t.Errorf("istio_response_bytes for a local reply: %v", nr)
	}

	// Breeze's per-method metrics.
	for _, tc := range []struct {
		method, code, flags string
		want                float64
	}{
		{"sayHello", "0", "-", 3},
		{proxytest.MethodFail, "1", "-", 2},
		{proxytest.MethodHold, "1", "UT", 1},
	} {
		labels := map[string]string{"listener": outbound, "service": iface, "method": tc.method, "response_code": tc.code, "response_flags": tc.flags}
		if got := m.Counter("breeze_service_requests_total", labels); got != tc.want {
			t.Errorf("breeze_service_requests_total%v = %v, want %v", labels, got, tc.want)
		}
	}
	hs := m.Series("breeze_service_request_duration_seconds", map[string]string{"service": iface, "method": "sayHello"})
	if len(hs) != 1 || hs[0].GetHistogram().GetSampleCount() != 3 {
		t.Errorf("breeze_service_request_duration_seconds for sayHello: %v", hs)
	}
}

// TestMethodCardinalityIsCapped sends more distinct methods than the cap: the first ones
// get their own series, every later one is counted as "other", and nothing is lost.
func TestMethodCardinalityIsCapped(t *testing.T) {
	p, c := startOutbound(t, &istiostatsv1.IstioStats{MethodMetrics: &istiostatsv1.MethodMetrics{MaxMethods: 3}})
	for i := range 10 {
		c.MustCall(t, map[string]string{"interface": iface, "method": fmt.Sprintf("m%d", i)})
	}
	// A method that is not valid UTF-8 and very long must neither panic nor add a series.
	c.MustCall(t, map[string]string{"interface": iface, "method": "\xff" + strings.Repeat("z", 1000)})

	m := waitTotal(t, p, 11)
	series := m.Series("breeze_service_requests_total", map[string]string{"listener": outbound})
	methods := map[string]float64{}
	for _, s := range series {
		methods[proxytest.Label(s, "method")] += s.GetCounter().GetValue()
	}
	want := map[string]float64{"m0": 1, "m1": 1, "m2": 1, "other": 8}
	if fmt.Sprint(methods) != fmt.Sprint(want) {
		t.Errorf("requests by method %v, want %v", methods, want)
	}
	// The Istio metrics have no method label: one series for all eleven.
	if got := m.Counter("istio_requests_total", map[string]string{"response_code": "0"}); got != 11 {
		t.Errorf("istio_requests_total = %v, want 11", got)
	}
}

// TestInboundReportsAsDestination: on an "inbound|..." listener the proxy is the destination,
// and its workload labels come from the node's metadata when the config gives none.
func TestInboundReportsAsDestination(t *testing.T) {
	const inbound = "inbound|20880||"
	const cluster = "inbound|20880||greeter.shop.svc.cluster.local"
	server := proxytest.StartServer(t, "greeter")
	p := proxytest.StartProxy(t, &config.Bootstrap{
		Listeners: []*config.Listener{{
			Name: inbound, Address: "127.0.0.1:0", Codec: proxytest.Codec,
			Filters: []config.Filter{{Name: istiostats.AerakiName}},
			Routes:  &config.RouteTable{Routes: []*config.Route{{Name: "all", Cluster: cluster}}},
		}},
		Clusters: []*config.Cluster{proxytest.Cluster(cluster, server.Addr())},
		Node: config.Node{ID: "greeter-1", Metadata: map[string]any{
			"namespace": "shop", "workload": "greeter-v2", "cluster_id": "east",
			"labels": map[string]any{"app": "greeter", "version": "v2", "service.istio.io/canonical-name": "greeter-svc"},
		}},
	})
	c := proxytest.Dial(t, p.Listener(t, inbound))
	c.MustCall(t, map[string]string{"interface": iface, "method": "sayHello"})

	labels := map[string]string{
		"reporter": "destination", "destination_workload": "greeter-v2", "destination_workload_namespace": "shop",
		"destination_app": "greeter", "destination_version": "v2", "destination_canonical_service": "greeter-svc",
		"destination_canonical_revision": "v2", "destination_cluster": "east",
		"destination_service": "greeter.shop.svc.cluster.local", "source_workload": "unknown",
		"connection_security_policy": "none", "response_code": "0",
	}
	if got := waitTotal(t, p, 1).Counter("istio_requests_total", labels); got != 1 {
		t.Errorf("istio_requests_total%v = %v, want 1", labels, got)
	}
}

// TestRebuildKeepsCounting applies a second config version: the filter is rebuilt on the
// same metric families (no duplicate registration) and keeps counting the same series.
func TestRebuildKeepsCounting(t *testing.T) {
	server := proxytest.StartServer(t, "greeter")
	cfg := func(route string) *config.Bootstrap {
		return &config.Bootstrap{
			Listeners: []*config.Listener{{
				Name: outbound, Address: "127.0.0.1:0", Codec: proxytest.Codec,
				Filters: []config.Filter{{Name: istiostats.Name}},
				Routes:  &config.RouteTable{Routes: []*config.Route{{Name: route, Cluster: outbound}}},
			}},
			Clusters: []*config.Cluster{proxytest.Cluster(outbound, server.Addr())},
		}
	}
	p := proxytest.StartProxy(t, cfg("first"))
	c := proxytest.Dial(t, p.Listener(t, outbound))
	c.MustCall(t, map[string]string{"interface": iface, "method": "sayHello"})
	if err := p.Apply(cfg("second")); err != nil {
		t.Fatal(err)
	}
	c.MustCall(t, map[string]string{"interface": iface, "method": "sayHello"})
	m := waitTotal(t, p, 2)
	if got := m.Counter("breeze_service_requests_total", map[string]string{"method": "sayHello"}); got != 2 {
		t.Errorf("breeze_service_requests_total = %v, want 2", got)
	}
}

func TestWrongConfigTypeIsRefused(t *testing.T) {
	_, err := filter.Build(istiostats.Name, &istiostatsv1.Workload{})
	if err == nil || !strings.Contains(err.Error(), "IstioStats") {
		t.Fatalf("error %v, want one naming the expected type", err)
	}
}

// waitTotal scrapes until istio_requests_total adds up to n over every series (the metrics
// of a request are recorded just after its reply is queued, so a client can be faster),
// failing the test if it never does or goes past n.
func waitTotal(t *testing.T, p *proxytest.Proxy, n float64) proxytest.Families {
	t.Helper()
	var m proxytest.Families
	proxytest.WaitFor(t, fmt.Sprintf("istio_requests_total = %v", n), func() error {
		m = p.Scrape(t)
		if got := m.Counter("istio_requests_total", nil); got != n {
			return fmt.Errorf("istio_requests_total = %v", got)
		}
		return nil
	})
	return m
}

func with(base, extra map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

func sampleCount(hs []*dto.Metric) []uint64 {
	var out []uint64
	for _, h := range hs {
		out = append(out, h.GetHistogram().GetSampleCount())
	}
	return out
}

// TestReadmeExample loads the README's example through the bootstrap loader and checks the
// labels it promises.
func TestReadmeExample(t *testing.T) {
	server := proxytest.StartServer(t, "greeter")
	cfg := proxytest.LoadBootstrap(t, outbound, proxytest.ExampleFilters(t, "README.md"), server.Addr())
	cfg.Clusters[0].Name = outbound
	cfg.Listeners[0].Routes.Routes[0].Cluster = outbound
	p := proxytest.StartProxy(t, cfg)
	c := proxytest.Dial(t, p.Listener(t, outbound))
	c.MustCall(t, map[string]string{"interface": iface, "method": "sayHello"})
	labels := map[string]string{"reporter": "source", "source_workload": "shop-client", "source_workload_namespace": "shop",
		"destination_service": "greeter.shop.svc.cluster.local", "destination_service_name": "greeter",
		"destination_service_namespace": "shop", "response_code": "0", "response_flags": "-"}
	if got := waitTotal(t, p, 1).Counter("istio_requests_total", labels); got != 1 {
		t.Errorf("istio_requests_total%v = %v, want 1", labels, got)
	}
}
