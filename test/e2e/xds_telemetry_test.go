package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/breeze-mesh/breeze/examples/dubbo/greeter"
)

// The telemetry filters the control plane puts on every listener, in order (docs/xds.md).
var telemetryFilters = []string{
	"breeze.meta_protocol.filters.metadata_exchange",
	"breeze.meta_protocol.filters.istio_stats",
}

// TestXDSTelemetry: `breeze control` gives both the caller's proxy (outbound listener,
// workload frontend in namespace web) and the Greeter v1 instance's sidecar (inbound
// listener, workload greeter-v1 in namespace e2e) metadata_exchange and istio_stats,
// without a word of telemetry configuration: each proxy names itself from its own node
// metadata. dubbo-go calls go client → client proxy → sidecar → dubbo-go server; scraped
// with the Prometheus text parser, the client proxy's istio_requests_total{reporter="source"}
// names the server's workload (learnt from the sidecar's peer metadata on the responses)
// and the sidecar's {reporter="destination"} the caller's (from the requests), with the
// service's host as destination_service, and each counts exactly the calls made.
func TestXDSTelemetry(t *testing.T) {
	requireE2E(t)
	mesh := newMeshDir(t)
	port, inboundPort := freePort(t), freePort(t)
	server := startGreeter(t, "v1", freePort(t))
	mesh.sidecarGreeterService(port, inboundPort)
	control := startControl(t, mesh.dir, loopback(freePort(t)))

	inbound := "inbound|" + strconv.Itoa(inboundPort) + "||"
	sidecar := startXDSProxy(t, control.xds, xdsNode{id: "greeter-v1-sidecar", metadata: map[string]any{
		"namespace":         meshNamespace,
		"workload":          "greeter-v1",
		"labels":            map[string]any{"app": "greeter", "version": "v1"},
		"inbound_ports":     []int{inboundPort},
		"inbound_bind":      "127.0.0.1",
		"inbound_app_ports": map[string]any{strconv.Itoa(inboundPort): server.port},
		// Its own outbound listener for the Greeter must not take the client proxy's address.
		"outbound_bind": "127.0.0.2",
	}}, inbound)
	// The caller lives in another namespace (the ServiceEntry is exported everywhere), so
	// that the two sides' namespace labels differ.
	outbound := outboundListener(greeterHost, port)
	client := startXDSProxy(t, control.xds, xdsNode{id: "frontend-1", metadata: map[string]any{
		"namespace":     "web",
		"workload":      "frontend",
		"labels":        map[string]any{"app": "frontend", "version": "v3"},
		"outbound_bind": "127.0.0.1",
	}}, outbound)
	client.addr = client.dump(t).listenerAddr(t, outbound)

	// Both listeners run the telemetry filters, and have their routes: a call made now
	// is answered, so every call below is counted once, as a success or the server's error.
	for _, side := range []struct {
		proxy    *proxyProcess
		listener string
	}{{client, outbound}, {sidecar, inbound}} {
		waitFor(t, side.listener+" runs the telemetry filters with its routes", func() error {
			return checkListenerFilters(t, side.proxy, side.listener, telemetryFilters)
		})
	}

	const okCalls = 5
	ctx := context.Background()
	c := dialGreeter(t, client.addr, greeter.Interface, "1.0.0", 10*time.Second)
	for i := range okCalls {
		want := fmt.Sprintf("hello caller-%d from v1", i)
		if reply, err := c.SayHello(ctx, fmt.Sprint("caller-", i)); err != nil || reply != want {
			t.Fatalf("sayHello: %q, %v; want %q", reply, err, want)
		}
	}
	// An error answer from the server still carries the sidecar's peer metadata.
	var reply string
	if err := c.Call(ctx, "noSuchMethod", []any{"x"}, &reply); err == nil {
		t.Fatalf("a method the server lacks answered %q", reply)
	}

	caller := map[string]string{
		"source_workload": "frontend", "source_workload_namespace": "web", "source_app": "frontend",
		"source_version": "v3", "source_canonical_service": "frontend", "source_canonical_revision": "v3",
	}
	provider := map[string]string{
		"destination_workload": "greeter-v1", "destination_workload_namespace": meshNamespace,
		"destination_app": "greeter", "destination_version": "v1",
		"destination_canonical_service": "greeter", "destination_canonical_revision": "v1",
		"destination_service": greeterHost, "destination_service_name": "greeter",
		"destination_service_namespace": meshNamespace, "request_protocol": "dubbo",
	}
	const total = okCalls + 1
	clientFams := scrapeUntil(t, client, total)
	sidecarFams := scrapeUntil(t, sidecar, total)
	for _, tc := range []struct {
		proxy  string
		fams   map[string]*dto.MetricFamily
		labels map[string]string
		want   float64
	}{
		{"client", clientFams, merge(caller, provider, map[string]string{"reporter": "source", "response_code": "0", "response_flags": "-"}), okCalls},
		{"client", clientFams, merge(caller, provider, map[string]string{"reporter": "source", "response_code": "1", "response_flags": "-"}), 1},
		{"sidecar", sidecarFams, merge(caller, provider, map[string]string{"reporter": "destination", "response_code": "0", "response_flags": "-"}), okCalls},
		{"sidecar", sidecarFams, merge(caller, provider, map[string]string{"reporter": "destination", "response_code": "1", "response_flags": "-"}), 1},
	} {
		if got := counterTotal(seriesWith(tc.fams, "istio_requests_total", tc.labels)); got != tc.want {
			t.Errorf("%s proxy: istio_requests_total%v = %v, want %v", tc.proxy, tc.labels, got, tc.want)
		}
	}
	if t.Failed() {
		for name, fams := range map[string]map[string]*dto.MetricFamily{"client": clientFams, "sidecar": sidecarFams} {
			for _, m := range fams["istio_requests_total"].GetMetric() {
				t.Logf("%s: istio_requests_total %v %v", name, m.GetLabel(), m.GetCounter().GetValue())
			}
		}
	}
}

