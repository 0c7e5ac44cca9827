package e2e

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/examples/dubbo/greeter"
	"github.com/breeze-mesh/breeze/test/e2e/dubboraw"
)

// rawDeadline bounds every raw connection's reads and writes: a failure deadline only.
const rawDeadline = 60 * time.Second

// dialRaw opens a raw Dubbo connection to addr, closed at the end of the test.
func dialRaw(t *testing.T, addr string) *dubboraw.Conn {
	t.Helper()
	c, err := dubboraw.Dial(addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(rawDeadline))
	t.Cleanup(func() { c.Close() })
	return c
}

// greeterCall is a Greeter request for the raw client.
func greeterCall(version, method string, args ...any) dubboraw.Request {
	return dubboraw.Request{Interface: greeter.Interface, Version: version, Method: method, Args: args}
}

// startRoutingSetup starts servers v1 and v2 and a proxy with testdata/routing.yaml.
func startRoutingSetup(t *testing.T) *proxyProcess {
	t.Helper()
	v1 := startGreeter(t, "v1", freePort(t))
	v2 := startGreeter(t, "v2", freePort(t))
	return startProxy(t, "routing.yaml", bootstrapPorts{V1: v1.port, V2: v2.port})
}

// TestDubboGoRouting: dubbo-go clients call through the proxy, which routes on the version
// and on the method; the replies name the server that answered, and the proxy's route and
// cluster counters agree.
func TestDubboGoRouting(t *testing.T) {
	requireE2E(t)
	proxy := startRoutingSetup(t)
	ctx := context.Background()

	cases := []struct {
		version, method string
		wantPrefix      string // the reply, without the name
		route, cluster  string
	}{
		{"1.0.0", greeter.MethodSayHello, "hello", "default", "greeter-v1"},
		{"2.0.0", greeter.MethodSayHello, "hello", "to-v2", "greeter-v2"},
		{"1.0.0", greeter.MethodSayHi, "hi", "by-method", "greeter-v2"},
		{"2.0.0", greeter.MethodSayHi, "hi", "to-v2", "greeter-v2"},
	}
	const callsPerCase = 5
	wantRoutes, wantClusters := map[string]float64{}, map[string]float64{}
	for _, tc := range cases {
		c := dialGreeter(t, proxy.addr, greeter.Interface, tc.version, 10*time.Second)
		server := strings.TrimPrefix(tc.cluster, "greeter-")
		for i := range callsPerCase {
			name := fmt.Sprintf("%s-%s-%d", tc.method, tc.version, i)
			var reply string
			if err := c.Call(ctx, tc.method, []any{name}, &reply); err != nil {
				t.Fatalf("%s version %s: %v", tc.method, tc.version, err)
			}
			if want := tc.wantPrefix + " " + name + " from " + server; reply != want {
				t.Errorf("%s version %s: reply %q, want %q (route %s)", tc.method, tc.version, reply, want, tc.route)
			}
		}
		wantRoutes[tc.route] += callsPerCase
		wantClusters[tc.cluster] += callsPerCase
	}
	for route, want := range wantRoutes {
		if got := proxy.counter(t, "breeze_route_requests_total", map[string]string{"route": route}); got != want {
			t.Errorf("breeze_route_requests_total{route=%q} = %v, want %v", route, got, want)
		}
	}
	for cluster, want := range wantClusters {
		if got := proxy.counter(t, "breeze_cluster_upstream_requests_total", map[string]string{"cluster": cluster}); got != want {
			t.Errorf("breeze_cluster_upstream_requests_total{cluster=%q} = %v, want %v", cluster, got, want)
		}
	}
}

// TestDubboGoUnknownInterface: a call no route matches fails at once with the proxy's own
// Dubbo error, not with a client timeout (the client waits up to 30s; the error text tells
// which happened).
func TestDubboGoUnknownInterface(t *testing.T) {
	requireE2E(t)
	proxy := startRoutingSetup(t)
	c := dialGreeter(t, proxy.addr, "org.apache.dubbo.sample.Nobody", "1.0.0", 30*time.Second)
	for attempt := 1; attempt <= 2; attempt++ { // the connection survives the error
		reply, err := c.SayHello(context.Background(), "alice")
		if err == nil {
			t.Fatalf("call %d to an unrouted interface answered %q", attempt, reply)
		}
		msg := err.Error()
		if !strings.Contains(msg, "breeze:") || strings.Contains(strings.ToLower(msg), "timeout") {
			t.Fatalf("call %d: error %q, want the proxy's \"breeze:\" error and no timeout", attempt, msg)
		}
	}
	if got := proxy.counter(t, "breeze_listener_local_replies_total", map[string]string{"kind": "route_not_found"}); got != 2 {
		t.Errorf("local replies route_not_found = %v, want 2", got)
	}
}

