package router_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy"
	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/internal/connio"
	"github.com/breeze-mesh/breeze/proxy/internal/testcodec"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// server is a testcodec upstream. It answers "<name>:<payload>", except that a request
// whose payload starts with "close" closes the connection unanswered and one starting with
// "hold" is never answered; serve counts the requests it got.
type server struct {
	name   string
	ln     net.Listener
	served atomic.Int64
	mu     sync.Mutex
	conns  map[net.Conn]bool
	// mode, when set, overrides the payload: "close" or "hold" for every request.
	mode atomic.Value
}

func startServer(t *testing.T, name string) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{name: name, ln: ln, conns: map[net.Conn]bool{}}
	s.mode.Store("")
	go s.accept()
	t.Cleanup(s.stop)
	return s
}

func (s *server) addr() string { return s.ln.Addr().String() }

func (s *server) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		go s.handle(c)
	}
}

func (s *server) handle(c net.Conn) {
	defer c.Close()
	reg, _ := protocol.Lookup(testcodec.Name)
	fr := connio.NewFrameReader(c, reg.New(protocol.Options{Side: protocol.RequestSide, MaxFrameSize: 1 << 20}), 1<<20)
	for {
		var msg protocol.Message
		if err := fr.Next(&msg); err != nil {
			return
		}
		if msg.Type != protocol.Request {
			continue
		}
		payload := testcodec.Payload(&msg)
		if m := s.mode.Load().(string); m != "" {
			payload = m
		}
		switch {
		case strings.HasPrefix(payload, "close"):
			return
		case strings.HasPrefix(payload, "hold"):
			continue
		}
		s.served.Add(1)
		if _, err := c.Write(testcodec.Frame('R', msg.RequestID, nil, s.name+":"+testcodec.Payload(&msg))); err != nil {
			return
		}
	}
}

func (s *server) stop() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
}

