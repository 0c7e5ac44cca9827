package upstream

import (
	"sync/atomic"

	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/stats"
	"github.com/prometheus/client_golang/prometheus"
)

// resource is what a circuit breaker counts.
type resource uint8

const (
	// resConnections: open (or opening) connections to the cluster's endpoints.
	resConnections resource = iota
	// resPending: requests waiting for a connection: queued on one still dialling, or for a
	// free ping-pong connection.
	resPending
	// resRequests: two-way requests in flight.
	resRequests
	// resRetries: retries in flight.
	resRetries
	numResources
)

var resourceNames = [numResources]string{"connections", "pending_requests", "requests", "retries"}

func (r resource) String() string { return resourceNames[r] }

// breaker holds a cluster's circuit breakers: a count and a limit per resource. One breaker
// serves every version of a cluster (it is kept across updates by name), so requests in
// flight when the configuration changes stay counted.
type breaker struct {
	limit     [numResources]atomic.Int64 // 0: no limit; negative: none allowed
	used      [numResources]atomic.Int64
	overflows [numResources]prometheus.Counter
}

func newBreaker(st *stats.Cluster) *breaker {
	b := &breaker{}
	for r := range numResources {
		b.overflows[r] = st.CircuitBreakerOverflow(r.String())
	}
	return b
}

// setLimits applies a configuration's thresholds; counts are kept.
func (b *breaker) setLimits(l config.Limits) {
	b.limit[resConnections].Store(int64(l.MaxConnections))
	b.limit[resPending].Store(int64(l.MaxPendingRequests))
	b.limit[resRequests].Store(int64(l.MaxRequests))
	b.limit[resRetries].Store(int64(l.MaxRetries))
}

// acquire takes one unit of r, or counts an overflow and returns false when r is at its
// limit.
func (b *breaker) acquire(r resource) bool {
	n := b.used[r].Add(1)
	if limit := b.limit[r].Load(); limit != 0 && n > limit {
		b.used[r].Add(-1)
		b.overflows[r].Inc()
		return false
	}
	return true
}

func (b *breaker) release(r resource)         { b.used[r].Add(-1) }
func (b *breaker) releaseN(r resource, n int) { b.used[r].Add(-int64(n)) }

// inUse is the current count of r, for admin output and tests.
func (b *breaker) inUse(r resource) int64 { return b.used[r].Load() }
