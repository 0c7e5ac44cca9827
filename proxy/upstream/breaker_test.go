package upstream

import (
	"strconv"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/internal/testbackend"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func overflows(c *Cluster, r resource) float64 {
	return testutil.ToFloat64(c.limits.overflows[r])
}

// TestMaxRequestsOverflowsAtOnce: with max_requests N and N requests held by the server,
// request N+1 fails at once with over_limit, counted; once one finishes, requests pass again.
func TestMaxRequestsOverflowsAtOnce(t *testing.T) {
	b := testbackend.Start(t, "slow")
	m, _ := newTestManager(t)
	cfg := clusterCfg("c", b.Addr())
	cfg.Limits.MaxRequests = 3
	m.Update([]*config.Cluster{cfg})
	c := m.Get("c")
	h := c.Hosts[0]

	var held []collector
	for i := range 3 {
		held = append(held, sendTo(h, testReg, "hold-"+strconv.Itoa(i), 0))
	}
	testbackend.Poll(t, "3 requests held by the server", func() bool { return b.Held() == 3 })
	r := sendTo(h, testReg, "fourth", 0).wait(t)
	if r.err == nil || r.err.Kind != protocol.OverLimit || r.cause != FailureOverflow {
		t.Fatalf("4th request: %+v, want an over_limit failure", r)
	}
	if n := overflows(c, resRequests); n != 1 {
		t.Fatalf("requests overflow counter = %v, want 1", n)
	}
	for _, h := range held {
		if h.arrived() {
			t.Fatal("a held request finished early")
		}
	}
	b.Release()
	for _, h := range held {
		if r := h.wait(t); r.err != nil {
			t.Fatalf("held request failed: %v", r.err)
		}
	}
	if r := sendTo(h, testReg, "after", 0).wait(t); r.err != nil || r.payload != "slow:after" {
		t.Fatalf("after the held requests finished: %+v", r)
	}
	if n := c.limits.inUse(resRequests); n != 0 {
		t.Fatalf("%d requests still counted in flight", n)
	}
}

// TestPingPongWaitsThenOverflowsPending: a ping-pong pool at its connection limit queues
// requests up to max_pending_requests and refuses the next; queued requests go out when a
// connection is free.
func TestPingPongWaitsThenOverflowsPending(t *testing.T) {
	b := testbackend.Start(t, "pp")
	m, _ := newTestManager(t)
	cfg := clusterCfg("c", b.Addr())
	cfg.MaxConnectionsPerHost = 1
	cfg.Limits.MaxPendingRequests = 1
	m.Update([]*config.Cluster{cfg})
	c := m.Get("c")
	h := c.Hosts[0]

	first := sendTo(h, pingPongReg, "hold-1", 0)
	testbackend.Poll(t, "first request held", func() bool { return b.Held() == 1 })
	queued := sendTo(h, pingPongReg, "queued", 0)
	refused := sendTo(h, pingPongReg, "refused", 0).wait(t)
	if refused.err == nil || refused.err.Kind != protocol.OverLimit {
		t.Fatalf("third request: %+v, want over_limit (1 pending allowed)", refused)
	}
	if n := overflows(c, resPending); n != 1 {
		t.Fatalf("pending overflow counter = %v, want 1", n)
	}
	if queued.arrived() {
		t.Fatal("queued request answered while the only connection is busy")
	}
	b.Release()
	if r := first.wait(t); r.payload != "pp:hold-1" {
		t.Fatalf("first: %+v", r)
	}
	if r := queued.wait(t); r.payload != "pp:queued" {
		t.Fatalf("queued: %+v", r)
	}
	if n := b.Accepted(); n != 1 {
		t.Fatalf("server accepted %d connections, want 1 (max connections per host)", n)
	}
}

// TestQueuedRequestTimesOut: a request waiting for a ping-pong connection fails with a
// timeout when its timeout passes first.
func TestQueuedRequestTimesOut(t *testing.T) {
	b := testbackend.Start(t, "pp")
	m, _ := newTestManager(t)
	cfg := clusterCfg("c", b.Addr())
	cfg.MaxConnectionsPerHost = 1
	m.Update([]*config.Cluster{cfg})
	h := m.Get("c").Hosts[0]
	sendTo(h, pingPongReg, "hold", 0)
	testbackend.Poll(t, "first request held", func() bool { return b.Held() == 1 })
	r := sendTo(h, pingPongReg, "late", 50*time.Millisecond).wait(t)
	if r.err == nil || r.err.Kind != protocol.Timeout || r.cause != FailureTimeout {
		t.Fatalf("queued request: %+v, want a timeout", r)
	}
	if n := m.Get("c").limits.inUse(resPending); n != 0 {
		t.Fatalf("%d requests still counted pending", n)
	}
}

// TestMaxConnectionsSharesConnections: a multiplexed cluster limited to 2 connections
// opens 2, however many slots it has, and keeps serving requests on them.
func TestMaxConnectionsSharesConnections(t *testing.T) {
	b := testbackend.Start(t, "mux")
	m, _ := newTestManager(t)
	cfg := clusterCfg("c", b.Addr())
	cfg.ConnectionsPerHost = 6
	cfg.Limits.MaxConnections = 2
	m.Update([]*config.Cluster{cfg})
	h := m.Get("c").Hosts[0]
	for i := range 30 {
		if r := sendTo(h, testReg, strconv.Itoa(i), 0).wait(t); r.err != nil {
			t.Fatalf("request %d: %v", i, r.err)
		}
	}
	if n := b.Accepted(); n != 2 {
		t.Fatalf("server accepted %d connections, want 2", n)
	}
	if n := overflows(m.Get("c"), resConnections); n == 0 {
		t.Fatal("refused connections not counted")
	}
}

func TestRetryBudget(t *testing.T) {
	m, _ := newTestManager(t)
	cfg := clusterCfg("c", "10.0.0.1:1")
	cfg.Limits.MaxRetries = 2
	m.Update([]*config.Cluster{cfg})
	c := m.Get("c")
	for i := range 2 {
		if !c.StartRetry() {
			t.Fatalf("retry %d refused; the first two are within the budget", i+1)
		}
	}
	if c.StartRetry() {
		t.Fatal("third concurrent retry allowed with max_retries 2")
	}
	c.EndRetry()
	if !c.StartRetry() {
		t.Fatal("a retry slot freed but not reusable")
	}
	if n := overflows(c, resRetries); n != 1 {
		t.Fatalf("retry overflow counter = %v, want 1", n)
	}
}
