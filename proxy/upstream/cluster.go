package upstream

import (
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/stats"
)

// PoolOptions size and bound a host's connections.
type PoolOptions struct {
	MaxFrameSize       int
	ConnectTimeout     time.Duration
	ConnectionsPerHost int
	MaxConnections     int
	IdleTimeout        time.Duration
	Keepalive          config.TCPKeepalive // zero: probes after 30s idle, every 30s
}

// Cluster is one version of a named set of hosts and how to balance over them. A
// configuration update builds a new version; hosts that stay move to it with their
// connections, health and outlier state.
type Cluster struct {
	Name   string
	Hosts  []*Host
	Stats  *stats.Cluster
	Config *config.Cluster

	poolOptions PoolOptions
	limits      *breaker
	// hostGroup balances over all the hosts.
	hostGroup
	// subsets are the groups a route's metadata_match chooses from (subset.go); nil
	// without lb_subset_config.
	subsets    *subsetTable
	mu         sync.Mutex       // serialises recomputing the host sets
	outlier    *outlierDetector // nil without outlier detection
	retired    chan struct{}    // closed when a newer version replaces this one
	retireOnce sync.Once
}

// hostGroup is hosts balanced together: all of a cluster's, or one subset of them. Each
// group has a balancer of the cluster's policy, with its own state (round-robin position,
// ring), and the set of its hosts that are usable now.
type hostGroup struct {
	members []*Host
	lb      balancer
	// hashRing serves hashed requests on a group whose policy does not hash; built on
	// the first one.
	hashRing atomic.Pointer[ringHash]
	// set is what the balancer picks from, recomputed when a host's health changes.
	set atomic.Pointer[hostSet]
}

// hostSet is the hosts a group balances over at one moment.
type hostSet struct {
	// hosts are the usable hosts (healthy, not ejected), or all hosts in panic mode.
	hosts []*Host
	// panic is set when too few hosts are usable: health is ignored.
	panic bool
	// weights covers hosts; nil when their weights are all equal.
	weights *weights
}

// usable reports whether a hash balancer may pick h.
func (s *hostSet) usable(h *Host) bool { return s.panic || h.usable() }

// PickContext is what a balancer may use to pick a host for one request.
type PickContext struct {
	// Hash is the request's consistent-hash key (see HashValue), used when Hashed is set.
	Hash   uint64
	Hashed bool
	// Avoid is a host not to pick if another will do: the one a retried request failed on.
	Avoid *Host
	// MetadataMatch chooses a subset of the hosts by their labels, on a cluster with
	// subsets (the route's metadata_match); nil: none, the cluster's fallback applies.
	// Clusters without subsets ignore it.
	MetadataMatch *config.MetadataMatch
}

// Pick chooses a host for one request, or nil when the cluster has none to offer: no hosts,
// none usable with panic mode disabled, or no subset for the request's metadata match and
// no fallback.
func (c *Cluster) Pick(ctx PickContext) *Host {
	g := &c.hostGroup
	if c.subsets != nil {
		if g = c.subsets.find(ctx.MetadataMatch); g == nil {
			return nil
		}
	}
	return g.pick(ctx, c.Config.RingHash)
}

// pick chooses a host of the group.
func (g *hostGroup) pick(ctx PickContext, ring config.RingHashConfig) *Host {
	s := g.set.Load()
	switch len(s.hosts) {
	case 0:
		return nil
	case 1:
		return s.hosts[0]
	}
	if ctx.Hashed && !g.lb.hashes() {
		return g.fallbackRing(ring).pick(s, ctx)
	}
	return g.lb.pick(s, ctx)
}

// fallbackRing returns the ring that hashed requests use on a group whose policy does not
// hash, building it on first use: a route's hash_policy asks for consistent hashing
// whatever the cluster's policy (the control plane sends a hash key with a ROUND_ROBIN
// cluster, as Aeraki does with a DestinationRule's consistentHash).
func (g *hostGroup) fallbackRing(cfg config.RingHashConfig) *ringHash {
	if r := g.hashRing.Load(); r != nil {
		return r
	}
	r := newRingHash(g.members, cfg)
	if g.hashRing.CompareAndSwap(nil, r) {
		return r
	}
	return g.hashRing.Load()
}

