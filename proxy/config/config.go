// Package config holds the data plane's runtime configuration: plain Go values built once
// per config version from a static bootstrap file or from xDS, validated, and then read by
// the proxy without further checks.
//
// The conversion from Envoy and Breeze protos lives here too (FromListener, FromCluster), so
// the bootstrap loader and the xDS client share one translation and one set of error
// messages.
package config

import (
	"regexp"
	"strconv"
	"time"

	"github.com/breeze-mesh/breeze/protocol"
)

// Bootstrap is a whole static configuration.
type Bootstrap struct {
	// Admin is the admin server's listen address ("" disables it).
	Admin     string
	Listeners []*Listener
	Clusters  []*Cluster
	// Dynamic names the control plane that supplies more listeners and clusters over xDS;
	// nil for a proxy that runs from its bootstrap alone.
	Dynamic *Dynamic
	// Node is the proxy's identity: sent to the control plane, and read by filters that
	// label telemetry with the workload (istio_stats, metadata_exchange). Zero when the
	// bootstrap has no node; required with Dynamic.
	Node Node
}

// Dynamic is a bootstrap's dynamic_resources: one aggregated xDS (ADS) stream to a control
// plane, which the xds package opens. docs/xds.md is the contract.
type Dynamic struct {
	// ADSCluster is the static cluster whose endpoints are the ADS server's addresses.
	ADSCluster string
	// Listeners and Clusters say whether listeners (LDS) and clusters (CDS) are fetched.
	// Endpoints (EDS) and route tables (RDS) are fetched for the clusters and listeners
	// that name them, always over the same stream.
	Listeners, Clusters bool
}

// Node is the proxy's identity (Envoy's node): on the xDS stream, and in telemetry.
type Node struct {
	// ID is unique per proxy.
	ID string
	// Cluster names the group of proxies this one belongs to (informational).
	Cluster string
	// Metadata describes the workload the proxy fronts (namespace, labels, inbound ports:
	// docs/xds.md lists the keys), as the JSON values of node.metadata.
	Metadata map[string]any
}

// Listener accepts downstream connections speaking one protocol.
type Listener struct {
	// Name identifies the listener in metrics and config dumps.
	Name string
	// Address is host:port to listen on.
	Address string
	// StatPrefix labels the listener's metrics; defaults to Name.
	StatPrefix string
	// Codec is the registered codec name (Aeraki's prefixed form is accepted).
	Codec string
	// MaxFrameSize bounds a single frame in either direction.
	MaxFrameSize int
	// IdleTimeout closes a downstream connection with no request in flight for this long
	// (0: never).
	IdleTimeout time.Duration
	// Routes is the route table, matched top to bottom.
	Routes *RouteTable
	// Filters run before the router, in order.
	Filters []Filter
	// RouteConfigName names the route table to fetch over RDS when the listener's routes
	// are not inline; Routes stays nil until the xDS client supplies the table.
	RouteConfigName string
}

// Filter is one entry of a listener's filter chain, before the router.
type Filter struct {
	// Name is the registered filter name.
	Name string
	// Config is the filter's typed configuration (a proto message), nil if it has none.
	Config any
}

// RouteTable is an ordered list of routes; the first match wins.
type RouteTable struct {
	Name   string
	Routes []*Route
}

// Route sends matching requests to a cluster.
type Route struct {
	Name string
	// Match lists conditions that must all hold; an empty list matches every request.
	Match []Matcher
	// Cluster is the destination when WeightedClusters is empty.
	Cluster string
	// WeightedClusters splits traffic by weight.
	WeightedClusters []WeightedCluster
	// Timeout bounds the wait for the upstream response (0: no timeout).
	Timeout time.Duration
	// RequestMutation is applied to requests, ResponseMutation to their responses.
	RequestMutation  protocol.Mutation
	ResponseMutation protocol.Mutation
	// HashPolicy names metadata keys whose values feed consistent-hash balancing.
	HashPolicy []string
	// MetadataMatch chooses a subset of Cluster's endpoints (a cluster with Subsets); nil:
	// none. Weighted clusters carry their own, merged with this one.
	MetadataMatch *MetadataMatch
	// Mirrors copy a share of the matching requests to other clusters, fire and forget.
	Mirrors []Mirror
	// Retry says which failures are retried; nil: none.
	Retry *RetryPolicy
}

// RetryPolicy is when and how often a route retries a failed request.
type RetryPolicy struct {
	// On is the set of failures that are retried.
	On RetryOn
	// NumRetries is how many times a request may be retried.
	NumRetries int
	// PerTryTimeout bounds each attempt (0: the route's timeout).
	PerTryTimeout time.Duration
	// RetriableStatusCodes are the response codes (protocol.Message.Code) that
	// RetryOnRetriableStatusCodes retries.
	RetriableStatusCodes []int32
	// BackOff is the wait before each retry.
	BackOff RetryBackOff
}

