package upstream

import (
	"net"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/internal/testbackend"
)

// TestRemovedHostDrains: a host removed from its cluster finishes the request in flight,
// then its connection closes.
func TestRemovedHostDrains(t *testing.T) {
	a, b := testbackend.Start(t, "a"), testbackend.Start(t, "b")
	m, _ := newTestManager(t)
	m.Update([]*config.Cluster{clusterCfg("c", a.Addr(), b.Addr())})
	h := m.Get("c").Hosts[1]
	inFlight := sendTo(h, testReg, "hold", 0)
	testbackend.Poll(t, "request held", func() bool { return b.Held() == 1 })

	m.Update([]*config.Cluster{clusterCfg("c", a.Addr())})
	if inFlight.arrived() {
		t.Fatal("in-flight request ended when its host was removed")
	}
	if n := b.Open(); n != 1 {
		t.Fatalf("%d connections open to the removed host, want the busy one", n)
	}
	b.Release()
	if r := inFlight.wait(t); r.err != nil || r.payload != "b:hold" {
		t.Fatalf("in-flight request on the removed host: %+v, want its response", r)
	}
	testbackend.Poll(t, "drained connection closes", func() bool { return b.Open() == 0 })
}

// TestIdleTimeoutClosesConnections: a connection with nothing in flight for the idle
// timeout closes; the next request opens a new one.
func TestIdleTimeoutClosesConnections(t *testing.T) {
	b := testbackend.Start(t, "b")
	m, _ := newTestManager(t)
	cfg := clusterCfg("c", b.Addr())
	cfg.IdleTimeout = 30 * time.Millisecond
	m.Update([]*config.Cluster{cfg})
	h := m.Get("c").Hosts[0]
	for _, reg := range []protocol.Registration{testReg, pingPongReg} {
		if r := sendTo(h, reg, "one", 0).wait(t); r.err != nil {
			t.Fatal(r.err)
		}
	}
	testbackend.Poll(t, "idle connections closed", func() bool { return b.Open() == 0 && b.Accepted() == 2 })
	if r := sendTo(h, testReg, "two", 0).wait(t); r.err != nil || r.payload != "b:two" {
		t.Fatalf("after the idle close: %+v", r)
	}
	if n := b.Accepted(); n != 3 {
		t.Fatalf("%d connections accepted, want a new one", n)
	}
}

// TestIdleTimeoutSparesBusyConnections: a connection with a request in flight stays open
// past the idle timeout.
func TestIdleTimeoutSparesBusyConnections(t *testing.T) {
	b := testbackend.Start(t, "b")
	m, _ := newTestManager(t)
	cfg := clusterCfg("c", b.Addr())
	cfg.IdleTimeout = 20 * time.Millisecond
	m.Update([]*config.Cluster{cfg})
	h := m.Get("c").Hosts[0]
	held := sendTo(h, testReg, "hold", 0)
	testbackend.Poll(t, "request held", func() bool { return b.Held() == 1 })
	deadline := time.Now().Add(5 * cfg.IdleTimeout)
	for time.Now().Before(deadline) {
		if b.Open() != 1 {
			t.Fatal("busy connection closed by the idle timeout")
		}
		time.Sleep(cfg.IdleTimeout / 4)
	}
	b.Release()
	if r := held.wait(t); r.err != nil {
		t.Fatal(r.err)
	}
}

// TestFailureCauses: connect failures, resets and timeouts reach the caller with the
// cause a retry policy decides on.
func TestFailureCauses(t *testing.T) {
	m, _ := newTestManager(t)
	b := testbackend.Start(t, "b")
	m.Update([]*config.Cluster{clusterCfg("refused", testbackend.ClosedAddr(t)), clusterCfg("b", b.Addr())})

	r := sendTo(m.Get("refused").Hosts[0], testReg, "x", 0).wait(t)
	if r.err == nil || r.err.Kind != protocol.UpstreamReset || r.cause != FailureConnect {
		t.Fatalf("closed port: %+v, want upstream_reset caused by a connect failure", r)
	}

	h := m.Get("b").Hosts[0]
	r = sendTo(h, testReg, "hold", 20*time.Millisecond).wait(t)
	if r.err == nil || r.err.Kind != protocol.Timeout || r.cause != FailureTimeout {
		t.Fatalf("held past its timeout: %+v", r)
	}

	inFlight := sendTo(h, testReg, "hold-reset", 0)
	testbackend.Poll(t, "request held", func() bool { return b.Held() == 2 })
	b.Kill()
	r = inFlight.wait(t)
	if r.err == nil || r.err.Kind != protocol.UpstreamReset || r.cause != FailureReset {
		t.Fatalf("server closed with the request in flight: %+v, want a reset", r)
	}
}

func TestKeepaliveConfig(t *testing.T) {
	def := keepaliveConfig(config.TCPKeepalive{})
	if !def.Enable || def.Idle != defaultKeepalive || def.Interval != defaultKeepalive {
		t.Fatalf("default keepalive %+v", def)
	}
	got := keepaliveConfig(config.TCPKeepalive{Probes: 3, Time: 10 * time.Second})
	want := net.KeepAliveConfig{Enable: true, Idle: 10 * time.Second, Interval: -1, Count: 3}
	if got != want {
		t.Fatalf("keepalive %+v, want %+v (unset fields keep the system's)", got, want)
	}
}