// TestRawUnknownInterfaceStatus: the same failure seen on the wire is a SERVICE_NOT_FOUND
// response carrying the request's id and a "breeze:" message.
func TestRawUnknownInterfaceStatus(t *testing.T) {
	requireE2E(t)
	proxy := startRoutingSetup(t)
	conn := dialRaw(t, proxy.addr)
	resp, err := conn.Call(dubboraw.Request{Interface: "org.apache.dubbo.sample.Nobody", Version: "1.0.0", Method: "sayHello", Args: []any{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != dubboraw.StatusServiceNotFound || !strings.HasPrefix(resp.ErrorMessage, "breeze:") {
		t.Fatalf("response status %d message %q, want %d and a \"breeze:\" message", resp.Status, resp.ErrorMessage, dubboraw.StatusServiceNotFound)
	}
}

// TestRawHeartbeatWithoutUpstream: the proxy answers heartbeats itself, so they work with
// no server up at all, and they are not counted as requests.
func TestRawHeartbeatWithoutUpstream(t *testing.T) {
	requireE2E(t)
	// The clusters point at ports nothing listens on.
	proxy := startProxy(t, "routing.yaml", bootstrapPorts{V1: freePort(t), V2: freePort(t)})
	conn := dialRaw(t, proxy.addr)
	for i := range 3 {
		resp, err := conn.Heartbeat()
		if err != nil {
			t.Fatalf("heartbeat %d: %v", i, err)
		}
		if resp.Status != dubboraw.StatusOK {
			t.Fatalf("heartbeat %d: status %d", i, resp.Status)
		}
	}
	if got := proxy.counter(t, "breeze_listener_requests_total", nil); got != 0 {
		t.Errorf("breeze_listener_requests_total = %v after heartbeats only, want 0", got)
	}
}

// TestRawOnewayReachesServer: a oneway request is forwarded to the server its route picks,
// and nothing comes back for it.
func TestRawOnewayReachesServer(t *testing.T) {
	requireE2E(t)
	proxy := startRoutingSetup(t)
	conn := dialRaw(t, proxy.addr)
	token := fmt.Sprintf("oneway-%d", time.Now().UnixNano())
	if _, err := conn.Send(greeterCall("1.0.0", greeter.MethodNotify, token), false); err != nil {
		t.Fatal(err)
	}
	// Every Call checks that the frame it reads carries its own id: an answer to the oneway
	// request would arrive first and fail it.
	waitFor(t, "server v1 saw the oneway notify", func() error {
		resp, err := conn.Call(greeterCall("1.0.0", greeter.MethodSeen, token))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Result != true {
			return fmt.Errorf("seen = %v (%v)", resp.Result, resp.Err)
		}
		return nil
	})
	// Version 2.0.0 routes to v2, which must not have seen it.
	resp, err := conn.Call(greeterCall("2.0.0", greeter.MethodSeen, token))
	if err != nil || resp.Result != false {
		t.Fatalf("v2 seen = %+v, %v; want false", resp, err)
	}
	// The proxy holds nothing in flight for the oneway request...
	if _, ok := proxy.metric(t, "breeze_listener_active_requests", nil); ok {
		waitFor(t, "no request in flight", func() error {
			if n := proxy.counter(t, "breeze_listener_active_requests", nil); n != 0 {
				return fmt.Errorf("%v active", n)
			}
			return nil
		})
	}
	// ...and has queued no frame for it before this heartbeat's answer.
	if _, err := conn.Heartbeat(); err != nil {
		t.Fatalf("heartbeat after oneway: %v", err)
	}
}

// TestRawAttachmentMutation: a route's request_mutation reaches the server as an
// attachment, on that route only, over the client's own value, keeping the client's other
// attachments.
func TestRawAttachmentMutation(t *testing.T) {
	requireE2E(t)
	proxy := startRoutingSetup(t)
	conn := dialRaw(t, proxy.addr)
	ask := func(version, key string, atts map[string]string) string {
		t.Helper()
		req := greeterCall(version, greeter.MethodAttachment, key)
		req.Attachments = atts
		resp, err := conn.Call(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Err != nil {
			t.Fatalf("attachment(%q) version %s: %v", key, version, resp.Err)
		}
		s, _ := resp.Result.(string)
		return s
	}
	if got := ask("2.0.0", "x-routed-by", nil); got != "breeze" {
		t.Errorf("route to-v2: server saw x-routed-by %q, want breeze", got)
	}
	if got := ask("2.0.0", "x-routed-by", map[string]string{"x-routed-by": "client"}); got != "breeze" {
		t.Errorf("route to-v2 over the client's value: server saw %q, want breeze", got)
	}
	if got := ask("2.0.0", "x-user", map[string]string{"x-user": "carol"}); got != "carol" {
		t.Errorf("route to-v2: the client's x-user reached the server as %q, want carol", got)
	}
	if got := ask("1.0.0", "x-routed-by", nil); got != "" {
		t.Errorf("route default (no mutation): server saw x-routed-by %q, want none", got)
	}
}

// TestManyClientsShareOneUpstreamConnection: 64 clients on their own connections keep
// several requests in flight each, all to one server; every caller gets the answer to its
// own request, and the proxy multiplexes them all over a single upstream connection.
func TestManyClientsShareOneUpstreamConnection(t *testing.T) {
	requireE2E(t)
	srv := startGreeter(t, "solo", freePort(t))
	relay := startRelay(t, srv.addr)
	proxy := startProxy(t, "single.yaml", bootstrapPorts{Upstream: relay.port()})

	const clients, batches, batchSize = 64, 10, 5
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- runPipelinedClient(proxy.addr, i, batches, batchSize)
		}()
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			failed++
			if failed <= 5 {
				t.Error(err)
			}
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d clients failed", failed, clients)
	}
	if n := relay.connections(); n != 1 {
		t.Errorf("the server saw %d connections from the proxy, want 1", n)
	}
	if got := proxy.counter(t, "breeze_cluster_upstream_requests_total", map[string]string{"cluster": "greeter"}); got != clients*batches*batchSize {
		t.Errorf("upstream requests = %v, want %d", got, clients*batches*batchSize)
	}
}

// runPipelinedClient sends batches of requests with a unique name each on one connection,
// a batch at a time in flight, and checks every response against its request.
func runPipelinedClient(addr string, client, batches, batchSize int) error {
	conn, err := dubboraw.Dial(addr, 5*time.Second)
	if err != nil {
		return fmt.Errorf("client %d: %w", client, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(rawDeadline))
	for b := range batches {
		want := make(map[int64]string, batchSize)
		for r := range batchSize {
			name := fmt.Sprintf("c%d-b%d-r%d", client, b, r)
			id, err := conn.Send(greeterCall("1.0.0", greeter.MethodSayHello, name), true)
			if err != nil {
				return fmt.Errorf("client %d: send: %w", client, err)
			}
			want[id] = "hello " + name + " from solo"
		}
		for range batchSize {
			resp, err := conn.Read()
			if err != nil {
				return fmt.Errorf("client %d batch %d: read: %w", client, b, err)
			}
			expected, ok := want[resp.ID]
			if !ok {
				return fmt.Errorf("client %d batch %d: response id %d is not one of mine (%v)", client, b, resp.ID, want)
			}
			if resp.Err != nil || resp.Result != expected {
				return fmt.Errorf("client %d: id %d answered %v (err %v), want %q", client, resp.ID, resp.Result, resp.Err, expected)
			}
			delete(want, resp.ID)
		}
	}
	return nil
}

// TestUpstreamKilledWithRequestsInFlight: when the server dies under in-flight requests,
// each gets a Dubbo error response from the proxy at once (the route timeout is 60s, the
// test's read deadline too: an answer before either means the proxy noticed the loss);
// once a server is back on the same port, calls succeed again on the same client
// connection.
func TestUpstreamKilledWithRequestsInFlight(t *testing.T) {
	requireE2E(t)
	port := freePort(t)
	first := startGreeter(t, "first", port)
	proxy := startProxy(t, "single.yaml", bootstrapPorts{Upstream: port})

	const inflight = 8
	conns := make([]*dubboraw.Conn, inflight)
	ids := make([]int64, inflight)
	for i := range conns {
		conns[i] = dialRaw(t, proxy.addr)
		id, err := conns[i].Send(greeterCall("1.0.0", greeter.MethodSlowHello, fmt.Sprintf("slow-%d", i)), true)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	probe := dialRaw(t, proxy.addr)
	waitFor(t, "all slow calls held by the server", func() error {
		resp, err := probe.Call(greeterCall("1.0.0", greeter.MethodPending))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Result != int32(inflight) {
			return fmt.Errorf("pending = %v (%v)", resp.Result, resp.Err)
		}
		return nil
	})

	first.kill(t)
	for i, conn := range conns {
		resp, err := conn.Read()
		if err != nil {
			t.Fatalf("in-flight request %d: no response after the server died: %v", i, err)
		}
		if resp.ID != ids[i] {
			t.Fatalf("in-flight request %d: response id %d, want %d", i, resp.ID, ids[i])
		}
		if resp.Status == dubboraw.StatusOK {
			t.Fatalf("in-flight request %d: status OK (%v) from a dead server", i, resp.Result)
		}
		t.Logf("in-flight request %d: status %d, %q", i, resp.Status, resp.ErrorMessage)
	}
	if got := proxy.counter(t, "breeze_listener_local_replies_total", map[string]string{"kind": "upstream_reset"}); got != inflight {
		t.Errorf("local replies upstream_reset = %v, want %d", got, inflight)
	}
	if got, _ := proxy.metric(t, "breeze_listener_local_replies_total", map[string]string{"kind": "timeout"}); got != 0 {
		t.Errorf("local replies timeout = %v, want 0", got)
	}

	startGreeter(t, "second", port)
	waitFor(t, "a call through the proxy reaches the restarted server", func() error {
		resp, err := probe.Call(greeterCall("1.0.0", greeter.MethodSayHello, "again"))
		if err != nil {
			t.Fatal(err) // the client connection itself must survive
		}
		if resp.Err != nil {
			return resp.Err
		}
		if resp.Result != "hello again from second" {
			t.Fatalf("reply %v from the restarted server", resp.Result)
		}
		return nil
	})
	proxy.ready(t)
}

// TestMalformedFrames: garbage, truncated and oversized frames each close their own
// connection (after an error reply when the request id is readable) and are counted as
// decode errors, while the proxy stays up and a well-behaved client on another connection
// keeps being served throughout.
func TestMalformedFrames(t *testing.T) {
	requireE2E(t)
	srv := startGreeter(t, "solid", freePort(t))
	proxy := startProxy(t, "single.yaml", bootstrapPorts{Upstream: srv.port})

	healthy := startHealthyClient(t, proxy.addr)

	valid, err := dubboraw.EncodeRequest(5, greeterCall("1.0.0", greeter.MethodSayHello, "whole"), true)
	if err != nil {
		t.Fatal(err)
	}
	// oversized is a request header (id 77) announcing a body past the listener's 64 KiB
	// max_frame_size, followed by the start of that body.
	oversized := append([]byte(nil), valid[:dubboraw.HeaderLength]...)
	binary.BigEndian.PutUint64(oversized[4:], 77)
	binary.BigEndian.PutUint32(oversized[12:], 1<<20)
	oversized = append(oversized, make([]byte, 4096)...)
	// badBody is a request header (id 78) whose body is not hessian2.
	badBody := append([]byte(nil), valid[:dubboraw.HeaderLength]...)
	binary.BigEndian.PutUint64(badBody[4:], 78)
	junk := []byte{0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xfa, 0xf9, 0xf8, 0xf7, 0xf6, 0xf5, 0xf4}
	binary.BigEndian.PutUint32(badBody[12:], uint32(len(junk)))
	badBody = append(badBody, junk...)

	cases := []struct {
		name string
		// data is written, then the write side is closed when halfClose is set.
		data      []byte
		halfClose bool
		// replyID, when not zero, is the id the proxy must answer with an error.
		replyID int64
	}{
		{name: "http request", data: []byte("GET / HTTP/1.1\r\nHost: breeze\r\n\r\n")},
		{name: "binary garbage", data: []byte(strings.Repeat("\xab\xcd", 64))},
		{name: "truncated header", data: valid[:8], halfClose: true},
		{name: "truncated body", data: valid[:len(valid)-3], halfClose: true},
		{name: "oversized frame", data: oversized, replyID: 77},
		{name: "undecodable body", data: badBody, replyID: 78},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			decodeErrors := proxy.counter(t, "breeze_listener_decode_errors_total", nil)
			served := healthy.served()

			conn, err := net.DialTimeout("tcp", proxy.addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(rawDeadline))
			if _, err := conn.Write(tc.data); err != nil {
				t.Fatal(err)
			}
			if tc.halfClose {
				conn.(*net.TCPConn).CloseWrite()
			}
			replies, closeErr := readUntilClosed(conn)
			if closeErr != nil {
				t.Fatalf("the proxy did not close the connection: %v", closeErr)
			}
			for _, r := range replies {
				t.Logf("reply before the close: id %d, status %d, %q", r.ID, r.Status, r.ErrorMessage)
			}
			if tc.replyID != 0 && !hasErrorReply(replies, tc.replyID) {
				t.Errorf("no error reply for request %d before the close (got %+v)", tc.replyID, replies)
			}
			waitFor(t, "decode error counted", func() error {
				if n := proxy.counter(t, "breeze_listener_decode_errors_total", nil); n <= decodeErrors {
					return fmt.Errorf("breeze_listener_decode_errors_total still %v", n)
				}
				return nil
			})
			proxy.ready(t)
			waitFor(t, "the healthy client is still served", func() error {
				if err := healthy.failure(); err != nil {
					t.Fatalf("healthy client failed: %v", err)
				}
				if healthy.served() <= served {
					return errors.New("no call completed since the bad frame")
				}
				return nil
			})
		})
	}
}

// readUntilClosed reads response frames until the peer closes the connection. It returns
// the responses, and an error if the connection ended any other way (a deadline, an
// undecodable frame).
func readUntilClosed(conn net.Conn) ([]*dubboraw.Response, error) {
	var replies []*dubboraw.Response
	for {
		frame, err := dubboraw.ReadFrame(conn)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
				return replies, nil
			}
			return replies, err
		}
		resp, err := dubboraw.DecodeResponse(frame)
		if err != nil {
			return replies, err
		}
		replies = append(replies, resp)
	}
}

