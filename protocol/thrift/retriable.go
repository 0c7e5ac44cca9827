package thrift

import "github.com/breeze-mesh/breeze/protocol"

// TApplicationException types a server sends for a call it did not dispatch to a handler.
const (
	// exceptionUnknownService is kitex's own type (20, "unknown service"): a multi-service
	// kitex server has no service of the name the request's header carries.
	exceptionUnknownService = 20
)

// Retriable implements protocol.RetryAdvisor. Thrift has no status for "overloaded" or
// "rate limited": servers, and the Breeze proxy itself for over_limit, answer those with
// INTERNAL_ERROR (6), which is also what a handler that failed half way produces, so it can
// never be retried safely. What remains is a call the server could not dispatch at all:
//
//   - 1 UNKNOWN_METHOD: the processor has no such method, so nothing ran (a Breeze proxy
//     answers route_not_found with it). Another endpoint may be a newer version that has it.
//   - 20 (kitex's UnknownService): the same for a service name.
//
// The other types (PROTOCOL_ERROR, INVALID_MESSAGE_TYPE, ...) mean the bytes are wrong for
// any endpoint, or the handler ran (MISSING_RESULT, INTERNAL_ERROR).
func (c *Codec) Retriable(resp *protocol.Message) bool {
	if resp.Type != protocol.Error {
		return false
	}
	return resp.Code == exceptionUnknownMethod || resp.Code == exceptionUnknownService
}

var _ protocol.RetryAdvisor = (*Codec)(nil)
