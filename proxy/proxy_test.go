package proxy_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy"
	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/internal/testbackend"
	"github.com/breeze-mesh/breeze/proxy/internal/testcodec"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

type fixture struct {
	srv  *proxy.Server
	addr string
}

func newTestServer() *proxy.Server {
	return proxy.New(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func startProxy(t *testing.T, codec string, routes []*config.Route, clusters ...*config.Cluster) *fixture {
	t.Helper()
	srv := newTestServer()
	cfg := &config.Bootstrap{
		Listeners: []*config.Listener{{
			Name: "test", Address: "127.0.0.1:0", Codec: codec, MaxFrameSize: 64 << 10,
			Routes: &config.RouteTable{Name: "routes", Routes: routes},
		}},
		Clusters: clusters,
	}
	if err := srv.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return &fixture{srv: srv, addr: srv.ListenerAddr("test").String()}
}

func cluster(name string, addrs ...string) *config.Cluster {
	c := &config.Cluster{Name: name, ConnectTimeout: time.Second}
	for _, a := range addrs {
		c.Endpoints = append(c.Endpoints, config.Endpoint{Address: a, Weight: 1})
	}
	return c
}

func exact(key, value string) []config.Matcher {
	return []config.Matcher{{Key: key, Kind: config.MatchExact, Value: value}}
}

func TestRoutesByMetadata(t *testing.T) {
	v1, v2 := testbackend.Start(t, "v1"), testbackend.Start(t, "v2")
	f := startProxy(t, testcodec.Name, []*config.Route{
		{Name: "v2", Match: exact("version", "2"), Cluster: "v2", RequestMutation: protocol.Mutation{{Key: "x-routed", Value: "yes"}}},
		{Name: "v1", Match: exact("version", "1"), Cluster: "v1"},
	}, cluster("v1", v1.Addr()), cluster("v2", v2.Addr()))

	c := testbackend.Dial(t, f.addr)
	c.Send('Q', 7, map[string]string{"version": "2"}, "a")
	resp := c.Recv()
	if resp.Type != protocol.Response || resp.RequestID != 7 || testcodec.Payload(resp) != "v2:a" {
		t.Fatalf("got %v id=%d payload=%q, want response id=7 from v2", resp.Type, resp.RequestID, testcodec.Payload(resp))
	}
	if got := resp.Metadata.Value("seen-x-routed"); got != "yes" {
		t.Fatalf("upstream saw x-routed=%q, want the route's mutation", got)
	}
	c.Send('Q', 8, map[string]string{"version": "1"}, "b")
	if resp := c.Recv(); testcodec.Payload(resp) != "v1:b" || resp.Metadata.Value("seen-x-routed") != "" {
		t.Fatalf("got %q (seen-x-routed=%q), want v1:b unmutated", testcodec.Payload(resp), resp.Metadata.Value("seen-x-routed"))
	}

	c.Send('Q', 9, map[string]string{"version": "3"}, "c")
	resp = c.Recv()
	if resp.Type != protocol.Error || resp.RequestID != 9 || resp.Metadata.Value("error-kind") != "route_not_found" {
		t.Fatalf("unrouted request: got %v id=%d kind=%q", resp.Type, resp.RequestID, resp.Metadata.Value("error-kind"))
	}
	if !strings.Contains(testcodec.Payload(resp), "version=3") {
		t.Fatalf("no-route message %q does not say what the request looked like", testcodec.Payload(resp))
	}
	m := f.srv.Metrics()
	if n := testutil.ToFloat64(m.Listener("test").Route("v2")); n != 1 {
		t.Fatalf("route v2 counter = %v, want 1", n)
	}
}

// TestSlowRequestDoesNotBlockOthers sends a request the upstream holds, then others on the
// same connection: they must be answered while the first still waits.
func TestSlowRequestDoesNotBlockOthers(t *testing.T) {
	b := testbackend.Start(t, "b")
	f := startProxy(t, testcodec.Name, []*config.Route{{Name: "all", Cluster: "b"}}, cluster("b", b.Addr()))
	c := testbackend.Dial(t, f.addr)
	c.Send('Q', 1, nil, "hold")
	for id := uint64(2); id < 5; id++ {
		c.Send('Q', id, nil, "quick")
		if resp := c.Recv(); resp.RequestID != id {
			t.Fatalf("got response id %d, want %d (the held request must not block)", resp.RequestID, id)
		}
	}
	b.Release()
	if resp := c.Recv(); resp.RequestID != 1 || testcodec.Payload(resp) != "b:hold" {
		t.Fatalf("held request: got id %d %q", resp.RequestID, testcodec.Payload(resp))
	}
}

// TestClientsShareOneUpstreamConnection: 64 clients using the same request ids get their
// own answers over one upstream connection.
func TestClientsShareOneUpstreamConnection(t *testing.T) {
	b := testbackend.Start(t, "b")
	f := startProxy(t, testcodec.Name, []*config.Route{{Name: "all", Cluster: "b"}}, cluster("b", b.Addr()))
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		c := testbackend.Dial(t, f.addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 20 {
				want := fmt.Sprintf("client%d-call%d", i, j)
				if _, err := c.Conn.Write(testcodec.Frame('Q', uint64(j+1), nil, want)); err != nil {
					errs <- err
					return
				}
				msg := new(protocol.Message)
				if err := c.Next(msg); err != nil {
					errs <- err
					return
				}
				if msg.RequestID != uint64(j+1) || testcodec.Payload(msg) != "b:"+want {
					errs <- fmt.Errorf("client %d call %d: got id %d %q", i, j, msg.RequestID, testcodec.Payload(msg))
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
	if n := b.Accepted(); n != 1 {
		t.Fatalf("upstream saw %d connections, want 1 shared connection", n)
	}
}

func TestPingPongPool(t *testing.T) {
	b := testbackend.Start(t, "b")
	f := startProxy(t, testcodec.PingPongName, []*config.Route{{Name: "all", Cluster: "b"}}, cluster("b", b.Addr()))
	c := testbackend.Dial(t, f.addr)
	c.Send('Q', 1, nil, "hold")
	c.Send('Q', 2, nil, "quick")
	if resp := c.Recv(); resp.RequestID != 2 {
		t.Fatalf("got id %d, want 2", resp.RequestID)
	}
	b.Release()
	if resp := c.Recv(); resp.RequestID != 1 {
		t.Fatalf("got id %d, want 1", resp.RequestID)
	}
	if n := b.Accepted(); n != 2 {
		t.Fatalf("upstream saw %d connections, want 2 (one per concurrent request)", n)
	}
	// Sequential requests reuse the idle connection.
	for id := uint64(3); id < 6; id++ {
		c.Send('Q', id, nil, "x")
		c.Recv()
	}
	if n := b.Accepted(); n != 2 {
		t.Fatalf("upstream saw %d connections after sequential calls, want 2", n)
	}
}

func TestUpstreamLossFailsInFlightRequests(t *testing.T) {
	b := testbackend.Start(t, "b")
	f := startProxy(t, testcodec.Name, []*config.Route{{Name: "all", Cluster: "b"}}, cluster("b", b.Addr()))
	c := testbackend.Dial(t, f.addr)
	for id := uint64(1); id <= 3; id++ {
		c.Send('Q', id, nil, "hold")
	}
	testbackend.Poll(t, "requests held upstream", func() bool { return b.Held() == 3 })
	b.Kill() // unanswered: the proxy sees the upstream go away
	got := map[uint64]bool{}
	for range 3 {
		resp := c.Recv()
		if resp.Type != protocol.Error || resp.Metadata.Value("error-kind") != "upstream_reset" {
			t.Fatalf("got %v kind=%q, want an upstream_reset error", resp.Type, resp.Metadata.Value("error-kind"))
		}
		got[resp.RequestID] = true
	}
	if len(got) != 3 {
		t.Fatalf("error replies for ids %v, want 1..3", got)
	}
	// A new upstream on the same address serves new requests.
	testbackend.StartOn(t, "b2", b.Addr())
	c.Send('Q', 10, nil, "again")
	if resp := c.Recv(); testcodec.Payload(resp) != "b2:again" {
		t.Fatalf("after restart got %v %q", resp.Type, testcodec.Payload(resp))
	}
}

func TestTimeout(t *testing.T) {
	b := testbackend.Start(t, "b")
	f := startProxy(t, testcodec.Name, []*config.Route{{Name: "all", Cluster: "b", Timeout: 50 * time.Millisecond}}, cluster("b", b.Addr()))
	c := testbackend.Dial(t, f.addr)
	c.Send('Q', 1, nil, "hold")
	resp := c.Recv()
	if resp.Type != protocol.Error || resp.RequestID != 1 || resp.Metadata.Value("error-kind") != "timeout" {
		t.Fatalf("got %v id=%d kind=%q, want a timeout error", resp.Type, resp.RequestID, resp.Metadata.Value("error-kind"))
	}
	b.Release() // the late answer is dropped; the connection keeps working
	c.Send('Q', 2, nil, "after")
	if resp := c.Recv(); resp.RequestID != 2 || resp.Type != protocol.Response {
		t.Fatalf("got %v id=%d after timeout", resp.Type, resp.RequestID)
	}
}

func TestOnewayAndHeartbeat(t *testing.T) {
	b := testbackend.Start(t, "b")
	f := startProxy(t, testcodec.Name, []*config.Route{{Name: "all", Cluster: "b"}}, cluster("b", b.Addr()))
	c := testbackend.Dial(t, f.addr)
	c.Send('H', 42, nil, "")
	if resp := c.Recv(); resp.Type != protocol.Heartbeat || resp.RequestID != 42 {
		t.Fatalf("heartbeat: got %v id=%d", resp.Type, resp.RequestID)
	}
	c.Send('O', 5, nil, "fire")
	select {
	case p := <-b.Oneways():
		if p != "fire" {
			t.Fatalf("upstream got oneway %q", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("oneway request never reached the upstream")
	}
	// No response for the oneway: the next thing on the wire answers the next request.
	c.Send('Q', 6, nil, "x")
	if resp := c.Recv(); resp.RequestID != 6 {
		t.Fatalf("got id %d, want 6", resp.RequestID)
	}
	if n := b.Accepted(); n != 1 {
		t.Fatalf("heartbeat or oneway opened extra upstream connections: %d", n)
	}
}

func TestBadFramesCloseOnlyTheirConnection(t *testing.T) {
	b := testbackend.Start(t, "b")
	f := startProxy(t, testcodec.Name, []*config.Route{{Name: "all", Cluster: "b"}}, cluster("b", b.Addr()))
	healthy := testbackend.Dial(t, f.addr)
	cases := map[string][]byte{
		"garbage type": append([]byte{0, 0, 0, 20, 'Z'}, make([]byte, 20)...),
		"oversized":    {0x7f, 0xff, 0xff, 0xff},
		"short length": {0, 0, 0, 1, 'Q'},
	}
	for name, frame := range cases {
		t.Run(name, func(t *testing.T) {
			before := testutil.ToFloat64(f.srv.Metrics().Listener("test").DecodeErrors)
			bad := testbackend.Dial(t, f.addr)
			_, _ = bad.Conn.Write(frame)
			_ = bad.Conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.ReadAll(bad.Conn); err != nil && !errors.Is(err, net.ErrClosed) {
				t.Fatalf("connection not closed cleanly: %v", err)
			}
			if after := testutil.ToFloat64(f.srv.Metrics().Listener("test").DecodeErrors); after != before+1 {
				t.Fatalf("decode errors %v → %v, want +1", before, after)
			}
			healthy.Send('Q', 1, nil, "still")
			if resp := healthy.Recv(); testcodec.Payload(resp) != "b:still" {
				t.Fatalf("healthy connection disturbed: %q", testcodec.Payload(resp))
			}
		})
	}
}

func TestShutdownDrainsInFlight(t *testing.T) {
	b := testbackend.Start(t, "b")
	srv := proxy.New(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := srv.Apply(&config.Bootstrap{
		Listeners: []*config.Listener{{Name: "test", Address: "127.0.0.1:0", Codec: testcodec.Name, Routes: &config.RouteTable{Routes: []*config.Route{{Name: "all", Cluster: "b"}}}}},
		Clusters:  []*config.Cluster{cluster("b", b.Addr())},
	}); err != nil {
		t.Fatal(err)
	}
	c := testbackend.Dial(t, srv.ListenerAddr("test").String())
	c.Send('Q', 1, nil, "hold")
	testbackend.Poll(t, "request held upstream", func() bool { return b.Held() == 1 })
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(context.Background()) }()
	b.Release()
	if resp := c.Recv(); resp.RequestID != 1 || resp.Type != protocol.Response {
		t.Fatalf("in-flight request during shutdown: got %v id=%d", resp.Type, resp.RequestID)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestClusterLoadGauges: a request held upstream shows as active on its cluster while it
// waits, and no longer once answered.
func TestClusterLoadGauges(t *testing.T) {
	b := testbackend.Start(t, "b")
	f := startProxy(t, testcodec.Name, []*config.Route{{Name: "all", Cluster: "b"}}, cluster("b", b.Addr()))
	c := testbackend.Dial(t, f.addr)
	active := func() float64 {
		mfs, err := f.srv.Metrics().Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "breeze_cluster_active_requests" {
				continue
			}
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == "b" {
					return m.GetGauge().GetValue()
				}
			}
		}
		t.Fatal("breeze_cluster_active_requests{cluster=\"b\"} not exported")
		return 0
	}
	c.Send('Q', 1, nil, "hold")
	testbackend.Poll(t, "request held upstream", func() bool { return b.Held() == 1 })
	if n := active(); n != 1 {
		t.Fatalf("active requests while held = %v, want 1", n)
	}
	b.Release()
	c.Recv()
	testbackend.Poll(t, "active requests back to 0", func() bool { return active() == 0 })
}
