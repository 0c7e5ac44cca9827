// Package server is the control plane's xDS server: an aggregated discovery service (state
// of the world and delta) on go-control-plane, with one snapshot per proxy.
//
// The server reads its configuration from a source, builds the model, and keeps a snapshot
// for every connected proxy, translated for that proxy alone (its namespace, its workload,
// its codecs). Source changes are debounced; each rebuild makes one model and every
// proxy's snapshot from it, so that what a proxy receives is always consistent. Versions are
// content hashes, so a change that touches only one route table sends only that type, to
// only the proxies whose tables changed. A proxy that refuses a response (NACK) is logged
// with its reason and counted, and is not sent the refused content again (nackGuard).
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/breeze-mesh/breeze/control/config"
	"github.com/breeze-mesh/breeze/control/model"
	"github.com/breeze-mesh/breeze/control/source"
	"github.com/breeze-mesh/breeze/control/translate"
)

// Defaults of Options.
const (
	// DefaultDebounce is how long the configuration must stay quiet before a rebuild: an
	// editor's save, or kubectl applying a directory, is one rebuild, not one per file.
	DefaultDebounce = 100 * time.Millisecond
	// DefaultMaxDelay bounds how long a stream of changes can postpone a rebuild.
	DefaultMaxDelay = time.Second
)

// Options configure a Server.
type Options struct {
	// Source delivers the configuration. Required.
	Source source.Source
	// Log receives the server's logs; nil discards them.
	Log *slog.Logger
	// Debounce and MaxDelay: see DefaultDebounce and DefaultMaxDelay (zero uses them).
	Debounce time.Duration
	MaxDelay time.Duration
	// Features are what the proxies can run; the zero value is translate.ProxyFeatures.
	Features *translate.Features
	// Codecs lists the codecs of this binary, to warn about unknown ones; nil skips it.
	Codecs []string
}

// Server serves xDS to proxies.
type Server struct {
	opts     Options
	features translate.Features
	log      *slog.Logger
	cache    cachev3.SnapshotCache
	xds      serverv3.Server
	stats    counters

	// mu orders model replacement and snapshot updates: a snapshot built from an older
	// model never replaces one built from a newer model.
	mu           sync.Mutex
	model        *model.Model
	modelVersion uint64
	problems     map[string]bool // the configuration problems logged, to log only changes
	problemList  config.Problems // the same, in order, for the admin endpoint
	nodes        map[string]*nodeState
	streams      map[streamKey]*streamState
	// translations caches, for the current model, the result for each proxy description:
	// proxies that describe themselves alike (the replicas of one workload) share it.
	translations map[string]*translation
}

// translation is one proxy description's resources, as a snapshot.
type translation struct {
	snap     *snapshot
	problems config.Problems
	err      error
}

// nodeState is a connected proxy.
type nodeState struct {
	proxy   *model.Proxy
	streams int
	// problems are the proxy's own problems last logged, to log only changes.
	problems string
	// versions are the type versions of the proxy's current snapshot.
	versions map[string]string
	lastNACK string
	// rejected maps a type URL to the version the proxy last refused over a
	// state-of-the-world stream; see nackGuard.
	rejected map[string]string
}

// streamKey identifies a stream: state-of-the-world and delta streams are numbered apart.
type streamKey struct {
	delta bool
	id    int64
}

// streamState is one open xDS stream.
type streamState struct {
	node string
	// sent maps a response nonce to the version it carried, to name the version a NACK
	// rejects.
	sent map[string]string
}

// New returns a server; Serve runs it.
func New(opts Options) *Server {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Debounce <= 0 {
		opts.Debounce = DefaultDebounce
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = DefaultMaxDelay
	}
	s := &Server{
		opts:         opts,
		features:     translate.ProxyFeatures,
		log:          opts.Log,
		problems:     map[string]bool{},
		nodes:        map[string]*nodeState{},
		streams:      map[streamKey]*streamState{},
		translations: map[string]*translation{},
	}
	if opts.Features != nil {
		s.features = *opts.Features
	}
	s.cache = nackGuard{SnapshotCache: cachev3.NewSnapshotCache(true, cachev3.IDHash{}, cacheLogger{s.log}), s: s}
	s.xds = serverv3.NewServer(context.Background(), s.cache, callbacks{s})
	return s
}

