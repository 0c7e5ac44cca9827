package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/examples/dubbo/greeter"
	"github.com/breeze-mesh/breeze/test/e2e/dubboraw"
)

// heartbeatCheck is a cluster's health check by Dubbo heartbeat (YAML at the cluster's
// indentation).
func heartbeatCheck(interval string, unhealthy int) string {
	return fmt.Sprintf(`    health_checks:
    - timeout: 0.5s
      interval: %s
      unhealthy_threshold: %d
      healthy_threshold: 1
      custom_health_check:
        name: breeze.health_checkers.heartbeat
        typed_config:
          "@type": type.googleapis.com/breeze.metaprotocol.v1alpha1.HeartbeatHealthCheck
          codec: dubbo`, interval, unhealthy)
}

// TestUpstreamHashAffinity: with hash_policy on an attachment, every call with the same
// value reaches the same dubbo-go server, the values spread over all servers, and when one
// server dies (taken out by its health check) only its keys move.
func TestUpstreamHashAffinity(t *testing.T) {
	requireE2E(t)
	var ports []int
	byName := map[string]*greeterServer{}
	for _, name := range []string{"s1", "s2", "s3"} {
		g := startGreeter(t, name, freePort(t))
		byName[name] = g
		ports = append(ports, g.port)
	}
	proxy := startResilienceProxy(t, resilienceSetup{Ports: ports, Policy: "RING_HASH",
		Route: "                hash_policy: [user]", Cluster: heartbeatCheck("0.2s", 1)})
	conn := dialRaw(t, proxy.addr)
	call := func(user string) string {
		t.Helper()
		server, err := sayHello(conn, user, map[string]string{"user": user})
		if err != nil {
			t.Fatalf("call for %s: %v", user, err)
		}
		return server
	}

	const keys = 60
	owner := map[string]string{}
	share := map[string]int{}
	for round := range 3 {
		for k := range keys {
			user := fmt.Sprintf("user-%d", k)
			got := call(user)
			if round == 0 {
				owner[user] = got
				share[got]++
			} else if got != owner[user] {
				t.Fatalf("round %d: %s reached %s, earlier %s", round, user, got, owner[user])
			}
		}
	}
	t.Logf("keys per server: %v", share)
	if len(share) != 3 {
		t.Fatalf("%d keys reached only %v", keys, share)
	}

	victim := byName["s2"]
	victim.kill(t)
	proxy.waitHealth(t, victim.port, "/failed_active_hc")
	moved := 0
	for k := range keys {
		user := fmt.Sprintf("user-%d", k)
		got := call(user)
		switch {
		case owner[user] == "s2":
			moved++
		case got != owner[user]:
			t.Fatalf("%s moved from %s to %s although %s is up", user, owner[user], got, owner[user])
		}
	}
	if moved != share["s2"] {
		t.Fatalf("%d keys moved, want the %d of the removed server", moved, share["s2"])
	}
}

