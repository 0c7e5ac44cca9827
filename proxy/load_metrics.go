package proxy

import (
	"github.com/breeze-mesh/breeze/proxy/upstream"
	"github.com/prometheus/client_golang/prometheus"
)

// clusterLoad reports each cluster's pending and active requests at scrape time, from the
// counts the circuit breakers keep anyway: nothing is added to the request path, and a
// removed cluster's series disappear with it.
type clusterLoad struct {
	clusters *upstream.Manager
	pending  *prometheus.Desc
	active   *prometheus.Desc
}

func newClusterLoad(clusters *upstream.Manager) *clusterLoad {
	return &clusterLoad{
		clusters: clusters,
		pending: prometheus.NewDesc("breeze_cluster_pending_requests",
			"Requests waiting for an upstream connection.", []string{"cluster"}, nil),
		active: prometheus.NewDesc("breeze_cluster_active_requests",
			"Two-way requests sent upstream and awaiting their response.", []string{"cluster"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *clusterLoad) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.active
}

// Collect implements prometheus.Collector.
func (c *clusterLoad) Collect(ch chan<- prometheus.Metric) {
	for name, cl := range c.clusters.All() {
		pending, active := cl.Load()
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(pending), name)
		ch <- prometheus.MustNewConstMetric(c.active, prometheus.GaugeValue, float64(active), name)
	}
}
