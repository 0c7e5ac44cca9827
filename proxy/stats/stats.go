// Package stats defines the proxy's Prometheus metrics. Series are resolved once, when a
// listener, route or cluster is built, so the request path only increments counters.
package stats

import (
	"github.com/breeze-mesh/breeze/protocol"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds one proxy's metric families, on a registry of its own (several proxies in
// one test process do not collide).
type Metrics struct {
	Registry *prometheus.Registry

	listenerRequests     *prometheus.CounterVec
	listenerDecodeErrors *prometheus.CounterVec
	listenerLocalReplies *prometheus.CounterVec
	listenerConnections  *prometheus.GaugeVec
	listenerActive       *prometheus.GaugeVec
	routeRequests        *prometheus.CounterVec
	clusterRequests      *prometheus.CounterVec
	clusterErrors        *prometheus.CounterVec
	clusterConnections   *prometheus.GaugeVec
	// upstream holds the resilience series of clusters (upstream.go).
	upstream upstreamMetrics
}

// New creates the metric families on a fresh registry, with the Go runtime's and the
// process's own (go_goroutines, go_memstats_*, process_resident_memory_bytes, ...), which
// the benchmark harness and operators read.
func New() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry()}
	m.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.listenerRequests = m.counter("breeze_listener_requests_total", "Requests decoded on a listener (oneway included, heartbeats excluded).", "listener")
	m.listenerDecodeErrors = m.counter("breeze_listener_decode_errors_total", "Downstream frames that could not be decoded (malformed, oversized, truncated).", "listener")
	m.listenerLocalReplies = m.counter("breeze_listener_local_replies_total", "Requests the proxy answered itself, by error kind.", "listener", "kind")
	m.routeRequests = m.counter("breeze_route_requests_total", "Requests matched by a route.", "listener", "route")
	m.clusterRequests = m.counter("breeze_cluster_upstream_requests_total", "Requests sent to a cluster's endpoints.", "cluster")
	m.clusterErrors = m.counter("breeze_cluster_upstream_errors_total", "Upstream requests that failed, by error kind (timeout, upstream_reset, bad_response, ...).", "cluster", "kind")
	m.listenerConnections = m.gauge("breeze_listener_downstream_connections", "Open downstream connections.", "listener")
	m.listenerActive = m.gauge("breeze_listener_active_requests", "Requests in flight on a listener.", "listener")
	m.clusterConnections = m.gauge("breeze_cluster_upstream_connections", "Open upstream connections.", "cluster")
	m.upstream = newUpstreamMetrics(m)
	return m
}

func (m *Metrics) counter(name, help string, labels ...string) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	m.Registry.MustRegister(v)
	return v
}

func (m *Metrics) gauge(name, help string, labels ...string) *prometheus.GaugeVec {
	v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	m.Registry.MustRegister(v)
	return v
}

// Listener is one listener's resolved series.
type Listener struct {
	Requests     prometheus.Counter
	DecodeErrors prometheus.Counter
	Connections  prometheus.Gauge
	Active       prometheus.Gauge
	localReplies []prometheus.Counter // by protocol.ErrorKind
	m            *Metrics
	name         string
}

// Listener resolves the series of listener name.
func (m *Metrics) Listener(name string) *Listener {
	l := &Listener{
		Requests:     m.listenerRequests.WithLabelValues(name),
		DecodeErrors: m.listenerDecodeErrors.WithLabelValues(name),
		Connections:  m.listenerConnections.WithLabelValues(name),
		Active:       m.listenerActive.WithLabelValues(name),
		m:            m,
		name:         name,
	}
	for _, k := range protocol.ErrorKinds() {
		l.localReplies = append(l.localReplies, m.listenerLocalReplies.WithLabelValues(name, k.String()))
	}
	return l
}

// LocalReply counts a local reply of kind.
func (l *Listener) LocalReply(kind protocol.ErrorKind) {
	if int(kind) < len(l.localReplies) {
		l.localReplies[kind].Inc()
	}
}

// Route resolves the request counter of a route on this listener.
func (l *Listener) Route(route string) prometheus.Counter {
	return l.m.routeRequests.WithLabelValues(l.name, route)
}

// Cluster is one cluster's resolved series.
type Cluster struct {
	Requests    prometheus.Counter
	Connections prometheus.Gauge
	errors      []prometheus.Counter // by protocol.ErrorKind
	// Resilience series (upstream.go).
	upstreamSeries
}

// Cluster resolves the series of cluster name.
func (m *Metrics) Cluster(name string) *Cluster {
	c := &Cluster{
		Requests:    m.clusterRequests.WithLabelValues(name),
		Connections: m.clusterConnections.WithLabelValues(name),
	}
	c.upstreamSeries = m.upstream.resolve(name)
	for _, k := range protocol.ErrorKinds() {
		c.errors = append(c.errors, m.clusterErrors.WithLabelValues(name, k.String()))
	}
	return c
}

// Error counts a failed upstream request.
func (c *Cluster) Error(kind protocol.ErrorKind) {
	if int(kind) < len(c.errors) {
		c.errors[kind].Inc()
	}
}
