package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/apache/thrift/lib/go/thrift"

	thriftgreeter "github.com/breeze-mesh/breeze/examples/thrift/greeter"
)

// thriftWire is a transport and protocol the Thrift Greeter's clients and servers speak
// (Apache Thrift Go v0.25.0).
type thriftWire struct{ transport, protocol string }

func (w thriftWire) name() string { return w.transport + "-" + w.protocol }

// codecTransport is the transport as the codec's metadata names it.
func (w thriftWire) codecTransport() string {
	if w.transport == thriftgreeter.Buffered {
		return "unframed"
	}
	return w.transport
}

// thriftWires is every transport × protocol of the Apache library.
var thriftWires = func() []thriftWire {
	var ws []thriftWire
	for _, tr := range thriftgreeter.Transports {
		for _, pr := range thriftgreeter.Protocols {
			ws = append(ws, thriftWire{tr, pr})
		}
	}
	return ws
}()

// startThriftServer starts a Greeter server called name, in this process, stopped at the
// end of the test.
func startThriftServer(t *testing.T, name string, w thriftWire) *thriftgreeter.Server {
	t.Helper()
	srv, err := thriftgreeter.Start(thriftgreeter.ServerConfig{Name: name, Address: "127.0.0.1:0", Transport: w.transport, Protocol: w.protocol})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("stop Thrift server %s: %v", name, err)
		}
	})
	return srv
}

