package upstream

import (
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/internal/connio"
	"github.com/breeze-mesh/breeze/proxy/internal/testcodec"
	"github.com/breeze-mesh/breeze/proxy/stats"
)

// Backend behaviours.
const (
	answerOK    int32 = iota // answer "<name>:<payload>"
	answerError              // answer with an error response
	answerHold               // hold every request until release is closed
)

// backend is a real TCP server speaking testcodec. It answers requests per its mode
// (requests whose payload starts with "hold" are held whatever the mode) and heartbeats
// while heartbeats is set.
type backend struct {
	name       string
	ln         net.Listener
	mode       atomic.Int32
	heartbeats atomic.Bool
	requests   atomic.Int64 // two-way requests received
	accepted   atomic.Int64 // connections accepted
	open       atomic.Int64 // connections open now
	held       atomic.Int64 // requests held now
	release    chan struct{}
	releaseMu  sync.Once
	mu         sync.Mutex
	live       map[net.Conn]bool
}

func startBackend(t *testing.T, name string) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{name: name, ln: ln, release: make(chan struct{}), live: map[net.Conn]bool{}}
	b.heartbeats.Store(true)
	go b.serve()
	t.Cleanup(b.stop)
	return b
}

func (b *backend) addr() string { return b.ln.Addr().String() }

func (b *backend) serve() {
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.accepted.Add(1)
		b.open.Add(1)
		b.mu.Lock()
		b.live[c] = true
		b.mu.Unlock()
		go b.handle(c)
	}
}

func (b *backend) handle(c net.Conn) {
	defer func() {
		c.Close()
		b.open.Add(-1)
		b.mu.Lock()
		delete(b.live, c)
		b.mu.Unlock()
	}()
	reg, _ := protocol.Lookup(testcodec.Name)
	fr := connio.NewFrameReader(c, reg.New(protocol.Options{Side: protocol.RequestSide, MaxFrameSize: 1 << 20}), 1<<20)
	var wmu sync.Mutex
	write := func(frame []byte) {
		wmu.Lock()
		defer wmu.Unlock()
		_, _ = c.Write(frame)
	}
	for {
		msg := new(protocol.Message)
		if err := fr.Next(msg); err != nil {
			return
		}
		if msg.Type == protocol.Heartbeat {
			if b.heartbeats.Load() {
				write(testcodec.Frame('h', msg.RequestID, nil, ""))
			}
			continue
		}
		if msg.Type != protocol.Request {
			continue
		}
		b.requests.Add(1)
		payload := testcodec.Payload(msg)
		mode := b.mode.Load()
		go func() {
			if mode == answerHold || strings.HasPrefix(payload, "hold") {
				b.held.Add(1)
				<-b.release
				b.held.Add(-1)
			}
			if mode == answerError {
				write(testcodec.Frame('E', msg.RequestID, nil, b.name+" fails"))
				return
			}
			write(testcodec.Frame('R', msg.RequestID, nil, b.name+":"+payload))
		}()
	}
}

// unblock answers every held request and every later one that would be held.
func (b *backend) unblock() { b.releaseMu.Do(func() { close(b.release) }) }

// stop answers what is held, then closes the listener and every connection.
func (b *backend) stop() {
	b.unblock()
	b.kill()
}

// kill closes the listener and every connection, with held requests unanswered.
func (b *backend) kill() {
	b.ln.Close()
	b.mu.Lock()
	for c := range b.live {
		c.Close()
	}
	b.mu.Unlock()
}

// result is the outcome of one request sent with sendTo.
type result struct {
	payload string // of a response
	isError bool   // the response is an error response
	err     *protocol.LocalError
	cause   FailureCause
}

// collector implements AttemptCallbacks onto a channel.
type collector chan result

func (c collector) OnResponse(resp *protocol.Message) {
	c <- result{payload: testcodec.Payload(resp), isError: resp.Status == protocol.StatusError}
}
func (c collector) OnFailure(err *protocol.LocalError) { c <- result{err: err} }
func (c collector) OnAttemptFailure(err *protocol.LocalError, cause FailureCause) {
	c <- result{err: err, cause: cause}
}

var testReg = func() protocol.Registration {
	reg, err := protocol.Lookup(testcodec.Name)
	if err != nil {
		panic(err)
	}
	return reg
}()

var pingPongReg = func() protocol.Registration {
	reg, err := protocol.Lookup(testcodec.PingPongName)
	if err != nil {
		panic(err)
	}
	return reg
}()

var nextID atomic.Uint64

// sendTo sends a two-way request to h with reg and returns where its outcome arrives.
func sendTo(h *Host, reg protocol.Registration, payload string, timeout time.Duration) collector {
	out := make(collector, 1)
	id := nextID.Add(1)
	h.Send(reg, Request{Frame: testcodec.Frame('Q', id, nil, payload), ID: id, Timeout: timeout, Callbacks: out})
	return out
}

// wait returns the outcome, failing the test if none comes within a generous bound.
func (c collector) wait(t *testing.T) result {
	t.Helper()
	select {
	case r := <-c:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no outcome within 10s")
		return result{}
	}
}

// pending reports whether an outcome has arrived, without waiting.
func (c collector) arrived() bool { return len(c) > 0 }

// newTestManager returns a manager whose clusters are closed at the end of the test.
func newTestManager(t *testing.T) (*Manager, *stats.Metrics) {
	t.Helper()
	m := stats.New()
	mgr := NewManager(m)
	t.Cleanup(mgr.Close)
	return mgr, m
}

func clusterCfg(name string, addrs ...string) *config.Cluster {
	c := &config.Cluster{Name: name, ConnectTimeout: time.Second, ConnectionsPerHost: 1, HealthyPanicThreshold: 50}
	for _, a := range addrs {
		c.Endpoints = append(c.Endpoints, config.Endpoint{Address: a, Weight: 1})
	}
	return c
}

// poll waits until cond holds, failing the test after a generous bound.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after 10s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// restartBackend starts a backend on the address a stopped one used.
func restartBackend(t *testing.T, name, addr string) *backend {
	t.Helper()
	var ln net.Listener
	poll(t, "listen again on "+addr, func() bool {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err == nil
	})
	b := &backend{name: name, ln: ln, release: make(chan struct{}), live: map[net.Conn]bool{}}
	b.heartbeats.Store(true)
	go b.serve()
	t.Cleanup(b.stop)
	return b
}
