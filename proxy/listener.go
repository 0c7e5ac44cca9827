package proxy

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/filter"
	"github.com/breeze-mesh/breeze/proxy/filters/router"
	"github.com/breeze-mesh/breeze/proxy/route"
	"github.com/breeze-mesh/breeze/proxy/stats"
	"github.com/breeze-mesh/breeze/proxy/upstream"
)

// listener accepts connections on one address. Its configuration (route table, filter
// chain) is swapped atomically: existing connections use the new version from their next
// request on.
type listener struct {
	name  string
	codec protocol.Registration
	cfg   *config.Listener // fixed for the listener's life: address, codec, frame limit
	ln    net.Listener
	stats *stats.Listener
	log   *slog.Logger

	state atomic.Pointer[chainState]
	force chan struct{} // closed when a drain runs out of time
	// draining is set by drain before it closes ln: a connection accepted concurrently, and
	// added to conns after drain went through them, drains itself.
	draining atomic.Bool

	mu    sync.Mutex
	conns map[*downstream]struct{}
	wg    sync.WaitGroup
}

// chainState is one config version of a listener.
type chainState struct {
	cfg   *config.Listener
	table *route.Table
	chain filter.Handler
}

func (l *listener) current() *chainState { return l.state.Load() }

// buildChain compiles cfg's filters and routes into a chain, ready to swap in. fctx is what
// the filter factories are told about the listener and the proxy.
func buildChain(cfg *config.Listener, codec protocol.Registration, clusters *upstream.Manager, st *stats.Listener, fctx filter.BuildContext) (*chainState, error) {
	table := route.NewTable(cfg.Routes)
	filters := make([]filter.Filter, 0, len(cfg.Filters))
	for _, fc := range cfg.Filters {
		f, err := filter.BuildWithContext(fctx, fc.Name, fc.Config)
		if err != nil {
			return nil, fmt.Errorf("filter %q: %w", fc.Name, err)
		}
		filters = append(filters, f)
	}
	return &chainState{
		cfg:   cfg,
		table: table,
		chain: filter.Chain(router.New(table, clusters, codec, st), filters...),
	}, nil
}

func (l *listener) serve() {
	defer l.wg.Done()
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				l.log.Error("accept failed; listener stopped", "error", err)
			}
			return
		}
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		d := newDownstream(l, nc)
		l.mu.Lock()
		l.conns[d] = struct{}{}
		l.mu.Unlock()
		l.stats.Connections.Inc()
		l.wg.Add(1)
		if l.draining.Load() {
			d.drain()
		}
		go d.serve()
	}
}

func (l *listener) forget(d *downstream) {
	l.mu.Lock()
	delete(l.conns, d)
	l.mu.Unlock()
	l.stats.Connections.Dec()
	l.wg.Done()
}

// drain stops accepting and asks every connection to finish its in-flight requests.
func (l *listener) drain() {
	l.draining.Store(true)
	l.ln.Close()
	l.mu.Lock()
	for d := range l.conns {
		d.drain()
	}
	l.mu.Unlock()
}

// Addr is the bound address (useful with port 0).
func (l *listener) Addr() net.Addr { return l.ln.Addr() }
