package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/examples/dubbo/greeter"
	dto "github.com/prometheus/client_model/go"
)

// Counts of the traffic observedTraffic sends, by outcome.
const (
	okCalls      = 4 // sayHello, answered
	errorCalls   = 1 // a method the server does not have: an error response
	noRouteCalls = 2 // an interface no route matches: the proxy answers NR
	timeoutCalls = 1 // slowHello, held by the server past the route's 0.3s timeout: UT
	slowTimeout  = 300 * time.Millisecond
)

// observedSetup is a greeter behind a proxy with istio_stats and a JSON access log, after
// observedTraffic.
type observedSetup struct {
	proxy     *proxyProcess
	greeter   *greeterServer
	accessLog string
}

// observedTraffic starts the setup and sends real dubbo-go calls through it: successes, an
// error response, unroutable calls and a timeout.
func observedTraffic(t *testing.T) observedSetup {
	t.Helper()
	g := startGreeter(t, "v1", freePort(t))
	logPath := filepath.Join(t.TempDir(), "access.log")
	p := startObservedProxy(t, "observability-metrics.yaml", observedPorts{Upstream: g.port, AccessLog: logPath})
	ctx := context.Background()

	c := dialGreeter(t, p.addr, greeter.Interface, "1.0.0", 10*time.Second)
	for i := range okCalls {
		if _, err := c.SayHello(ctx, fmt.Sprint("caller-", i)); err != nil {
			t.Fatalf("sayHello: %v", err)
		}
	}
	var reply string
	for range errorCalls {
		if err := c.Call(ctx, "noSuchMethod", []any{"x"}, &reply); err == nil {
			t.Fatalf("a method the server lacks answered %q", reply)
		}
	}
	if _, err := c.SlowHello(ctx, "held"); err == nil || !strings.Contains(err.Error(), "breeze:") {
		t.Fatalf("slowHello past the route timeout: %v, want the proxy's timeout error", err)
	}
	nobody := dialGreeter(t, p.addr, "org.apache.dubbo.sample.Nobody", "1.0.0", 10*time.Second)
	for range noRouteCalls {
		if _, err := nobody.SayHello(ctx, "x"); err == nil {
			t.Fatal("an unrouted call succeeded")
		}
	}
	return observedSetup{proxy: p, greeter: g, accessLog: logPath}
}