// Serve loads the configuration, then serves xDS on lis and follows the configuration's
// changes until ctx is done. It returns nil after a clean stop. Open streams are closed at
// the stop: proxies keep their last configuration and reconnect.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	s.Rebuild()

	gs := grpc.NewServer(
		grpc.MaxConcurrentStreams(1<<20),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	)
	discoverygrpc.RegisterAggregatedDiscoveryServiceServer(gs, s.xds)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := gs.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			errc <- fmt.Errorf("serving xDS: %w", err)
			cancel()
		}
	}()
	go func() {
		defer wg.Done()
		if err := s.follow(ctx); err != nil {
			errc <- err
			cancel()
		}
	}()
	s.log.Info("serving xDS", "address", lis.Addr().String())
	<-ctx.Done()
	gs.Stop()
	wg.Wait()
	close(errc)
	s.log.Info("control plane stopped")
	return <-errc
}

// follow watches the source and rebuilds after each quiet period, until ctx is done.
func (s *Server) follow(ctx context.Context) error {
	changes := make(chan struct{}, 1)
	watchErr := make(chan error, 1)
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		watchErr <- s.opts.Source.Watch(ctx, func() {
			select {
			case changes <- struct{}{}:
			default:
			}
		})
	}()
	// On return, stop the watcher and wait for it: nothing is left running.
	defer func() {
		cancel()
		if err := <-watchErr; err != nil {
			s.log.Debug("configuration watch ended", "error", err)
		}
	}()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var first time.Time // the first change not yet rebuilt; zero when none
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-watchErr:
			watchErr <- err // for the deferred wait
			if err != nil {
				return fmt.Errorf("watching the configuration: %w", err)
			}
			return nil
		case <-changes:
			now := time.Now()
			if first.IsZero() {
				first = now
			}
			wait := min(s.opts.Debounce, s.opts.MaxDelay-now.Sub(first))
			timer.Reset(max(wait, 0))
		case <-timer.C:
			first = time.Time{}
			s.Rebuild()
		}
	}
}

// Rebuild reloads the configuration, rebuilds the model and updates every proxy's snapshot.
// Serve calls it after changes; it is exported for tests and tools.
func (s *Server) Rebuild() {
	objs, problems := s.opts.Source.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	m := model.Build(objs, model.Options{Codecs: s.opts.Codecs, Previous: s.model})
	s.model = m
	s.modelVersion++
	s.translations = map[string]*translation{}
	s.stats.rebuilds.Add(1)

	problems = append(problems, m.Problems...)
	problems = append(problems, translate.Dropped(m, s.features)...)
	problems.Sort()
	s.logProblems(problems)
	s.log.Info("configuration loaded", "version", s.modelVersion, "objects", len(objs),
		"services", len(m.Services), "routers", len(m.Routers), "errors", problems.Errors(), "proxies", len(s.nodes))

	for _, id := range slicesSortedKeys(s.nodes) {
		s.pushLocked(s.nodes[id])
	}
}

// logProblems logs the configuration problems that are new since the last build, and says
// when all are gone.
func (s *Server) logProblems(problems config.Problems) {
	now := map[string]bool{}
	for _, p := range problems {
		line := p.String()
		now[line] = true
		if s.problems[line] {
			continue
		}
		if p.Severity == config.Error {
			s.log.Error("configuration error", "problem", line)
		} else {
			s.log.Warn("configuration warning", "problem", line)
		}
	}
	if len(now) == 0 && len(s.problems) > 0 {
		s.log.Info("configuration problems resolved")
	}
	s.problems = now
	s.problemList = problems
	s.stats.configErrors.Store(int64(problems.Errors()))
}

// pushLocked translates the model for one proxy and hands the snapshot to the cache, which
// sends each type whose version changed. s.mu is held.
func (s *Server) pushLocked(n *nodeState) {
	if s.model == nil {
		return
	}
	tr := s.translate(n.proxy)
	if line := problemLines(tr.problems); line != n.problems {
		for _, p := range tr.problems {
			s.log.Warn("proxy configuration", "node", n.proxy.ID, "problem", p.String())
		}
		n.problems = line
	}
	if tr.err != nil {
		// A translation bug: keep the proxy on its last good snapshot.
		s.stats.inconsistent.Add(1)
		s.log.Error("cannot send the configuration; the proxy keeps its previous one (a Breeze bug)",
			"node", n.proxy.ID, "error", tr.err)
		return
	}
	snap := tr.snap
	if err := s.cache.SetSnapshot(context.Background(), n.proxy.ID, snap); err != nil {
		s.log.Error("cannot set the snapshot", "node", n.proxy.ID, "error", err)
		return
	}
	n.versions = snap.versions
}