// dialThrift connects a Greeter client speaking w to addr, closed at the end of the test.
func dialThrift(t *testing.T, addr string, w thriftWire) *thriftgreeter.Client {
	t.Helper()
	// The timeout is a failure deadline: the proxy's own errors come back at once.
	c, err := thriftgreeter.Dial(thriftgreeter.ClientConfig{Address: addr, Transport: w.transport, Protocol: w.protocol, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// startThriftMatrix starts servers v1 and v2 for every wire and one proxy listener in front
// of all of them (testdata/thrift.yaml).
func startThriftMatrix(t *testing.T) *proxyProcess {
	t.Helper()
	type wireData struct {
		Name, Transport, Protocol string
		Ports                     map[string]int
	}
	data := struct {
		Admin, Proxy int
		Wires        []wireData
	}{Admin: freePort(t), Proxy: freePort(t)}
	for _, w := range thriftWires {
		ports := map[string]int{}
		for _, version := range []string{"v1", "v2"} {
			srv := startThriftServer(t, w.name()+"-"+version, w)
			ports[version] = srv.Port()
		}
		data.Wires = append(data.Wires, wireData{Name: w.name(), Transport: w.codecTransport(), Protocol: w.protocol, Ports: ports})
	}
	tmpl, err := template.New("thrift.yaml").Option("missingkey=error").ParseFiles(filepath.Join("testdata", "thrift.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var config bytes.Buffer
	if err := tmpl.Execute(&config, data); err != nil {
		t.Fatal(err)
	}
	return startProxyConfig(t, config.Bytes(), loopback(data.Proxy), loopback(data.Admin))
}

// TestThriftRoutingEveryWire: Apache Thrift clients of every transport and protocol call
// through one proxy listener; each is routed, on its transport, protocol and method, to
// servers that speak it (the reply names the server). A route's mutation reaches THeader
// servers as a header, next to the client's own; other transports forward the frame as it
// came.
func TestThriftRoutingEveryWire(t *testing.T) {
	requireE2E(t)
	proxy := startThriftMatrix(t)
	ctx := context.Background()
	const calls = 5
	for _, w := range thriftWires {
		t.Run(w.name(), func(t *testing.T) {
			c := dialThrift(t, proxy.addr, w)
			for i := range calls {
				name := fmt.Sprintf("%s-%d", w.name(), i)
				for method, want := range map[string]string{
					thriftgreeter.SayHello: "hello " + name + " from " + w.name() + "-v1",
					thriftgreeter.SayHi:    "hi " + name + " from " + w.name() + "-v2",
				} {
					if got, err := c.Call(ctx, method, name, nil); err != nil || got != want {
						t.Fatalf("%s(%q) = %q, %v; want %q", method, name, got, err, want)
					}
				}
			}
			// A message far larger than a read: unframed ones are parsed as they arrive.
			big := strings.Repeat("b", 300<<10)
			if got, err := c.SayHello(ctx, big); err != nil || got != "hello "+big+" from "+w.name()+"-v1" {
				t.Errorf("sayHello(300 KiB) = %.40q..., %v", got, err)
			}
			headers := map[string]string{"x-user": "ann"}
			wantRouted, wantUser := "", ""
			if w.transport == thriftgreeter.THeader {
				wantRouted, wantUser = "breeze", "ann"
			}
			if got, err := c.Call(ctx, thriftgreeter.Header, "x-routed-by", headers); err != nil || got != wantRouted {
				t.Errorf("header x-routed-by = %q, %v; want %q", got, err, wantRouted)
			}
			if got, err := c.Call(ctx, thriftgreeter.Header, "x-user", headers); err != nil || got != wantUser {
				t.Errorf("header x-user = %q, %v; want %q", got, err, wantUser)
			}
		})
	}
	for _, w := range thriftWires {
		for route, want := range map[string]float64{w.name(): calls + 1, w.name() + "-hi": calls, w.name() + "-header": 2} {
			if got := proxy.counter(t, "breeze_route_requests_total", map[string]string{"route": route}); got != want {
				t.Errorf("breeze_route_requests_total{route=%q} = %v, want %v", route, got, want)
			}
		}
	}
}

// TestThriftUnroutedMethod: a call no route takes fails at once with the proxy's
// TApplicationException (UNKNOWN_METHOD, naming the method), in the client's own transport
// and protocol, and the connection goes on serving.
func TestThriftUnroutedMethod(t *testing.T) {
	requireE2E(t)
	proxy := startThriftMatrix(t)
	ctx := context.Background()
	for _, w := range thriftWires {
		t.Run(w.name(), func(t *testing.T) {
			c := dialThrift(t, proxy.addr, w)
			reply, err := c.Call(ctx, "frobnicate", "x", nil)
			var ae thrift.TApplicationException
			if !errors.As(err, &ae) {
				t.Fatalf("frobnicate = %q, %v; want a TApplicationException", reply, err)
			}
			if ae.TypeId() != thrift.UNKNOWN_METHOD || !strings.HasPrefix(ae.Error(), "breeze: no route") || !strings.Contains(ae.Error(), "method=frobnicate") {
				t.Errorf("exception type %d %q; want UNKNOWN_METHOD (%d), \"breeze: no route ... method=frobnicate ...\"", ae.TypeId(), ae.Error(), thrift.UNKNOWN_METHOD)
			}
			if got, err := c.SayHello(ctx, "after"); err != nil || got != "hello after from "+w.name()+"-v1" {
				t.Errorf("after the error: %q, %v", got, err)
			}
		})
	}
	if got := proxy.counter(t, "breeze_listener_local_replies_total", map[string]string{"kind": "route_not_found"}); got != float64(len(thriftWires)) {
		t.Errorf("local replies route_not_found = %v, want %d", got, len(thriftWires))
	}
}

// TestThriftOnewayEveryWire: a ONEWAY call reaches the routed server, nothing comes back for
// it (the client's next call reads its own reply: the library checks the sequence id), and
// the proxy holds nothing in flight.
func TestThriftOnewayEveryWire(t *testing.T) {
	requireE2E(t)
	proxy := startThriftMatrix(t)
	ctx := context.Background()
	for _, w := range thriftWires {
		t.Run(w.name(), func(t *testing.T) {
			c := dialThrift(t, proxy.addr, w)
			token := fmt.Sprintf("oneway-%s-%d", w.name(), time.Now().UnixNano())
			if err := c.Oneway(ctx, thriftgreeter.Notify, token); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "v1 saw the oneway notify", func() error {
				got, err := c.Call(ctx, thriftgreeter.Seen, token, nil)
				if err != nil {
					t.Fatal(err)
				}
				if got != "true" {
					return fmt.Errorf("seen = %q", got)
				}
				return nil
			})
		})
	}
	if _, ok := proxy.metric(t, "breeze_listener_active_requests", nil); ok {
		waitFor(t, "no request in flight", func() error {
			if n := proxy.counter(t, "breeze_listener_active_requests", nil); n != 0 {
				return fmt.Errorf("%v active", n)
			}
			return nil
		})
	}
}

// TestThriftSequenceIDsShared: clients share the proxy's upstream connection, which gives
// each call a sequence id of its own and restores the client's in the reply. In the compact
// protocol the id is a varint: with two clients interleaved, the proxy's ids and the
// clients' reach two bytes at different calls, so frames change length both ways.
func TestThriftSequenceIDsShared(t *testing.T) {
	requireE2E(t)
	proxy := startThriftMatrix(t)
	const clients, calls = 3, 150
	for _, w := range thriftWires {
		t.Run(w.name(), func(t *testing.T) {
			var wg sync.WaitGroup
			errs := make(chan error, clients)
			for i := range clients {
				c := dialThrift(t, proxy.addr, w)
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := range calls {
						name := fmt.Sprintf("c%d-%d", i, j)
						got, err := c.SayHello(context.Background(), name)
						if want := "hello " + name + " from " + w.name() + "-v1"; err != nil || got != want {
							errs <- fmt.Errorf("client %d call %d: %q, %v; want %q", i, j, got, err, want)
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

// TestThriftMalformedFrame: bytes that are no Thrift frame close that connection, are
// counted, and disturb no other client.
func TestThriftMalformedFrame(t *testing.T) {
	requireE2E(t)
	proxy := startThriftMatrix(t)
	w := thriftWire{thriftgreeter.Framed, thriftgreeter.Binary}
	healthy := dialThrift(t, proxy.addr, w)
	before := proxy.counter(t, "breeze_listener_decode_errors_total", nil)
	for _, junk := range [][]byte{
		[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		{0, 0, 0, 10, 0x12, 0x34, 0, 0, 0, 0, 0, 0, 0, 0}, // a frame holding no Thrift message
		{0x80, 0x01, 0x00, 0x09, 0, 0, 0, 0, 0, 0, 0, 1},  // message type 9
	} {
		conn, err := net.DialTimeout("tcp", proxy.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(rawDeadline))
		if _, err := conn.Write(junk); err != nil {
			t.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, conn); err != nil || n != 0 {
			t.Errorf("after %q: read %d bytes, %v; want the connection closed with nothing sent", junk, n, err)
		}
		conn.Close()
	}
	waitFor(t, "decode errors counted", func() error {
		if got := proxy.counter(t, "breeze_listener_decode_errors_total", nil); got != before+3 {
			return fmt.Errorf("decode errors %v, want %v", got, before+3)
		}
		return nil
	})
	proxy.ready(t)
	if got, err := healthy.SayHello(context.Background(), "still"); err != nil || got != "hello still from framed-binary-v1" {
		t.Errorf("healthy client: %q, %v", got, err)
	}
}