// StartRetry takes a slot of the cluster's retry budget (its max_retries circuit breaker);
// false means the budget is spent and the overflow was counted. EndRetry gives it back.
func (c *Cluster) StartRetry() bool { return c.limits.acquire(resRetries) }

// EndRetry ends a retry that StartRetry allowed.
func (c *Cluster) EndRetry() { c.limits.release(resRetries) }

// refresh recomputes the host sets, the cluster's and its subsets', from the hosts' flags.
func (c *Cluster) refresh() {
	c.mu.Lock()
	defer c.mu.Unlock()
	usable := c.hostGroup.refresh(c.Config.HealthyPanicThreshold)
	c.subsets.refresh(c.Config.HealthyPanicThreshold)
	ejected := 0
	for _, h := range c.Hosts {
		if h.flags.Load()&flagEjected != 0 {
			ejected++
		}
	}
	c.Stats.Hosts.Set(float64(len(c.Hosts)))
	c.Stats.HealthyHosts.Set(float64(usable))
	c.Stats.EjectedHosts.Set(float64(ejected))
}

// refresh recomputes the group's host set and returns how many of its hosts are usable.
// Panic mode is decided per group, as Envoy does per subset: a subset whose hosts are
// mostly down balances over all of them.
func (g *hostGroup) refresh(threshold float64) int {
	usable := make([]*Host, 0, len(g.members))
	for _, h := range g.members {
		if h.flags.Load() == 0 {
			usable = append(usable, h)
		}
	}
	s := &hostSet{hosts: usable}
	if len(g.members) > 0 && threshold > 0 && float64(len(usable))*100 < threshold*float64(len(g.members)) {
		s.hosts, s.panic = g.members, true
	}
	s.weights = newWeights(s.hosts)
	g.set.Store(s)
	return len(usable)
}

// retire stops what runs for this version (outlier detection's ticker).
func (c *Cluster) retire() { c.retireOnce.Do(func() { close(c.retired) }) }

// Manager holds the clusters of a proxy. Lookups are lock-free; an update swaps the whole
// set, keeping the connections and state of hosts that stay.
type Manager struct {
	metrics  *stats.Metrics
	clusters atomic.Pointer[map[string]*Cluster]
	mu       sync.Mutex // serialises updates
}

// NewManager returns an empty manager.
func NewManager(m *stats.Metrics) *Manager {
	mgr := &Manager{metrics: m}
	empty := map[string]*Cluster{}
	mgr.clusters.Store(&empty)
	return mgr
}

// Get returns the named cluster, or nil.
func (m *Manager) Get(name string) *Cluster {
	return (*m.clusters.Load())[name]
}

// All returns every cluster (for admin output).
func (m *Manager) All() map[string]*Cluster {
	return *m.clusters.Load()
}

// Update replaces the cluster set with cfgs. Hosts whose cluster and address remain keep
// their connections, health and outlier state; removed hosts drain: their connections
// close once their requests have finished.
func (m *Manager) Update(cfgs []*config.Cluster) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.clusters.Load()
	next := make(map[string]*Cluster, len(cfgs))
	kept := map[*Host]bool{}
	for _, cc := range cfgs {
		c := m.build(cc, old[cc.Name], kept)
		next[cc.Name] = c
	}
	m.clusters.Store(&next)
	for _, c := range old {
		c.retire()
		for _, h := range c.Hosts {
			if !kept[h] {
				h.drain()
			}
		}
	}
}

