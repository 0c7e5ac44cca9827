// Package upstream sends requests to clusters of endpoints: it picks an endpoint per request
// (load balancing), keeps connections to it (pools), matches responses back to requests by
// id, and turns connection failures and timeouts into errors for every affected request.
//
// Two pool modes follow from what the codec can do:
//
//   - multiplexed, for codecs that implement protocol.IDRewriter: every request gets a fresh
//     id unique on its upstream connection, so requests from any number of downstream
//     clients share a few long-lived connections; the original id is written back into the
//     response.
//   - ping-pong, for the others: a connection carries one request at a time and returns to
//     the idle list when the response arrives.
//
// This package knows nothing of filters or routes: it takes frames and callbacks.
package upstream
