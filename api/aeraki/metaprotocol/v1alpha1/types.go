package v1alpha1

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// MetaRouterSpec is the spec of a MetaRouter: the traffic rules of one meta-protocol
// service, the way an Istio VirtualService holds those of an HTTP service.
type MetaRouterSpec struct {
	// Hosts names the service the rules apply to. Exactly one host is allowed; it must equal
	// a host of a ServiceEntry (or Kubernetes Service).
	Hosts []string `json:"hosts,omitempty"`

	// Gateways lists the gateways ("namespace/name") the rules apply to, for traffic entering
	// the mesh. Breeze does not implement gateways yet.
	Gateways []string `json:"gateways,omitempty"`

	// Routes are tried in order; the first one that matches a request decides where it goes.
	Routes []*MetaRoute `json:"routes,omitempty"`

	// LocalRateLimit limits the requests each server-side proxy lets through.
	LocalRateLimit *LocalRateLimit `json:"localRateLimit,omitempty"`

	// GlobalRateLimit asks an Envoy rate-limit service whether to let each matching request
	// through.
	GlobalRateLimit *GlobalRateLimit `json:"globalRateLimit,omitempty"`

	// ExportTo lists the namespaces whose proxies see these rules: "." is the MetaRouter's
	// own namespace, "*" every namespace, "~" none. Empty means every namespace.
	ExportTo []string `json:"exportTo,omitempty"`
}

// MetaRoute is one route: a condition, and what happens to the requests that meet it.
type MetaRoute struct {
	// Name identifies the route in metrics, logs and errors.
	Name string `json:"name,omitempty"`

	// Match is the condition. When unset, every request matches.
	Match *MetaRouteMatch `json:"match,omitempty"`

	// Route lists the destinations; the requests are split between them by weight.
	Route []*MetaRouteDestination `json:"route,omitempty"`

	// Mirror receives a copy of the matching requests, fire and forget.
	Mirror *Destination `json:"mirror,omitempty"`

	// MirrorPercentage is the share of requests copied to Mirror; 100 when unset.
	MirrorPercentage *Percent `json:"mirrorPercentage,omitempty"`

	// RequestMutation is written into every forwarded request (for Dubbo, as attachments).
	RequestMutation []*KeyValue `json:"requestMutation,omitempty"`

	// ResponseMutation is written into every response to a forwarded request.
	ResponseMutation []*KeyValue `json:"responseMutation,omitempty"`

	// Timeout bounds the wait for the upstream's response. When unset, the proxy waits as
	// long as the connection lives. (Breeze addition.)
	Timeout *Duration `json:"timeout,omitempty"`
}

// MetaRouteMatch is a route's condition on request attributes: the key/values the codec
// extracts from each request (for Dubbo: interface, method, version, group, attachments).
type MetaRouteMatch struct {
	// Attributes maps an attribute name to the condition its value must meet. All must hold.
	Attributes map[string]*StringMatch `json:"attributes,omitempty"`
}

// StringMatch is a condition on one attribute value. At most one field may be set; when none
// is (or the one set is empty), the attribute only needs to be present, as in Aeraki.
type StringMatch struct {
	// Exact requires the value to equal this string.
	Exact string `json:"exact,omitempty"`
	// Prefix requires the value to start with this string.
	Prefix string `json:"prefix,omitempty"`
	// Regex requires the whole value to match this RE2 expression. "*" means present.
	Regex string `json:"regex,omitempty"`
}

// MetaRouteDestination is one destination of a route and its share of the requests.
type MetaRouteDestination struct {
	// Destination is where the requests go.
	Destination *Destination `json:"destination,omitempty"`
	// Weight is the destination's share relative to the route's other destinations. With a
	// single destination it may be left out.
	Weight uint32 `json:"weight,omitempty"`
}

// Destination is a service, optionally narrowed to a subset and a port.
type Destination struct {
	// Host is the service's host, as in its ServiceEntry.
	Host string `json:"host,omitempty"`
	// Subset names a subset of a DestinationRule for the host.
	Subset string `json:"subset,omitempty"`
	// Port selects the service port when the host has more than one.
	Port *PortSelector `json:"port,omitempty"`
}

// PortSelector names a service port by number.
type PortSelector struct {
	Number uint32 `json:"number,omitempty"`
}

