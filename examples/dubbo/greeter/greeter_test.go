package greeter

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	// dubbo-go logs every connection event at info level.
	if err := SetLogging(io.Discard, "error"); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

// freePort asks the kernel for a free loopback port.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestServerAndClient runs the whole package against one real dubbo-go server: dubbo-go
// allows one server per process, so every case shares it, and the last checks are about
// stopping it.
func TestServerAndClient(t *testing.T) {
	port := freePort(t)
	srv, err := Start(ServerConfig{Name: "unit", Port: port})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() error {
		stopped = true
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		return srv.Stop(ctx)
	}
	t.Cleanup(func() {
		if !stopped {
			_ = stop()
		}
	})
	ctx := context.Background()

	dial := func(t *testing.T, version string) *Client {
		t.Helper()
		c, err := Dial(ClientConfig{Address: "dubbo://" + srv.Addr() + "/" + Interface, Version: version})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	t.Run("every exported version answers, naming the server", func(t *testing.T) {
		for _, v := range DefaultVersions {
			c := dial(t, v)
			got, err := c.SayHello(ctx, "alice")
			if err != nil {
				t.Fatalf("version %s: %v", v, err)
			}
			if got != "hello alice from unit" {
				t.Errorf("version %s: SayHello = %q", v, got)
			}
			got, err = c.SayHi(ctx, "bob")
			if err != nil || got != "hi bob from unit" {
				t.Errorf("version %s: SayHi = %q, %v", v, got, err)
			}
		}
	})

	t.Run("a version that is not exported fails", func(t *testing.T) {
		c := dial(t, "9.9.9")
		if got, err := c.SayHello(ctx, "alice"); err == nil {
			t.Fatalf("SayHello on an unexported version = %q, want an error", got)
		}
	})

	t.Run("attachments reach the server", func(t *testing.T) {
		c := dial(t, "1.0.0")
		got, err := c.Attachment(WithAttachments(ctx, map[string]string{"x-user": "carol"}), "x-user")
		if err != nil || got != "carol" {
			t.Fatalf("Attachment(x-user) = %q, %v; want carol", got, err)
		}
		got, err = c.Attachment(ctx, "x-user")
		if err != nil || got != "" {
			t.Fatalf("Attachment(x-user) without it = %q, %v; want empty", got, err)
		}
	})

	t.Run("notify is recorded and seen", func(t *testing.T) {
		c := dial(t, "2.0.0")
		if seen, err := c.Seen(ctx, "token-1"); err != nil || seen {
			t.Fatalf("Seen before Notify = %v, %v", seen, err)
		}
		var ignored any
		if err := c.Call(ctx, MethodNotify, []any{"token-1"}, &ignored); err != nil {
			t.Fatal(err)
		}
		if seen, err := c.Seen(ctx, "token-1"); err != nil || !seen {
			t.Fatalf("Seen after Notify = %v, %v", seen, err)
		}
	})

	t.Run("slowHello waits for release", func(t *testing.T) {
		c := dial(t, "1.0.0")
		slow, err := Dial(ClientConfig{Address: srv.Addr(), Version: "1.0.0", Timeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		type result struct {
			reply string
			err   error
		}
		done := make(chan result, 2)
		for range 2 {
			go func() {
				r, err := slow.SlowHello(ctx, "dave")
				done <- result{r, err}
			}()
		}
		waitFor(t, func() bool { n, err := c.Pending(ctx); return err == nil && n == 2 })
		select {
		case r := <-done:
			t.Fatalf("SlowHello returned before Release: %+v", r)
		default:
		}
		if n, err := c.Release(ctx, "dave"); err != nil || n != 2 {
			t.Fatalf("Release = %d, %v; want 2", n, err)
		}
		for range 2 {
			r := <-done
			if r.err != nil || r.reply != "hello dave from unit" {
				t.Errorf("SlowHello = %q, %v", r.reply, r.err)
			}
		}
	})

	t.Run("a second server in the process is refused", func(t *testing.T) {
		if _, err := Start(ServerConfig{Port: freePort(t)}); !errors.Is(err, ErrAlreadyStarted) {
			t.Fatalf("second Start: %v, want ErrAlreadyStarted", err)
		}
	})

	t.Run("stop closes the port", func(t *testing.T) {
		if err := stop(); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		if c, err := net.DialTimeout("tcp", srv.Addr(), time.Second); err == nil {
			c.Close()
			t.Fatal("port still accepts connections after Stop")
		}
	})
}

func TestDialErrors(t *testing.T) {
	for _, addr := range []string{"", "nonsense", "tri://127.0.0.1:1", "dubbo://127.0.0.1"} {
		if _, err := Dial(ClientConfig{Address: addr}); err == nil || !strings.Contains(err.Error(), "greeter client") {
			t.Errorf("Dial(%q) = %v, want an address error", addr, err)
		}
	}
}

// TestDialNothingListening: Dial reports an unreachable address as an error (dubbo-go
// alone would retry for seconds, then panic).
func TestDialNothingListening(t *testing.T) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	if _, err := Dial(ClientConfig{Address: addr, Timeout: time.Second}); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("Dial(%s) with nothing listening = %v, want connection refused", addr, err)
	}
}

func TestStartRejectsBadPort(t *testing.T) {
	for _, port := range []int{0, -1, 70000} {
		if _, err := Start(ServerConfig{Port: port}); err == nil {
			t.Errorf("Start(port %d) succeeded", port)
		}
	}
}

// waitFor polls cond until it holds or ten seconds pass.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