// TestObservabilityMetrics scrapes /stats/prometheus after real traffic and checks Istio's
// request metrics and Breeze's per-method metrics against what was sent: counts, histogram
// buckets and labels, for successes, an error response and local replies.
func TestObservabilityMetrics(t *testing.T) {
	requireE2E(t)
	s := observedTraffic(t)
	// A request's metrics are recorded just after its reply is queued, so the client can
	// be a moment ahead: wait until every call is counted.
	want := okCalls + errorCalls + noRouteCalls + timeoutCalls
	var fams map[string]*dto.MetricFamily
	waitFor(t, fmt.Sprintf("istio_requests_total adds up to %d", want), func() error {
		fams = s.proxy.scrape(t)
		total := 0.0
		for _, m := range fams["istio_requests_total"].GetMetric() {
			total += m.GetCounter().GetValue()
		}
		if total != float64(want) {
			return fmt.Errorf("istio_requests_total adds up to %v", total)
		}
		return nil
	})

	base := map[string]string{
		"reporter": "source", "source_workload": "shop-client", "source_workload_namespace": "shop",
		"source_app": "shop-client", "source_version": "v1", "request_protocol": "dubbo",
		"destination_workload": "unknown", "source_principal": "unknown",
	}
	greeterDest := map[string]string{
		"destination_service": "greeter.shop.svc.cluster.local", "destination_service_name": "greeter",
		"destination_service_namespace": "shop",
	}
	cases := []struct {
		name   string
		labels map[string]string
		want   int
	}{
		{"success", merge(base, greeterDest, map[string]string{"response_code": "0", "response_flags": "-"}), okCalls},
		{"error response", merge(base, greeterDest, map[string]string{"response_code": "1", "response_flags": "-"}), errorCalls},
		{"timeout", merge(base, greeterDest, map[string]string{"response_code": "1", "response_flags": "UT"}), timeoutCalls},
		{"no route", merge(base, map[string]string{"destination_service": "unknown", "response_code": "1", "response_flags": "NR"}), noRouteCalls},
	}
	for _, tc := range cases {
		series := seriesWith(fams, "istio_requests_total", tc.labels)
		if len(series) != 1 || series[0].GetCounter().GetValue() != float64(tc.want) {
			t.Errorf("%s: istio_requests_total%v: %d series %v, want one of %d", tc.name, tc.labels, len(series), series, tc.want)
		}
		for _, hist := range []string{"istio_request_duration_milliseconds", "istio_request_bytes", "istio_response_bytes"} {
			hs := seriesWith(fams, hist, tc.labels)
			if len(hs) != 1 {
				t.Errorf("%s: %d %s series, want 1", tc.name, len(hs), hist)
				continue
			}
			h := hs[0].GetHistogram()
			if h.GetSampleCount() != uint64(tc.want) {
				t.Errorf("%s: %s count %d, want %d", tc.name, hist, h.GetSampleCount(), tc.want)
			}
			// Buckets are cumulative and end at the count.
			prev := uint64(0)
			for _, b := range h.GetBucket() {
				if b.GetCumulativeCount() < prev || b.GetCumulativeCount() > h.GetSampleCount() {
					t.Errorf("%s: %s bucket le=%v holds %d after %d (count %d)", tc.name, hist, b.GetUpperBound(), b.GetCumulativeCount(), prev, h.GetSampleCount())
				}
				prev = b.GetCumulativeCount()
			}
		}
		// Every request frame has bytes; local replies have no upstream response bytes.
		if hs := seriesWith(fams, "istio_request_bytes", tc.labels); len(hs) == 1 && hs[0].GetHistogram().GetSampleSum() <= 0 {
			t.Errorf("%s: istio_request_bytes sum %v", tc.name, hs[0].GetHistogram().GetSampleSum())
		}
		local := tc.labels["response_flags"] != "-"
		if hs := seriesWith(fams, "istio_response_bytes", tc.labels); len(hs) == 1 && (hs[0].GetHistogram().GetSampleSum() == 0) != local {
			t.Errorf("%s: istio_response_bytes sum %v (local reply: %v)", tc.name, hs[0].GetHistogram().GetSampleSum(), local)
		}
	}
	// The timed-out call waited for the route's timeout: no bucket below it holds it.
	if ut := seriesWith(fams, "istio_request_duration_milliseconds", map[string]string{"response_flags": "UT"}); len(ut) == 1 {
		for _, b := range ut[0].GetHistogram().GetBucket() {
			if b.GetUpperBound() < float64(slowTimeout.Milliseconds()) && b.GetCumulativeCount() > 0 {
				t.Errorf("the timed-out call is in bucket le=%v ms, below the %s timeout", b.GetUpperBound(), slowTimeout)
			}
		}
	}

	for _, tc := range []struct {
		method, code, flags string
		want                int
	}{
		{greeter.MethodSayHello, "0", "-", okCalls},
		{"noSuchMethod", "1", "-", errorCalls},
		{greeter.MethodSlowHello, "1", "UT", timeoutCalls},
	} {
		labels := map[string]string{"listener": "greeter-outbound", "service": greeter.Interface, "method": tc.method, "response_code": tc.code, "response_flags": tc.flags}
		if got := seriesWith(fams, "breeze_service_requests_total", labels); len(got) != 1 || got[0].GetCounter().GetValue() != float64(tc.want) {
			t.Errorf("breeze_service_requests_total%v: %v, want %d", labels, got, tc.want)
		}
	}
	// The listener's own counters of local replies agree.
	for kind, want := range map[string]int{"route_not_found": noRouteCalls, "timeout": timeoutCalls} {
		got := seriesWith(fams, "breeze_listener_local_replies_total", map[string]string{"listener": "greeter-outbound", "kind": kind})
		if len(got) != 1 || got[0].GetCounter().GetValue() != float64(want) {
			t.Errorf("breeze_listener_local_replies_total{kind=%q}: %v, want %d", kind, got, want)
		}
	}
}

