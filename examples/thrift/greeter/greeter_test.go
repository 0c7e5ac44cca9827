package greeter

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
)

func start(t *testing.T, name, transport, protocol string) *Server {
	t.Helper()
	srv, err := Start(ServerConfig{Name: name, Address: "127.0.0.1:0", Transport: transport, Protocol: protocol})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close server: %v", err)
		}
	})
	return srv
}

func dial(t *testing.T, addr, transport, protocol string) *Client {
	t.Helper()
	c, err := Dial(ClientConfig{Address: addr, Transport: transport, Protocol: protocol})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestEveryWire calls a server of each transport and protocol with a client of the same.
func TestEveryWire(t *testing.T) {
	ctx := context.Background()
	for _, tr := range Transports {
		for _, pr := range Protocols {
			t.Run(tr+"/"+pr, func(t *testing.T) {
				srv := start(t, "v1", tr, pr)
				c := dial(t, srv.Addr(), tr, pr)
				for method, want := range map[string]string{SayHello: "hello ann from v1", SayHi: "hi ann from v1"} {
					if got, err := c.Call(ctx, method, "ann", nil); err != nil || got != want {
						t.Errorf("%s = %q, %v; want %q", method, got, err, want)
					}
				}
				_, err := c.Call(ctx, "nope", "x", nil)
				var ae thrift.TApplicationException
				if !errors.As(err, &ae) || ae.TypeId() != thrift.UNKNOWN_METHOD {
					t.Errorf("unknown method: %v", err)
				}
				// The connection still works after the exception, and a oneway call
				// leaves nothing behind on it.
				if err := c.Oneway(ctx, Notify, "token-"+tr+pr); err != nil {
					t.Fatal(err)
				}
				if got, err := c.Call(ctx, Seen, "token-"+tr+pr, nil); err != nil || got != "true" {
					t.Errorf("seen = %q, %v", got, err)
				}
			})
		}
	}
}

// TestTHeaderServerReadsEveryClient: a THeader server answers clients of every kind, and
// sees the headers of THeader ones.
func TestTHeaderServerReadsEveryClient(t *testing.T) {
	ctx := context.Background()
	srv := start(t, "h", THeader, Binary)
	for _, tr := range Transports {
		for _, pr := range Protocols {
			c := dial(t, srv.Addr(), tr, pr)
			if got, err := c.SayHello(ctx, tr); err != nil || got != "hello "+tr+" from h" {
				t.Errorf("%s/%s: %q, %v", tr, pr, got, err)
			}
			if tr == THeader {
				got, err := c.Call(ctx, Header, "x-user", map[string]string{"x-user": "ann"})
				if err != nil || got != "ann" {
					t.Errorf("%s/%s: header = %q, %v", tr, pr, got, err)
				}
			}
		}
	}
}

func TestBadConfig(t *testing.T) {
	if _, err := Start(ServerConfig{Address: "127.0.0.1:0", Transport: "carrier-pigeon", Protocol: Binary}); err == nil {
		t.Error("Start accepted an unknown transport")
	}
	if _, err := Dial(ClientConfig{Address: "127.0.0.1:1", Transport: Framed, Protocol: "json"}); err == nil {
		t.Error("Dial accepted an unknown protocol")
	}
	if _, err := Dial(ClientConfig{Address: "127.0.0.1:1", Transport: Framed, Protocol: Binary, Timeout: time.Second}); err == nil {
		t.Error("Dial to a closed port succeeded")
	}
}

// TestCloseWithIdleClient: Close closes a connection a client keeps open, rather than wait
// for the client to hang up (the library's Stop would), and the client sees it closed.
func TestCloseWithIdleClient(t *testing.T) {
	srv, err := Start(ServerConfig{Name: "v1", Address: "127.0.0.1:0", Transport: THeader, Protocol: Binary})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, srv.Addr(), THeader, Binary)
	if _, err := c.SayHello(context.Background(), "ann"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if _, err := c.SayHello(context.Background(), "ann"); err == nil {
		t.Error("a call on the closed server's connection succeeded")
	}
}
