package upstream

import (
	"errors"
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
}

// Host is one endpoint of a cluster, with its connection pools (one per codec).
type Host struct {
	Address string
	Weight  uint32
	Labels  map[string]string

	cluster *Cluster
	mu      sync.Mutex
	pools   map[string]*pool
	active  atomic.Int64 // two-way requests awaiting a response, for least-request balancing
}

// Send sends req to this host using codec reg, answering through req.Callbacks.
func (h *Host) Send(reg protocol.Registration, req Request) {
	h.pool(reg).send(&req)
}

func (h *Host) pool(reg protocol.Registration) *pool {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.pools[reg.Name]
	if p == nil {
		p = newPool(h, reg, h.cluster.poolOptions, h.cluster.Stats)
		h.pools[reg.Name] = p
	}
	return p
}

// InFlight is the number of requests awaiting a response from this host.
func (h *Host) InFlight() int { return int(h.active.Load()) }

func (h *Host) close(cause error) {
	h.mu.Lock()
	pools := h.pools
	h.pools = map[string]*pool{}
	h.mu.Unlock()
	for _, p := range pools {
		p.closeAll(cause)
	}
}

// Cluster is a named set of hosts and how to balance over them.
type Cluster struct {
	Name        string
	Hosts       []*Host
	Stats       *stats.Cluster
	Config      *config.Cluster
	poolOptions PoolOptions
	lb          balancer
}

// Pick chooses a host for one request, or nil when the cluster has none.
func (c *Cluster) Pick() *Host {
	switch len(c.Hosts) {
	case 0:
		return nil
	case 1:
		return c.Hosts[0]
	}
	return c.lb.pick(c.Hosts)
}

// Manager holds the clusters of a proxy. Lookups are lock-free; an update swaps the whole
// set, keeping the connections of hosts that stay.
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
// their connections; the connections of removed hosts are closed once idle.
func (m *Manager) Update(cfgs []*config.Cluster) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.clusters.Load()
	next := make(map[string]*Cluster, len(cfgs))
	kept := map[*Host]bool{}
	for _, cc := range cfgs {
		c := &Cluster{
			Name:   cc.Name,
			Stats:  m.metrics.Cluster(cc.Name),
			Config: cc,
			poolOptions: PoolOptions{
				MaxFrameSize:       protocol.DefaultMaxFrameSize,
				ConnectTimeout:     cc.ConnectTimeout,
				ConnectionsPerHost: cc.ConnectionsPerHost,
				MaxConnections:     cc.MaxConnectionsPerHost,
			},
		}
		if c.poolOptions.ConnectTimeout <= 0 {
			c.poolOptions.ConnectTimeout = 5 * time.Second
		}
		prev := map[string]*Host{}
		if o := old[cc.Name]; o != nil && o.poolOptions == c.poolOptions {
			for _, h := range o.Hosts {
				prev[h.Address] = h
			}
		}
		for _, ep := range cc.Endpoints {
			h := prev[ep.Address]
			if h == nil {
				h = &Host{Address: ep.Address, pools: map[string]*pool{}}
			} else {
				kept[h] = true
			}
			h.cluster = c
			h.Weight, h.Labels = ep.Weight, ep.Labels
			c.Hosts = append(c.Hosts, h)
		}
		c.lb = newBalancer(cc.LBPolicy, c.Hosts)
		next[cc.Name] = c
	}
	m.clusters.Store(&next)
	for _, c := range old {
		for _, h := range c.Hosts {
			if !kept[h] {
				go drainHost(h)
			}
		}
	}
}

// Close closes every connection, failing in-flight requests.
func (m *Manager) Close() {
	for _, c := range m.All() {
		for _, h := range c.Hosts {
			h.close(errors.New("proxy shutting down"))
		}
	}
}

// drainHost closes a removed host's connections once their requests have finished, or after
// a bound: a host that never answers must not keep connections forever.
func drainHost(h *Host) {
	deadline := time.Now().Add(time.Minute)
	for h.InFlight() > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	h.close(errors.New("host removed from cluster"))
}
