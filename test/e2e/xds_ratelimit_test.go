package e2e

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/examples/dubbo/greeter"
	"github.com/breeze-mesh/breeze/test/e2e/dubboraw"
)

// rateLimitMesh is the Greeter service with one instance behind its own sidecar: calls go
// client → client proxy (outbound) → sidecar (inbound, where the control plane puts the
// MetaRouter's rate limits) → server.
type rateLimitMesh struct {
	mesh    *meshDir
	control *controlProcess
	client  *proxyProcess
	sidecar *proxyProcess
	// port is the service's port; inbound the sidecar's inbound port (the instance's port
	// in the registry).
	port, inbound int
}

// startRateLimitMesh writes the service, a MetaRouter carrying rateLimits (YAML under spec,
// indented by two spaces) and the extra files, and starts the server, the control plane, the
// sidecar and the client proxy, waiting until a call goes through both proxies.
func startRateLimitMesh(t *testing.T, rateLimits string, extra map[string]string) *rateLimitMesh {
	t.Helper()
	s := &rateLimitMesh{mesh: newMeshDir(t), port: freePort(t), inbound: freePort(t)}
	server := startGreeter(t, "v1", freePort(t))
	s.mesh.sidecarGreeterService(s.port, s.inbound)
	s.writeRouter(rateLimits)
	for name, content := range extra {
		s.mesh.write(name, content)
	}
	s.control = startControl(t, s.mesh.dir, loopback(freePort(t)))
	inbound := "inbound|" + strconv.Itoa(s.inbound) + "||"
	s.sidecar = startXDSProxy(t, s.control.xds, xdsNode{id: "greeter-v1", metadata: map[string]any{
		"namespace":         meshNamespace,
		"workload":          "greeter-v1",
		"labels":            map[string]any{"app": "greeter", "version": "v1"},
		"inbound_ports":     []int{s.inbound},
		"inbound_bind":      "127.0.0.1",
		"inbound_app_ports": map[string]any{strconv.Itoa(s.inbound): server.port},
		// Its outbound listener for the Greeter must not take the client proxy's address.
		"outbound_bind": "127.0.0.2",
	}}, inbound)
	listener := outboundListener(greeterHost, s.port)
	s.client = startXDSProxy(t, s.control.xds, clientNode("client-1", meshNamespace, "127.0.0.1"), listener)
	s.client.addr = s.client.dump(t).listenerAddr(t, listener)
	// sayHello without x-tier matches no condition: it is never limited, so waiting with it
	// spends no token.
	c := dialGreeter(t, s.client.addr, greeter.Interface, "1.0.0", 5*time.Second)
	waitFor(t, "a call through both proxies", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		reply, err := c.SayHello(ctx, "warm-up")
		if err == nil && reply != "hello warm-up from v1" {
			err = fmt.Errorf("reply %q", reply)
		}
		return err
	})
	return s
}

// writeRouter writes the Greeter's MetaRouter: one route to the service, tagged with
// genKey, and the given rate limits.
func (s *rateLimitMesh) writeRouter(rateLimits string) {
	s.mesh.write("greeter-routes.yaml", fmt.Sprintf(`apiVersion: metaprotocol.aeraki.io/v1alpha1
kind: MetaRouter
metadata: {name: greeter, namespace: %[1]s}
spec:
  hosts: [%[2]s]
  routes:
  - name: all
    route: [{destination: {host: %[2]s}}]
%[3]s`, meshNamespace, greeterHost, rateLimits))
}

// burst sends n calls of method, with attachments, one after the other on conn and
// counts the replies by Dubbo status.
func burst(t *testing.T, conn *dubboraw.Conn, method string, attachments map[string]string, n int) map[byte]int {
	t.Helper()
	got := map[byte]int{}
	for i := range n {
		req := greeterCall("1.0.0", method, fmt.Sprintf("%s-%d", method, i))
		req.Attachments = attachments
		resp, err := conn.Call(req)
		if err != nil {
			t.Fatal(err)
		}
		got[resp.Status]++
	}
	return got
}

