package e2e

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	baidurpc "github.com/baidu-golang/pbrpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	brpcpb "github.com/breeze-mesh/breeze/api/peers/brpc"
)

// bRPC (baidu_std) scenarios: pbrpc v1.3.1 servers and clients (github.com/baidu-golang/pbrpc,
// a Go implementation of the protocol) in this process, a breeze proxy process between them.

const brpcService = "EchoService"

// startPBRPCServer starts a pbrpc server called name on a free loopback port, stopped at the
// end of the test. EchoService.Echo answers "<name>: echo <in>", EchoService.Hi "<name>: hi
// <in>".
func startPBRPCServer(t *testing.T, name string) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := baidurpc.NewTpcServer(&baidurpc.ServerMeta{})
	for _, method := range []string{"Echo", "Hi"} {
		if _, err := srv.Register(&pbrpcEcho{server: name, method: method}); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.StartServer(ln); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	return ln.Addr().(*net.TCPAddr).Port
}

// pbrpcEcho is one method of EchoService, as a pbrpc Service. (pbrpc's RegisterRpc decodes
// every request of a method into one shared message, so concurrent calls overwrite each
// other's arguments; a Service gives each request its own.)
type pbrpcEcho struct{ server, method string }

func (e *pbrpcEcho) GetServiceName() string      { return brpcService }
func (e *pbrpcEcho) GetMethodName() string       { return e.method }
func (e *pbrpcEcho) NewParameter() proto.Message { return &wrapperspb.StringValue{} }
func (e *pbrpcEcho) DoService(msg proto.Message, attachment []byte, _ *int64) (proto.Message, []byte, error) {
	in := msg.(*wrapperspb.StringValue).GetValue()
	return wrapperspb.String(e.server + ": " + strings.ToLower(e.method) + " " + in), attachment, nil
}

// pbrpcClient is a pbrpc client on one connection.
type pbrpcClient struct {
	conn   *baidurpc.TCPConnection
	client *baidurpc.RpcClient
}

// dialPBRPC connects a pbrpc client to addr, closed at the end of the test.
func dialPBRPC(t *testing.T, addr string) *pbrpcClient {
	t.Helper()
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	var port int
	fmt.Sscan(portText, &port)
	timeout := 30 * time.Second // a failure deadline: the proxy's own errors come back at once
	conn, err := baidurpc.NewTCPConnection(*(&baidurpc.URL{}).SetHost(&host).SetPort(&port), &timeout)
	if err != nil {
		t.Fatal(err)
	}
	client, err := baidurpc.NewRpcCient(conn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		conn.Close()
	})
	return &pbrpcClient{conn: conn, client: client}
}

// call invokes service.method with a string and returns the string answer.
func (c *pbrpcClient) call(service, method, in string) (string, error) {
	inv := baidurpc.NewRpcInvocation(&service, &method)
	inv.SetParameterIn(wrapperspb.String(in))
	var out wrapperspb.StringValue
	if _, err := c.client.SendRpcRequestWithTimeout(30*time.Second, inv, &out); err != nil {
		return "", err
	}
	return out.GetValue(), nil
}

