package xds

import (
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Status is what the client shows in the proxy's /config_dump.
type Status struct {
	// Node is the node id the proxy sends.
	Node string `json:"node"`
	// Server is the control plane address of the current stream, or of the last one tried.
	Server string `json:"server"`
	// Connected is true while a stream is open.
	Connected bool `json:"connected"`
	// LastStreamError is why the last stream ended.
	LastStreamError string `json:"last_stream_error,omitempty"`
	// Ready is true once the first full configuration has been applied (see Client.Ready).
	Ready bool `json:"ready"`
	// Pending lists what the running configuration waits for: listeners whose routes or
	// clusters have not arrived, clusters whose endpoints have not.
	Pending []string `json:"pending,omitempty"`
	// Failed lists the listeners the proxy could not run (a port in use, an address that
	// changed), left out until the control plane sends a new version of them.
	Failed []string `json:"failed,omitempty"`
	// Resources has one entry per resource type.
	Resources []TypeStatus `json:"resources"`
}

// TypeStatus is the state of one resource type.
type TypeStatus struct {
	// Type is the short name: clusters, endpoints, listeners, routes.
	Type    string `json:"type"`
	TypeURL string `json:"type_url"`
	// Version is the version_info of the last accepted response ("" before the first).
	Version string `json:"version"`
	// Count is how many resources of the type are held.
	Count int `json:"count"`
	// Accepted is when the last response was accepted.
	Accepted time.Time `json:"accepted,omitzero"`
	// Rejected is the last response refused (NACKed), if any.
	Rejected *Rejection `json:"rejected,omitempty"`
}

// Rejection is a response the client refused.
type Rejection struct {
	Version string    `json:"version"`
	Error   string    `json:"error"`
	At      time.Time `json:"at"`
}

// Status returns a copy of the client's status.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.status
	s.Pending = slices.Clone(s.Pending)
	s.Failed = slices.Clone(s.Failed)
	s.Resources = slices.Clone(s.Resources)
	return s
}

func (c *Client) setConnected(addr string, connected bool, streamErr error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status.Server = addr
	c.status.Connected = connected
	if streamErr != nil {
		c.status.LastStreamError = streamErr.Error()
	}
	if connected {
		c.metrics.connected.Set(1)
	} else {
		c.metrics.connected.Set(0)
	}
}

// recordApplied notes a response of kind k that was applied: whole (version is its
// version_info, and it counts as accepted) or without some listeners (version "", the
// previous version stays and recordRejected counts it).
func (c *Client) recordApplied(k kind, version string, pending []string, failed map[string]failure) {
	c.mu.Lock()
	c.received[k] = true
	ts := &c.status.Resources[k]
	if version != "" {
		ts.Version = version
		ts.Accepted = time.Now()
	}
	for kk := range numKinds {
		c.status.Resources[kk].Count = c.accepted.count(kk)
	}
	c.status.Pending = pending
	c.status.Failed = failureLines(failed)
	c.mu.Unlock()
	if version != "" {
		c.metrics.updates.WithLabelValues(k.String(), "accepted").Inc()
	}
}

// recordRejected notes a refused response of kind k.
func (c *Client) recordRejected(k kind, version string, err error) {
	c.mu.Lock()
	c.status.Resources[k].Rejected = &Rejection{Version: version, Error: err.Error(), At: time.Now()}
	c.mu.Unlock()
	c.metrics.updates.WithLabelValues(k.String(), "rejected").Inc()
}

// metrics are the client's Prometheus series.
type metrics struct {
	connected  prometheus.Gauge
	ready      prometheus.Gauge
	reconnects prometheus.Counter
	updates    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		connected:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "breeze_xds_connected", Help: "1 while the proxy has an xDS stream to its control plane."}),
		ready:      prometheus.NewGauge(prometheus.GaugeOpts{Name: "breeze_xds_ready", Help: "1 once the first full configuration from the control plane has been applied."}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{Name: "breeze_xds_stream_failures_total", Help: "xDS streams that failed or ended, each followed by a reconnection attempt."}),
		updates:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "breeze_xds_updates_total", Help: "xDS responses by resource type and result (accepted, rejected)."}, []string{"type", "result"}),
	}
	if reg != nil {
		for _, col := range []prometheus.Collector{m.connected, m.ready, m.reconnects, m.updates} {
			if err := reg.Register(col); err != nil {
				return nil, err
			}
		}
	}
	for k := range numKinds {
		for _, result := range []string{"accepted", "rejected"} {
			m.updates.WithLabelValues(k.String(), result)
		}
	}
	return m, nil
}
