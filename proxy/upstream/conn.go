package upstream

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/internal/connio"
)

// defaultKeepalive is the TCP keepalive of upstream connections when the cluster sets none.
const defaultKeepalive = 30 * time.Second

// conn is one upstream connection. It dials in the background: requests sent before the
// dial completes are queued and go out once connected (or fail with it).
type conn struct {
	host  *Host
	pool  *pool
	codec protocol.Codec
	setID idSetter // nil in ping-pong mode

	closed atomic.Bool // set once, under mu; read without it by the pool

	mu      sync.Mutex
	nc      net.Conn
	w       *connio.Writer
	early   [][]byte // frames sent before the dial completed, each holding a pending unit
	pending map[uint64]*exchange
	nextID  uint64
	// idleSince is when the last request in flight ended (with an idle timeout only).
	idleSince time.Time
	idleTimer *time.Timer
	// onIdle runs (outside mu) when a ping-pong connection finishes its request.
	onIdle func(*conn)
}

func newConn(p *pool) *conn {
	c := &conn{
		host:    p.host,
		pool:    p,
		codec:   p.newCodec(),
		pending: make(map[uint64]*exchange),
	}
	if p.multiplexed {
		c.setID = idSetterOf(c.codec)
	}
	go c.run()
	return c
}

// idSetter sets a frame's request id and returns the frame to send: the same one when the
// codec rewrites ids in place.
type idSetter func(frame []byte, id uint64) ([]byte, error)

// idSetterOf returns how to set ids with c's codec, or nil if it cannot (ping-pong mode).
func idSetterOf(c protocol.Codec) idSetter {
	switch rw := c.(type) {
	case protocol.IDReplacer:
		return rw.ReplaceRequestID
	case protocol.IDRewriter:
		return func(frame []byte, id uint64) ([]byte, error) { return frame, rw.RewriteRequestID(frame, id) }
	}
	return nil
}

func (c *conn) isClosed() bool { return c.closed.Load() }

// send queues req on the connection. It returns false if the connection is already closed
// (the caller picks another connection); otherwise the request's outcome is the
// connection's to report, and so is the requests unit a two-way request holds.
func (c *conn) send(req *Request) bool {
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		return false
	}
	dialing := c.w == nil
	if dialing && !c.host.limits.acquire(resPending) {
		c.mu.Unlock()
		c.pool.refuse(req, resPending, true)
		return true
	}
	frame := req.Frame
	if !req.Oneway {
		id := req.ID
		if c.setID != nil {
			id = c.allocID()
			var err error
			if frame, err = c.setID(frame, id); err != nil {
				c.mu.Unlock()
				if dialing {
					c.host.limits.release(resPending)
				}
				c.host.limits.release(resRequests)
				fail(req.Callbacks, protocol.NewLocalError(protocol.Internal, "rewrite request id: %v", err), FailureInternal)
				return true
			}
		}
		ex := &exchange{origID: req.ID, cb: req.Callbacks}
		c.pending[id] = ex
		c.host.active.Add(1)
		if req.Timeout > 0 {
			timeout := req.Timeout
			ex.timer = time.AfterFunc(timeout, func() { c.expire(id, ex, timeout) })
		}
	}
	if dialing {
		c.early = append(c.early, frame)
	} else {
		c.w.Write(frame)
	}
	c.mu.Unlock()
	return true
}

// allocID returns an id not in use on this connection. Called with mu held.
func (c *conn) allocID() uint64 {
	for {
		c.nextID++
		if c.nextID > protocol.MaxSharedRequestID {
			c.nextID = 1
		}
		if _, busy := c.pending[c.nextID]; !busy {
			return c.nextID
		}
	}
}

// ended accounts for n exchanges that ended: the host's in-flight count and the cluster's
// max-requests breaker. Called with mu held.
func (c *conn) ended(n int) {
	c.host.active.Add(-int64(n))
	c.host.limits.releaseN(resRequests, n)
	if len(c.pending) == 0 && c.pool.opts.IdleTimeout > 0 {
		c.idleSince = time.Now()
	}
}

