package proctest

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestFreeAddrRefusesConnections(t *testing.T) {
	addr := FreeAddr(t)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("FreeAddr = %q, want a 127.0.0.1 address", addr)
	}
	if conn, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
		conn.Close()
		t.Fatalf("connected to %s, which should have no listener", addr)
	}
	if port := FreePort(t); port <= 0 || port > 65535 {
		t.Fatalf("FreePort = %d", port)
	}
}

func TestPollReturnsOnceTrue(t *testing.T) {
	calls := 0
	Poll(t, "third call", 10*time.Second, time.Millisecond, func() error {
		calls++
		if calls < 3 {
			return fmt.Errorf("call %d", calls)
		}
		return nil
	})
	if calls != 3 {
		t.Fatalf("cond called %d times, want 3", calls)
	}
}

// fatalRecorder records Fatalf instead of failing the real test; like testing.T, it ends
// the calling goroutine.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestPollFailsWithLastError(t *testing.T) {
	r := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Poll(r, "never", 20*time.Millisecond, time.Millisecond, func() error { return errors.New("still down") })
		r.msg = "Poll returned"
	}()
	<-done
	if want := "never: not true after 20ms: still down"; r.msg != want {
		t.Fatalf("Poll failed with %q, want %q", r.msg, want)
	}
}

func TestSyncBufferConcurrentWrites(t *testing.T) {
	var b SyncBuffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				fmt.Fprint(&b, "x")
			}
		})
	}
	wg.Wait()
	if got := len(b.String()); got != 800 {
		t.Fatalf("%d bytes written, want 800", got)
	}
}
