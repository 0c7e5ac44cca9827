package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"
	trpcgo "trpc.group/trpc-go/trpc-go"
	"trpc.group/trpc-go/trpc-go/client"
	"trpc.group/trpc-go/trpc-go/codec"
	"trpc.group/trpc-go/trpc-go/errs"
	"trpc.group/trpc-go/trpc-go/filter"
	"trpc.group/trpc-go/trpc-go/server"
)

// tRPC scenarios: trpc-go v1.0.3 servers and clients in this process, a breeze proxy
// process between them.

const (
	trpcGreeter  = "trpc.test.helloworld.Greeter"
	trpcSayHello = "/trpc.test.helloworld.Greeter/SayHello"
	trpcSayHi    = "/trpc.test.helloworld.Greeter/SayHi"
)

// trpcGreeterHandler is the handler type of the test service (trpc-go checks
// implementations against it; the methods below are closures).
type trpcGreeterHandler interface{}

// startTRPCServer starts a trpc-go Greeter server called name on a free loopback port,
// stopped at the end of the test. SayHello answers "hello <in> from <name>", SayHi "hi <in>
// from <name>"; either adds " via <v>" when the request carries trans_info x-routed-by.
func startTRPCServer(t *testing.T, name string) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	method := func(fn, verb string) server.Method {
		return server.Method{Name: fn, Func: func(_ interface{}, ctx context.Context, f server.FilterFunc) (interface{}, error) {
			req := &wrapperspb.StringValue{}
			filters, err := f(req)
			if err != nil {
				return nil, err
			}
			return filters.Filter(ctx, req, filter.ServerHandleFunc(func(ctx context.Context, r interface{}) (interface{}, error) {
				reply := verb + " " + r.(*wrapperspb.StringValue).GetValue() + " from " + name
				if via := trpcgo.GetMetaData(ctx, "x-routed-by"); via != nil {
					reply += " via " + string(via)
				}
				return wrapperspb.String(reply), nil
			}))
		}}
	}
	svc := server.New(server.WithListener(ln), server.WithProtocol("trpc"), server.WithNetwork("tcp"),
		server.WithServiceName(trpcGreeter))
	desc := &server.ServiceDesc{ServiceName: trpcGreeter, HandlerType: (*trpcGreeterHandler)(nil),
		Methods: []server.Method{method(trpcSayHello, "hello"), method(trpcSayHi, "hi")}}
	if err := svc.Register(desc, nil); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- svc.Serve() }()
	t.Cleanup(func() {
		_ = svc.Close(nil)
		if err := <-served; err != nil {
			t.Errorf("trpc-go server %s: %v", name, err)
		}
	})
	return ln.Addr().(*net.TCPAddr).Port
}

// trpcCall calls callee's fn at addr with trpc-go's client and returns the answer. With
// multiplexed set the client shares connections and matches answers by the frame header's
// stream id; otherwise it takes a pooled connection per call.
func trpcCall(addr, callee, fn, in string, multiplexed bool) (string, error) {
	ctx, msg := codec.WithCloneMessage(context.Background())
	defer codec.PutBackMessage(msg)
	msg.WithClientRPCName(fn)
	msg.WithCalleeServiceName(callee)
	var rsp wrapperspb.StringValue
	// The timeout is a failure deadline: the proxy's own errors come back at once.
	err := client.New().Invoke(ctx, wrapperspb.String(in), &rsp, client.WithTarget("ip://"+addr),
		client.WithProtocol("trpc"), client.WithTimeout(30*time.Second), client.WithMultiplexed(multiplexed))
	return rsp.GetValue(), err
}

