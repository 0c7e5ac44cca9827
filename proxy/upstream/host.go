package upstream

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/config"
)

// Reasons a host is not balanced to, as bits of Host.flags.
const (
	// flagFailedHealthCheck: the host failed its active health checks.
	flagFailedHealthCheck uint32 = 1 << iota
	// flagEjected: outlier detection ejected the host.
	flagEjected
)

// drainTimeout bounds how long a removed host's connections wait for their requests: a host
// that never answers must not keep connections forever.
const drainTimeout = time.Minute

// Host is one endpoint of a cluster, with its connection pools (one per codec), its health
// and its outlier state. A host whose cluster keeps it across configuration updates keeps
// all three.
type Host struct {
	Address string

	// weight and labels come from the endpoint's configuration; an update may change
	// them on a host that stays, while requests read them.
	weight atomic.Uint32
	labels atomic.Pointer[map[string]string]

	// cluster is the cluster version the host belongs to now: state changes are reported
	// there.
	cluster atomic.Pointer[Cluster]
	// limits are the circuit breakers of the host's cluster, shared by its versions.
	limits *breaker

	mu    sync.Mutex
	pools map[string]*pool

	active   atomic.Int64  // two-way requests awaiting a response, for least-request balancing
	flags    atomic.Uint32 // why the host is not balanced to; 0 when it is usable
	draining atomic.Bool   // removed from its cluster: connections close once idle

	checker *healthChecker // active health checks; nil when the cluster has none
	outlier outlierState
}

func newHost(addr string, limits *breaker) *Host {
	return &Host{Address: addr, limits: limits, pools: map[string]*pool{}}
}

// Weight is the endpoint's load-balancing weight (at least 1).
func (h *Host) Weight() uint32 { return max(h.weight.Load(), 1) }

// Labels are the endpoint's labels; the map must not be modified.
func (h *Host) Labels() map[string]string {
	if l := h.labels.Load(); l != nil {
		return *l
	}
	return nil
}

func (h *Host) setEndpoint(ep config.Endpoint) {
	h.weight.Store(ep.Weight)
	labels := ep.Labels
	h.labels.Store(&labels)
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
		p = newPool(h, reg, h.cluster.Load())
		h.pools[reg.Name] = p
	}
	return p
}

// InFlight is the number of requests awaiting a response from this host.
func (h *Host) InFlight() int { return int(h.active.Load()) }

// usable reports whether requests may go to the host (outside panic mode).
func (h *Host) usable() bool { return h.flags.Load() == 0 }

// setFlag sets or clears flag and, when that changes whether the host is usable, has its
// cluster recompute the hosts it balances over.
func (h *Host) setFlag(flag uint32, on bool) {
	for {
		old := h.flags.Load()
		next := old &^ flag
		if on {
			next = old | flag
		}
		if old == next {
			return
		}
		if h.flags.CompareAndSwap(old, next) {
			if (old == 0) != (next == 0) {
				if c := h.cluster.Load(); c != nil {
					c.refresh()
				}
			}
			return
		}
	}
}

// HostStatus is a host's health as the admin server shows it.
type HostStatus struct {
	// HealthFlags is "healthy", or Envoy's flags for why the host is not balanced to:
	// "/failed_active_hc", "/failed_outlier_check", or both.
	HealthFlags string
	// Ejected says outlier detection has the host out until EjectedUntil.
	Ejected      bool
	EjectedUntil time.Time
	// Ejections is how many times in a row the host has been ejected: the multiplier of
	// its next ejection time.
	Ejections int
}

// Status reports the host's health.
func (h *Host) Status() HostStatus {
	flags := h.flags.Load()
	st := HostStatus{HealthFlags: "healthy"}
	if flags != 0 {
		var b strings.Builder
		if flags&flagFailedHealthCheck != 0 {
			b.WriteString("/failed_active_hc")
		}
		if flags&flagEjected != 0 {
			b.WriteString("/failed_outlier_check")
		}
		st.HealthFlags = b.String()
	}
	st.Ejected = flags&flagEjected != 0
	st.EjectedUntil, st.Ejections = h.outlier.snapshot()
	return st
}

// drain stops the host's health checks and closes its connections once their requests
// have finished, or after drainTimeout. A request that still reaches the host (picked just
// before its removal) is served, on a connection that closes after it.
func (h *Host) drain() {
	h.stopHealthChecks()
	h.draining.Store(true)
	h.mu.Lock()
	pools := make([]*pool, 0, len(h.pools))
	for _, p := range h.pools {
		pools = append(pools, p)
	}
	h.mu.Unlock()
	for _, p := range pools {
		p.closeIdle()
	}
	time.AfterFunc(drainTimeout, func() { h.close(errors.New("host removed from cluster; drain time over")) })
}

// close closes every connection, failing in-flight requests.
func (h *Host) close(cause error) {
	h.stopHealthChecks()
	h.mu.Lock()
	pools := h.pools
	h.pools = map[string]*pool{}
	h.mu.Unlock()
	for _, p := range pools {
		p.closeAll(cause)
	}
}
