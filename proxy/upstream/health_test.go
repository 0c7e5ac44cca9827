package upstream

import (
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/internal/testbackend"
	"github.com/breeze-mesh/breeze/proxy/internal/testcodec"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func unhealthy(h *Host) bool { return h.flags.Load()&flagFailedHealthCheck != 0 }

// TestTCPHealthCheck: a host whose port stops accepting connections is taken out, and
// comes back when it accepts again.
func TestTCPHealthCheck(t *testing.T) {
	a, b := testbackend.Start(t, "a"), testbackend.Start(t, "b")
	m, metrics := newTestManager(t)
	cfg := clusterCfg("c", a.Addr(), b.Addr())
	cfg.HealthCheck = &config.HealthCheck{Timeout: time.Second, Interval: 20 * time.Millisecond, UnhealthyThreshold: 2, HealthyThreshold: 2}
	m.Update([]*config.Cluster{cfg})
	c := m.Get("c")
	h := c.Hosts[1]
	testbackend.Poll(t, "first checks pass", func() bool {
		return testutil.ToFloat64(metrics.Cluster("c").HealthCheck("success")) >= 2
	})
	if unhealthy(h) {
		t.Fatal("reachable host marked unhealthy")
	}

	addr := b.Addr()
	b.Stop()
	testbackend.Poll(t, "stopped host marked unhealthy", func() bool { return unhealthy(h) })
	if st := h.Status(); st.HealthFlags != "/failed_active_hc" {
		t.Fatalf("status %+v", st)
	}
	if got := counts(c, 50, plain); got[addr] != 0 {
		t.Fatalf("unhealthy host picked: %v", got)
	}
	if n := testutil.ToFloat64(metrics.Cluster("c").HealthyHosts); n != 1 {
		t.Fatalf("healthy hosts gauge = %v, want 1", n)
	}

	testbackend.StartOn(t, "b", addr)
	testbackend.Poll(t, "restarted host healthy again", func() bool { return !unhealthy(h) })
	if got := counts(c, 50, plain); got[addr] == 0 {
		t.Fatalf("recovered host not picked: %v", got)
	}
}

// TestHeartbeatHealthCheck: a host that accepts connections but stops answering heartbeats
// is taken out (a TCP check would not notice), and returns when it answers again.
func TestHeartbeatHealthCheck(t *testing.T) {
	a, b := testbackend.Start(t, "a"), testbackend.Start(t, "b")
	m, _ := newTestManager(t)
	cfg := clusterCfg("c", a.Addr(), b.Addr())
	cfg.HealthCheck = &config.HealthCheck{Timeout: 50 * time.Millisecond, Interval: 20 * time.Millisecond,
		UnhealthyThreshold: 2, HealthyThreshold: 1, HeartbeatCodec: testcodec.Name}
	m.Update([]*config.Cluster{cfg})
	h := m.Get("c").Hosts[1]
	b.SetHeartbeats(false)
	testbackend.Poll(t, "silent host marked unhealthy", func() bool { return unhealthy(h) })
	if r := sendTo(h, testReg, "still-serves", 0).wait(t); r.payload != "b:still-serves" {
		t.Fatalf("the host itself still serves requests: %+v", r)
	}
	b.SetHeartbeats(true)
	testbackend.Poll(t, "answering host healthy again", func() bool { return !unhealthy(h) })
}

// TestFirstCheckDecides: a host that is down when it is added is out after its first
// check, although the threshold asks for several failures later on.
func TestFirstCheckDecides(t *testing.T) {
	m, metrics := newTestManager(t)
	cfg := clusterCfg("c", testbackend.ClosedAddr(t))
	cfg.HealthCheck = &config.HealthCheck{Timeout: time.Second, Interval: time.Hour, UnhealthyThreshold: 3, HealthyThreshold: 3}
	m.Update([]*config.Cluster{cfg})
	h := m.Get("c").Hosts[0]
	testbackend.Poll(t, "host down at start marked unhealthy", func() bool { return unhealthy(h) })
	if n := testutil.ToFloat64(metrics.Cluster("c").HealthCheck("failure")); n != 1 {
		t.Fatalf("%v failed checks, want exactly the first", n)
	}
}

// TestHealthThresholds: after the first check, a state changes only after the threshold's
// number of results in a row.
func TestHealthThresholds(t *testing.T) {
	m, _ := newTestManager(t)
	m.Update([]*config.Cluster{clusterCfg("c", "10.0.0.1:1")})
	h := m.Get("c").Hosts[0]
	hc := newHealthChecker(h, config.HealthCheck{UnhealthyThreshold: 3, HealthyThreshold: 2})
	steps := []struct {
		ok        bool
		unhealthy bool
	}{
		{true, false},  // first check: healthy at once
		{false, false}, // 1 failure
		{false, false}, // 2
		{true, false},  // a success resets the count
		{false, false}, // 1
		{false, false}, // 2
		{false, true},  // 3: out
		{true, true},   // 1 success
		{false, true},  // resets
		{true, true},   // 1
		{true, false},  // 2: back
	}
	for i, s := range steps {
		hc.record(s.ok)
		if unhealthy(h) != s.unhealthy {
			t.Fatalf("step %d (ok=%v): unhealthy=%v, want %v", i, s.ok, unhealthy(h), s.unhealthy)
		}
	}
}

// TestRemovingHealthChecksClearsTheFlag: a cluster updated without health checks no longer
// keeps a host out.
func TestRemovingHealthChecksClearsTheFlag(t *testing.T) {
	m, _ := newTestManager(t)
	cfg := clusterCfg("c", testbackend.ClosedAddr(t))
	cfg.HealthCheck = &config.HealthCheck{Timeout: time.Second, Interval: time.Hour, UnhealthyThreshold: 1, HealthyThreshold: 1}
	m.Update([]*config.Cluster{cfg})
	h := m.Get("c").Hosts[0]
	testbackend.Poll(t, "marked unhealthy", func() bool { return unhealthy(h) })
	plainCfg := *cfg
	plainCfg.HealthCheck = nil
	m.Update([]*config.Cluster{&plainCfg})
	if m.Get("c").Hosts[0] != h || unhealthy(h) {
		t.Fatal("host still marked unhealthy after health checks were removed")
	}
}