// expire fails a request whose response did not come in time.
func (c *conn) expire(id uint64, ex *exchange, after time.Duration) {
	c.mu.Lock()
	if c.pending[id] != ex {
		c.mu.Unlock()
		return // answered (or failed) meanwhile
	}
	delete(c.pending, id)
	c.ended(1)
	pingPong := c.setID == nil
	c.mu.Unlock()
	c.pool.stats.Error(protocol.Timeout)
	c.host.reportFailure(true)
	fail(ex.cb, protocol.NewLocalError(protocol.Timeout, "upstream %s did not answer within %v", c.host.Address, after), FailureTimeout)
	if pingPong {
		// The late response would arrive on a connection handed to the next request.
		c.close(errors.New("request timed out"))
		return
	}
	c.closeIfDrainedAndIdle()
}

func (c *conn) run() {
	opts := c.pool.opts
	dialer := net.Dialer{Timeout: opts.ConnectTimeout, KeepAliveConfig: keepaliveConfig(opts.Keepalive)}
	nc, err := dialer.Dial("tcp", c.host.Address)
	if err != nil {
		c.closeWith(FailureConnect, fmt.Errorf("connect: %w", err))
		return
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	c.pool.stats.Connections.Inc()
	defer c.pool.stats.Connections.Dec()
	c.mu.Lock()
	if c.closed.Load() { // closed while dialing
		c.mu.Unlock()
		nc.Close()
		return
	}
	c.nc = nc
	c.w = connio.NewWriter(nc, func(err error) { nc.Close() })
	for _, f := range c.early {
		c.w.Write(f)
	}
	c.host.limits.releaseN(resPending, len(c.early))
	c.early = nil
	if opts.IdleTimeout > 0 {
		c.idleSince = time.Now()
		c.idleTimer = time.AfterFunc(opts.IdleTimeout, c.checkIdle)
	}
	c.mu.Unlock()
	c.readLoop(nc)
}

// keepaliveConfig turns a cluster's tcp_keepalive into the dialer's; unset fields keep the
// system's values.
func keepaliveConfig(k config.TCPKeepalive) net.KeepAliveConfig {
	if k == (config.TCPKeepalive{}) {
		return net.KeepAliveConfig{Enable: true, Idle: defaultKeepalive, Interval: defaultKeepalive, Count: -1}
	}
	orSystem := func(d time.Duration) time.Duration {
		if d <= 0 {
			return -1
		}
		return d
	}
	count := k.Probes
	if count <= 0 {
		count = -1
	}
	return net.KeepAliveConfig{Enable: true, Idle: orSystem(k.Time), Interval: orSystem(k.Interval), Count: count}
}

// checkIdle closes the connection once it has had nothing in flight for the idle timeout,
// and otherwise looks again when that could next be true.
func (c *conn) checkIdle() {
	timeout := c.pool.opts.IdleTimeout
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		return
	}
	next := timeout
	if len(c.pending) == 0 {
		idle := time.Since(c.idleSince)
		if idle >= timeout {
			c.mu.Unlock()
			c.close(errors.New("idle timeout"))
			return
		}
		next = timeout - idle
	}
	c.idleTimer.Reset(next)
	c.mu.Unlock()
}

func (c *conn) readLoop(nc net.Conn) {
	fr := connio.NewFrameReader(nc, c.codec, c.pool.opts.MaxFrameSize)
	for {
		resp := responses.Get().(*protocol.Message)
		if err := fr.Next(resp); err != nil {
			if errors.Is(err, protocol.ErrMalformed) || errors.Is(err, protocol.ErrFrameTooLarge) {
				c.failAll(protocol.BadResponse, FailureBadResponse, fmt.Sprintf("bad response from %s: %v", c.host.Address, err))
			}
			c.close(err)
			return
		}
		switch {
		case resp.Type == protocol.Heartbeat:
			c.answerHeartbeat(resp)
		case resp.Type.IsResponse():
			c.deliver(resp)
		default:
			// A server sending requests or stream frames on a client connection: not
			// something this connection can route. Drop it.
		}
		responses.Put(resp)
	}
}

// responses recycles response messages: a callback may not keep one after it returns, and
// the frame bytes it points to are never reused, so recycling the struct is safe.
var responses = sync.Pool{New: func() any { return new(protocol.Message) }}

