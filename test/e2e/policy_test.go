package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	hessian "github.com/apache/dubbo-go-hessian2"
	"github.com/breeze-mesh/breeze/examples/dubbo/greeter"
	"github.com/breeze-mesh/breeze/test/e2e/dubboraw"
)

// Traffic policy filters (local_ratelimit, fault) in a real `breeze proxy` between real Dubbo
// peers: the Greeter server and dubbo-go / raw Dubbo clients.

// startPolicyProxy starts a Greeter server and a proxy whose Dubbo listener runs the
// meta_protocol_filters YAML given (indented as a list at column 0) before routing every
// Greeter call to the server.
func startPolicyProxy(t *testing.T, filters string) *proxyProcess {
	t.Helper()
	server := startGreeter(t, "v1", freePort(t))
	admin, listen := freePort(t), freePort(t)
	config := staticBootstrap(admin, listen, "dubbo", fmt.Sprintf(`            - name: greeter
              match: {metadata: [{name: interface, exact: %q}]}
              route: {cluster: greeter, timeout: 30s}
          meta_protocol_filters:
%s
`, greeter.Interface, indent(filters, "          ")), fmt.Sprintf(`  - name: greeter
    load_assignment:
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: %d}}}
`, server.port))
	return startProxyConfig(t, []byte(config), loopback(listen), loopback(admin))
}

// indent prefixes every line of s.
func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}

// countStatuses calls method n times and counts the replies by Dubbo status.
func countStatuses(t *testing.T, conn *dubboraw.Conn, method string, n int) map[byte]int {
	t.Helper()
	got := map[byte]int{}
	for i := range n {
		resp, err := conn.Call(greeterCall("1.0.0", method, fmt.Sprintf("%s-%d", method, i)))
		if err != nil {
			t.Fatal(err)
		}
		got[resp.Status]++
	}
	return got
}

// TestPolicyLocalRateLimitPerCondition: with a default bucket of 4 and a bucket of 2 for
// sayHi, bursts let exactly 4 sayHello and 2 sayHi through; the rest get Dubbo's
// SERVER_THREADPOOL_EXHAUSTED_ERROR, which dubbo-go reports as an error.
func TestPolicyLocalRateLimitPerCondition(t *testing.T) {
	requireE2E(t)
	proxy := startPolicyProxy(t, `- name: breeze.meta_protocol.filters.local_ratelimit
  config:
    "@type": type.googleapis.com/breeze.filters.local_ratelimit.v1alpha1.LocalRateLimit
    token_bucket: {max_tokens: 4, tokens_per_fill: 1, fill_interval: 3600s}
    conditions:
    - match: {metadata: [{name: method, exact: sayHi}]}
      token_bucket: {max_tokens: 2, tokens_per_fill: 1, fill_interval: 3600s}
`)
	conn := dialRaw(t, proxy.addr)
	const overLimit = 100 // Dubbo's SERVER_THREADPOOL_EXHAUSTED_ERROR, the codec's over-limit status
	if got := countStatuses(t, conn, greeter.MethodSayHi, 5); got[dubboraw.StatusOK] != 2 || got[overLimit] != 3 {
		t.Errorf("sayHi burst of 5: statuses %v, want 2 OK and 3 over-limit (%d)", got, overLimit)
	}
	if got := countStatuses(t, conn, greeter.MethodSayHello, 6); got[dubboraw.StatusOK] != 4 || got[overLimit] != 2 {
		t.Errorf("sayHello burst of 6: statuses %v, want 4 OK and 2 over-limit (%d)", got, overLimit)
	}
	c := dialGreeter(t, proxy.addr, greeter.Interface, "1.0.0", 10*time.Second)
	if reply, err := c.SayHello(context.Background(), "dubbo-go"); err == nil {
		t.Errorf("dubbo-go call past the limit answered %q, want an error", reply)
	}
	for decision, want := range map[string]float64{"ok": 6, "rate_limited": 6} {
		if got := proxy.counter(t, "breeze_local_rate_limit_requests_total", map[string]string{"decision": decision}); got != want {
			t.Errorf("breeze_local_rate_limit_requests_total{decision=%q} = %v, want %v", decision, got, want)
		}
	}
}

// TestPolicyFaultDelayAndAbort: sayHi is delayed, and a sayHello sent after it on the same
// connection is answered first; a call carrying the attachment x-fault=abort gets Dubbo's
// SERVER_TIMEOUT from the injected abort.
func TestPolicyFaultDelayAndAbort(t *testing.T) {
	requireE2E(t)
	proxy := startPolicyProxy(t, `- name: breeze.meta_protocol.filters.fault
  config:
    "@type": type.googleapis.com/breeze.filters.fault.v1alpha1.Fault
    match: {metadata: [{name: method, exact: sayHi}]}
    delay: {fixed_delay: 1s}
- name: breeze.meta_protocol.filters.fault
  config:
    "@type": type.googleapis.com/breeze.filters.fault.v1alpha1.Fault
    match: {metadata: [{name: x-fault, exact: abort}]}
    abort: {error_kind: TIMEOUT, message: injected by the test}
`)
	conn := dialRaw(t, proxy.addr)
	slow, err := conn.Send(greeterCall("1.0.0", greeter.MethodSayHi, "slow"), true)
	if err != nil {
		t.Fatal(err)
	}
	fast, err := conn.Send(greeterCall("1.0.0", greeter.MethodSayHello, "fast"), true)
	if err != nil {
		t.Fatal(err)
	}
	var order []int64
	for range 2 {
		resp, err := conn.Read()
		if err != nil {
			t.Fatal(err)
		}
		if resp.Err != nil {
			t.Fatalf("request %d: %v", resp.ID, resp.Err)
		}
		order = append(order, resp.ID)
	}
	if order[0] != fast || order[1] != slow {
		t.Errorf("replies to %v, want the undelayed %d before the delayed %d", order, fast, slow)
	}

	req := greeterCall("1.0.0", greeter.MethodSayHello, "aborted")
	req.Attachments = map[string]string{"x-fault": "abort"}
	resp, err := conn.Call(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != hessian.Response_SERVER_TIMEOUT || resp.ErrorMessage == "" {
		t.Errorf("aborted call: status %d %q, want SERVER_TIMEOUT (%d) with the injected message", resp.Status, resp.ErrorMessage, hessian.Response_SERVER_TIMEOUT)
	}
	for fault, want := range map[string]float64{"delay": 1, "abort": 1} {
		if got := proxy.counter(t, "breeze_fault_injected_total", map[string]string{"fault": fault}); got != want {
			t.Errorf("breeze_fault_injected_total{fault=%q} = %v, want %v", fault, got, want)
		}
	}
}
