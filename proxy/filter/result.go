package filter

import "github.com/breeze-mesh/breeze/protocol"

// How a Result reads in metrics, traces and access logs. Every telemetry filter uses these,
// so a request is described the same way on a dashboard, in a trace and in a log line.

// ResponseCode is Istio's response_code for a protocol that is not HTTP, as Aeraki reports
// it: 0 when the upstream answered with an OK status, 1 for an error response, a local reply
// or a request that got no response. (A oneway request counts as 0: nothing failed.)
func (r Result) ResponseCode() int {
	switch {
	case r.LocalError != nil:
		return 1
	case r.Response != nil && (r.Response.Status != protocol.StatusOK || r.Response.Type == protocol.Error):
		return 1
	}
	return 0
}

// ResponseFlags is Envoy's short code for why the proxy answered a request itself ("NR" no
// route, "UT" upstream timeout, ...), or "-" when the upstream answered.
func (r Result) ResponseFlags() string {
	switch {
	case r.LocalError == nil:
		return "-"
	case r.Flag != "":
		return r.Flag
	}
	return ResponseFlagOf(r.LocalError.Kind)
}

// ResponseCodeDetails names the outcome: "via_upstream" for a response (as Envoy says), the
// local error's kind ("route_not_found", "timeout", ...) for a local reply, "oneway" for a
// request that expects none.
func (r Result) ResponseCodeDetails() string {
	switch {
	case r.LocalError != nil:
		return r.LocalError.Kind.String()
	case r.Response != nil:
		return "via_upstream"
	}
	return "oneway"
}

// responseFlags maps each ErrorKind to Envoy's response flag with the same meaning.
var responseFlags = [...]string{
	protocol.Internal:          "LR", // local reset: the proxy failed itself
	protocol.RouteNotFound:     "NR",
	protocol.ClusterNotFound:   "NC",
	protocol.NoHealthyUpstream: "UH",
	protocol.OverLimit:         "UO", // upstream overflow: a circuit breaker (rate limits say RL)
	protocol.Timeout:           "UT",
	protocol.UpstreamReset:     "UF", // upstream connection failure or reset
	protocol.BadResponse:       "UPE",
	protocol.BadRequest:        "DPE",
}

// Response flags a filter sets in Info.ResponseFlag when it answers a request itself and
// Envoy names the cause more precisely than the error kind's flag does.
const (
	// FlagRateLimited is Envoy's RL: a rate limit refused the request.
	FlagRateLimited = "RL"
	// FlagRateLimitServiceError is Envoy's RLSE: the rate limit service failed and the
	// filter refuses requests then.
	FlagRateLimitServiceError = "RLSE"
)

// FilterFlags lists the flags filters may set (Info.ResponseFlag), for telemetry that
// numbers them.
var FilterFlags = [...]string{FlagRateLimited, FlagRateLimitServiceError}

// ResponseFlagOf returns the Envoy response flag for a local error kind.
func ResponseFlagOf(k protocol.ErrorKind) string {
	if int(k) < len(responseFlags) && responseFlags[k] != "" {
		return responseFlags[k]
	}
	return "LR"
}
