package e2e

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/examples/dubbo/greeter"
)

// Retries in a real `breeze proxy`: on a response the codec calls retriable (a Dubbo
// over-limit refusal from a second Breeze proxy) and on a per-try timeout.

// TestPolicyRetryRetriableStatus: proxy A balances over two endpoints: proxy B, whose
// local rate limit refuses every request with Dubbo's status 100 (in front of a Greeter
// server), and Greeter server s2. With retry_on retriable-status every dubbo-go call
// succeeds and is answered by s2; without it, the calls A sends to B fail.
func TestPolicyRetryRetriableStatus(t *testing.T) {
	requireE2E(t)
	limited := startPolicyProxy(t, `- name: breeze.meta_protocol.filters.local_ratelimit
  config:
    "@type": type.googleapis.com/breeze.filters.local_ratelimit.v1alpha1.LocalRateLimit
    token_bucket: {max_tokens: 1, tokens_per_fill: 1, fill_interval: 3600s}
`)
	// A bucket holds at least one token: spend it, so that B refuses every call from now on.
	if _, err := dialGreeter(t, limited.addr, greeter.Interface, "1.0.0", 10*time.Second).SayHello(context.Background(), "spend"); err != nil {
		t.Fatalf("the call that spends B's token: %v", err)
	}
	_, port, err := net.SplitHostPort(limited.addr)
	if err != nil {
		t.Fatal(err)
	}
	limitedPort, _ := strconv.Atoi(port)
	s2 := startGreeter(t, "s2", freePort(t))
	for _, tt := range []struct {
		name, route string
		retry       bool
	}{
		{"retriable-status", `                retry_policy: {retry_on: "retriable-status", num_retries: 1, retry_back_off: {base_interval: 0.01s}}`, true},
		{"connect-failure only", `                retry_policy: {retry_on: "connect-failure"}`, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			refusedBefore := limited.counter(t, "breeze_local_rate_limit_requests_total", map[string]string{"decision": "rate_limited"})
			proxy := startResilienceProxy(t, resilienceSetup{Ports: []int{limitedPort, s2.port}, Route: tt.route})
			c := dialGreeter(t, proxy.addr, greeter.Interface, "1.0.0", 10*time.Second)
			const calls = 20
			failed := 0
			for i := range calls {
				name := fmt.Sprintf("c%d", i)
				reply, err := c.SayHello(context.Background(), name)
				switch {
				case err != nil && tt.retry:
					t.Fatalf("call %d: %v", i, err)
				case err != nil:
					failed++
				case reply != "hello "+name+" from s2":
					t.Fatalf("call %d answered %q, want s2's answer", i, reply)
				}
			}
			retries := proxy.counter(t, "breeze_cluster_upstream_retries_total", map[string]string{"cluster": "greeter"})
			refused := limited.counter(t, "breeze_local_rate_limit_requests_total", map[string]string{"decision": "rate_limited"}) - refusedBefore
			t.Logf("%d of %d calls failed; %v retries; B refused %v", failed, calls, retries, refused)
			if refused < 1 {
				t.Fatal("proxy A sent nothing to B: round robin over two endpoints should")
			}
			if tt.retry && retries != refused {
				t.Fatalf("%v retries for %v refusals", retries, refused)
			}
			if !tt.retry && (failed == 0 || float64(failed) != refused || retries != 0) {
				t.Fatalf("without retry_on retriable-status: %d failed calls, %v refusals, %v retries", failed, refused, retries)
			}
		})
	}
}

// TestPolicyRetryPerTryTimeout: of two endpoints, one answers only after 3 s; with a
// per_try_timeout of 0.3 s and retry_on timeout, every call is answered by the fast one.
func TestPolicyRetryPerTryTimeout(t *testing.T) {
	requireE2E(t)
	slow := startSwitchServer(t, "slow")
	slow.delay.Store(int64(3 * time.Second))
	fast := startGreeter(t, "fast", freePort(t))
	proxy := startResilienceProxy(t, resilienceSetup{Ports: []int{slow.port, fast.port},
		Route: `                retry_policy: {retry_on: "timeout", num_retries: 1, per_try_timeout: 0.3s}`})
	c := dialGreeter(t, proxy.addr, greeter.Interface, "1.0.0", 10*time.Second)
	for i := range 10 {
		name := fmt.Sprintf("c%d", i)
		if reply, err := c.SayHello(context.Background(), name); err != nil || reply != "hello "+name+" from fast" {
			t.Fatalf("call %d: %q, %v", i, reply, err)
		}
	}
	timeouts := proxy.counter(t, "breeze_cluster_upstream_errors_total", map[string]string{"cluster": "greeter", "kind": "timeout"})
	retries := proxy.counter(t, "breeze_cluster_upstream_retries_total", map[string]string{"cluster": "greeter"})
	if slow.served.Load() == 0 || timeouts < 1 || retries != timeouts {
		t.Fatalf("the slow server got %d calls; %v per-try timeouts, %v retries", slow.served.Load(), timeouts, retries)
	}
}
