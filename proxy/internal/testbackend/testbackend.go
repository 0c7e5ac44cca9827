// Package testbackend is the upstream server and the raw client that the proxy's own tests
// (package proxy, proxy/upstream, the router filter) run over real loopback TCP, both
// speaking testcodec.
//
// A Backend answers each two-way request according to its Mode: OK, an application error,
// an over_limit refusal, held until released, or the connection closed unanswered. Tests
// steer it either for every request (SetMode) or per request, by starting the payload
// with the mode's name ("hold-1", "refuse"). It counts what it sees (requests, accepted
// and open connections, held requests) so tests can poll for a state instead of sleeping,
// and Kill breaks every live connection for tests of upstream loss.
//
// The package imports nothing from proxy/upstream or above, so that package's internal
// tests can use it. Everything listens on 127.0.0.1 and stops in t.Cleanup.
package testbackend

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/internal/proctest"
	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/internal/connio"
	"github.com/breeze-mesh/breeze/proxy/internal/testcodec"
)

// Mode is how a Backend answers a two-way request.
type Mode int32

const (
	// OK answers "<name>:<payload>", with the request's metadata echoed as "seen-<key>"
	// so that a test sees what reached the upstream.
	OK Mode = iota
	// Fail answers an application error: error-kind "app", code FailCode, payload
	// "<name>:failed". Retriable only by its code.
	Fail
	// Refuse answers error-kind "over_limit" with code RefuseCode and payload
	// "<name>:refused", as a Breeze proxy enforcing a rate limit does; testcodec reports
	// it retriable.
	Refuse
	// Hold keeps the request unanswered until Release (or Stop), then answers it as OK.
	Hold
	// Close closes the connection without answering.
	Close
)

// Codes of the error answers.
const (
	FailCode   = 77
	RefuseCode = 100
)

var modeNames = [...]string{OK: "ok", Fail: "fail", Refuse: "refuse", Hold: "hold", Close: "close"}

// String is the mode's name, which is also the payload prefix that selects it.
func (m Mode) String() string {
	if m >= 0 && int(m) < len(modeNames) {
		return modeNames[m]
	}
	return "mode(" + strconv.Itoa(int(m)) + ")"
}

// maxFrame bounds the frames the backend and the client read.
const maxFrame = 1 << 20

// patience bounds every wait of this package: long enough never to fire on a loaded
// machine, short enough that a broken test fails instead of hanging.
const patience = 10 * time.Second

// Backend is a testcodec upstream server.
type Backend struct {
	name string
	ln   net.Listener

	mode       atomic.Int32
	heartbeats atomic.Bool

	requests atomic.Int64 // two-way requests received
	accepted atomic.Int64 // connections accepted
	open     atomic.Int64 // connections open now
	held     atomic.Int64 // requests held now

	oneways     chan string
	release     chan struct{}
	releaseOnce sync.Once

	mu     sync.Mutex
	live   map[net.Conn]struct{}
	killed bool
	wg     sync.WaitGroup // the accept loop, connection handlers and held requests
}

// Start starts a backend called name on a free loopback port. It answers OK (SetMode) and
// answers heartbeats (SetHeartbeats); it is stopped at the end of the test.
func Start(t testing.TB, name string) *Backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, name, ln)
}

// StartOn starts a backend on addr, the address of one the test stopped or killed: it
// retries until the port can be bound again.
func StartOn(t testing.TB, name, addr string) *Backend {
	t.Helper()
	var ln net.Listener
	Poll(t, "listen again on "+addr, func() bool {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err == nil
	})
	return serve(t, name, ln)
}

func serve(t testing.TB, name string, ln net.Listener) *Backend {
	b := &Backend{name: name, ln: ln, oneways: make(chan string, 100), release: make(chan struct{}), live: map[net.Conn]struct{}{}}
	b.heartbeats.Store(true)
	b.wg.Add(1)
	go b.accept()
	t.Cleanup(b.Stop)
	return b
}

// Addr is the backend's address.
func (b *Backend) Addr() string { return b.ln.Addr().String() }

// SetMode makes every later request answered per m; OK (the default) lets each request's
// payload choose, by starting with a mode's name.
func (b *Backend) SetMode(m Mode) { b.mode.Store(int32(m)) }

// SetHeartbeats turns answering heartbeat requests on (the default) or off.
func (b *Backend) SetHeartbeats(on bool) { b.heartbeats.Store(on) }

// Requests is the number of two-way requests received, whatever their answer.
func (b *Backend) Requests() int64 { return b.requests.Load() }

// Accepted is the number of connections accepted so far.
func (b *Backend) Accepted() int64 { return b.accepted.Load() }

// Open is the number of connections open now.
func (b *Backend) Open() int64 { return b.open.Load() }

// Held is the number of requests held now, waiting for Release.
func (b *Backend) Held() int64 { return b.held.Load() }