// TestXDSRateLimitLocal: a MetaRouter's localRateLimit, translated by `breeze control`
// into the local_ratelimit filter of the server sidecar's inbound listener, lets exactly
// each condition's bucket through a burst sent through the client proxy and the sidecar
// (buckets of 2 for sayHi and 3 for calls with x-tier: gold, refilled once an hour); the
// rest get Dubbo's SERVER_THREADPOOL_EXHAUSTED_ERROR (status 100), also as a dubbo-go error.
// Calls matching no condition are not limited, and the client's outbound listener has no
// limit of its own. Rewriting the MetaRouter without the limit lets every call through.
func TestXDSRateLimitLocal(t *testing.T) {
	requireE2E(t)
	s := startRateLimitMesh(t, `  localRateLimit:
    conditions:
    - match: {attributes: {method: {exact: sayHi}}}
      tokenBucket: {maxTokens: 2, tokensPerFill: 1, fillInterval: 3600s}
    - match: {attributes: {x-tier: {exact: gold}}}
      tokenBucket: {maxTokens: 3, tokensPerFill: 1, fillInterval: 3600s}
`, nil)
	const overLimit = 100 // Dubbo's SERVER_THREADPOOL_EXHAUSTED_ERROR, the codec's over-limit status
	conn := dialRaw(t, s.client.addr)
	gold := map[string]string{"x-tier": "gold"}
	if got := burst(t, conn, greeter.MethodSayHi, nil, 5); got[dubboraw.StatusOK] != 2 || got[overLimit] != 3 {
		t.Errorf("sayHi burst of 5: statuses %v, want 2 OK and 3 over-limit (%d)", got, overLimit)
	}
	if got := burst(t, conn, greeter.MethodSayHello, gold, 6); got[dubboraw.StatusOK] != 3 || got[overLimit] != 3 {
		t.Errorf("x-tier: gold burst of 6: statuses %v, want 3 OK and 3 over-limit (%d)", got, overLimit)
	}
	if got := burst(t, conn, greeter.MethodSayHello, nil, 10); got[dubboraw.StatusOK] != 10 {
		t.Errorf("unlimited sayHello burst of 10: statuses %v, want 10 OK", got)
	}
	c := dialGreeter(t, s.client.addr, greeter.Interface, "1.0.0", 10*time.Second)
	if reply, err := c.SayHi(context.Background(), "dubbo-go"); err == nil {
		t.Errorf("dubbo-go sayHi past the limit answered %q, want an error", reply)
	}
	if got := s.sidecar.counter(t, "breeze_local_rate_limit_requests_total", map[string]string{"decision": "rate_limited"}); got != 7 {
		t.Errorf("sidecar breeze_local_rate_limit_requests_total{decision=rate_limited} = %v, want 7", got)
	}
	// istio_stats runs before the limit on the inbound listener, so the refusals show in the
	// provider's Istio metrics, flagged RL (a rate limit), not UO (a circuit breaker).
	// Polled: a client may read a reply before the proxy has counted it.
	refused := map[string]string{"reporter": "destination", "response_code": "1", "response_flags": "RL"}
	waitFor(t, "the sidecar's istio_stats to count 7 refusals flagged RL", func() error {
		if got, _ := s.sidecar.metric(t, "istio_requests_total", refused); got != 7 {
			return fmt.Errorf("istio_requests_total%v = %v", refused, got)
		}
		return nil
	})
	if v, ok := s.client.metric(t, "breeze_local_rate_limit_requests_total", map[string]string{"decision": "ok"}); ok {
		t.Errorf("the client proxy runs a local rate limit (%v requests): limits belong on the inbound side", v)
	}

	// Without the limit, every call passes: poll until the sidecar has the new listener.
	s.writeRouter("")
	waitFor(t, "sayHi unlimited", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := c.SayHi(ctx, "again")
		return err
	})
	if got := burst(t, conn, greeter.MethodSayHi, nil, 10); got[dubboraw.StatusOK] != 10 {
		t.Errorf("sayHi burst of 10 after the limit was removed: statuses %v, want 10 OK", got)
	}
	if got := burst(t, conn, greeter.MethodSayHello, gold, 10); got[dubboraw.StatusOK] != 10 {
		t.Errorf("x-tier: gold burst of 10 after the limit was removed: statuses %v, want 10 OK", got)
	}
}