func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// runProxy starts an in-process proxy with one testcodec listener routing everything with
// route to the given cluster.
func runProxy(t *testing.T, rt *config.Route, cluster *config.Cluster) (*proxy.Server, string) {
	t.Helper()
	srv := proxy.New(slog.New(slog.NewTextHandler(io.Discard, nil)))
	rt.Name, rt.Cluster = "all", cluster.Name
	err := srv.Apply(&config.Bootstrap{
		Listeners: []*config.Listener{{Name: "in", Address: "127.0.0.1:0", Codec: testcodec.Name, MaxFrameSize: 1 << 20,
			Routes: &config.RouteTable{Routes: []*config.Route{rt}}}},
		Clusters: []*config.Cluster{cluster},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return srv, srv.ListenerAddr("in").String()
}

func cluster(policy config.LBPolicy, addrs ...string) *config.Cluster {
	c := &config.Cluster{Name: "c", LBPolicy: policy, ConnectTimeout: time.Second, ConnectionsPerHost: 1,
		HealthyPanicThreshold: config.DefaultHealthyPanicThreshold, Limits: config.Limits{MaxRetries: config.DefaultMaxRetries}}
	for _, a := range addrs {
		c.Endpoints = append(c.Endpoints, config.Endpoint{Address: a, Weight: 1})
	}
	return c
}

// client sends testcodec requests on one connection, one at a time.
type client struct {
	t      *testing.T
	c      net.Conn
	fr     *connio.FrameReader
	nextID uint64
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	reg, _ := protocol.Lookup(testcodec.Name)
	return &client{t: t, c: c, fr: connio.NewFrameReader(c, reg.New(protocol.Options{Side: protocol.ResponseSide, MaxFrameSize: 1 << 20}), 1<<20)}
}

// call sends a request and returns its answer: the payload, or "error:<kind>".
func (c *client) call(md map[string]string, payload string) string {
	c.t.Helper()
	c.nextID++
	if _, err := c.c.Write(testcodec.Frame('Q', c.nextID, md, payload)); err != nil {
		c.t.Fatal(err)
	}
	_ = c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var msg protocol.Message
	if err := c.fr.Next(&msg); err != nil {
		c.t.Fatalf("read: %v", err)
	}
	if msg.RequestID != c.nextID {
		c.t.Fatalf("response id %d, want %d", msg.RequestID, c.nextID)
	}
	if msg.Type == protocol.Error {
		return "error:" + msg.Metadata.Value("error-kind")
	}
	return testcodec.Payload(&msg)
}

func retries(srv *proxy.Server) float64 {
	return testutil.ToFloat64(srv.Metrics().Cluster("c").Retries)
}

// TestHashAffinity: requests with the same hash key value reach the same server, on a
// RING_HASH cluster, a MAGLEV one, and a ROUND_ROBIN one (a hash_policy asks for
// consistent hashing whatever the policy); different values spread over the servers.
func TestHashAffinity(t *testing.T) {
	for _, policy := range []config.LBPolicy{config.RingHash, config.Maglev, config.RoundRobin} {
		t.Run(policy.String(), func(t *testing.T) {
			a, b, c := startServer(t, "a"), startServer(t, "b"), startServer(t, "c")
			_, addr := runProxy(t, &config.Route{HashPolicy: []string{"user"}}, cluster(policy, a.addr(), b.addr(), c.addr()))
			cl := dial(t, addr)
			owner := map[string]string{}
			used := map[string]bool{}
			for round := range 4 {
				for u := range 30 {
					user := fmt.Sprintf("user-%d", u)
					got, _, _ := strings.Cut(cl.call(map[string]string{"user": user}, "x"), ":")
					if round == 0 {
						owner[user] = got
						used[got] = true
					} else if owner[user] != got {
						t.Fatalf("%s reached %s, earlier %s", user, got, owner[user])
					}
				}
			}
			if len(used) < 2 {
				t.Fatalf("30 keys all reached %v", used)
			}
		})
	}
}

// TestRetryOnConnectFailure: with one endpoint refusing connections, every request still
// succeeds, each failed attempt retried on the other endpoint.
func TestRetryOnConnectFailure(t *testing.T) {
	good := startServer(t, "good")
	srv, addr := runProxy(t, &config.Route{Retry: &config.RetryPolicy{On: config.RetryOnConnectFailure, NumRetries: 1}},
		cluster(config.RoundRobin, closedAddr(t), good.addr()))
	cl := dial(t, addr)
	for i := range 20 {
		if got := cl.call(nil, "x"); got != "good:x" {
			t.Fatalf("request %d: %q", i, got)
		}
	}
	if n := retries(srv); n < 1 {
		t.Fatalf("retries counter = %v", n)
	}
}

// TestRetryOnReset: a connection that breaks with the request in flight is retried only
// when retry_on has reset.
func TestRetryOnReset(t *testing.T) {
	for _, tt := range []struct {
		on   config.RetryOn
		want string
	}{
		{config.RetryOnReset, "good:x"},
		{config.RetryOnConnectFailure, "error:upstream_reset"},
	} {
		bad, good := startServer(t, "bad"), startServer(t, "good")
		bad.mode.Store("close")
		_, addr := runProxy(t, &config.Route{Retry: &config.RetryPolicy{On: tt.on, NumRetries: 1}},
			cluster(config.RoundRobin, bad.addr(), good.addr()))
		cl := dial(t, addr)
		sawWant := false
		for range 10 {
			got := cl.call(nil, "x")
			if got != "good:x" && got != tt.want {
				t.Fatalf("retry_on %b: got %q", tt.on, got)
			}
			sawWant = sawWant || got == tt.want
		}
		if !sawWant {
			t.Fatalf("retry_on %b: never got %q", tt.on, tt.want)
		}
	}
}

// TestRetryOnPerTryTimeout: an attempt that gets no answer within per_try_timeout is
// retried on another endpoint, within the route's timeout.
func TestRetryOnPerTryTimeout(t *testing.T) {
	silent, good := startServer(t, "silent"), startServer(t, "good")
	silent.mode.Store("hold")
	srv, addr := runProxy(t, &config.Route{Timeout: 10 * time.Second,
		Retry: &config.RetryPolicy{On: config.RetryOnTimeout, NumRetries: 2, PerTryTimeout: 50 * time.Millisecond}},
		cluster(config.RoundRobin, silent.addr(), good.addr()))
	cl := dial(t, addr)
	for i := range 6 {
		if got := cl.call(nil, "x"); got != "good:x" {
			t.Fatalf("request %d: %q", i, got)
		}
	}
	if retries(srv) < 1 {
		t.Fatal("no retry counted")
	}
}

// TestRetriesRunOut: when every attempt fails, the client gets the last failure after
// num_retries retries.
func TestRetriesRunOut(t *testing.T) {
	srv, addr := runProxy(t, &config.Route{Retry: &config.RetryPolicy{On: config.RetryOnConnectFailure, NumRetries: 2}},
		cluster(config.RoundRobin, closedAddr(t), closedAddr(t), closedAddr(t)))
	if got := dial(t, addr).call(nil, "x"); got != "error:upstream_reset" {
		t.Fatalf("got %q", got)
	}
	if n := retries(srv); n != 2 {
		t.Fatalf("%v retries, want 2", n)
	}
}

// TestRetryBudget: max_retries 0 turns retries off; the refusal is counted.
func TestRetryBudget(t *testing.T) {
	good := startServer(t, "good")
	c := cluster(config.RoundRobin, closedAddr(t), good.addr())
	c.Limits.MaxRetries = -1
	srv, addr := runProxy(t, &config.Route{Retry: &config.RetryPolicy{On: config.RetryOnConnectFailure, NumRetries: 3}}, c)
	cl := dial(t, addr)
	failed := 0
	for range 4 {
		if cl.call(nil, "x") != "good:x" {
			failed++
		}
	}
	if failed == 0 || retries(srv) != 0 {
		t.Fatalf("%d failures, %v retries: want failures and no retry", failed, retries(srv))
	}
}