// TestXDSTelemetryOff: `breeze control --telemetry=false` sends listeners without the
// telemetry filters; calls go through and the proxy reports no istio_* metrics.
func TestXDSTelemetryOff(t *testing.T) {
	requireE2E(t)
	mesh := newMeshDir(t)
	port := freePort(t)
	v1 := startGreeter(t, "v1", freePort(t))
	mesh.greeterService(port, v1.port, freePort(t))
	mesh.greeterRoutes("off", "v1")
	control := startControl(t, mesh.dir, loopback(freePort(t)), "--telemetry=false")
	listener := outboundListener(greeterHost, port)
	client := startXDSProxy(t, control.xds, clientNode("client-1", meshNamespace, "127.0.0.1"), listener)
	client.addr = client.dump(t).listenerAddr(t, listener)
	waitFor(t, listener+" has its routes", func() error {
		return checkListenerFilters(t, client, listener, nil)
	})
	c := dialGreeter(t, client.addr, greeter.Interface, "1.0.0", 10*time.Second)
	if reply, err := c.SayHello(context.Background(), "quiet"); err != nil || reply != "hello quiet from v1" {
		t.Fatalf("sayHello: %q, %v", reply, err)
	}
	// No istio_stats filter was built (the config dump above): no series can appear later.
	if fams := client.scrape(t); fams["istio_requests_total"] != nil {
		t.Errorf("istio_requests_total is reported with telemetry off: %v", fams["istio_requests_total"].GetMetric())
	}
}

// checkListenerFilters says why listener on p is not yet ready for counting: missing or
// without its route table. Filters other than want fail the test at once: the control plane
// sends them with the listener's first version, so there is nothing to wait for.
func checkListenerFilters(t *testing.T, p *proxyProcess, listener string, want []string) error {
	t.Helper()
	resp, err := p.http.Get("http://" + p.admin + "/config_dump")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var dump struct {
		Listeners []struct {
			Name    string
			Routes  *struct{ Name string }
			Filters []struct{ Name string }
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&dump); err != nil {
		return fmt.Errorf("config_dump: %w", err)
	}
	for _, l := range dump.Listeners {
		if l.Name != listener {
			continue
		}
		var names []string
		for _, f := range l.Filters {
			names = append(names, f.Name)
		}
		if !slices.Equal(names, want) {
			t.Fatalf("listener %s has filters %v, want %v", listener, names, want)
		}
		if l.Routes == nil {
			return fmt.Errorf("listener %s has no route table yet", listener)
		}
		return nil
	}
	return fmt.Errorf("no listener %s yet", listener)
}
