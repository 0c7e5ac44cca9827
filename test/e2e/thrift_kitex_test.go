//go:build e2e_kitex

// kitex is a large dependency (its code generators, JIT JSON, netpoll): these tests build
// only with the e2e_kitex tag, so `go test ./...` and the other end-to-end tests do not
// compile it. CI runs them as their own step:
//
//	BREEZE_E2E=1 go test -tags e2e_kitex -run Kitex ./test/e2e/

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bytedance/gopkg/cloud/metainfo"
	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/client/callopt"
	"github.com/cloudwego/kitex/client/genericclient"
	"github.com/cloudwego/kitex/pkg/generic"
	"github.com/cloudwego/kitex/pkg/klog"
	"github.com/cloudwego/kitex/pkg/transmeta"
	"github.com/cloudwego/kitex/server"
	"github.com/cloudwego/kitex/server/genericserver"
	"github.com/cloudwego/kitex/transport"

	thriftgreeter "github.com/breeze-mesh/breeze/examples/thrift/greeter"
)

// kitexGreeter answers the Greeter's methods as a kitex binary generic service: requests and
// replies are whole binary messages, read and written with the Apache library.
type kitexGreeter struct{ name string }

func (g *kitexGreeter) GenericCall(ctx context.Context, method string, request any) (any, error) {
	req, ok := request.([]byte)
	if !ok {
		return nil, fmt.Errorf("kitex greeter: request is %T, want []byte", request)
	}
	_, seq, arg, err := thriftgreeter.UnmarshalCall(req)
	if err != nil {
		return nil, err
	}
	reply, ok := thriftgreeter.Greeting(g.name, method, arg)
	switch {
	case ok:
	case method == thriftgreeter.Header:
		// A TTHeader string header "RPC_TRANSIT_<key>" is kitex's transient value <key>.
		reply, _ = metainfo.GetValue(ctx, arg)
	default:
		return nil, fmt.Errorf("kitex greeter %s: no method %s", g.name, method)
	}
	return thriftgreeter.MarshalReply(method, seq, reply)
}

// startKitexServer starts a kitex binary generic server called name on a free port, in this
// process, stopped at the end of the test.
func startKitexServer(t *testing.T, name string) int {
	t.Helper()
	klog.SetLevel(klog.LevelWarn) // not every start and stop
	port := freePort(t)
	addr, err := net.ResolveTCPAddr("tcp", loopback(port))
	if err != nil {
		t.Fatal(err)
	}
	svr := genericserver.NewServer(&kitexGreeter{name: name}, generic.BinaryThriftGeneric(),
		server.WithServiceAddr(addr),
		server.WithMetaHandler(transmeta.ServerTTHeaderHandler),
		server.WithExitWaitTime(time.Second))
	ran := make(chan error, 1)
	go func() { ran <- svr.Run() }()
	t.Cleanup(func() {
		if err := svr.Stop(); err != nil {
			t.Errorf("stop kitex server %s: %v", name, err)
		}
		if err := <-ran; err != nil {
			t.Errorf("kitex server %s: %v", name, err)
		}
	})
	waitFor(t, "kitex server "+name+" listening", func() error {
		select {
		case err := <-ran:
			t.Fatalf("kitex server %s ended: %v", name, err)
		default:
		}
		c, err := net.DialTimeout("tcp", loopback(port), time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
	return port
}

// kitexCall makes a binary generic call of method(arg) and reads the reply.
func kitexCall(ctx context.Context, c genericclient.Client, method, arg string) (string, error) {
	req, err := thriftgreeter.MarshalCall(method, 0, arg) // kitex sets the sequence id
	if err != nil {
		return "", err
	}
	resp, err := c.GenericCall(ctx, method, req, callopt.WithRPCTimeout(30*time.Second))
	if err != nil {
		return "", err
	}
	b, ok := resp.([]byte)
	if !ok {
		return "", fmt.Errorf("kitex reply is %T, want []byte", resp)
	}
	return thriftgreeter.UnmarshalReply(b)
}

// TestKitexGenericThroughProxy: kitex v0.16.3 clients making binary generic calls over the
// framed transport, TTHeader and TTHeader carrying a framed message go through a breeze proxy
// to kitex servers, routed on the method; a route's mutation reaches the server as a TTHeader
// header (kitex's transient value); an unrouted method fails with the proxy's exception.
func TestKitexGenericThroughProxy(t *testing.T) {
	requireE2E(t)
	v1, v2 := startKitexServer(t, "kitex-v1"), startKitexServer(t, "kitex-v2")
	proxy := startProxy(t, "thrift_kitex.yaml", bootstrapPorts{V1: v1, V2: v2})
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		transport transport.Protocol
		headers   bool // the transport carries TTHeader headers
	}{
		{"framed", transport.Framed, false},
		{"ttheader", transport.TTHeader, true},
		{"ttheader_framed", transport.TTHeaderFramed, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := genericclient.NewClient("greeter", generic.BinaryThriftGeneric(),
				client.WithHostPorts(proxy.addr),
				client.WithTransportProtocol(tc.transport),
				client.WithMetaHandler(transmeta.ClientTTHeaderHandler))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			for i := range 5 {
				name := fmt.Sprintf("%s-%d", tc.name, i)
				for method, want := range map[string]string{
					thriftgreeter.SayHello: "hello " + name + " from kitex-v1",
					thriftgreeter.SayHi:    "hi " + name + " from kitex-v2",
				} {
					if got, err := kitexCall(ctx, c, method, name); err != nil || got != want {
						t.Fatalf("%s(%q) = %q, %v; want %q", method, name, got, err, want)
					}
				}
			}
			want := ""
			if tc.headers {
				want = "breeze"
			}
			if got, err := kitexCall(ctx, c, thriftgreeter.Header, "routed-by"); err != nil || got != want {
				t.Errorf("header routed-by = %q, %v; want %q", got, err, want)
			}
			got, err := kitexCall(ctx, c, "frobnicate", "x")
			if err == nil || !strings.Contains(err.Error(), "breeze: no route for request") || !strings.Contains(err.Error(), "method=frobnicate") {
				t.Errorf("unrouted method = %q, %v; want the proxy's \"breeze: no route\" exception", got, err)
			}
			if errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("unrouted method timed out instead of failing at once")
			}
		})
	}
	for route, want := range map[string]float64{"hello": 15, "hi": 15, "header": 3} {
		if got := proxy.counter(t, "breeze_route_requests_total", map[string]string{"route": route}); got != want {
			t.Errorf("breeze_route_requests_total{route=%q} = %v, want %v", route, got, want)
		}
	}
}