func (c *conn) answerHeartbeat(msg *protocol.Message) {
	hr, ok := c.codec.(protocol.HeartbeatResponder)
	if !ok {
		return
	}
	if reply, err := hr.HeartbeatReply(msg); err == nil && len(reply) > 0 {
		c.mu.Lock()
		if c.w != nil {
			c.w.Write(reply)
		}
		c.mu.Unlock()
	}
}

func (c *conn) deliver(resp *protocol.Message) {
	id := resp.RequestID
	c.mu.Lock()
	ex, ok := c.pending[id]
	if ok {
		delete(c.pending, id)
		c.ended(1)
	}
	idle := ok && c.setID == nil && len(c.pending) == 0
	c.mu.Unlock()
	if !ok {
		// A response to a request that timed out: the caller has had its answer.
		return
	}
	if ex.timer != nil {
		ex.timer.Stop()
	}
	if c.setID != nil && ex.origID != id {
		frame, err := c.setID(resp.Frame, ex.origID)
		if err != nil {
			c.host.reportFailure(false)
			fail(ex.cb, protocol.NewLocalError(protocol.BadResponse, "restore request id: %v", err), FailureBadResponse)
			return
		}
		resp.Frame = frame
	}
	resp.RequestID = ex.origID
	if resp.Status == protocol.StatusError {
		c.pool.stats.Error(protocol.BadResponse)
		c.host.reportFailure(false)
	} else {
		c.host.reportSuccess()
	}
	ex.cb.OnResponse(resp)
	if c.host.draining.Load() {
		c.closeIfDrainedAndIdle()
		return
	}
	if idle && c.onIdle != nil {
		c.onIdle(c)
	}
}

// closeIfDrainedAndIdle closes the connection of a draining host once nothing is in flight.
func (c *conn) closeIfDrainedAndIdle() {
	if c.host.draining.Load() {
		c.closeIfIdle()
	}
}

// closeIfIdle closes the connection if no request is in flight or queued on it.
func (c *conn) closeIfIdle() {
	c.mu.Lock()
	idle := len(c.pending) == 0 && len(c.early) == 0
	c.mu.Unlock()
	if idle {
		c.close(errors.New("host removed from cluster"))
	}
}

// close shuts the connection and fails whatever is still pending with an upstream reset.
func (c *conn) close(cause error) { c.closeWith(FailureReset, cause) }

// closeWith shuts the connection, failing what is pending with why: a connect failure or a
// reset.
func (c *conn) closeWith(why FailureCause, cause error) {
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		return
	}
	c.closed.Store(true)
	nc, w := c.nc, c.w
	c.host.limits.releaseN(resPending, len(c.early))
	c.early = nil
	if c.idleTimer != nil {
		c.idleTimer.Stop()
	}
	c.mu.Unlock()
	c.pool.remove(c)
	if w != nil {
		go w.Close() // let queued frames drain without holding up the failures below
	}
	if nc != nil {
		nc.Close()
	}
	c.failAll(protocol.UpstreamReset, why, describeClose(c.host.Address, cause))
}

func (c *conn) failAll(kind protocol.ErrorKind, why FailureCause, message string) {
	c.mu.Lock()
	pending := c.pending
	c.pending = make(map[uint64]*exchange)
	c.ended(len(pending))
	c.mu.Unlock()
	for _, ex := range pending {
		if ex.timer != nil {
			ex.timer.Stop()
		}
		c.pool.stats.Error(kind)
		c.host.reportFailure(why != FailureBadResponse)
		fail(ex.cb, &protocol.LocalError{Kind: kind, Message: message}, why)
	}
}

func describeClose(addr string, cause error) string {
	switch {
	case errors.Is(cause, io.EOF), errors.Is(cause, io.ErrUnexpectedEOF), errors.Is(cause, syscall.ECONNRESET):
		return fmt.Sprintf("upstream %s closed the connection", addr)
	case errors.Is(cause, syscall.ECONNREFUSED):
		return fmt.Sprintf("upstream %s refused the connection", addr)
	default:
		return fmt.Sprintf("upstream %s: %v", addr, cause)
	}
}