// build makes the new version of a cluster, taking over the hosts of prev that stay.
func (m *Manager) build(cc *config.Cluster, prev *Cluster, kept map[*Host]bool) *Cluster {
	c := &Cluster{
		Name:    cc.Name,
		Stats:   m.metrics.Cluster(cc.Name),
		Config:  cc,
		retired: make(chan struct{}),
		poolOptions: PoolOptions{
			MaxFrameSize:       protocol.DefaultMaxFrameSize,
			ConnectTimeout:     cc.ConnectTimeout,
			ConnectionsPerHost: cc.ConnectionsPerHost,
			MaxConnections:     cc.MaxConnectionsPerHost,
			IdleTimeout:        cc.IdleTimeout,
		},
	}
	if cc.TCPKeepalive != nil {
		c.poolOptions.Keepalive = *cc.TCPKeepalive
	}
	if c.poolOptions.ConnectTimeout <= 0 {
		c.poolOptions.ConnectTimeout = config.DefaultConnectTimeout
	}
	if prev != nil {
		c.limits = prev.limits
	} else {
		c.limits = newBreaker(c.Stats)
	}
	c.limits.setLimits(cc.Limits)

	reuse := map[string]*Host{}
	if prev != nil && prev.poolOptions == c.poolOptions {
		for _, h := range prev.Hosts {
			reuse[h.Address] = h
		}
	}
	for _, ep := range cc.Endpoints {
		h := reuse[ep.Address]
		if h == nil || kept[h] {
			h = newHost(ep.Address, c.limits)
		} else {
			kept[h] = true
		}
		h.setEndpoint(ep)
		c.Hosts = append(c.Hosts, h)
	}
	c.members = c.Hosts
	same := prev != nil && sameBalancing(prev, c)
	if same {
		c.reuse(&prev.hostGroup) // same hosts, same policy: a ring or table need not be rebuilt
	} else {
		c.lb = newBalancer(cc, c.Hosts)
	}
	if cc.Subsets != nil {
		var old *subsetTable
		if same && reflect.DeepEqual(prev.Config.Subsets, cc.Subsets) {
			old = prev.subsets
		}
		c.subsets = newSubsetTable(cc, c.Hosts, &c.hostGroup, old)
	}
	if cc.Outlier != nil {
		c.outlier = newOutlierDetector(c, *cc.Outlier)
	}
	// Hosts report to the new version from now on; the set is computed after, so a
	// host whose health changes meanwhile is seen by one version or the other.
	for _, h := range c.Hosts {
		h.cluster.Store(c)
		if cc.Outlier == nil {
			h.outlier.forget(h)
		}
	}
	c.refresh()
	for _, h := range c.Hosts {
		h.checkHealth(cc.HealthCheck)
	}
	if c.outlier != nil {
		go c.outlier.run()
	}
	return c
}

// reuse takes over prev's balancer and fallback ring, for a group of the same hosts.
func (g *hostGroup) reuse(prev *hostGroup) {
	g.lb = prev.lb
	if r := prev.hashRing.Load(); r != nil {
		g.hashRing.Store(r)
	}
}

// sameBalancing reports whether next balances exactly as prev: same policy settings and
// the same hosts with the same weights, in the same order.
func sameBalancing(prev, next *Cluster) bool {
	p, n := prev.Config, next.Config
	if p.LBPolicy != n.LBPolicy || p.RingHash != n.RingHash || p.MaglevTableSize != n.MaglevTableSize ||
		p.LeastRequestChoices != n.LeastRequestChoices || len(prev.Hosts) != len(next.Hosts) {
		return false
	}
	for i, h := range prev.Hosts {
		if next.Hosts[i] != h || !reflect.DeepEqual(p.Endpoints[i], n.Endpoints[i]) {
			return false
		}
	}
	return true
}

// Close closes every connection, failing in-flight requests, and stops health checks and
// outlier detection.
func (m *Manager) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.All() {
		c.retire()
		for _, h := range c.Hosts {
			h.close(errors.New("proxy shutting down"))
		}
	}
}

// Load reports the cluster's requests waiting for a connection and two-way requests in
// flight, across its hosts (the circuit breakers' counts, kept across config versions).
func (c *Cluster) Load() (pending, active int64) {
	return c.limits.inUse(resPending), c.limits.inUse(resRequests)
}
