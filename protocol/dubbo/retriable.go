package dubbo

import "github.com/breeze-mesh/breeze/protocol"

// Retriable implements protocol.RetryAdvisor: a response's status (Message.Code) says the
// provider refused the request without invoking the service.
//
//   - 100 SERVER_THREADPOOL_EXHAUSTED: the provider's dispatcher rejected the request
//     because its business thread pool was full; the service was not called. A Breeze
//     proxy answers over_limit (a rate limit, a full circuit breaker) with it too.
//   - 60 SERVICE_NOT_FOUND: nothing was called because the server has no such service
//     (a Breeze proxy answers route_not_found and cluster_not_found with it). Another
//     endpoint — one already running the new version during a rollout, or a proxy with
//     other routes — may have it.
//
// Not retriable: 30/31 (timeouts: the service may have run or still be running), 35
// CHANNEL_INACTIVE (a status Java clients set locally when the connection drops; a server
// never sends it, and if some relay did, the request may have been in flight — the
// proxy's own retry_on reset covers lost connections), 40/50/90 (the bytes are wrong:
// any endpoint would refuse them alike), 70 SERVICE_ERROR and 80 SERVER_ERROR (the service
// ran, or may have, and failed).
func (c *Codec) Retriable(resp *protocol.Message) bool {
	if resp.Type != protocol.Error {
		return false
	}
	switch resp.Code { // the header's status byte
	case statusThreadpoolExhausted, statusServiceNotFound:
		return true
	}
	return false
}

var _ protocol.RetryAdvisor = (*Codec)(nil)
