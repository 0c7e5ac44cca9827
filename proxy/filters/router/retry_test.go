package router_test

import (
	"strings"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/filters/router"
	"github.com/breeze-mesh/breeze/proxy/internal/testbackend"
)

// TestRetryOnRetriableStatus: an endpoint that refuses every request (the codec says so)
// is retried on the other one only when retry_on has retriable-status.
func TestRetryOnRetriableStatus(t *testing.T) {
	for _, tt := range []struct {
		on   config.RetryOn
		want string // what the refused share of requests gets
	}{
		{config.RetryOnRetriableStatus, "good:x"},
		{config.RetryOnConnectFailure | config.RetryOnReset, "error:over_limit"},
	} {
		recorded := router.RecordBackOffs(t)
		srv := badAndGood(t, testbackend.Refuse, &config.RetryPolicy{On: tt.on, NumRetries: 1, BackOff: config.DefaultRetryBackOff}, tt.want)
		if n, waits := retries(srv), len(recorded()); tt.on == config.RetryOnRetriableStatus && (n < 1 || int(n) != waits) {
			t.Fatalf("%v retries counted, %d backoffs", n, waits)
		}
	}
}

// TestRetryOnRetriableStatusCodes: an error response is retried when its code is listed,
// and goes to the client when it is not.
func TestRetryOnRetriableStatusCodes(t *testing.T) {
	for _, tt := range []struct {
		codes []int32
		want  string
	}{
		{[]int32{5, testbackend.FailCode}, "good:x"},
		{[]int32{testbackend.FailCode + 1}, "error:app"},
	} {
		badAndGood(t, testbackend.Fail, &config.RetryPolicy{On: config.RetryOnRetriableStatusCodes, NumRetries: 1, RetriableStatusCodes: tt.codes}, tt.want)
	}
}

// TestRetriedResponseRunsOut: when every endpoint refuses, the client gets the last
// server's refusal as the server sent it, not an error of the proxy's, after num_retries
// retries.
func TestRetriedResponseRunsOut(t *testing.T) {
	router.RecordBackOffs(t)
	a, b := testbackend.Start(t, "a"), testbackend.Start(t, "b")
	srv, addr := runProxy(t, &config.Route{Retry: &config.RetryPolicy{On: config.RetryOnRetriableStatus, NumRetries: 3, BackOff: config.DefaultRetryBackOff}},
		cluster(config.RoundRobin, a.Addr(), b.Addr()))
	kind, payload := dialAndCall(t, addr, "refuse")
	if kind != "over_limit" || (payload != "a:refused" && payload != "b:refused") {
		t.Fatalf("got %s %q, want a server's over_limit refusal", kind, payload)
	}
	if n := retries(srv); n != 3 {
		t.Fatalf("%v retries, want 3", n)
	}
	if n := a.Requests() + b.Requests(); n != 4 {
		t.Fatalf("servers answered %d attempts, want 4", n)
	}
}

func dialAndCall(t *testing.T, addr, payload string) (kind, body string) {
	t.Helper()
	cl := testbackend.Dial(t, addr)
	return cl.Answer(cl.Request(nil, payload))
}

// TestRetryBackOffPastRouteTimeout: a retry whose backoff would end after the route's
// timeout is not made; the client gets the refusal the server sent.
func TestRetryBackOffPastRouteTimeout(t *testing.T) {
	router.LongestBackOffs(t)
	a, b := testbackend.Start(t, "a"), testbackend.Start(t, "b")
	srv, addr := runProxy(t, &config.Route{Timeout: 5 * time.Second,
		Retry: &config.RetryPolicy{On: config.RetryOnRetriableStatus, NumRetries: 2, BackOff: config.RetryBackOff{Base: time.Hour, Max: time.Hour}}},
		cluster(config.RoundRobin, a.Addr(), b.Addr()))
	if kind, payload := dialAndCall(t, addr, "refuse"); kind != "over_limit" || !strings.HasSuffix(payload, ":refused") {
		t.Fatalf("got %s %q, want the server's refusal", kind, payload)
	}
	if n := retries(srv); n != 0 {
		t.Fatalf("%v retries, want none", n)
	}
}

// TestRetriableStatusBudget: with the cluster's retry budget at zero, a refusal is not
// retried and reaches the client as the server sent it.
func TestRetriableStatusBudget(t *testing.T) {
	bad, good := testbackend.Start(t, "bad"), testbackend.Start(t, "good")
	bad.SetMode(testbackend.Refuse)
	c := cluster(config.RoundRobin, bad.Addr(), good.Addr())
	c.Limits.MaxRetries = -1
	srv, addr := runProxy(t, &config.Route{Retry: &config.RetryPolicy{On: config.RetryOnRetriableStatus, NumRetries: 3}}, c)
	cl := testbackend.Dial(t, addr)
	refused := 0
	for range 4 {
		switch kind, payload := cl.Answer(cl.Request(nil, "x")); {
		case kind == "over_limit" && payload == "bad:refused":
			refused++
		case kind != "" || payload != "good:x":
			t.Fatalf("got %s %q", kind, payload)
		}
	}
	if refused == 0 || retries(srv) != 0 {
		t.Fatalf("%d refusals, %v retries: want refusals and no retry", refused, retries(srv))
	}
}

