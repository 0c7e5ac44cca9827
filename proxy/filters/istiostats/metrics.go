package istiostats

import (
	"strings"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

// istioLabels are the labels of Istio's standard request metrics, in Istio's order. Breeze
// sets every one of them, so queries and dashboards written for Istio's HTTP metrics work
// unchanged.
var istioLabels = []string{
	"reporter",
	"source_workload", "source_canonical_service", "source_canonical_revision",
	"source_workload_namespace", "source_principal", "source_app", "source_version",
	"source_cluster",
	"destination_workload", "destination_workload_namespace", "destination_principal",
	"destination_app", "destination_version", "destination_service",
	"destination_canonical_service", "destination_canonical_revision",
	"destination_service_name", "destination_service_namespace", "destination_cluster",
	"request_protocol", "response_code", "grpc_response_status", "response_flags",
	"connection_security_policy",
}

// Indexes of the labels that vary per request (the cluster, the outcome, the peer's
// workload); the rest are fixed per listener.
const (
	lSourceWorkload               = 1
	lSourceCanonicalService       = 2
	lSourceCanonicalRevision      = 3
	lSourceNamespace              = 4
	lSourceApp                    = 6
	lSourceVersion                = 7
	lSourceCluster                = 8
	lDestinationWorkload          = 9
	lDestinationNamespace         = 10
	lDestinationApp               = 12
	lDestinationVersion           = 13
	lDestinationService           = 14
	lDestinationCanonicalService  = 15
	lDestinationCanonicalRevision = 16
	lDestinationServiceName       = 17
	lDestinationServiceNamespace  = 18
	lDestinationCluster           = 19
	lResponseCode                 = 21
	lResponseFlags                = 23
)

// Istio's default buckets: milliseconds for durations, powers of ten for sizes.
var (
	durationBucketsMs = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
		30000, 60000, 300000, 600000, 1800000, 3600000}
	sizeBuckets = prometheus.ExponentialBuckets(1, 10, 9)
	// durationBucketsSeconds serve the breeze_service_* histogram: an RPC proxy cares about
	// the sub-millisecond range too.
	durationBucketsSeconds = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05,
		.1, .25, .5, 1, 2.5, 5, 10, 30}
)

// methodLabels are the labels of breeze_service_*.
var methodLabels = []string{"listener", "service", "method", "response_code", "response_flags", "response_status"}

// families are the metric families of every istio_stats filter of one proxy: registered
// once, when the first such filter is built, and shared by all listeners and config
// versions.
type families struct {
	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	requestBytes   *prometheus.HistogramVec
	responseBytes  *prometheus.HistogramVec
	methodRequests *prometheus.CounterVec
	methodDuration *prometheus.HistogramVec
}

func newFamilies(reg prometheus.Registerer) (*families, error) {
	f := &families{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "istio_requests_total",
			Help: "Requests, as Istio's standard metric: response_code is 0 for an OK response, 1 for an error response or a local reply.",
		}, istioLabels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "istio_request_duration_milliseconds",
			Help:    "Time from the request's arrival at the proxy to its reply, in milliseconds.",
			Buckets: durationBucketsMs,
		}, istioLabels),
		requestBytes: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "istio_request_bytes",
			Help:    "Size of request frames as received, in bytes.",
			Buckets: sizeBuckets,
		}, istioLabels),
		responseBytes: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "istio_response_bytes",
			Help:    "Size of upstream response frames, in bytes (0 for local replies and oneway requests).",
			Buckets: sizeBuckets,
		}, istioLabels),
		methodRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "breeze_service_requests_total",
			Help: "Requests per service and method (beyond the configured cap, service and method are \"other\"); response_status is the protocol's own status code of the upstream response (\"-\" for local replies and oneway requests).",
		}, methodLabels),
		methodDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "breeze_service_request_duration_seconds",
			Help:    "Time from the request's arrival at the proxy to its reply, per service and method, in seconds.",
			Buckets: durationBucketsSeconds,
		}, methodLabels[:3]),
	}
	for _, c := range []prometheus.Collector{f.requests, f.duration, f.requestBytes, f.responseBytes, f.methodRequests, f.methodDuration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// maxLabelLen bounds a label value taken from a request, so a client cannot make one series
// hold megabytes.
const maxLabelLen = 128

// labelValue makes a value from a request safe as a label value: valid UTF-8 (the client
// library refuses anything else) and at most maxLabelLen bytes. It copies, so the label does
// not keep the request's frame alive.
func labelValue(v string) string {
	v = truncate(v)
	if !utf8.ValidString(v) {
		return strings.ToValidUTF8(v, "\uFFFD")
	}
	return strings.Clone(v)
}

// truncate returns v's first maxLabelLen bytes.
func truncate(v string) string {
	if len(v) > maxLabelLen {
		return v[:maxLabelLen]
	}
	return v
}
