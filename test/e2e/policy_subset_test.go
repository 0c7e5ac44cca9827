package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/examples/dubbo/greeter"
)

// TestPolicySubset: one cluster holds servers v1 and v2, their endpoints labelled
// version v1 and v2 (filter_metadata envoy.lb), with lb_subset_config on version and no
// fallback. Routes choose a subset with metadata_match: sayHello reaches only v1, sayHi
// only v2; a weighted route lists the cluster once per subset and reaches both; a route
// matching a version no endpoint has gets the proxy's no_healthy_upstream error.
func TestPolicySubset(t *testing.T) {
	requireE2E(t)
	v1 := startGreeter(t, "v1", freePort(t))
	v2 := startGreeter(t, "v2", freePort(t))
	admin, listen := freePort(t), freePort(t)
	config := staticBootstrap(admin, listen, "dubbo", `            - name: hello-v1
              match: {metadata: [{name: method, exact: sayHello}, {name: x-split, present: false}]}
              route:
                cluster: greeter
                metadata_match: {filter_metadata: {envoy.lb: {version: v1}}}
            - name: hi-v2
              match: {metadata: [{name: method, exact: sayHi}]}
              route:
                cluster: greeter
                metadata_match: {filter_metadata: {envoy.lb: {version: v2}}}
            - name: split
              match: {metadata: [{name: x-split, present: true}]}
              route:
                weighted_clusters:
                  clusters:
                  - {name: greeter, weight: 50, metadata_match: {filter_metadata: {envoy.lb: {version: v1}}}}
                  - {name: greeter, weight: 50, metadata_match: {filter_metadata: {envoy.lb: {version: v2}}}}
            - name: nowhere
              route:
                cluster: greeter
                metadata_match: {filter_metadata: {envoy.lb: {version: v3}}}
`, fmt.Sprintf(`  - name: greeter
    connect_timeout: 1s
    lb_subset_config:
      fallback_policy: NO_FALLBACK
      subset_selectors: [{keys: [version]}]
    load_assignment:
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: %d}}}
          metadata: {filter_metadata: {envoy.lb: {version: v1}}}
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: %d}}}
          metadata: {filter_metadata: {envoy.lb: {version: v2}}}
`, v1.port, v2.port))
	proxy := startProxyConfig(t, []byte(config), loopback(listen), loopback(admin))
	client := dialGreeter(t, proxy.addr, greeter.Interface, "1.0.0", 30*time.Second)
	ctx := context.Background()

	// Round robin over the whole cluster would alternate between the servers: 20 calls in a
	// row that all reach one server prove the subset. (Not interleaved: sayHello, sayHi,
	// sayHello, ... would follow round robin's own alternation.)
	for i := range 20 {
		name := fmt.Sprintf("subset-%d", i)
		if reply, err := client.SayHello(ctx, name); err != nil || reply != "hello "+name+" from v1" {
			t.Fatalf("sayHello %d: %q, %v; want v1's answer", i, reply, err)
		}
	}
	for i := range 20 {
		name := fmt.Sprintf("subset-%d", i)
		if reply, err := client.SayHi(ctx, name); err != nil || reply != "hi "+name+" from v2" {
			t.Fatalf("sayHi %d: %q, %v; want v2's answer", i, reply, err)
		}
	}

	// One cluster listed once per subset: both subsets get calls (all 100 to one side by
	// chance: 2^-99).
	seen := map[string]int{}
	splitCtx := greeter.WithAttachments(ctx, map[string]string{"x-split": "yes"})
	for i := range 100 {
		reply, err := client.SayHello(splitCtx, "split")
		if err != nil {
			t.Fatalf("split call %d: %v", i, err)
		}
		seen[reply[strings.LastIndex(reply, " ")+1:]]++
	}
	if seen["v1"] == 0 || seen["v2"] == 0 || seen["v1"]+seen["v2"] != 100 {
		t.Errorf("split over the subsets of one cluster: %v, want both v1 and v2", seen)
	}

	// No endpoint has version v3, and the cluster has no fallback.
	var got string
	err := client.Call(ctx, greeter.MethodAttachment, []any{"x"}, &got)
	if err == nil {
		t.Fatalf("a call to an empty subset answered %q", got)
	}
	if msg := err.Error(); !strings.Contains(msg, "breeze:") || !strings.Contains(msg, "no healthy") {
		t.Errorf("empty subset: error %q, want the proxy's \"breeze:\" no-healthy-endpoints error", msg)
	}
	if got := proxy.counter(t, "breeze_listener_local_replies_total", map[string]string{"kind": "no_healthy_upstream"}); got != 1 {
		t.Errorf("local replies no_healthy_upstream = %v, want 1", got)
	}
}