// translate returns the snapshot for a proxy description, translating it once per model.
// s.mu is held.
func (s *Server) translate(p *model.Proxy) *translation {
	key := description(p)
	if tr := s.translations[key]; tr != nil {
		return tr
	}
	res := translate.ForProxy(s.model, p, s.features)
	tr := &translation{problems: res.Problems}
	if err := res.Check(); err != nil {
		tr.err = fmt.Errorf("inconsistent resources: %w", err)
	} else if tr.snap, err = newSnapshot(res); err != nil {
		tr.err = fmt.Errorf("building the snapshot: %w", err)
	}
	s.translations[key] = tr
	return tr
}

// description is what translation depends on in a proxy: everything but its id.
func description(p *model.Proxy) string {
	d := *p
	d.ID = ""
	return fmt.Sprintf("%+v", d)
}

func problemLines(ps config.Problems) string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// connect registers a stream of a proxy: on its first stream, or when its description
// changed, the proxy gets a snapshot before its first request is answered.
func (s *Server) connect(streamID streamKey, proxy *model.Proxy) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[streamID]
	if st == nil {
		st = &streamState{sent: map[string]string{}}
		s.streams[streamID] = st
	}
	if st.node == proxy.ID {
		return
	}
	st.node = proxy.ID
	n := s.nodes[proxy.ID]
	if n == nil {
		n = &nodeState{proxy: proxy, rejected: map[string]string{}}
		s.nodes[proxy.ID] = n
		s.log.Info("proxy connected", "node", proxy.ID, "namespace", proxy.Namespace, "workload", proxy.Workload,
			"labels", proxy.Labels, "inbound_ports", proxy.InboundPorts, "version", proxy.Version)
	} else if !sameProxy(n.proxy, proxy) {
		s.log.Warn("proxy reconnected with a different description; its configuration follows the new one", "node", proxy.ID)
		n.proxy = proxy
		n.problems = ""
	}
	n.streams++
	s.pushLocked(n)
}

// disconnect forgets a stream, and the proxy when it was its last one.
func (s *Server) disconnect(streamID streamKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[streamID]
	delete(s.streams, streamID)
	if st == nil || st.node == "" {
		return
	}
	n := s.nodes[st.node]
	if n == nil {
		return
	}
	n.streams--
	if n.streams <= 0 {
		delete(s.nodes, st.node)
		s.cache.ClearSnapshot(st.node)
		s.log.Info("proxy disconnected", "node", st.node)
	}
}

func sameProxy(a, b *model.Proxy) bool {
	return a.ID == b.ID && description(a) == description(b)
}

func slicesSortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Model returns the current model and its version (0 before the first load).
func (s *Server) Model() (*model.Model, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.model, s.modelVersion
}

// NodeStatus describes a connected proxy, for debugging endpoints and tests.
type NodeStatus struct {
	Proxy *model.Proxy
	// Versions are the type versions of its current snapshot, by type URL.
	Versions map[string]string
	// LastNACK is the last error the proxy reported, "" when none.
	LastNACK string
}

// Nodes describes the connected proxies, sorted by id.
func (s *Server) Nodes() []NodeStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []NodeStatus
	for _, id := range slicesSortedKeys(s.nodes) {
		n := s.nodes[id]
		out = append(out, NodeStatus{Proxy: n.proxy, Versions: n.versions, LastNACK: n.lastNACK})
	}
	return out
}

// Stats are the server's counters.
type Stats struct {
	Rebuilds      int64
	NACKs         int64
	RejectedNodes int64
	Inconsistent  int64
	// NACKWithheld counts responses not sent because they would repeat a version the
	// proxy refused.
	NACKWithheld   int64
	ConfigErrors   int64
	ConnectedNodes int
}

type counters struct {
	rebuilds, nacks, rejectedNodes, inconsistent, configErrors, withheld atomic.Int64
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	nodes := len(s.nodes)
	s.mu.Unlock()
	return Stats{
		Rebuilds:       s.stats.rebuilds.Load(),
		NACKs:          s.stats.nacks.Load(),
		RejectedNodes:  s.stats.rejectedNodes.Load(),
		Inconsistent:   s.stats.inconsistent.Load(),
		NACKWithheld:   s.stats.withheld.Load(),
		ConfigErrors:   s.stats.configErrors.Load(),
		ConnectedNodes: nodes,
	}
}