// Oneways delivers the payloads of oneway requests, in arrival order. It buffers 100;
// later ones are dropped rather than stall the connection.
func (b *Backend) Oneways() <-chan string { return b.oneways }

// Release answers every held request, and every later one that would be held, as OK.
func (b *Backend) Release() { b.releaseOnce.Do(func() { close(b.release) }) }

// Kill closes the listener and every connection at once, leaving held requests
// unanswered: what a crashed upstream looks like to the proxy.
func (b *Backend) Kill() {
	b.ln.Close()
	b.mu.Lock()
	b.killed = true
	for c := range b.live {
		c.Close()
	}
	b.mu.Unlock()
}

// Stop releases what is held, kills the backend and waits for its goroutines. It may be
// called more than once; Start registers it with t.Cleanup.
func (b *Backend) Stop() {
	b.Release()
	b.Kill()
	b.wg.Wait()
}

func (b *Backend) accept() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.mu.Lock()
		if b.killed { // accepted just before the listener closed
			b.mu.Unlock()
			c.Close()
			continue
		}
		b.live[c] = struct{}{}
		b.accepted.Add(1)
		b.open.Add(1)
		b.wg.Add(1)
		b.mu.Unlock()
		go b.handle(c)
	}
}

func (b *Backend) handle(c net.Conn) {
	defer b.wg.Done()
	defer func() {
		c.Close()
		b.mu.Lock()
		delete(b.live, c)
		b.mu.Unlock()
		b.open.Add(-1)
	}()
	fr := connio.NewFrameReader(c, newCodec(protocol.RequestSide), maxFrame)
	// Held requests answer from their own goroutines.
	var wmu sync.Mutex
	write := func(frame []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		_, err := c.Write(frame)
		return err
	}
	// One message, reused: held requests keep their answer, built on arrival, not the
	// message.
	msg := new(protocol.Message)
	for {
		if err := fr.Next(msg); err != nil {
			return
		}
		switch msg.Type {
		case protocol.Heartbeat:
			if b.heartbeats.Load() {
				if write(testcodec.Frame('h', msg.RequestID, nil, "")) != nil {
					return
				}
			}
			continue
		case protocol.Oneway:
			select {
			case b.oneways <- testcodec.Payload(msg):
			default:
			}
			continue
		case protocol.Request:
		default:
			continue
		}
		b.requests.Add(1)
		switch mode := b.modeFor(msg); mode {
		case Close:
			return
		case Hold:
			reply := b.answer(OK, msg)
			b.held.Add(1)
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				<-b.release
				b.held.Add(-1)
				_ = write(reply)
			}()
		default:
			if write(b.answer(mode, msg)) != nil {
				return
			}
		}
	}
}

// modeFor is the backend's mode, or when that is OK, the mode the payload starts with.
func (b *Backend) modeFor(req *protocol.Message) Mode {
	if m := Mode(b.mode.Load()); m != OK {
		return m
	}
	payload := testcodec.Payload(req)
	for m := Fail; m <= Close; m++ {
		if strings.HasPrefix(payload, m.String()) {
			return m
		}
	}
	return OK
}

func (b *Backend) answer(mode Mode, req *protocol.Message) []byte {
	switch mode {
	case Fail:
		return testcodec.Frame('E', req.RequestID, map[string]string{"error-kind": "app", "code": strconv.Itoa(FailCode)}, b.name+":failed")
	case Refuse:
		return testcodec.Frame('E', req.RequestID, map[string]string{"error-kind": protocol.OverLimit.String(), "code": strconv.Itoa(RefuseCode)}, b.name+":refused")
	}
	var md map[string]string
	if req.Metadata.Len() > 0 {
		md = make(map[string]string, req.Metadata.Len())
		for _, kv := range req.Metadata.All() {
			md["seen-"+kv.Key] = kv.Value
		}
	}
	return testcodec.Frame('R', req.RequestID, md, b.name+":"+testcodec.Payload(req))
}

func newCodec(side protocol.Side) protocol.Codec {
	reg, err := protocol.Lookup(testcodec.Name)
	if err != nil {
		panic(err) // testcodec registers itself in init
	}
	return reg.New(protocol.Options{Side: side, MaxFrameSize: maxFrame})
}

// Poll waits until cond holds, checking every few milliseconds, and fails the test if it
// does not within a generous bound.
func Poll(t testing.TB, what string, cond func() bool) {
	t.Helper()
	proctest.Poll(t, what, patience, 5*time.Millisecond, func() error {
		if !cond() {
			return errNotYet
		}
		return nil
	})
}

// errNotYet is what Poll reports of a condition that never held.
var errNotYet = errors.New("condition false")

// ClosedAddr returns a loopback address nothing listens on, for connect failures.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	return proctest.FreeAddr(t)
}
