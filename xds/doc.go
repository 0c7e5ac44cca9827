// Package xds is the proxy's xDS client: it keeps one aggregated discovery (ADS) stream open
// to the control plane named in the bootstrap's dynamic_resources, turns what arrives into
// the proxy's runtime configuration (with proxy/config's converters) and applies it. The
// wire contract with `breeze control` is docs/xds.md.
//
// Reading order: client.go (start, reconnection, readiness), stream.go (one ADS stream:
// requests, ACK and NACK), resources.go (the accepted resources and the subscriptions they
// imply), apply.go (one response, from conversion to Apply), assemble.go (what runs).
//
// # Protocol
//
// State of the world over gRPC. Clusters and listeners are subscribed by wildcard; endpoints
// (ClusterLoadAssignment) and route tables (Breeze's RouteConfiguration) by the names that
// the clusters and listeners give, always all of them (those of the last responses too, if
// refused: a go-control-plane server in ADS mode answers only a subscription that covers
// every resource it holds), re-requested whenever the names change. Incremental (delta)
// xDS and initial_fetch_timeout are not implemented: a part that never arrives is waited
// for, and /ready and the config dump's "pending" say which.
//
// Each response is converted and checked, combined with everything accepted before into a
// whole configuration (the static resources plus the dynamic ones), and applied; then it is
// ACKed. If a resource does not convert, or listeners conflict (a name or an address used
// twice), the response is NACKed with an error_detail that names the resource and the
// field, and the last good configuration keeps running. A listener that converts but cannot
// run (its port is taken, its address changed) is left out, with its previous version still
// serving, while the rest of the response applies; the response is NACKed with the
// listener's error, and the listener is tried again when the control plane sends a new
// version of it. A server that answers a NACK by sending the same version again (the
// go-control-plane snapshot cache does) gets each further NACK of it later, from a quarter
// second up to 30 seconds, rather than a loop at full speed.
//
// # Warming
//
// Only complete parts run (assemble.go): an EDS cluster once its endpoints have arrived; a
// listener once its route table has arrived and every cluster that table uses is ready. A
// listener waiting for an update keeps serving its previous version, and the clusters that
// version routes to are kept until it moves on, so responses may arrive in any order
// without a request meeting a missing route or cluster. The proxy's Apply swaps listener
// chains atomically, keeps the connections of clusters that stay and keeps a dropped cluster
// for a grace period, so existing downstream connections take a new route table from their
// next request on and no request in flight loses its destination.
//
// # Losing the control plane
//
// Nothing on the data path depends on the stream: when it fails the proxy keeps running
// what it last applied, and the client reconnects after an exponential backoff with jitter
// (DefaultMinBackoff to DefaultMaxBackoff), trying the ADS cluster's endpoints in turn. A
// new stream asks for everything again, without versions, and the answers replace what
// runs where they differ.
package xds
