package upstream

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/stats"
)

// pool holds the connections to one host for one codec.
type pool struct {
	host        *Host
	newCodec    func() protocol.Codec
	multiplexed bool
	opts        PoolOptions
	stats       *stats.Cluster
	limits      *breaker

	mu      sync.Mutex
	slots   []*conn // multiplexed: fixed number of shared connections
	idle    []*conn // ping-pong: connections waiting for a request
	all     map[*conn]struct{}
	waiting []*waiter // ping-pong: requests waiting for a free connection, oldest first
	next    atomic.Uint32
}

// waiter is a ping-pong request queued until a connection is free.
type waiter struct {
	req   Request
	since time.Time
	timer *time.Timer
	done  bool // dispatched or expired; guarded by pool.mu
}

func newPool(h *Host, reg protocol.Registration, c *Cluster) *pool {
	opts := c.poolOptions
	codecOpts := protocol.Options{Side: protocol.ResponseSide, MaxFrameSize: opts.MaxFrameSize}
	p := &pool{
		host:     h,
		newCodec: func() protocol.Codec { return reg.New(codecOpts) },
		opts:     opts,
		stats:    c.Stats,
		limits:   h.limits,
		all:      make(map[*conn]struct{}),
	}
	p.multiplexed = idSetterOf(p.newCodec()) != nil
	if p.multiplexed {
		p.slots = make([]*conn, max(1, opts.ConnectionsPerHost))
	}
	return p
}

// send puts req on a connection. A two-way request takes a unit of the cluster's
// max-requests breaker here; its exchange gives it back when it ends.
func (p *pool) send(req *Request) {
	if !req.Oneway && !p.limits.acquire(resRequests) {
		p.refuse(req, resRequests, false)
		return
	}
	if p.multiplexed {
		p.sendMultiplexed(req)
	} else {
		p.sendPingPong(req)
	}
}

func (p *pool) sendMultiplexed(req *Request) {
	for range 3 {
		c := p.acquireShared()
		if c == nil {
			p.refuse(req, resConnections, true)
			return
		}
		if c.send(req) {
			return
		}
	}
	p.giveUp(req)
}

// acquireShared returns the next multiplexed connection, opening it if needed, or nil when
// the cluster's connection limit is reached and this host has no connection to share.
func (p *pool) acquireShared() *conn {
	i := int(p.next.Add(1)) % len(p.slots)
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.slots[i]; c != nil && !c.isClosed() {
		return c
	}
	if p.limits.acquire(resConnections) {
		c := newConn(p)
		p.slots[i] = c
		p.all[c] = struct{}{}
		return c
	}
	for _, c := range p.slots {
		if c != nil && !c.isClosed() {
			return c
		}
	}
	return nil
}

func (p *pool) sendPingPong(req *Request) {
	for range 3 {
		p.mu.Lock()
		c := p.acquireExclusive()
		if c == nil {
			// Full: wait for a connection to be released, if a connection of this pool
			// will ever be, and the pending-requests breaker allows.
			if len(p.all) == 0 {
				p.mu.Unlock()
				p.refuse(req, resConnections, true)
				return
			}
			if !p.limits.acquire(resPending) {
				p.mu.Unlock()
				p.refuse(req, resPending, true)
				return
			}
			p.enqueue(req)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		if c.send(req) {
			if req.Oneway {
				p.release(c) // nothing to wait for: the connection is free again
			}
			return
		}
	}
	p.giveUp(req)
}

// acquireExclusive returns an idle ping-pong connection, or a new one, or nil when the
// per-host or cluster connection limit is reached. Called with mu held.
func (p *pool) acquireExclusive() *conn {
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle = p.idle[:n-1]
		return c
	}
	if p.opts.MaxConnections > 0 && len(p.all) >= p.opts.MaxConnections {
		return nil
	}
	if !p.limits.acquire(resConnections) {
		return nil
	}
	c := newConn(p)
	c.onIdle = p.release
	p.all[c] = struct{}{}
	return c
}

// enqueue adds req to the waiting list. Called with mu held; the caller took a pending unit.
func (p *pool) enqueue(req *Request) {
	w := &waiter{req: *req, since: time.Now()}
	if req.Timeout > 0 && !req.Oneway {
		w.timer = time.AfterFunc(req.Timeout, func() { p.expireWaiter(w) })
	}
	p.waiting = append(p.waiting, w)
}

// expireWaiter fails a waiting request whose timeout passed before a connection was free.
func (p *pool) expireWaiter(w *waiter) {
	p.mu.Lock()
	if w.done {
		p.mu.Unlock()
		return
	}
	w.done = true
	for i, x := range p.waiting {
		if x == w {
			p.waiting = append(p.waiting[:i], p.waiting[i+1:]...)
			break
		}
	}
	p.mu.Unlock()
	p.limits.release(resPending)
	p.limits.release(resRequests)
	p.stats.Error(protocol.Timeout)
	fail(w.req.Callbacks, protocol.NewLocalError(protocol.Timeout, "upstream %s: no connection free within %v", p.host.Address, w.req.Timeout), FailureTimeout)
}

