package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/filter"
	"github.com/breeze-mesh/breeze/proxy/stats"
	"github.com/breeze-mesh/breeze/proxy/upstream"
)

// Server is one proxy: its listeners, clusters and metrics.
type Server struct {
	log      *slog.Logger
	metrics  *stats.Metrics
	clusters *upstream.Manager
	// shared holds what filters keep across config versions (exporters, log writers);
	// closed after the last request at shutdown.
	shared *filter.Shared

	mu        sync.Mutex
	listeners map[string]*listener
	applied   *config.Bootstrap
	// retired are clusters that left the configuration, kept for clusterGrace (retire.go);
	// retireTimer removes them; closed stops it after Shutdown.
	retired     map[string]retiredCluster
	retireTimer *time.Timer
	closed      bool
}

// New returns a server with no listeners; Apply gives it a configuration.
func New(log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	m := stats.New()
	clusters := upstream.NewManager(m)
	m.Registry.MustRegister(newClusterLoad(clusters))
	return &Server{
		log:       log,
		metrics:   m,
		clusters:  clusters,
		shared:    filter.NewShared(),
		listeners: map[string]*listener{},
	}
}

// Metrics returns the server's metrics.
func (s *Server) Metrics() *stats.Metrics { return s.metrics }

// Clusters returns the server's cluster manager.
func (s *Server) Clusters() *upstream.Manager { return s.clusters }

// Config returns the configuration last applied.
func (s *Server) Config() *config.Bootstrap {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.applied
}

// ListenerError is an Apply failure that one listener causes (its codec, its filters, its
// address), so that a caller assembling configurations (the xDS client) can leave that
// listener out and apply the rest.
type ListenerError struct {
	Listener string
	Err      error
}

func (e *ListenerError) Error() string { return fmt.Sprintf("listener %q: %v", e.Listener, e.Err) }

func (e *ListenerError) Unwrap() error { return e.Err }

// Apply makes cfg the running configuration. Every listener chain is built first; if any
// fails nothing changes. Clusters are updated before the chains that route to them swap in,
// listeners that appear start accepting, and listeners that disappear drain.
func (s *Server) Apply(cfg *config.Bootstrap) error {
	s.mu.Lock()
	defer s.mu.Unlock()

	type planned struct {
		cfg   *config.Listener
		codec protocol.Registration
		st    *stats.Listener
		state *chainState
	}
	var plan []planned
	for _, lc := range cfg.Listeners {
		reg, err := protocol.Lookup(lc.Codec)
		if err != nil {
			return &ListenerError{Listener: lc.Name, Err: err}
		}
		if old := s.listeners[lc.Name]; old != nil && (old.cfg.Address != lc.Address || old.codec.Name != reg.Name) {
			return &ListenerError{Listener: lc.Name, Err: errors.New("changing the address or codec of a running listener is not supported; give it a new name")}
		}
		if lc.MaxFrameSize <= 0 {
			lc.MaxFrameSize = protocol.DefaultMaxFrameSize
		}
		st := s.metrics.Listener(statName(lc))
		state, err := buildChain(lc, reg, s.clusters, st, s.filterContext(cfg, lc, reg))
		if err != nil {
			return &ListenerError{Listener: lc.Name, Err: err}
		}
		plan = append(plan, planned{cfg: lc, codec: reg, st: st, state: state})
	}

	// Bind new listeners before changing anything, so a port in use fails the whole update.
	bound := map[string]net.Listener{}
	for _, p := range plan {
		if s.listeners[p.cfg.Name] != nil {
			continue
		}
		ln, err := net.Listen("tcp", p.cfg.Address)
		if err != nil {
			for _, b := range bound {
				b.Close()
			}
			return &ListenerError{Listener: p.cfg.Name, Err: err}
		}
		bound[p.cfg.Name] = ln
	}

	// Clusters are added and updated before the new chains swap in; those that leave stay
	// for a grace period, for the requests the old chains are still routing (retire.go).
	s.clusters.Update(s.clustersFor(cfg))
	keep := map[string]bool{}
	for _, p := range plan {
		keep[p.cfg.Name] = true
		if l := s.listeners[p.cfg.Name]; l != nil {
			l.state.Store(p.state)
			continue
		}
		l := &listener{
			name:  p.cfg.Name,
			codec: p.codec,
			cfg:   p.cfg,
			ln:    bound[p.cfg.Name],
			stats: p.st,
			log:   s.log.With("listener", p.cfg.Name),
			force: make(chan struct{}),
			conns: map[*downstream]struct{}{},
		}
		l.state.Store(p.state)
		s.listeners[p.cfg.Name] = l
		l.wg.Add(1)
		go l.serve()
		s.log.Info("listening", "listener", l.name, "address", l.Addr().String(), "codec", l.codec.Name)
	}
	for name, l := range s.listeners {
		if !keep[name] {
			delete(s.listeners, name)
			go func() {
				l.drain()
				l.wg.Wait()
			}()
		}
	}
	s.applied = cfg
	return nil
}

// filterContext is what the filters of listener lc are told when they are built.
func (s *Server) filterContext(cfg *config.Bootstrap, lc *config.Listener, reg protocol.Registration) filter.BuildContext {
	fctx := filter.BuildContext{
		Listener:   lc.Name,
		StatPrefix: statName(lc),
		Codec:      reg.Name,
		Direction:  filter.DirectionOf(lc.Name),
		Metrics:    s.metrics.Registry,
		Log:        s.log.With("listener", lc.Name),
		Shared:     s.shared,
	}
	fctx.Node = cfg.Node
	return fctx
}

func statName(lc *config.Listener) string {
	if lc.StatPrefix != "" {
		return lc.StatPrefix
	}
	return lc.Name
}

// ListenerAddr returns the bound address of a listener, or nil.
func (s *Server) ListenerAddr(name string) net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.listeners[name]; l != nil {
		return l.Addr()
	}
	return nil
}

// Shutdown stops accepting, lets in-flight requests finish until ctx is done, then closes
// every connection.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	ls := make([]*listener, 0, len(s.listeners))
	for _, l := range s.listeners {
		ls = append(ls, l)
	}
	s.listeners = map[string]*listener{}
	s.closed = true
	if s.retireTimer != nil {
		s.retireTimer.Stop()
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		for _, l := range ls {
			l.drain()
		}
		for _, l := range ls {
			l.wg.Wait()
		}
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("shutdown: in-flight requests abandoned: %w", ctx.Err())
		for _, l := range ls {
			close(l.force)
		}
		<-done
	}
	s.clusters.Close()
	// Filters' exporters and log writers flush what the last requests produced, within
	// what remains of ctx.
	if serr := s.shared.Close(ctx); serr != nil {
		s.log.Warn("stopping filter resources", "error", serr)
	}
	return err
}
