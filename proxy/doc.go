// Package proxy is the data-plane runtime: listeners accept downstream connections, each
// connection decodes requests with its codec and runs every request through the listener's
// filter chain, whose last link (the router) sends it upstream; responses come back through
// the stream to the downstream connection.
//
// Reading top to bottom: server.go (start, update, shutdown), listener.go (accept loop and
// the per-config-version chain), downstream.go (one client connection), stream.go (one
// request).
package proxy
