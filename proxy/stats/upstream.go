package stats

import "github.com/prometheus/client_golang/prometheus"

// upstreamMetrics are the families that describe how a cluster protects itself and its
// callers: circuit breakers, outlier ejection, active health checks, retries.
type upstreamMetrics struct {
	overflows    *prometheus.CounterVec
	ejections    *prometheus.CounterVec
	ejected      *prometheus.GaugeVec
	healthChecks *prometheus.CounterVec
	hosts        *prometheus.GaugeVec
	healthyHosts *prometheus.GaugeVec
	retries      *prometheus.CounterVec
}

func newUpstreamMetrics(m *Metrics) upstreamMetrics {
	return upstreamMetrics{
		overflows:    m.counter("breeze_cluster_circuit_breaker_overflows_total", "Requests (or connections, or retries) a cluster's circuit breaker refused, by resource (connections, pending_requests, requests, retries).", "cluster", "resource"),
		ejections:    m.counter("breeze_cluster_outlier_ejections_total", "Endpoints ejected by outlier detection, by reason (consecutive_errors, consecutive_gateway_failures, success_rate).", "cluster", "reason"),
		ejected:      m.gauge("breeze_cluster_outlier_ejected_hosts", "Endpoints currently ejected by outlier detection.", "cluster"),
		healthChecks: m.counter("breeze_cluster_health_checks_total", "Active health checks of a cluster's endpoints, by result (success, failure).", "cluster", "result"),
		hosts:        m.gauge("breeze_cluster_hosts", "Endpoints of a cluster.", "cluster"),
		healthyHosts: m.gauge("breeze_cluster_healthy_hosts", "Endpoints of a cluster that requests may go to: passing active health checks and not ejected.", "cluster"),
		retries:      m.counter("breeze_cluster_upstream_retries_total", "Requests sent again to a cluster after a failed attempt.", "cluster"),
	}
}

// upstreamSeries are one cluster's resolved resilience series.
type upstreamSeries struct {
	// Hosts and HealthyHosts count the cluster's endpoints, and those requests may go to.
	Hosts, HealthyHosts prometheus.Gauge
	// EjectedHosts counts the endpoints outlier detection has ejected.
	EjectedHosts prometheus.Gauge
	// Retries counts requests sent again after a failed attempt.
	Retries prometheus.Counter
	name    string
	um      *upstreamMetrics
}

func (u *upstreamMetrics) resolve(cluster string) upstreamSeries {
	return upstreamSeries{
		Hosts:        u.hosts.WithLabelValues(cluster),
		HealthyHosts: u.healthyHosts.WithLabelValues(cluster),
		EjectedHosts: u.ejected.WithLabelValues(cluster),
		Retries:      u.retries.WithLabelValues(cluster),
		name:         cluster,
		um:           u,
	}
}

// CircuitBreakerOverflow resolves the overflow counter of one breaker resource.
func (s upstreamSeries) CircuitBreakerOverflow(resource string) prometheus.Counter {
	return s.um.overflows.WithLabelValues(s.name, resource)
}

// OutlierEjection resolves the ejection counter of one reason.
func (s upstreamSeries) OutlierEjection(reason string) prometheus.Counter {
	return s.um.ejections.WithLabelValues(s.name, reason)
}

// HealthCheck resolves the health check counter of one result ("success", "failure").
func (s upstreamSeries) HealthCheck(result string) prometheus.Counter {
	return s.um.healthChecks.WithLabelValues(s.name, result)
}