// TestUpstreamLeastRequestPrefersIdle: of two servers, one answering after 100ms and one
// at once, LEAST_REQUEST sends most calls to the quick one (round robin would split them
// evenly).
func TestUpstreamLeastRequestPrefersIdle(t *testing.T) {
	requireE2E(t)
	slow, quick := startSwitchServer(t, "slow"), startSwitchServer(t, "quick")
	slow.delay.Store(int64(100 * time.Millisecond))
	proxy := startResilienceProxy(t, resilienceSetup{Ports: []int{slow.port, quick.port}, Policy: "LEAST_REQUEST"})

	const callers, calls = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for c := range callers {
		conn := dialRaw(t, proxy.addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				if _, err := sayHello(conn, fmt.Sprintf("c%d-%d", c, i), nil); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := slow.served.Load() + quick.served.Load()
	t.Logf("slow server: %d calls, quick server: %d calls", slow.served.Load(), quick.served.Load())
	if total != callers*calls {
		t.Fatalf("servers saw %d calls, want %d", total, callers*calls)
	}
	if quick.served.Load()*100 < total*80 {
		t.Fatalf("quick server got %d of %d calls, want at least 80%%", quick.served.Load(), total)
	}
}

// TestUpstreamCircuitBreaker: with max_requests 4 and four calls held by the server, a
// fifth call gets the proxy's over_limit error while the four still wait, and is counted;
// once they are answered, calls pass again.
func TestUpstreamCircuitBreaker(t *testing.T) {
	requireE2E(t)
	srv := startGreeter(t, "slow", freePort(t))
	proxy := startResilienceProxy(t, resilienceSetup{Ports: []int{srv.port},
		Cluster: "    circuit_breakers:\n      thresholds: [{max_requests: 4}]"})

	held := make([]*rawHeld, 4)
	for i := range held {
		conn := dialRaw(t, proxy.addr)
		id, err := conn.Send(greeterCall("1.0.0", greeter.MethodSlowHello, "held"), true)
		if err != nil {
			t.Fatal(err)
		}
		held[i] = &rawHeld{conn: conn, id: id}
	}
	direct := dialRaw(t, srv.addr) // to the server itself, past the proxy's limit
	waitFor(t, "four calls held by the server", func() error {
		resp, err := direct.Call(greeterCall("1.0.0", greeter.MethodPending))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Result != int32(4) {
			return fmt.Errorf("pending = %v", resp.Result)
		}
		return nil
	})

	extra := dialRaw(t, proxy.addr)
	resp, err := extra.Call(greeterCall("1.0.0", greeter.MethodSayHello, "fifth"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Err == nil || !strings.Contains(resp.ErrorMessage, "breeze:") || !strings.Contains(resp.ErrorMessage, "requests limit reached") {
		t.Fatalf("fifth call: status %d %q (%v), want the proxy's over_limit error", resp.Status, resp.ErrorMessage, resp.Result)
	}
	if got := proxy.counter(t, "breeze_cluster_circuit_breaker_overflows_total", map[string]string{"cluster": "greeter", "resource": "requests"}); got != 1 {
		t.Fatalf("requests overflows = %v, want 1", got)
	}
	if got := proxy.counter(t, "breeze_listener_local_replies_total", map[string]string{"kind": "over_limit"}); got != 1 {
		t.Fatalf("over_limit local replies = %v, want 1", got)
	}

	if _, err := direct.Call(greeterCall("1.0.0", greeter.MethodRelease, "held")); err != nil {
		t.Fatal(err)
	}
	for i, h := range held {
		resp, err := h.conn.Read()
		if err != nil || resp.ID != h.id || resp.Err != nil {
			t.Fatalf("held call %d: %+v, %v", i, resp, err)
		}
	}
	if server, err := sayHello(extra, "again", nil); err != nil || server != "slow" {
		t.Fatalf("after the held calls ended: %q, %v", server, err)
	}
}

// rawHeld is a call sent and not yet answered.
type rawHeld struct {
	conn *dubboraw.Conn
	id   int64
}

// TestUpstreamOutlierEjection: a server answering with errors is ejected at the third in a
// row, gets no calls while ejected, and is called again once its ejection time is over.
func TestUpstreamOutlierEjection(t *testing.T) {
	requireE2E(t)
	failing, good := startSwitchServer(t, "failing"), startSwitchServer(t, "good")
	failing.mode.Store(serveError)
	proxy := startResilienceProxy(t, resilienceSetup{Ports: []int{failing.port, good.port}, Cluster: `    outlier_detection:
      consecutive_5xx: 3
      interval: 1s
      base_ejection_time: 5s
      max_ejection_percent: 50
      enforcing_success_rate: 0`})
	conn := dialRaw(t, proxy.addr)

	errorsSeen := 0
	for errorsSeen < 3 {
		if errorsSeen == 2 {
			if flags := proxy.hostField(t, failing.port, "health_flags"); flags != "healthy" {
				t.Fatalf("after 2 errors: health_flags %q, want healthy (the threshold is 3)", flags)
			}
		}
		if _, err := sayHello(conn, "x", nil); err != nil {
			if !strings.Contains(err.Error(), "failing is failing") {
				t.Fatalf("unexpected error %v", err)
			}
			errorsSeen++
		}
	}
	// The third error ejected the server before its answer was passed on.
	if flags := proxy.hostField(t, failing.port, "health_flags"); flags != "/failed_outlier_check" {
		t.Fatalf("after 3 errors: health_flags %q, want /failed_outlier_check", flags)
	}
	before := failing.served.Load()
	for i := range 20 {
		if server, err := sayHello(conn, "x", nil); err != nil || server != "good" {
			t.Fatalf("call %d while the failing server is ejected: %q, %v", i, server, err)
		}
	}
	if n := failing.served.Load() - before; n != 0 {
		t.Fatalf("ejected server got %d calls", n)
	}
	if got := proxy.counter(t, "breeze_cluster_outlier_ejections_total", map[string]string{"cluster": "greeter", "reason": "consecutive_errors"}); got != 1 {
		t.Fatalf("ejections = %v, want 1", got)
	}

	failing.mode.Store(serveOK)
	waitFor(t, "the ejected server is called again after its ejection time", func() error {
		server, err := sayHello(conn, "x", nil)
		if err != nil {
			t.Fatal(err)
		}
		if server != "failing" {
			return fmt.Errorf("answered by %s", server)
		}
		return nil
	})
	if flags := proxy.hostField(t, failing.port, "health_flags"); flags != "healthy" {
		t.Fatalf("back in: health_flags %q", flags)
	}
	if n := proxy.hostField(t, failing.port, "outlier_ejections"); n != "1" {
		t.Fatalf("outlier_ejections %q, want 1", n)
	}
}

// TestUpstreamHealthCheck: a dubbo-go server that stops answering (its process stopped: it
// still accepts connections, so only the heartbeat notices) is taken out before any call is
// sent to it, and comes back when it answers again.
func TestUpstreamHealthCheck(t *testing.T) {
	requireE2E(t)
	up, frozen := startGreeter(t, "up", freePort(t)), startGreeter(t, "frozen", freePort(t))
	proxy := startResilienceProxy(t, resilienceSetup{Ports: []int{up.port, frozen.port}, Cluster: heartbeatCheck("0.2s", 2)})
	conn := dialRaw(t, proxy.addr)
	proxy.waitHealth(t, up.port, "healthy")
	proxy.waitHealth(t, frozen.port, "healthy")

	if err := frozen.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	thawed := false
	thaw := func() {
		if !thawed {
			thawed = true
			_ = frozen.cmd.Process.Signal(syscall.SIGCONT)
		}
	}
	t.Cleanup(thaw) // before the process is stopped at the end of the test
	proxy.waitHealth(t, frozen.port, "/failed_active_hc")
	for i := range 30 {
		if server, err := sayHello(conn, "x", nil); err != nil || server != "up" {
			t.Fatalf("call %d with the frozen server out: %q, %v", i, server, err)
		}
	}

	thaw()
	proxy.waitHealth(t, frozen.port, "healthy")
	waitFor(t, "the recovered server answers calls again", func() error {
		server, err := sayHello(conn, "x", nil)
		if err != nil {
			t.Fatal(err)
		}
		if server != "frozen" {
			return fmt.Errorf("answered by %s", server)
		}
		return nil
	})
	if got := proxy.counter(t, "breeze_cluster_health_checks_total", map[string]string{"cluster": "greeter", "result": "failure"}); got < 2 {
		t.Fatalf("failed health checks = %v, want at least 2", got)
	}
}

// TestUpstreamKilledUnderLoad: 16 dubbo-go callers keep three servers busy; one server is
// killed (SIGKILL) mid-run. With retries on connect failures and resets (and a retry budget
// for them), outlier detection and health checks, at most 0.1% of the calls may fail.
func TestUpstreamKilledUnderLoad(t *testing.T) {
	requireE2E(t)
	servers := []*greeterServer{startGreeter(t, "k1", freePort(t)), startGreeter(t, "k2", freePort(t)), startGreeter(t, "k3", freePort(t))}
	var ports []int
	for _, s := range servers {
		ports = append(ports, s.port)
	}
	proxy := startResilienceProxy(t, resilienceSetup{Ports: ports,
		Route: `                retry_policy: {retry_on: "connect-failure,reset", num_retries: 2}`,
		// Every request in flight on the killed server is retried at the same moment: the
		// retry budget must cover them (Envoy's default, 3 at a time, would refuse most).
		Cluster: `    circuit_breakers: {thresholds: [{max_retries: 64}]}
    outlier_detection: {consecutive_gateway_failure: 2, enforcing_consecutive_gateway_failure: 100, base_ejection_time: 30s, max_ejection_percent: 50}
    health_checks: [{timeout: 0.5s, interval: 0.5s, unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: {}}]`})
	client := dialGreeter(t, proxy.addr, greeter.Interface, "1.0.0", 10*time.Second)

	var total, failed atomic.Int64
	var firstErr atomic.Value
	served := make([]atomic.Int64, len(servers))
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for c := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				reply, err := client.SayHello(context.Background(), fmt.Sprintf("c%d-%d", c, i))
				total.Add(1)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				for j, s := range servers {
					if strings.HasSuffix(reply, " from "+s.name) {
						served[j].Add(1)
					}
				}
			}
		}()
	}
	waitFor(t, "every server has served calls", func() error {
		for j := range servers {
			if served[j].Load() < 200 {
				return fmt.Errorf("server %s served %d", servers[j].name, served[j].Load())
			}
		}
		return nil
	})
	servers[1].kill(t)
	killedAt := served[1].Load()
	after := total.Load()
	waitFor(t, "the others keep serving after the kill", func() error {
		if total.Load() < after+5000 {
			return fmt.Errorf("%d calls since the kill", total.Load()-after)
		}
		return nil
	})
	stop()
	wg.Wait()

	n, f := total.Load(), failed.Load()
	retries := proxy.counter(t, "breeze_cluster_upstream_retries_total", map[string]string{"cluster": "greeter"})
	refused, _ := proxy.metric(t, "breeze_cluster_circuit_breaker_overflows_total", map[string]string{"cluster": "greeter", "resource": "retries"})
	t.Logf("retries refused by max_retries: %v", refused)
	t.Logf("endpoint killed under load: %d calls, %d failed (%.4f%%), %v retries; the killed server had served %d; first error: %v", n, f, 100*float64(f)/float64(n), retries, killedAt, firstErr.Load())
	if f*1000 > n {
		t.Fatalf("%d of %d calls failed (more than 0.1%%); first error: %v", f, n, firstErr.Load())
	}
	if flags := proxy.hostField(t, servers[1].port, "health_flags"); flags == "healthy" {
		t.Fatalf("killed server still reported healthy")
	}
}
