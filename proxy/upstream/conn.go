package upstream

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/internal/connio"
)

// conn is one upstream connection. It dials in the background: requests sent before the
// dial completes are queued and go out once connected (or fail with it).
type conn struct {
	host     *Host
	pool     *pool
	codec    protocol.Codec
	rewriter protocol.IDRewriter // nil in ping-pong mode

	mu      sync.Mutex
	nc      net.Conn
	w       *connio.Writer
	early   [][]byte // frames sent before the dial completed
	pending map[uint64]*exchange
	nextID  uint64
	closed  bool
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
		c.rewriter = c.codec.(protocol.IDRewriter)
	}
	go c.run()
	return c
}

// send queues req on the connection. It returns false if the connection is already closed
// (the caller picks another connection).
func (c *conn) send(req *Request) bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	var ex *exchange
	if !req.Oneway {
		id := req.ID
		if c.rewriter != nil {
			id = c.allocID()
			if err := c.rewriter.RewriteRequestID(req.Frame, id); err != nil {
				c.mu.Unlock()
				req.Callbacks.OnFailure(protocol.NewLocalError(protocol.Internal, "rewrite request id: %v", err))
				return true
			}
		}
		ex = &exchange{origID: req.ID, cb: req.Callbacks}
		c.pending[id] = ex
		c.host.active.Add(1)
		if req.Timeout > 0 {
			ex.timer = time.AfterFunc(req.Timeout, func() { c.expire(id, ex, req.Timeout) })
		}
	}
	if c.w == nil {
		c.early = append(c.early, req.Frame)
	} else {
		c.w.Write(req.Frame)
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

// expire fails a request whose response did not come in time.
func (c *conn) expire(id uint64, ex *exchange, after time.Duration) {
	c.mu.Lock()
	if c.pending[id] != ex {
		c.mu.Unlock()
		return // answered (or failed) meanwhile
	}
	delete(c.pending, id)
	c.host.active.Add(-1)
	pingPong := c.rewriter == nil
	c.mu.Unlock()
	c.pool.stats.Error(protocol.Timeout)
	ex.cb.OnFailure(protocol.NewLocalError(protocol.Timeout, "upstream %s did not answer within %v", c.host.Address, after))
	if pingPong {
		// The late response would arrive on a connection handed to the next request.
		c.close(errors.New("request timed out"))
	}
}

func (c *conn) run() {
	nc, err := net.DialTimeout("tcp", c.host.Address, c.pool.connectTimeout)
	if err != nil {
		c.close(fmt.Errorf("connect: %w", err))
		return
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
		_ = tc.SetKeepAlivePeriod(30 * time.Second)
	}
	c.pool.stats.Connections.Inc()
	defer c.pool.stats.Connections.Dec()
	c.mu.Lock()
	if c.closed { // closed while dialing
		c.mu.Unlock()
		nc.Close()
		return
	}
	c.nc = nc
	c.w = connio.NewWriter(nc, func(err error) { nc.Close() })
	for _, f := range c.early {
		c.w.Write(f)
	}
	c.early = nil
	c.mu.Unlock()
	c.readLoop(nc)
}

func (c *conn) readLoop(nc net.Conn) {
	fr := connio.NewFrameReader(nc, c.codec, c.pool.maxFrame)
	for {
		resp := responses.Get().(*protocol.Message)
		if err := fr.Next(resp); err != nil {
			if errors.Is(err, protocol.ErrMalformed) || errors.Is(err, protocol.ErrFrameTooLarge) {
				c.failAll(protocol.BadResponse, fmt.Sprintf("bad response from %s: %v", c.host.Address, err))
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
		c.host.active.Add(-1)
	}
	idle := ok && c.rewriter == nil && len(c.pending) == 0
	c.mu.Unlock()
	if !ok {
		// A response to a request that timed out: the caller has had its answer.
		return
	}
	if ex.timer != nil {
		ex.timer.Stop()
	}
	if c.rewriter != nil && ex.origID != id {
		if err := c.rewriter.RewriteRequestID(resp.Frame, ex.origID); err != nil {
			ex.cb.OnFailure(protocol.NewLocalError(protocol.BadResponse, "restore request id: %v", err))
			return
		}
	}
	resp.RequestID = ex.origID
	if resp.Status == protocol.StatusError {
		c.pool.stats.Error(protocol.BadResponse)
	}
	ex.cb.OnResponse(resp)
	if idle && c.onIdle != nil {
		c.onIdle(c)
	}
}

// close shuts the connection and fails whatever is still pending with an upstream reset.
func (c *conn) close(cause error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	nc, w := c.nc, c.w
	c.mu.Unlock()
	c.pool.remove(c)
	if w != nil {
		go w.Close() // let queued frames drain without holding up the failures below
	}
	if nc != nil {
		nc.Close()
	}
	c.failAll(protocol.UpstreamReset, describeClose(c.host.Address, cause))
}

func (c *conn) failAll(kind protocol.ErrorKind, message string) {
	c.mu.Lock()
	pending := c.pending
	c.pending = make(map[uint64]*exchange)
	c.host.active.Add(-int64(len(pending)))
	c.mu.Unlock()
	for _, ex := range pending {
		if ex.timer != nil {
			ex.timer.Stop()
		}
		c.pool.stats.Error(kind)
		ex.cb.OnFailure(&protocol.LocalError{Kind: kind, Message: message})
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
