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
	"time"

	"github.com/breeze-mesh/breeze/protocol"
)

// Bootstrap is a whole static configuration.
type Bootstrap struct {
	// Admin is the admin server's listen address ("" disables it).
	Admin     string
	Listeners []*Listener
	Clusters  []*Cluster
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
	// Mirrors copy a share of the matching requests to other clusters, fire and forget.
	Mirrors []Mirror
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
)

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
}

// Endpoint is one upstream address.
type Endpoint struct {
	Address string
	Weight  uint32
	Labels  map[string]string
}
