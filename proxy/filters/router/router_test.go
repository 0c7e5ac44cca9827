package router_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/proxy"
	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/internal/testbackend"
	"github.com/breeze-mesh/breeze/proxy/internal/testcodec"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

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

// badAndGood runs a proxy with retry over two round-robin endpoints, "bad" answering every
// request per mode and "good" answering OK, and makes ten calls: each must get "good:x" or
// want, and want must come at least once. It returns the proxy, for its counters.
func badAndGood(t *testing.T, mode testbackend.Mode, retry *config.RetryPolicy, want string) *proxy.Server {
	t.Helper()
	bad, good := testbackend.Start(t, "bad"), testbackend.Start(t, "good")
	bad.SetMode(mode)
	srv, addr := runProxy(t, &config.Route{Retry: retry}, cluster(config.RoundRobin, bad.Addr(), good.Addr()))
	cl := testbackend.Dial(t, addr)
	sawWant := false
	for i := range 10 {
		got := cl.Call(nil, "x")
		if got != "good:x" && got != want {
			t.Fatalf("bad endpoint %v, retry %+v, request %d: %q", mode, *retry, i, got)
		}
		sawWant = sawWant || got == want
	}
	if !sawWant {
		t.Fatalf("bad endpoint %v, retry %+v: never got %q", mode, *retry, want)
	}
	return srv
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
			a, b, c := testbackend.Start(t, "a"), testbackend.Start(t, "b"), testbackend.Start(t, "c")
			_, addr := runProxy(t, &config.Route{HashPolicy: []string{"user"}}, cluster(policy, a.Addr(), b.Addr(), c.Addr()))
			cl := testbackend.Dial(t, addr)
			owner := map[string]string{}
			used := map[string]bool{}
			for round := range 4 {
				for u := range 30 {
					user := fmt.Sprintf("user-%d", u)
					got, _, _ := strings.Cut(cl.Call(map[string]string{"user": user}, "x"), ":")
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
	good := testbackend.Start(t, "good")
	srv, addr := runProxy(t, &config.Route{Retry: &config.RetryPolicy{On: config.RetryOnConnectFailure, NumRetries: 1}},
		cluster(config.RoundRobin, testbackend.ClosedAddr(t), good.Addr()))
	cl := testbackend.Dial(t, addr)
	for i := range 20 {
		if got := cl.Call(nil, "x"); got != "good:x" {
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
		badAndGood(t, testbackend.Close, &config.RetryPolicy{On: tt.on, NumRetries: 1}, tt.want)
	}
}

// TestRetryOnPerTryTimeout: an attempt that gets no answer within per_try_timeout is
// retried on another endpoint, within the route's timeout.
func TestRetryOnPerTryTimeout(t *testing.T) {
	silent, good := testbackend.Start(t, "silent"), testbackend.Start(t, "good")
	silent.SetMode(testbackend.Hold)
	srv, addr := runProxy(t, &config.Route{Timeout: 10 * time.Second,
		Retry: &config.RetryPolicy{On: config.RetryOnTimeout, NumRetries: 2, PerTryTimeout: 50 * time.Millisecond}},
		cluster(config.RoundRobin, silent.Addr(), good.Addr()))
	cl := testbackend.Dial(t, addr)
	for i := range 6 {
		if got := cl.Call(nil, "x"); got != "good:x" {
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
		cluster(config.RoundRobin, testbackend.ClosedAddr(t), testbackend.ClosedAddr(t), testbackend.ClosedAddr(t)))
	if got := testbackend.Dial(t, addr).Call(nil, "x"); got != "error:upstream_reset" {
		t.Fatalf("got %q", got)
	}
	if n := retries(srv); n != 2 {
		t.Fatalf("%v retries, want 2", n)
	}
}

// TestRetryBudget: max_retries 0 turns retries off; the refusal is counted.
func TestRetryBudget(t *testing.T) {
	good := testbackend.Start(t, "good")
	c := cluster(config.RoundRobin, testbackend.ClosedAddr(t), good.Addr())
	c.Limits.MaxRetries = -1
	srv, addr := runProxy(t, &config.Route{Retry: &config.RetryPolicy{On: config.RetryOnConnectFailure, NumRetries: 3}}, c)
	cl := testbackend.Dial(t, addr)
	failed := 0
	for range 4 {
		if cl.Call(nil, "x") != "good:x" {
			failed++
		}
	}
	if failed == 0 || retries(srv) != 0 {
		t.Fatalf("%d failures, %v retries: want failures and no retry", failed, retries(srv))
	}
}

// TestRouteCounters: each route's counter counts the requests it matched, with routes
// counted by their position in the table.
func TestRouteCounters(t *testing.T) {
	s := testbackend.Start(t, "s")
	srv := proxy.New(slog.New(slog.NewTextHandler(io.Discard, nil)))
	routes := []*config.Route{
		{Name: "first", Cluster: "c", Match: []config.Matcher{{Key: "method", Kind: config.MatchExact, Value: "a"}}},
		{Name: "second", Cluster: "c", Match: []config.Matcher{{Key: "method", Kind: config.MatchExact, Value: "b"}}},
		{Name: "rest", Cluster: "c"},
	}
	if err := srv.Apply(&config.Bootstrap{
		Listeners: []*config.Listener{{Name: "in", Address: "127.0.0.1:0", Codec: testcodec.Name, MaxFrameSize: 1 << 20,
			Routes: &config.RouteTable{Routes: routes}}},
		Clusters: []*config.Cluster{cluster(config.RoundRobin, s.Addr())},
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	cl := testbackend.Dial(t, srv.ListenerAddr("in").String())
	for method, n := range map[string]int{"a": 1, "b": 2, "c": 3} {
		for range n {
			if got := cl.Call(map[string]string{"method": method}, "x"); got != "s:x" {
				t.Fatalf("method %s: %q", method, got)
			}
		}
	}
	for route, want := range map[string]float64{"first": 1, "second": 2, "rest": 3} {
		if got := testutil.ToFloat64(srv.Metrics().Listener("in").Route(route)); got != want {
			t.Errorf("route %s counted %v, want %v", route, got, want)
		}
	}
}
