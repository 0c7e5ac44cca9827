package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/examples/dubbo/greeter"
)

// TestPolicySplit: a route splits Greeter calls 20/80 between the clusters of servers v1
// and v2; 1000 calls of a dubbo-go client land within the bound a fair 20/80 draw keeps.
//
// The bound. The router draws each request's cluster on its own (route.PickDestination:
// math/rand/v2, independently per request, not in turns), so the number of calls that
// reach v1 is binomial(n = 1000, p = 0.2): mean 200, standard deviation
// sqrt(1000 * 0.2 * 0.8) ≈ 12.65. The test accepts 137 to 263, the mean ± 5 sd; a correct
// proxy falls outside with probability P(X ≤ 136) + P(X ≥ 264) ≈ 6.8e-7 (summed from the
// exact binomial distribution), once in about 1.5 million runs. A proxy that ignored the
// weights (50/50) would land near 500, a proxy that swapped them near 800.
func TestPolicySplit(t *testing.T) {
	requireE2E(t)
	v1 := startGreeter(t, "v1", freePort(t))
	v2 := startGreeter(t, "v2", freePort(t))
	admin, listen := freePort(t), freePort(t)
	config := staticBootstrap(admin, listen, "dubbo", fmt.Sprintf(`            - name: split
              match: {metadata: [{name: interface, exact: %q}]}
              route:
                timeout: 10s
                weighted_clusters:
                  clusters: [{name: greeter-v1, weight: 20}, {name: greeter-v2, weight: 80}]
`, greeter.Interface), fmt.Sprintf(`  - name: greeter-v1
    connect_timeout: 1s
    load_assignment:
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: %d}}}
  - name: greeter-v2
    connect_timeout: 1s
    load_assignment:
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: %d}}}
`, v1.port, v2.port))
	proxy := startProxyConfig(t, []byte(config), loopback(listen), loopback(admin))
	client := dialGreeter(t, proxy.addr, greeter.Interface, "1.0.0", 10*time.Second)

	const n = 1000
	counts := map[string]int{}
	ctx := context.Background()
	for i := range n {
		reply, err := client.SayHello(ctx, fmt.Sprintf("split-%d", i))
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		switch {
		case strings.HasSuffix(reply, " from v1"):
			counts["v1"]++
		case strings.HasSuffix(reply, " from v2"):
			counts["v2"]++
		default:
			t.Fatalf("call %d: reply %q from neither server", i, reply)
		}
	}
	t.Logf("1000 calls: v1 %d, v2 %d (expected 200 ± 12.6 for v1)", counts["v1"], counts["v2"])
	if sum := counts["v1"] + counts["v2"]; sum != n {
		t.Fatalf("%d calls answered, want %d", sum, n)
	}
	if got := counts["v1"]; got < 137 || got > 263 {
		t.Errorf("v1 got %d of %d calls, want 137 to 263 (200 ± 5 sd of binomial(1000, 0.2))", got, n)
	}
	// The proxy counted the same split.
	for _, version := range []string{"v1", "v2"} {
		got := proxy.counter(t, "breeze_cluster_upstream_requests_total", map[string]string{"cluster": "greeter-" + version})
		if int(got) != counts[version] {
			t.Errorf("cluster greeter-%s counted %v requests, the servers answered %d", version, got, counts[version])
		}
	}
}