// TestObservabilityAccessLog reads the JSON access log after the same traffic: a line per
// call, each parsing as JSON with the fields of its outcome.
func TestObservabilityAccessLog(t *testing.T) {
	requireE2E(t)
	s := observedTraffic(t)
	want := okCalls + errorCalls + noRouteCalls + timeoutCalls
	var lines []map[string]any
	waitFor(t, fmt.Sprintf("%d access log lines", want), func() error {
		data, err := os.ReadFile(s.accessLog)
		if err != nil {
			return err
		}
		lines = nil
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if line == "" {
				continue
			}
			var fields map[string]any
			if err := json.Unmarshal([]byte(line), &fields); err != nil {
				t.Fatalf("access log line is not JSON: %v\n%s", err, line)
			}
			lines = append(lines, fields)
		}
		if len(lines) < want {
			return fmt.Errorf("%d lines so far", len(lines))
		}
		return nil
	})
	if len(lines) != want {
		t.Fatalf("%d access log lines, want %d", len(lines), want)
	}
	byOutcome := map[string][]map[string]any{}
	for _, l := range lines {
		byOutcome[fmt.Sprint(l["response_flags"], "/", l["method"])] = append(byOutcome[fmt.Sprint(l["response_flags"], "/", l["method"])], l)
	}
	greeterAddr := loopback(s.greeter.port)
	cluster := "outbound|20880||greeter.shop.svc.cluster.local"
	checks := []struct {
		outcome string
		count   int
		fields  map[string]any
	}{
		{"-/" + greeter.MethodSayHello, okCalls, map[string]any{
			"service": greeter.Interface, "response_code": 0.0, "response_code_details": "via_upstream", "response_status": 20.0,
			"upstream_host": greeterAddr, "upstream_cluster": cluster, "route_name": "greeter", "protocol": "dubbo",
		}},
		{"-/noSuchMethod", errorCalls, map[string]any{
			"response_code": 1.0, "response_code_details": "via_upstream", "upstream_host": greeterAddr, "response_status": 20.0,
		}},
		{"NR/" + greeter.MethodSayHello, noRouteCalls, map[string]any{
			"service": "org.apache.dubbo.sample.Nobody", "response_code": 1.0, "response_code_details": "route_not_found", "response_status": nil,
			"upstream_host": nil, "upstream_cluster": nil, "route_name": nil, "bytes_sent": 0.0,
		}},
		{"UT/" + greeter.MethodSlowHello, timeoutCalls, map[string]any{
			"response_code": 1.0, "response_code_details": "timeout", "upstream_host": greeterAddr,
			"upstream_cluster": cluster, "route_name": "slow", "bytes_sent": 0.0,
		}},
	}
	for _, c := range checks {
		got := byOutcome[c.outcome]
		if len(got) != c.count {
			t.Errorf("%s: %d lines, want %d (lines by outcome: %v)", c.outcome, len(got), c.count, keys(byOutcome))
			continue
		}
		for _, l := range got {
			for k, v := range c.fields {
				if l[k] != v {
					t.Errorf("%s: %s = %#v, want %#v\n%v", c.outcome, k, l[k], v, l)
				}
			}
			if n, ok := l["bytes_received"].(float64); !ok || n <= 0 {
				t.Errorf("%s: bytes_received %#v", c.outcome, l["bytes_received"])
			}
			if _, ok := l["duration"].(float64); !ok {
				t.Errorf("%s: duration %#v is not a number", c.outcome, l["duration"])
			}
			if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(l["start_time"])); err != nil {
				t.Errorf("%s: start_time: %v", c.outcome, err)
			}
			if addr := fmt.Sprint(l["downstream_remote_address"]); !strings.HasPrefix(addr, "127.0.0.1:") {
				t.Errorf("%s: downstream_remote_address %q", c.outcome, addr)
			}
		}
	}
	// The timeout's line says how long it waited, at least the route's timeout.
	if ut := byOutcome["UT/"+greeter.MethodSlowHello]; len(ut) == 1 {
		if d, _ := ut[0]["duration"].(float64); d < float64(slowTimeout.Milliseconds()) {
			t.Errorf("timeout line duration %v ms, below the %s timeout", d, slowTimeout)
		}
	}
}

func merge(maps ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