// Percent is a percentage from 0 to 100.
type Percent struct {
	Value float64 `json:"value,omitempty"`
}

// KeyValue is one key/value pair of a mutation.
type KeyValue struct {
	Key   string `json:"key,omitempty"`
	Value string `json:"value,omitempty"`
}

// LocalRateLimit is a token-bucket limit enforced by each server-side proxy on its own.
type LocalRateLimit struct {
	// TokenBucket applies to requests no condition matches.
	TokenBucket *TokenBucket `json:"tokenBucket,omitempty"`
	// Conditions give matching requests their own bucket; the first match applies.
	Conditions []*LocalRateLimitCondition `json:"conditions,omitempty"`
}

// LocalRateLimitCondition is a bucket for the requests that match a condition.
type LocalRateLimitCondition struct {
	Match       *MetaRouteMatch `json:"match,omitempty"`
	TokenBucket *TokenBucket    `json:"tokenBucket,omitempty"`
}

// TokenBucket lets a request through when it can take a token; tokens are refilled at a
// fixed interval.
type TokenBucket struct {
	// MaxTokens is the bucket's size, and its content at start. At least 1.
	MaxTokens uint32 `json:"maxTokens,omitempty"`
	// TokensPerFill is how many tokens each fill adds; 1 when unset.
	TokensPerFill *uint32 `json:"tokensPerFill,omitempty"`
	// FillInterval is the time between fills. Required.
	FillInterval *Duration `json:"fillInterval,omitempty"`
}

// GlobalRateLimit asks an Envoy rate-limit service (envoyproxy/ratelimit) about each
// matching request.
type GlobalRateLimit struct {
	// Match selects the requests that are checked; when unset, all are.
	Match *MetaRouteMatch `json:"match,omitempty"`
	// Domain is the rate-limit service's configuration domain.
	Domain string `json:"domain,omitempty"`
	// RequestTimeout bounds each call to the rate-limit service.
	RequestTimeout *Duration `json:"requestTimeout,omitempty"`
	// DenyOnFail refuses the request when the rate-limit service cannot be asked.
	DenyOnFail bool `json:"denyOnFail,omitempty"`
	// RateLimitService is the cluster of the rate-limit service, in Istio's naming
	// ("outbound|8081||rate-limit-server.ns.svc.cluster.local").
	RateLimitService string `json:"rateLimitService,omitempty"`
	// Descriptors say which request attributes are sent, under which descriptor keys.
	Descriptors []*Descriptor `json:"descriptors,omitempty"`
}

// Descriptor sends one request attribute to the rate-limit service.
type Descriptor struct {
	// Property is the request attribute.
	Property string `json:"property,omitempty"`
	// DescriptorKey is the key it is sent under.
	DescriptorKey string `json:"descriptorKey,omitempty"`
}

// ApplicationProtocolSpec maps an application protocol, as named in port names
// ("tcp-metaprotocol-<protocol>"), to the codec that speaks it. ApplicationProtocol is
// cluster-scoped.
type ApplicationProtocolSpec struct {
	// Protocol is the protocol's name as it appears in port names, for example "brpc".
	Protocol string `json:"protocol,omitempty"`
	// Codec is the registered name of the codec in the proxy, for example
	// "aeraki.meta_protocol.codec.brpc" (the prefix is optional in Breeze).
	Codec string `json:"codec,omitempty"`
}

// Duration is a protobuf Duration in its JSON form ("1.5s"). Go's forms ("100ms", "1m30s")
// are accepted too, because Aeraki's and Istio's documentation use them.
type Duration struct {
	time.Duration
}

// UnmarshalText parses a duration; negative durations are refused.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("invalid duration %q (want a number with a unit, like 1s or 250ms)", text)
	}
	if v < 0 {
		return fmt.Errorf("duration %q must not be negative", text)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration in protobuf's JSON form: seconds with an "s" suffix.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(FormatDuration(d.Duration)), nil
}

// UnmarshalJSON reads a duration from a JSON string.
func (d *Duration) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("a duration must be a string, like \"1s\"")
	}
	return d.UnmarshalText([]byte(s))
}

// FormatDuration writes d in protobuf's JSON form: "1.5s", "0.000001s".
func FormatDuration(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}
