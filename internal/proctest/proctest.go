// Package proctest holds the few pieces that tests running servers and processes on
// 127.0.0.1 all need: a bounded poll for a condition, a loopback port nothing listens on,
// and a buffer that several goroutines write at once (a child process's output copiers, a
// logger).
//
// The end-to-end harness (test/e2e), the xDS client's tests and the proxy's test-support
// packages (proxy/internal/proxytest, proxy/internal/testbackend) use it, so each piece
// exists once. It is meant for tests only and imports nothing but the standard library, so
// that any package of the module can use it without an import cycle.
package proctest

import (
	"bytes"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Poll calls cond every interval until it returns nil. If cond still fails after timeout,
// Poll fails the test with cond's last error. The timeout is a failure deadline, never an
// expectation of speed; callers poll instead of sleeping.
func Poll(t testing.TB, what string, timeout, interval time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %s: %v", what, timeout, err)
		}
		time.Sleep(interval)
	}
}

// FreeAddr returns a 127.0.0.1 address whose port was free a moment ago. Nothing listens
// on it, so a connection to it is refused: a test uses it for a server it starts next, or
// for a peer that is down.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// FreePort is the port of FreeAddr.
func FreePort(t testing.TB) int {
	t.Helper()
	_, port, err := net.SplitHostPort(FreeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// SyncBuffer is a bytes.Buffer that is safe to write from several goroutines and to read
// while they write.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