// RetryBackOff is Envoy's jittered exponential backoff: retry N waits a random time in
// [0, (2^N - 1) * Base], at most Max.
type RetryBackOff struct {
	Base, Max time.Duration
}

// DefaultRetryBackOff is Envoy's default: a 25 ms base, at most ten times that.
var DefaultRetryBackOff = RetryBackOff{Base: 25 * time.Millisecond, Max: 250 * time.Millisecond}

// RetryOn is a set of retriable failures, as bits.
type RetryOn uint8

// Retriable failures, as Envoy's retry_on names them.
const (
	// RetryOnConnectFailure: no connection to the endpoint could be made.
	RetryOnConnectFailure RetryOn = 1 << iota
	// RetryOnReset: the connection failed or closed with the request in flight.
	RetryOnReset
	// RetryOnTimeout: an attempt got no response within the per-try timeout.
	RetryOnTimeout
	// RetryOnRetriableStatus: the response says the server refused the request without
	// running it, as the codec judges (protocol.RetryAdvisor).
	RetryOnRetriableStatus
	// RetryOnRetriableStatusCodes: the response's code is one of RetriableStatusCodes.
	RetryOnRetriableStatusCodes
)

// RetryOnNames are the retry_on conditions by their Envoy names.
var RetryOnNames = map[string]RetryOn{
	"connect-failure":        RetryOnConnectFailure,
	"reset":                  RetryOnReset,
	"timeout":                RetryOnTimeout,
	"retriable-status":       RetryOnRetriableStatus,
	"retriable-status-codes": RetryOnRetriableStatusCodes,
}

// Mirror sends a copy of a share of a route's requests to another cluster; the copies'
// responses are discarded.
type Mirror struct {
	Cluster string
	// Percent is the share of requests copied, from 0 to 100.
	Percent float64
}

// WeightedCluster is one destination of a traffic split.
type WeightedCluster struct {
	Name   string
	Weight uint32
	// MetadataMatch chooses a subset of the cluster's endpoints: the route's metadata_match
	// with this cluster's own merged over it; nil: none.
	MetadataMatch *MetadataMatch
}

// MatchKind is how a Matcher compares a metadata value.
type MatchKind uint8

// Match kinds, as Envoy's HeaderMatcher.
const (
	MatchExact MatchKind = iota
	MatchPrefix
	MatchSuffix
	MatchContains
	MatchRegex
	MatchPresent
)

// Matcher is one condition on a metadata key.
type Matcher struct {
	Key   string
	Kind  MatchKind
	Value string
	// Regex is compiled from Value when Kind is MatchRegex.
	Regex *regexp.Regexp `json:"-"`
	// Invert negates the result.
	Invert bool
}

// LBPolicy picks an endpoint for each request.
type LBPolicy uint8

// Load balancing policies.
const (
	RoundRobin LBPolicy = iota
	Random
	LeastRequest
	// RingHash and Maglev pick by consistent hashing on the route's hash_policy keys (a
	// request without a key gets a random endpoint).
	RingHash
	Maglev
)

var lbPolicyNames = [...]string{"ROUND_ROBIN", "RANDOM", "LEAST_REQUEST", "RING_HASH", "MAGLEV"}

// String returns the policy's name in Envoy's spelling.
func (p LBPolicy) String() string {
	if int(p) < len(lbPolicyNames) {
		return lbPolicyNames[p]
	}
	return "LBPolicy(" + strconv.Itoa(int(p)) + ")"
}

// Cluster is a named set of upstream endpoints.
type Cluster struct {
	Name      string
	Endpoints []Endpoint
	LBPolicy  LBPolicy
	// ConnectTimeout bounds a TCP connect to an endpoint.
	ConnectTimeout time.Duration
	// ConnectionsPerHost is how many upstream connections a multiplexing codec spreads
	// requests over, per endpoint (default 1). Ping-pong codecs open as many as needed up to
	// MaxConnectionsPerHost.
	ConnectionsPerHost int
	// MaxConnectionsPerHost bounds connections to one endpoint (0: 1024).
	MaxConnectionsPerHost int
	// RingHash sizes the ring of a RING_HASH cluster, and of the ring that a route's
	// hash_policy uses on a cluster of another policy.
	RingHash RingHashConfig
	// MaglevTableSize is the lookup table size of a MAGLEV cluster: a prime (0: 65537).
	MaglevTableSize uint64
	// LeastRequestChoices is how many endpoints LEAST_REQUEST draws per request before
	// taking the least loaded (0: 2).
	LeastRequestChoices int
	// Limits are the cluster's circuit breakers.
	Limits Limits
	// Outlier ejects endpoints that keep failing; nil disables outlier detection.
	Outlier *OutlierDetection
	// HealthCheck probes every endpoint actively; nil means every endpoint is healthy
	// unless outlier detection ejects it.
	HealthCheck *HealthCheck
	// HealthyPanicThreshold is the percentage of usable endpoints (healthy and not ejected)
	// below which the cluster ignores health and balances over all of them, as Envoy's
	// panic mode. The conversion sets Envoy's default, 50; 0 disables panic mode.
	HealthyPanicThreshold float64
	// IdleTimeout closes an upstream connection that has had no request in flight for this
	// long (0: never).
	IdleTimeout time.Duration
	// TCPKeepalive sets TCP keepalive on upstream connections; nil keeps the default
	// (probes after 30s idle, every 30s).
	TCPKeepalive *TCPKeepalive
	// Subsets lets routes choose subsets of the endpoints by their labels (Envoy's
	// lb_subset_config); nil: routes' metadata_match is ignored.
	Subsets *SubsetConfig
}

