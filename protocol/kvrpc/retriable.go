package kvrpc

import "github.com/breeze-mesh/breeze/protocol"

// Retriable implements protocol.RetryAdvisor. kvrpc has no status codes: an error response
// carries an `error` header, which Breeze's ErrorReply sets to the kind of its failure.
// The kinds where the proxy refused the request before sending it anywhere are retriable —
// over_limit, route_not_found, cluster_not_found, no_healthy_upstream: another endpoint
// (another proxy) may take it. The others (timeout, upstream_reset, ...) may have reached
// a server, and an application's own errors say nothing about where they ran.
func (c *Codec) Retriable(resp *protocol.Message) bool {
	if resp.Type != protocol.Error {
		return false
	}
	switch resp.Metadata.Value("error") {
	case "over_limit", "route_not_found", "cluster_not_found", "no_healthy_upstream":
		return true
	}
	return false
}

var _ protocol.RetryAdvisor = (*Codec)(nil)
