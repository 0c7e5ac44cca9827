package e2e

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// countingRelay is a TCP relay placed between the proxy and a server: it forwards bytes
// unchanged and counts the connections it accepted, which is how a test sees how many
// upstream connections the proxy opened.
type countingRelay struct {
	ln       net.Listener
	target   string
	accepted atomic.Int64

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// startRelay listens on a free loopback port and relays each connection to target. It is
// closed, with every connection it holds, at the end of the test.
func startRelay(t *testing.T, target string) *countingRelay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &countingRelay{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	r.wg.Add(1)
	go r.acceptLoop()
	t.Cleanup(r.close)
	return r
}

// port is the relay's listening port.
func (r *countingRelay) port() int { return r.ln.Addr().(*net.TCPAddr).Port }

// connections is the number of connections accepted so far.
func (r *countingRelay) connections() int64 { return r.accepted.Load() }

func (r *countingRelay) acceptLoop() {
	defer r.wg.Done()
	for {
		down, err := r.ln.Accept()
		if err != nil {
			return // closed
		}
		r.accepted.Add(1)
		up, err := net.Dial("tcp", r.target)
		if err != nil {
			down.Close()
			continue
		}
		if !r.track(down, up) {
			return
		}
		r.wg.Add(2)
		go r.pipe(up, down)
		go r.pipe(down, up)
	}
}

// track records the pair for close; it refuses (and closes them) once the relay is closed.
func (r *countingRelay) track(conns ...net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conns == nil {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	for _, c := range conns {
		r.conns[c] = struct{}{}
	}
	return true
}

// pipe copies src to dst; when either side ends, both connections close.
func (r *countingRelay) pipe(dst, src net.Conn) {
	defer r.wg.Done()
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
}

func (r *countingRelay) close() {
	r.ln.Close()
	r.mu.Lock()
	for c := range r.conns {
		c.Close()
	}
	r.conns = nil
	r.mu.Unlock()
	r.wg.Wait()
}