// brpcExchange sends one request, encoded by pbrpc, on a new connection to addr and returns
// the meta of the answer, read with the RpcMeta schema of bRPC's specification.
func brpcExchange(t *testing.T, addr, method string, id int64) *brpcpb.RpcMeta {
	t.Helper()
	service := brpcService
	inv := baidurpc.NewRpcInvocation(&service, &method)
	inv.SetParameterIn(wrapperspb.String("raw"))
	p, err := inv.GetRequestRpcDataPackage()
	if err != nil {
		t.Fatal(err)
	}
	frame, err := p.CorrelationId(id).Write()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(rawDeadline))
	if _, err := conn.Write(frame); err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 12)
	if _, err := io.ReadFull(conn, head); err != nil {
		t.Fatalf("read answer: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint32(head[4:]))
	if _, err := io.ReadFull(conn, body); err != nil {
		t.Fatalf("read answer: %v", err)
	}
	meta := &brpcpb.RpcMeta{}
	if err := (proto.UnmarshalOptions{AllowPartial: true}).Unmarshal(body[:binary.BigEndian.Uint32(head[8:])], meta); err != nil {
		t.Fatalf("answer meta: %v", err)
	}
	return meta
}

// TestBRPCRouting: pbrpc clients call through the proxy, which routes on the method; the
// replies name the server that answered, and the route counters agree. The echo route's
// mutation reaches the server as a user field (pbrpc's server returns the request's meta
// fields it does not know in its response, where the test reads it).
func TestBRPCRouting(t *testing.T) {
	requireE2E(t)
	proxy := startProxy(t, "brpc.yaml", bootstrapPorts{V1: startPBRPCServer(t, "v1"), V2: startPBRPCServer(t, "v2")})
	c := dialPBRPC(t, proxy.addr)
	const calls = 5
	for i := range calls {
		for _, tc := range []struct{ method, want string }{{"Echo", "v1: echo"}, {"Hi", "v2: hi"}} {
			in := fmt.Sprintf("%s-%d", tc.method, i)
			got, err := c.call(brpcService, tc.method, in)
			if err != nil || got != tc.want+" "+in {
				t.Fatalf("%s(%q) = %q, %v; want %q", tc.method, in, got, err, tc.want+" "+in)
			}
		}
	}
	for route, want := range map[string]float64{"echo": calls, "hi": calls} {
		if got := proxy.counter(t, "breeze_route_requests_total", map[string]string{"listener": "brpc", "route": route}); got != want {
			t.Errorf("route %s counted %v requests, want %v", route, got, want)
		}
	}

	if meta := brpcExchange(t, proxy.addr, "Echo", 77); meta.GetCorrelationId() != 77 || meta.UserFields["x-routed-by"] != "breeze" {
		t.Errorf("echo route: answer id %d, user fields %v; want 77 and x-routed-by=breeze", meta.GetCorrelationId(), meta.UserFields)
	}
	if meta := brpcExchange(t, proxy.addr, "Hi", 78); meta.GetCorrelationId() != 78 || len(meta.UserFields) != 0 {
		t.Errorf("hi route: answer id %d, user fields %v; want 78 and none", meta.GetCorrelationId(), meta.UserFields)
	}
}

// TestBRPCUnknownService: a call no route matches fails at once with the proxy's error
// reply (ENOSERVICE and a "breeze:" text), and is counted as route_not_found; the same
// client's next call still works.
func TestBRPCUnknownService(t *testing.T) {
	requireE2E(t)
	proxy := startProxy(t, "brpc.yaml", bootstrapPorts{V1: startPBRPCServer(t, "v1"), V2: startPBRPCServer(t, "v2")})
	c := dialPBRPC(t, proxy.addr)
	_, err := c.call("OtherService", "Echo", "x")
	if err == nil || !strings.Contains(err.Error(), "code=1001") || !strings.Contains(err.Error(), "breeze: no route") {
		t.Fatalf("unrouted call: %v; want the proxy's ENOSERVICE reply", err)
	}
	if got := proxy.counter(t, "breeze_listener_local_replies_total", map[string]string{"listener": "brpc", "kind": "route_not_found"}); got != 1 {
		t.Errorf("route_not_found replies = %v, want 1", got)
	}
	if got, err := c.call(brpcService, "Echo", "after"); err != nil || got != "v1: echo after" {
		t.Errorf("next call = %q, %v", got, err)
	}
}

// TestBRPCClientsShareOneUpstreamConnection: pbrpc clients number their calls from 1, so
// many clients send the same correlation ids; the proxy gives each request its own id on a
// single upstream connection (growing the meta when its id needs more bytes than the
// client's), and every caller gets the answer to its own call.
func TestBRPCClientsShareOneUpstreamConnection(t *testing.T) {
	requireE2E(t)
	relay := startRelay(t, loopback(startPBRPCServer(t, "solo")))
	proxy := startProxy(t, "brpc.yaml", bootstrapPorts{V1: relay.port(), V2: startPBRPCServer(t, "v2")})
	const clients, calls = 32, 20
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		c := dialPBRPC(t, proxy.addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range calls {
				in := fmt.Sprintf("c%d-%d", i, j)
				got, err := c.call(brpcService, "Echo", in)
				if err == nil && got != "solo: echo "+in {
					err = fmt.Errorf("got %q", got)
				}
				if err != nil {
					errs <- fmt.Errorf("client %d call %d: %w", i, j, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	var failures []error
	for err := range errs {
		failures = append(failures, err)
	}
	if len(failures) > 0 {
		t.Fatalf("%d of %d clients failed: %v", len(failures), clients, errors.Join(failures...))
	}
	if n := relay.connections(); n != 1 {
		t.Errorf("the server saw %d connections from the proxy, want 1", n)
	}
	if got := proxy.counter(t, "breeze_cluster_upstream_requests_total", map[string]string{"cluster": "echo-v1"}); got != clients*calls {
		t.Errorf("upstream requests = %v, want %d", got, clients*calls)
	}
}
