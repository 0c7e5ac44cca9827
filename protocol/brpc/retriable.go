package brpc

import "github.com/breeze-mesh/breeze/protocol"

// Error codes of bRPC's errno.proto for refusals, besides those encode.go answers with.
const (
	errNoMethod int32 = 1002 // ENOMETHOD: the service has no such method
	errLogoff   int32 = 2003 // ELOGOFF: the server is stopping
)

// Retriable implements protocol.RetryAdvisor: a response's error code (Message.Code) says
// the server refused the request without calling the method.
//
//   - 2004 ELIMIT: the server's max_concurrency (or a method's) was reached and the request
//     was turned away before it ran (a Breeze proxy answers over_limit with it).
//   - 2003 ELOGOFF: the server is shutting down and accepts no new calls; brpc's own
//     default retry policy retries it.
//   - 1001 ENOSERVICE and 1002 ENOMETHOD: nothing to run (a Breeze proxy answers
//     route_not_found and cluster_not_found with ENOSERVICE); another endpoint may have it.
//
// Not retriable: ERPCTIMEDOUT and EINTERNAL (the method may have run), EREQUEST and
// ERESPONSE (bad bytes, refused alike everywhere), client-side codes a relay may pass on
// (EFAILEDSOCKET, EEOF, EOVERCROWDED: the relaying server's method ran), and application
// error codes.
func (c *Codec) Retriable(resp *protocol.Message) bool {
	if resp.Type != protocol.Error {
		return false
	}
	switch resp.Code {
	case errLimitExceeded, errLogoff, errNoService, errNoMethod:
		return true
	}
	return false
}

var _ protocol.RetryAdvisor = (*Codec)(nil)