// TestTRPCRouting: trpc-go clients, pooled and multiplexed, call through the proxy, which
// routes on func; the replies name the server that answered, the greeter route's mutation
// reaches v1 as trans_info, and the route counters agree.
func TestTRPCRouting(t *testing.T) {
	requireE2E(t)
	proxy := startProxy(t, "trpc.yaml", bootstrapPorts{V1: startTRPCServer(t, "v1"), V2: startTRPCServer(t, "v2")})
	const calls = 5
	for _, multiplexed := range []bool{false, true} {
		for i := range calls {
			for _, tc := range []struct{ fn, want string }{{trpcSayHello, "hello %s from v1 via breeze"}, {trpcSayHi, "hi %s from v2"}} {
				in := fmt.Sprintf("%d-%v", i, multiplexed)
				got, err := trpcCall(proxy.addr, trpcGreeter, tc.fn, in, multiplexed)
				if want := fmt.Sprintf(tc.want, in); err != nil || got != want {
					t.Fatalf("%s (multiplexed %v) = %q, %v; want %q", tc.fn, multiplexed, got, err, want)
				}
			}
		}
	}
	for route, want := range map[string]float64{"greeter": 2 * calls, "say-hi": 2 * calls} {
		if got := proxy.counter(t, "breeze_route_requests_total", map[string]string{"listener": "trpc", "route": route}); got != want {
			t.Errorf("route %s counted %v requests, want %v", route, got, want)
		}
	}
}

// TestTRPCUnknownCallee: a call no route matches fails at once with the proxy's error reply
// (TRPC_SERVER_NOSERVICE_ERR and a "breeze:" message) and is counted as route_not_found.
func TestTRPCUnknownCallee(t *testing.T) {
	requireE2E(t)
	proxy := startProxy(t, "trpc.yaml", bootstrapPorts{V1: startTRPCServer(t, "v1"), V2: startTRPCServer(t, "v2")})
	for _, multiplexed := range []bool{false, true} {
		_, err := trpcCall(proxy.addr, "trpc.test.helloworld.Other", "/trpc.test.helloworld.Other/Get", "x", multiplexed)
		if errs.Code(err) != errs.RetServerNoService || !strings.HasPrefix(errs.Msg(err), "breeze: no route") {
			t.Errorf("unrouted call (multiplexed %v): %v (code %d); want the proxy's NOSERVICE reply", multiplexed, err, errs.Code(err))
		}
	}
	if got := proxy.counter(t, "breeze_listener_local_replies_total", map[string]string{"listener": "trpc", "kind": "route_not_found"}); got != 2 {
		t.Errorf("route_not_found replies = %v, want 2", got)
	}
}

// TestTRPCClientsShareOneUpstreamConnection: concurrent callers on pooled and multiplexed
// client connections; the proxy gives each request its own id on a single upstream
// connection (writing ids into the protobuf header in place or growing it), and every
// caller gets the answer to its own call.
func TestTRPCClientsShareOneUpstreamConnection(t *testing.T) {
	requireE2E(t)
	relay := startRelay(t, loopback(startTRPCServer(t, "solo")))
	proxy := startProxy(t, "trpc.yaml", bootstrapPorts{V1: relay.port(), V2: startTRPCServer(t, "v2")})
	const callers, calls = 32, 20
	var wg sync.WaitGroup
	errc := make(chan error, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range calls {
				in := fmt.Sprintf("c%d-%d", i, j)
				got, err := trpcCall(proxy.addr, trpcGreeter, trpcSayHello, in, i%2 == 0)
				if err == nil && got != "hello "+in+" from solo via breeze" {
					err = fmt.Errorf("got %q", got)
				}
				if err != nil {
					errc <- fmt.Errorf("caller %d call %d: %w", i, j, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	var failures []error
	for err := range errc {
		failures = append(failures, err)
	}
	if len(failures) > 0 {
		t.Fatalf("%d of %d callers failed: %v", len(failures), callers, errors.Join(failures...))
	}
	if n := relay.connections(); n != 1 {
		t.Errorf("the server saw %d connections from the proxy, want 1", n)
	}
	if got := proxy.counter(t, "breeze_cluster_upstream_requests_total", map[string]string{"cluster": "greeter-v1"}); got != callers*calls {
		t.Errorf("upstream requests = %v, want %d", got, callers*calls)
	}
}