// TestRetryBackOffBounds: retry n waits at most (2^n - 1) * base_interval, capped at
// max_interval, and at least nothing; the bounds are checked by a random source that
// returns its extremes.
func TestRetryBackOffBounds(t *testing.T) {
	top := func(k int64) int64 { return k - 1 }
	bottom := func(int64) int64 { return 0 }
	p := config.DefaultRetryBackOff // 25ms, 250ms
	for n, want := range map[int]time.Duration{1: 25 * time.Millisecond, 2: 75 * time.Millisecond, 3: 175 * time.Millisecond, 4: 250 * time.Millisecond, 10: 250 * time.Millisecond, 70: 250 * time.Millisecond} {
		if got := router.BackOff(p, n, top); got != want {
			t.Errorf("retry %d: longest wait %v, want %v", n, got, want)
		}
		if got := router.BackOff(p, n, bottom); got != 0 {
			t.Errorf("retry %d: shortest wait %v, want 0", n, got)
		}
	}
	huge := config.RetryBackOff{Base: 1 << 60, Max: 1<<63 - 1}
	if got := router.BackOff(huge, 10, top); got != huge.Max-1 {
		t.Errorf("huge base: %v, want max_interval", got)
	}
	if got := router.BackOff(config.RetryBackOff{}, 3, top); got != 0 {
		t.Errorf("no backoff configured: waits %v", got)
	}
}

// TestRetryBackOffScheduled: each retry is scheduled with a wait within its bound.
func TestRetryBackOffScheduled(t *testing.T) {
	waits := router.RecordBackOffs(t)
	a, b := testbackend.Start(t, "a"), testbackend.Start(t, "b")
	bo := config.RetryBackOff{Base: 10 * time.Millisecond, Max: 40 * time.Millisecond}
	_, addr := runProxy(t, &config.Route{Retry: &config.RetryPolicy{On: config.RetryOnRetriableStatus, NumRetries: 4, BackOff: bo}},
		cluster(config.RoundRobin, a.Addr(), b.Addr()))
	if kind, _ := dialAndCall(t, addr, "refuse"); kind != "over_limit" {
		t.Fatalf("got %q", kind)
	}
	got := waits()
	if len(got) != 4 {
		t.Fatalf("%d backoffs, want 4: %v", len(got), got)
	}
	for i, w := range got {
		if bound := min(bo.Base*(1<<(i+1)-1), bo.Max); w < 0 || w > bound {
			t.Errorf("retry %d waited %v, bound %v", i+1, w, bound)
		}
	}
}

// TestRetryBackOffDoesNotBlock: while one request waits out its backoff, the next request
// on the same client connection is answered.
func TestRetryBackOffDoesNotBlock(t *testing.T) {
	held := router.HoldBackOffs(t)
	a, b := testbackend.Start(t, "a"), testbackend.Start(t, "b")
	_, addr := runProxy(t, &config.Route{Retry: &config.RetryPolicy{On: config.RetryOnRetriableStatus, NumRetries: 1, BackOff: config.DefaultRetryBackOff}},
		cluster(config.RoundRobin, a.Addr(), b.Addr()))
	cl := testbackend.Dial(t, addr)
	refused := cl.Request(nil, "refuse")
	var release func()
	select {
	case release = <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("no retry was scheduled")
	}
	if got := cl.Call(nil, "x"); !strings.HasSuffix(got, ":x") {
		t.Fatalf("request during the backoff: %q", got)
	}
	release()
	if kind, payload := cl.Answer(refused); kind != "over_limit" || !strings.HasSuffix(payload, ":refused") {
		t.Fatalf("refused request: %s %q", kind, payload)
	}
}

// TestRetryNeverOneway: oneway requests to an endpoint that refuses connections are not
// retried; the two-way request after them is, num_retries times.
func TestRetryNeverOneway(t *testing.T) {
	srv, addr := runProxy(t, &config.Route{Retry: &config.RetryPolicy{On: config.RetryOnConnectFailure, NumRetries: 3}},
		cluster(config.RoundRobin, testbackend.ClosedAddr(t)))
	cl := testbackend.Dial(t, addr)
	for range 4 {
		cl.Send('O', cl.NextID(), nil, "x")
	}
	if got := cl.Call(nil, "x"); got != "error:upstream_reset" {
		t.Fatalf("two-way request: %q", got)
	}
	if n := retries(srv); n != 3 {
		t.Fatalf("%v retries, want 3 (the two-way request's only)", n)
	}
}
