// Package upstream sends requests to clusters of endpoints: it picks an endpoint per request
// (load balancing), keeps connections to it (pools), matches responses back to requests by
// id, turns connection failures and timeouts into errors for every affected request, and
// protects callers and endpoints from each other: circuit breakers, outlier detection and
// active health checks. Everything is configured by the fields of Envoy's Cluster
// (docs/bootstrap.md lists them), which proxy/config converts into config.Cluster.
//
// Files, one concept each:
//
//	cluster.go      Manager (the clusters of a proxy, swapped whole on update), Cluster
//	                (one version of a cluster) and hostGroup (hosts balanced together: a
//	                balancer and the usable-host set)
//	subset.go       subsets of a cluster's hosts by label (Envoy's lb_subset_config), one
//	                hostGroup each, chosen by a route's metadata_match
//	host.go         Host: an endpoint, its pools, health flags and draining
//	lb.go           the balancer interface, weights, the hash key (HashValue)
//	rr.go, random.go, leastrequest.go, ringhash.go, maglev.go   one balancer each
//	breaker.go      circuit breakers: connections, pending requests, requests, retries
//	outlier.go      outlier detection: consecutive failures, success rate, ejection times
//	health.go       active health checks: TCP connect, or the codec's heartbeat
//	pool.go         a host's connections for one codec; waiting for a ping-pong connection
//	conn.go         one upstream connection: dial, send, read, time out, idle out, drain
//	exchange.go     the request/callback contract and failure causes (for retries)
//
// A request's way: Cluster.Pick chooses a Host from the usable hosts (those passing health
// checks and not ejected; all of them in panic mode), with the request's hash key when its
// route has a hash policy, and among the hosts of the subset its route's metadata_match
// names when the cluster has subsets. Host.Send takes a unit of the cluster's max-requests breaker and
// puts the request on a connection; the connection reports the outcome to the callbacks,
// and the result (success, error response, connect failure, reset, timeout) to outlier
// detection. Picking takes no lock and allocates nothing.
//
// Two pool modes follow from what the codec can do:
//
//   - multiplexed, for codecs that implement protocol.IDRewriter or protocol.IDReplacer:
//     every request gets a fresh id unique on its upstream connection, so requests from any
//     number of downstream clients share a few long-lived connections; the original id is
//     written back into the response.
//   - ping-pong, for the others: a connection carries one request at a time and returns to
//     the idle list when the response arrives; at the connection limit, requests wait for
//     one (bounded by the pending-requests breaker and their timeout).
//
// Hosts that stay across a configuration update keep their connections, health and
// outlier state; hosts that leave drain: their requests in flight finish, then their
// connections close.
//
// This package knows nothing of filters or routes: it takes frames and callbacks.
package upstream