// TestXDSRateLimitGlobal: a MetaRouter's globalRateLimit, in Aeraki's form (the rate-limit
// service named by its Envoy cluster, outbound|<port>||<host>, declared by a ServiceEntry
// with a static endpoint), becomes the global_ratelimit filter of the sidecar's inbound
// listener calling that endpoint. Against a real envoyproxy/ratelimit on a real
// redis-server allowing 3 sayHello an hour, exactly 3 of a burst of 5 matching calls pass
// through both proxies; calls the match leaves out are not checked. With the service
// stopped, denyOnFail refuses the matching calls.
func TestXDSRateLimitGlobal(t *testing.T) {
	requireE2E(t)
	rl, rlAddr := startRateLimitService(t, `domain: breeze-e2e
descriptors:
- key: method
  value: sayHello
  rate_limit: {unit: hour, requests_per_unit: 3}
`)
	_, rlPort, err := net.SplitHostPort(rlAddr)
	if err != nil {
		t.Fatal(err)
	}
	const rlHost = "ratelimit.e2e.svc"
	s := startRateLimitMesh(t, fmt.Sprintf(`  globalRateLimit:
    domain: breeze-e2e
    match: {attributes: {x-tier: {exact: gold}}}
    rateLimitService: outbound|%[1]s||%[2]s
    requestTimeout: 2s
    denyOnFail: true
    descriptors: [{property: method, descriptorKey: method}]
`, rlPort, rlHost), map[string]string{"ratelimit.yaml": fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratelimit, namespace: %[1]s}
spec:
  hosts: [%[2]s]
  ports: [{number: %[3]s, name: grpc-rls, protocol: GRPC}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
`, meshNamespace, rlHost, rlPort)})

	const overLimit = 100 // Dubbo's SERVER_THREADPOOL_EXHAUSTED_ERROR, the codec's over-limit status
	conn := dialRaw(t, s.client.addr)
	gold := map[string]string{"x-tier": "gold"}
	if got := burst(t, conn, greeter.MethodSayHello, gold, 5); got[dubboraw.StatusOK] != 3 || got[overLimit] != 2 {
		t.Errorf("x-tier: gold sayHello burst of 5: statuses %v, want 3 OK and 2 over-limit (%d)", got, overLimit)
	}
	if got := burst(t, conn, greeter.MethodSayHi, gold, 5); got[dubboraw.StatusOK] != 5 {
		t.Errorf("x-tier: gold sayHi burst of 5 (no limit in the service): statuses %v, want 5 OK", got)
	}
	if got := burst(t, conn, greeter.MethodSayHello, nil, 5); got[dubboraw.StatusOK] != 5 {
		t.Errorf("sayHello burst of 5 the match leaves out: statuses %v, want 5 OK", got)
	}

	rl.kill(t)
	if got := burst(t, conn, greeter.MethodSayHi, gold, 2); got[overLimit] != 2 {
		t.Errorf("denyOnFail, service stopped: statuses %v, want 2 over-limit", got)
	}
	if got := burst(t, conn, greeter.MethodSayHello, nil, 2); got[dubboraw.StatusOK] != 2 {
		t.Errorf("service stopped, calls the match leaves out: statuses %v, want 2 OK", got)
	}
	for decision, want := range map[string]float64{"ok": 3 + 5, "over_limit": 2, "error_denied": 2} {
		if got := s.sidecar.counter(t, "breeze_global_rate_limit_requests_total", map[string]string{"decision": decision}); got != want {
			t.Errorf("sidecar breeze_global_rate_limit_requests_total{decision=%q} = %v, want %v", decision, got, want)
		}
	}
}
