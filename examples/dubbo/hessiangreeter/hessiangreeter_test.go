package hessiangreeter_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/examples/dubbo/greeter"
	"github.com/breeze-mesh/breeze/examples/dubbo/hessiangreeter"
	"github.com/breeze-mesh/breeze/test/e2e/dubboraw"
)

func TestMain(m *testing.M) {
	// dubbo-go logs every connection event at info level.
	if err := greeter.SetLogging(io.Discard, "error"); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

// start runs a hessiangreeter server for the test.
func start(t *testing.T, name string) *hessiangreeter.Server {
	t.Helper()
	srv, err := hessiangreeter.Start(hessiangreeter.ServerConfig{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// dial connects a hessiangreeter client for the test.
func dial(t *testing.T, addr string) *hessiangreeter.Client {
	t.Helper()
	c, err := hessiangreeter.Dial(hessiangreeter.ClientConfig{Address: addr, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestDubboGoClientCallsServer: real dubbo-go clients (examples/dubbo/greeter) call the
// hessian server, each version, each method, with an attachment, and a missing version.
func TestDubboGoClientCallsServer(t *testing.T) {
	srv := start(t, "hg")
	ctx := context.Background()
	for _, version := range hessiangreeter.DefaultVersions {
		c, err := greeter.Dial(greeter.ClientConfig{Address: srv.Addr(), Version: version, Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := c.SayHello(ctx, "alice"); err != nil || got != "hello alice from hg" {
			t.Errorf("version %s: sayHello = %q, %v", version, got, err)
		}
		if got, err := c.SayHi(ctx, "bob"); err != nil || got != "hi bob from hg" {
			t.Errorf("version %s: sayHi = %q, %v", version, got, err)
		}
		actx := greeter.WithAttachments(ctx, map[string]string{"x-tester": "beta"})
		if got, err := c.Attachment(actx, "x-tester"); err != nil || got != "beta" {
			t.Errorf("version %s: attachment = %q, %v", version, got, err)
		}
	}
	c, err := greeter.Dial(greeter.ClientConfig{Address: srv.Addr(), Version: "9.9.9", Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.SayHello(ctx, "alice"); err == nil || !strings.Contains(err.Error(), "don't have this exporter") {
		t.Errorf("version 9.9.9: sayHello = %q, %v, want dubbo-go's missing-exporter error", got, err)
	}
	// The error was a reply, not a broken connection: the next call works.
	c1, err := greeter.Dial(greeter.ClientConfig{Address: srv.Addr(), Version: "1.0.0", Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c1.SayHi(ctx, "again"); err != nil || got != "hi again from hg" {
		t.Errorf("after the error: sayHi = %q, %v", got, err)
	}
}

// TestClientCallsDubboGoServer: the hessian client calls a real dubbo-go server
// (examples/dubbo/greeter; one per process, so only this test starts one).
func TestClientCallsDubboGoServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	srv, err := greeter.Start(greeter.ServerConfig{Name: "dg", Port: port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		srv.Stop(ctx)
	})
	c := dial(t, srv.Addr())
	ctx := context.Background()
	for _, version := range greeter.DefaultVersions {
		for method, want := range map[string]string{hessiangreeter.MethodSayHello: "hello alice from dg", hessiangreeter.MethodSayHi: "hi alice from dg"} {
			got, err := c.CallString(ctx, hessiangreeter.Request{Version: version, Method: method, Args: []any{"alice"}})
			if err != nil || got != want {
				t.Errorf("version %s %s = %q, %v; want %q", version, method, got, err, want)
			}
		}
		got, err := c.CallString(ctx, hessiangreeter.Request{Version: version, Method: hessiangreeter.MethodAttachment,
			Args: []any{"x-tester"}, Attachments: map[string]string{"x-tester": "beta"}})
		if err != nil || got != "beta" {
			t.Errorf("version %s attachment = %q, %v", version, got, err)
		}
	}
	// dubbo-go answers a missing version with an exception (status OK); the hessian server
	// says the same, which TestDubboGoClientCallsServer checks.
	if got, err := c.Call(ctx, hessiangreeter.Request{Version: "9.9.9", Method: hessiangreeter.MethodSayHello, Args: []any{"alice"}}); err == nil || !strings.Contains(err.Error(), "don't have this exporter, key: "+hessiangreeter.Interface+":9.9.9") {
		t.Errorf("version 9.9.9 = %v, %v; want dubbo-go's missing-exporter error", got, err)
	}
}

// TestClientAndServer: many calls in flight on one connection each get their own reply,
// and the server's errors reach the caller.
func TestClientAndServer(t *testing.T) {
	srv := start(t, "v1")
	c := dial(t, srv.Addr())
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprint("n", i)
			got, err := c.CallString(ctx, hessiangreeter.Request{Version: "2.0.0", Method: hessiangreeter.MethodSayHello, Args: []any{name}})
			if err == nil && got != "hello "+name+" from v1" {
				err = fmt.Errorf("call %d got %q", i, got)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	for _, tc := range []struct {
		req  hessiangreeter.Request
		want string
	}{
		{hessiangreeter.Request{Version: "3.0.0", Method: "sayHello", Args: []any{"a"}}, "don't have this exporter, key: org.apache.dubbo.sample.Greeter:3.0.0"},
		{hessiangreeter.Request{Interface: "com.example.Other", Version: "1.0.0", Method: "sayHello", Args: []any{"a"}}, "don't have this exporter, key: com.example.Other:1.0.0"},
		{hessiangreeter.Request{Version: "1.0.0", Method: "shout", Args: []any{"a"}}, `no method "shout"`},
		{hessiangreeter.Request{Version: "1.0.0", Method: "sayHello", Args: []any{int32(1)}}, "want one string argument"},
		{hessiangreeter.Request{Version: "1.0.0", Method: "sayHello"}, "want one string argument"},
	} {
		if got, err := c.Call(ctx, tc.req); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v = %v, %v; want an error containing %q", tc.req, got, err, tc.want)
		}
	}
	// The connection survived the errors.
	if got, err := c.CallString(ctx, hessiangreeter.Request{Version: "1.0.0", Method: "sayHi", Args: []any{"x"}}); err != nil || got != "hi x from v1" {
		t.Errorf("after errors: %q, %v", got, err)
	}
	c.Close()
	if _, err := c.Call(ctx, hessiangreeter.Request{Method: "sayHi", Args: []any{"x"}}); !errors.Is(err, hessiangreeter.ErrClosed) {
		t.Errorf("call after Close = %v, want ErrClosed", err)
	}
}

// TestServerWithRawClient: heartbeats are answered, oneway calls are not, and bytes that
// are not Dubbo end the connection (dubboraw: hessian2's frame codec, byte by byte).
func TestServerWithRawClient(t *testing.T) {
	srv := start(t, "v2")
	conn, err := dubboraw.Dial(srv.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Heartbeat(); err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	req := dubboraw.Request{Interface: hessiangreeter.Interface, Version: "1.0.0", Method: "sayHello", Args: []any{"oneway"}}
	if _, err := conn.Send(req, false); err != nil {
		t.Fatal(err)
	}
	req.Args = []any{"twoway"}
	resp, err := conn.Call(req) // fails if the oneway call was answered first
	if err != nil || resp.Result != "hello twoway from v2" {
		t.Fatalf("call after oneway = %+v, %v", resp, err)
	}
	if err := conn.Write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if resp, err := conn.Read(); err == nil {
		t.Fatalf("after garbage, read %+v; want the connection closed", resp)
	}
}

// TestClientAnswersHeartbeats: a peer's heartbeat to the client is answered, and calls go
// on. The peer is a plain listener speaking through dubboraw's frame reader.
func TestClientAnswersHeartbeats(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	c := dial(t, ln.Addr().String())
	var peer net.Conn
	select {
	case peer = <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("no connection")
	}
	t.Cleanup(func() { peer.Close() })
	peer.SetDeadline(time.Now().Add(10 * time.Second))
	hb, err := dubboraw.EncodeHeartbeat(77)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := peer.Write(hb); err != nil {
		t.Fatal(err)
	}
	frame, err := dubboraw.ReadFrame(peer)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := dubboraw.DecodeResponse(frame)
	if err != nil || !resp.Heartbeat || resp.ID != 77 {
		t.Fatalf("heartbeat answer %+v, %v", resp, err)
	}
	// Losing the peer fails the client's calls promptly instead of hanging them.
	ln.Close()
	peer.Close()
	if _, err := c.Call(context.Background(), hessiangreeter.Request{Method: "sayHi", Args: []any{"x"}}); err == nil {
		t.Error("call to a closed peer succeeded")
	}
}
