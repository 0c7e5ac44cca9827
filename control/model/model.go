// Package model is the control plane's view of the mesh, independent of where the
// configuration came from and of the wire format it is sent in: services with their ports
// (and the protocol each speaks), endpoints with labels, subsets and cluster policies,
// routes, rate limits. Build makes one immutable Model from one consistent set of
// configuration objects, validating each object on its own so that a bad one is reported
// and left out without disturbing the others.
//
// The per-proxy questions (which services may this proxy call, which MetaRouter applies to
// it, which DestinationRule) are answered here too, so that translate only turns answers into
// xDS resources.
package model

import (
	"time"

	"github.com/breeze-mesh/breeze/control/config"
)

// Model is the mesh built from one set of objects. It is never modified after Build.
type Model struct {
	// Services are sorted by host, then namespace. Only hosts with at least one
	// meta-protocol port are kept.
	Services []*Service
	// Routers are sorted by namespace and name.
	Routers []*Router
	// Policies are sorted by namespace and name.
	Policies []*Policy
	// Protocols maps an application protocol ("dubbo") to its codec.
	Protocols map[string]*Protocol
	// Workloads are the WorkloadEntries, by "namespace/name".
	Workloads map[string]*Workload
	// Problems found while building, sorted.
	Problems config.Problems

	// accepted holds the objects that took effect, by key, so that the next Build can keep
	// the last valid version of an object that became invalid.
	accepted map[string]*config.Object

	servicesByHost map[string][]*Service
	routersByHost  map[string][]*Router
	policiesByHost map[string][]*Policy
}

// Protocol is an application protocol and the codec that speaks it.
type Protocol struct {
	Name string
	// Codec is the codec's registered short name ("dubbo"), without Aeraki's prefix.
	Codec string
	// Source names the ApplicationProtocol, "" for the built-in ones.
	Source string
}

// Service is one host of a ServiceEntry with its meta-protocol ports and endpoints.
type Service struct {
	Host      string
	Namespace string
	// Source names the ServiceEntry ("ServiceEntry dubbo/greeter").
	Source   string
	ExportTo Visibility
	// Ports are the meta-protocol ports, sorted by number.
	Ports []*Port
	// Selector is the ServiceEntry's workloadSelector; nil when the endpoints are inline.
	Selector map[string]string
	// Endpoints are the instances, inline or selected WorkloadEntries, in a stable order.
	Endpoints []*Endpoint
}

// Port is a meta-protocol port of a service.
type Port struct {
	Number uint32
	Name   string
	// Protocol is the application protocol named by the port ("dubbo").
	Protocol string
	// Codec is the protocol's codec ("dubbo").
	Codec string
	// TargetPort is the endpoints' port when they do not name one; 0 means Number.
	TargetPort uint32
}

// Endpoint is one instance of a service.
type Endpoint struct {
	// Address is an IP address.
	Address string
	// Ports maps port names to the instance's port numbers, overriding the service's.
	Ports  map[string]uint32
	Labels map[string]string
	// Weight is the instance's share of requests relative to the others; 0 means 1.
	Weight uint32
	// Workload names the WorkloadEntry ("dubbo/greeter-v1"), "" for inline endpoints.
	Workload string
}

// PortFor returns the port this instance receives p's traffic on: its own port for p's
// name, else p's target port, else p's number.
func (e *Endpoint) PortFor(p *Port) uint32 {
	if v := e.Ports[p.Name]; v != 0 {
		return v
	}
	if p.TargetPort != 0 {
		return p.TargetPort
	}
	return p.Number
}

// Workload is a WorkloadEntry.
type Workload struct {
	Name      string
	Namespace string
	Address   string
	Ports     map[string]uint32
	Labels    map[string]string
	Weight    uint32
}

