package router_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/internal/proxytest"
)

const mirrorListener = "outbound|20880||greeter"

// startMirrored runs a proxy whose one route sends every request to cluster "main" at
// mainAddr, with a request mutation, and mirrors percent of them to cluster "shadow" at
// shadowAddr.
func startMirrored(t *testing.T, mainAddr, shadowAddr string, percent float64) (*proxytest.Proxy, *proxytest.Client) {
	t.Helper()
	p := proxytest.StartProxy(t, &config.Bootstrap{
		Listeners: []*config.Listener{{
			Name: mirrorListener, Address: "127.0.0.1:0", Codec: proxytest.Codec,
			Routes: &config.RouteTable{Routes: []*config.Route{{
				Name: "all", Cluster: "main", Timeout: 5 * time.Second,
				Mirrors:         []config.Mirror{{Cluster: "shadow", Percent: percent}},
				RequestMutation: protocol.Mutation{{Key: "env", Value: "mesh"}},
			}}},
		}},
		Clusters: []*config.Cluster{proxytest.Cluster("main", mainAddr), proxytest.Cluster("shadow", shadowAddr)},
	})
	return p, proxytest.Dial(t, p.Listener(t, mirrorListener))
}

// TestMirrorGetsACopyOfEveryRequest: at 100%, the shadow server receives each request, with
// the route's mutation, while the client gets the main server's answers.
func TestMirrorGetsACopyOfEveryRequest(t *testing.T) {
	main, shadow := proxytest.StartServer(t, "main"), proxytest.StartServer(t, "shadow")
	_, c := startMirrored(t, main.Addr(), shadow.Addr(), 100)
	const n = 20
	for i := range n {
		r := c.MustCall(t, map[string]string{"method": "sayHello", "seq": fmt.Sprint(i)})
		if r.Error || r.Metadata["server"] != "main" {
			t.Fatalf("call %d answered by %+v, want the main server", i, r)
		}
	}
	proxytest.WaitFor(t, "the shadow to receive every request", func() error {
		if got := len(shadow.Received()); got != n {
			return fmt.Errorf("%d of %d", got, n)
		}
		return nil
	})
	seen := map[string]bool{}
	for _, md := range shadow.Received() {
		if md["env"] != "mesh" || md["method"] != "sayHello" {
			t.Errorf("mirrored request %v lacks the route's mutation", md)
		}
		seen[md["seq"]] = true
	}
	if len(seen) != n {
		t.Errorf("the shadow saw %d distinct requests, want %d", len(seen), n)
	}
}

// TestMirrorFailureNeverReachesTheClient mirrors to a port nothing listens on: every
// request still gets the main server's answer.
func TestMirrorFailureNeverReachesTheClient(t *testing.T) {
	main := proxytest.StartServer(t, "main")
	_, c := startMirrored(t, main.Addr(), proxytest.ClosedPort(t), 100)
	for i := range 10 {
		if r := c.MustCall(t, map[string]string{"method": "sayHello"}); r.Error || r.Metadata["server"] != "main" {
			t.Fatalf("call %d answered by %+v, want the main server", i, r)
		}
	}
}

// TestMirrorPercent copies a share: at 0% nothing, at 50% some but not all of 200 requests
// (either extreme has a chance of 2^-199). Mirrors are counted before the request itself
// is sent, so the shadow cluster's counter is final once the last reply is in.
func TestMirrorPercent(t *testing.T) {
	for _, tc := range []struct {
		percent float64
		ok      func(got float64) bool
	}{
		{0, func(got float64) bool { return got == 0 }},
		{50, func(got float64) bool { return got > 0 && got < 200 }},
	} {
		t.Run(fmt.Sprint(tc.percent), func(t *testing.T) {
			main, shadow := proxytest.StartServer(t, "main"), proxytest.StartServer(t, "shadow")
			p, c := startMirrored(t, main.Addr(), shadow.Addr(), tc.percent)
			for range 200 {
				c.MustCall(t, map[string]string{"method": "sayHello"})
			}
			got := p.Scrape(t).Counter("breeze_cluster_upstream_requests_total", map[string]string{"cluster": "shadow"})
			if !tc.ok(got) {
				t.Errorf("%v of 200 mirrored at %v%%", got, tc.percent)
			}
			if main := p.Scrape(t).Counter("breeze_cluster_upstream_requests_total", map[string]string{"cluster": "main"}); main != 200 {
				t.Errorf("main cluster counted %v requests, want 200", main)
			}
		})
	}
}