// popWaiter takes the oldest waiting request. Called with mu held.
func (p *pool) popWaiter() *waiter {
	for len(p.waiting) > 0 {
		w := p.waiting[0]
		p.waiting[0] = nil
		p.waiting = p.waiting[1:]
		if !w.done {
			w.done = true
			return w
		}
	}
	return nil
}

// dispatch sends a waiting request on c, with what is left of its timeout.
func (p *pool) dispatch(c *conn, w *waiter) {
	p.limits.release(resPending)
	if w.timer != nil {
		w.timer.Stop()
	}
	req := w.req
	if req.Timeout > 0 {
		req.Timeout -= time.Since(w.since)
		if req.Timeout <= 0 {
			p.release(c)
			p.limits.release(resRequests)
			p.stats.Error(protocol.Timeout)
			fail(req.Callbacks, protocol.NewLocalError(protocol.Timeout, "upstream %s: no connection free within %v", p.host.Address, w.req.Timeout), FailureTimeout)
			return
		}
	}
	if !c.send(&req) {
		p.sendPingPong(&req) // closed meanwhile: start over (the request keeps its unit)
		return
	}
	if req.Oneway {
		p.release(c)
	}
}

// release returns a ping-pong connection to the idle list, or hands it to the oldest
// waiting request.
func (p *pool) release(c *conn) {
	p.mu.Lock()
	if _, live := p.all[c]; !live {
		p.mu.Unlock()
		return
	}
	if w := p.popWaiter(); w != nil {
		p.mu.Unlock()
		p.dispatch(c, w)
		return
	}
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

// remove forgets a closed connection; a waiting request gets a new connection in its place.
func (p *pool) remove(c *conn) {
	p.mu.Lock()
	if _, live := p.all[c]; !live {
		p.mu.Unlock()
		return
	}
	delete(p.all, c)
	p.limits.release(resConnections)
	for i, s := range p.slots {
		if s == c {
			p.slots[i] = nil
		}
	}
	for i, s := range p.idle {
		if s == c {
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			break
		}
	}
	var next *conn
	var w *waiter
	if len(p.waiting) > 0 {
		if next = p.acquireExclusive(); next != nil {
			if w = p.popWaiter(); w == nil {
				p.idle = append(p.idle, next)
			}
		}
	}
	p.mu.Unlock()
	if w != nil {
		p.dispatch(next, w)
	}
}

// refuse fails req because breaker resource r refused it (the breaker counted the
// overflow). A two-way request gives back its requests unit when it holds one.
func (p *pool) refuse(req *Request, r resource, holdsRequestUnit bool) {
	if holdsRequestUnit && !req.Oneway {
		p.limits.release(resRequests)
	}
	p.stats.Error(protocol.OverLimit)
	if req.Callbacks != nil && !req.Oneway {
		fail(req.Callbacks, protocol.NewLocalError(protocol.OverLimit, "cluster %q: %s limit reached (upstream %s)", p.clusterName(), r, p.host.Address), FailureOverflow)
	}
}

// giveUp fails a request whose every connection closed under it.
func (p *pool) giveUp(req *Request) {
	if req.Oneway {
		return
	}
	p.limits.release(resRequests)
	p.stats.Error(protocol.UpstreamReset)
	fail(req.Callbacks, protocol.NewLocalError(protocol.UpstreamReset, "upstream %s: connections keep closing", p.host.Address), FailureReset)
}

func (p *pool) clusterName() string {
	if c := p.host.cluster.Load(); c != nil {
		return c.Name
	}
	return ""
}

// closeAll closes every connection, failing what is in flight and what waits.
func (p *pool) closeAll(cause error) {
	p.mu.Lock()
	conns := make([]*conn, 0, len(p.all))
	for c := range p.all {
		conns = append(conns, c)
	}
	var waiters []*waiter
	for w := p.popWaiter(); w != nil; w = p.popWaiter() {
		waiters = append(waiters, w)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.close(cause)
	}
	for _, w := range waiters {
		if w.timer != nil {
			w.timer.Stop()
		}
		p.limits.release(resPending)
		if !w.req.Oneway {
			p.limits.release(resRequests)
			p.stats.Error(protocol.UpstreamReset)
			fail(w.req.Callbacks, protocol.NewLocalError(protocol.UpstreamReset, "upstream %s: %v", p.host.Address, cause), FailureReset)
		}
	}
}

// closeIdle closes the connections with nothing in flight (a draining host's); the others
// close when their last request ends.
func (p *pool) closeIdle() {
	p.mu.Lock()
	conns := make([]*conn, 0, len(p.all))
	for c := range p.all {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.closeIfIdle()
	}
}