// Router holds the traffic rules of one host, from a MetaRouter.
type Router struct {
	Name      string
	Namespace string
	// Source names the MetaRouter ("MetaRouter dubbo/greeter").
	Source   string
	Host     string
	ExportTo Visibility
	// Routes are matched in order.
	Routes          []*Route
	LocalRateLimit  *LocalRateLimit
	GlobalRateLimit *GlobalRateLimit
	// Uses lists the settings that need a feature.
	Uses []FeatureUse `json:"-"`
}

// Route is one route of a Router.
type Route struct {
	Name string
	// Match lists conditions that must all hold, sorted by key; empty matches everything.
	Match []Match
	// Destinations share the requests by weight.
	Destinations []WeightedDestination
	// Mirror receives a copy of MirrorPercent percent of the requests; nil for none.
	Mirror        *Destination
	MirrorPercent float64
	// Mutations are written into requests and their responses.
	RequestMutation  []KeyValue
	ResponseMutation []KeyValue
	// Timeout bounds the wait for a response; 0 for none.
	Timeout Duration
}

// MatchKind is how a Match compares an attribute.
type MatchKind uint8

// Match kinds.
const (
	MatchExact MatchKind = iota
	MatchPrefix
	MatchRegex
	MatchPresent
)

func (k MatchKind) String() string {
	return [...]string{"exact", "prefix", "regex", "present"}[k]
}

// MarshalText names the kind in dumps.
func (k MatchKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Match is a condition on one request attribute.
type Match struct {
	Key   string
	Kind  MatchKind
	Value string `json:",omitempty"`
}

// Destination is a service port, optionally narrowed to a subset. Port is 0 when the
// MetaRouter did not name one: then it is the port being routed (for the router's own
// host) or the host's only meta-protocol port.
type Destination struct {
	Host   string
	Subset string `json:",omitempty"`
	Port   uint32 `json:",omitempty"`
}

// WeightedDestination is a destination with its share of a route's requests.
type WeightedDestination struct {
	Destination
	Weight uint32
}

// KeyValue is one pair of a mutation.
type KeyValue struct {
	Key   string
	Value string
}

// LocalRateLimit is a set of token buckets applied by the server-side proxy.
type LocalRateLimit struct {
	// Default applies to requests no condition matches; nil for none.
	Default    *TokenBucket `json:",omitempty"`
	Conditions []RateLimitCondition
}

// RateLimitCondition is a bucket for the requests that match.
type RateLimitCondition struct {
	Match  []Match
	Bucket TokenBucket
}

// TokenBucket is a token bucket's size and refill.
type TokenBucket struct {
	MaxTokens     uint32
	TokensPerFill uint32
	FillInterval  Duration
}

// GlobalRateLimit asks a rate-limit service about each matching request.
type GlobalRateLimit struct {
	Match          []Match
	Domain         string
	RequestTimeout Duration
	DenyOnFail     bool
	// RateLimitService is the service as the MetaRouter names it: a cluster
	// ("outbound|8081||ratelimit.ns.svc.cluster.local"), a host, host:port or an address.
	RateLimitService string
	// Address is where proxies call it, host:port, resolved through the ServiceEntries.
	Address     string
	Descriptors []Descriptor
}

// Descriptor sends a request attribute under a descriptor key.
type Descriptor struct {
	Property string
	Key      string
}

// Duration is a time.Duration that dumps as "1.5s" rather than in nanoseconds.
type Duration time.Duration

// MarshalText writes the duration as Go does ("1m30s").
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Feature is a capability a setting needs from the proxies. The model keeps every setting;
// translate sends those whose feature the proxies have, and reports the others.
type Feature string

// Features settings may need.
const (
	FeatureHashPolicy       Feature = "consistent hashing"
	FeatureMirror           Feature = "request mirroring"
	FeatureLocalRateLimit   Feature = "local rate limiting"
	FeatureGlobalRateLimit  Feature = "global rate limiting"
	FeatureOutlierDetection Feature = "outlier detection"
	FeatureCircuitBreakers  Feature = "connection pool limits"
)

// FeatureUse is one setting that needs a feature, and where it is written.
type FeatureUse struct {
	Feature Feature
	// At locates the setting (no message).
	At config.Problem
}
