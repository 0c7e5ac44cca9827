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
	host           *Host
	newCodec       func() protocol.Codec
	multiplexed    bool
	maxFrame       int
	connectTimeout time.Duration
	maxConns       int
	stats          *stats.Cluster

	mu    sync.Mutex
	slots []*conn // multiplexed: fixed number of shared connections
	idle  []*conn // ping-pong: connections waiting for a request
	all   map[*conn]struct{}
	next  atomic.Uint32
}

func newPool(h *Host, reg protocol.Registration, opts PoolOptions, st *stats.Cluster) *pool {
	codecOpts := protocol.Options{Side: protocol.ResponseSide, MaxFrameSize: opts.MaxFrameSize}
	p := &pool{
		host:           h,
		newCodec:       func() protocol.Codec { return reg.New(codecOpts) },
		maxFrame:       opts.MaxFrameSize,
		connectTimeout: opts.ConnectTimeout,
		maxConns:       opts.MaxConnections,
		stats:          st,
		all:            make(map[*conn]struct{}),
	}
	_, p.multiplexed = p.newCodec().(protocol.IDRewriter)
	if p.multiplexed {
		p.slots = make([]*conn, max(1, opts.ConnectionsPerHost))
	}
	return p
}

// send puts req on a connection.
func (p *pool) send(req *Request) {
	for attempt := 0; attempt < 3; attempt++ {
		c := p.acquire()
		if c == nil {
			p.stats.Error(protocol.OverLimit)
			if req.Callbacks != nil && !req.Oneway {
				req.Callbacks.OnFailure(protocol.NewLocalError(protocol.OverLimit, "upstream %s: %d connections in use", p.host.Address, p.maxConns))
			}
			return
		}
		if c.send(req) {
			return
		}
	}
	if req.Callbacks != nil && !req.Oneway {
		req.Callbacks.OnFailure(protocol.NewLocalError(protocol.UpstreamReset, "upstream %s: connections keep closing", p.host.Address))
	}
}

func (p *pool) acquire() *conn {
	if p.multiplexed {
		i := int(p.next.Add(1)) % len(p.slots)
		p.mu.Lock()
		defer p.mu.Unlock()
		c := p.slots[i]
		if c == nil {
			c = newConn(p)
			p.slots[i] = c
			p.all[c] = struct{}{}
		}
		return c
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle = p.idle[:n-1]
		return c
	}
	if p.maxConns > 0 && len(p.all) >= p.maxConns {
		return nil
	}
	c := newConn(p)
	c.onIdle = p.release
	p.all[c] = struct{}{}
	return c
}

// release returns a ping-pong connection to the idle list.
func (p *pool) release(c *conn) {
	p.mu.Lock()
	if _, live := p.all[c]; live {
		p.idle = append(p.idle, c)
	}
	p.mu.Unlock()
}

// remove forgets a closed connection.
func (p *pool) remove(c *conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.all, c)
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
}

// closeAll closes every connection, failing what is in flight.
func (p *pool) closeAll(cause error) {
	p.mu.Lock()
	conns := make([]*conn, 0, len(p.all))
	for c := range p.all {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.close(cause)
	}
}