// RingHashConfig sizes a consistent-hash ring; zero fields take the defaults.
type RingHashConfig struct {
	// MinimumRingSize is the least number of points on the ring (0: 1024).
	MinimumRingSize uint64
	// MaximumRingSize caps the ring (0: 8388608).
	MaximumRingSize uint64
}

// Limits are a cluster's circuit-breaker thresholds: a request over a limit fails at once
// with an over_limit error. 0 means no limit; a negative limit allows none (max_retries: 0
// turns retries off).
type Limits struct {
	// MaxConnections bounds the connections to all the cluster's endpoints together.
	MaxConnections int
	// MaxPendingRequests bounds the requests waiting for a connection (one being dialled,
	// or a free ping-pong connection).
	MaxPendingRequests int
	// MaxRequests bounds the requests in flight to the cluster.
	MaxRequests int
	// MaxRetries bounds the retries in flight to the cluster.
	MaxRetries int
}

// OutlierDetection ejects an endpoint from balancing for a while when it keeps failing.
// The fields are Envoy's; the conversion fills Envoy's defaults.
type OutlierDetection struct {
	// ConsecutiveErrors ejects an endpoint after this many failures in a row: error
	// responses and local failures (connect failure, reset, timeout). Envoy's
	// consecutive_5xx. 0 disables the check.
	ConsecutiveErrors uint32
	// ConsecutiveGatewayFailures ejects an endpoint after this many local failures in a
	// row (connect failure, reset, timeout). Envoy's consecutive_gateway_failure. 0
	// disables the check.
	ConsecutiveGatewayFailures uint32
	// EnforcingConsecutiveErrors, EnforcingConsecutiveGatewayFailures and
	// EnforcingSuccessRate are the percentages of detections that do eject.
	EnforcingConsecutiveErrors          uint32
	EnforcingConsecutiveGatewayFailures uint32
	EnforcingSuccessRate                uint32
	// Interval is how often success rates are evaluated.
	Interval time.Duration
	// BaseEjectionTime is the first ejection's length; each further ejection of the same
	// endpoint lasts one more BaseEjectionTime, up to MaxEjectionTime.
	BaseEjectionTime time.Duration
	MaxEjectionTime  time.Duration
	// MaxEjectionPercent caps the share of the cluster's endpoints ejected at once (one
	// endpoint may always be ejected).
	MaxEjectionPercent uint32
	// SuccessRateMinimumHosts, SuccessRateRequestVolume and SuccessRateStdevFactor set up
	// success-rate ejection: once at least SuccessRateMinimumHosts endpoints have had
	// SuccessRateRequestVolume requests in an interval, an endpoint whose success rate is
	// below mean - (SuccessRateStdevFactor/1000) * stdev is ejected.
	SuccessRateMinimumHosts  uint32
	SuccessRateRequestVolume uint32
	SuccessRateStdevFactor   uint32
}

// HealthCheck is an active health check of every endpoint of a cluster.
type HealthCheck struct {
	// Timeout bounds one check; Interval is the time between checks, plus a random
	// IntervalJitter.
	Timeout, Interval, IntervalJitter time.Duration
	// UnhealthyThreshold failed checks in a row take a healthy endpoint out;
	// HealthyThreshold passed checks in a row bring it back. An endpoint's first check
	// decides its state at once.
	UnhealthyThreshold, HealthyThreshold uint32
	// HeartbeatCodec names the codec whose heartbeat the check sends, expecting the
	// heartbeat's answer; "" checks that a TCP connection can be made.
	HeartbeatCodec string
}

// TCPKeepalive configures TCP keepalive probes; zero fields keep the system's values.
type TCPKeepalive struct {
	// Probes is how many unanswered probes close the connection.
	Probes int
	// Time is the idle time before the first probe; Interval the time between probes.
	Time, Interval time.Duration
}

// Endpoint is one upstream address.
type Endpoint struct {
	Address string
	Weight  uint32
	Labels  map[string]string
}