func hasErrorReply(replies []*dubboraw.Response, id int64) bool {
	for _, r := range replies {
		if r.ID == id && r.Status != dubboraw.StatusOK {
			return true
		}
	}
	return false
}

// healthyClient calls the proxy in a loop on its own connection for the whole test.
type healthyClient struct {
	count  atomic.Int64
	mu     sync.Mutex
	err    error
	cancel context.CancelFunc
	done   chan struct{}
}

// startHealthyClient starts the loop and waits for its first success; the loop stops at
// the end of the test.
func startHealthyClient(t *testing.T, addr string) *healthyClient {
	t.Helper()
	conn := dialRaw(t, addr)
	ctx, cancel := context.WithCancel(context.Background())
	h := &healthyClient{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		for i := 0; ctx.Err() == nil; i++ {
			name := fmt.Sprintf("healthy-%d", i)
			resp, err := conn.Call(greeterCall("1.0.0", greeter.MethodSayHello, name))
			if err == nil && (resp.Err != nil || !strings.HasPrefix(fmt.Sprint(resp.Result), "hello "+name+" ")) {
				err = fmt.Errorf("call %d answered %v (err %v)", i, resp.Result, resp.Err)
			}
			if err != nil {
				h.mu.Lock()
				h.err = err
				h.mu.Unlock()
				return
			}
			h.count.Add(1)
		}
	}()
	t.Cleanup(func() {
		h.cancel()
		<-h.done
		if err := h.failure(); err != nil {
			t.Errorf("healthy client: %v", err)
		}
	})
	waitFor(t, "healthy client's first call", func() error {
		if err := h.failure(); err != nil {
			t.Fatal(err)
		}
		if h.served() == 0 {
			return errors.New("no call yet")
		}
		return nil
	})
	return h
}

func (h *healthyClient) served() int64 { return h.count.Load() }

func (h *healthyClient) failure() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}
