package server

import (
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/proto"
)

// nackGuard wraps the snapshot cache so that a proxy is not sent again what it refused.
//
// In state-of-the-world xDS a NACK carries the version the proxy kept, which differs from
// the snapshot's, and go-control-plane's cache answers any request whose version differs at
// once: the proxy would get the refused version back, refuse it again, and so on, held back
// only by its own throttling. So a NACK's request (and any later request on the stream while
// the refused version is current) is handed to the cache as if it carried the refused
// version: the cache then waits, and answers when the node's snapshot for that type changes
// to a new content. A new stream (a reconnect: its first request carries no nonce) is
// answered as usual, refused version or not. Delta streams need none of this: the cache
// records what it sent, so a NACK does not make it send the same resources again.
type nackGuard struct {
	cachev3.SnapshotCache
	s *Server
}

// CreateWatch implements cachev3.ConfigWatcher.
func (g nackGuard) CreateWatch(req *cachev3.Request, sub cachev3.Subscription, ch chan cachev3.Response) (func(), error) {
	if v := g.s.withhold(req); v != "" {
		req = proto.Clone(req).(*discoveryv3.DiscoveryRequest)
		req.VersionInfo = v
	}
	return g.SnapshotCache.CreateWatch(req, sub, ch)
}

// withhold returns the version the proxy refused when it is still the node's current one
// for the request's type and the request is not a stream's first: the cache must then not
// send it again. It logs and counts each withheld response.
func (s *Server) withhold(req *discoveryv3.DiscoveryRequest) string {
	if req.GetResponseNonce() == "" {
		return ""
	}
	typeURL := req.GetTypeUrl()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.nodes[req.GetNode().GetId()]
	if n == nil {
		return ""
	}
	v := n.rejected[typeURL]
	if v == "" || v != n.versions[typeURL] || req.GetVersionInfo() == v {
		return ""
	}
	s.stats.withheld.Add(1)
	s.log.Info("not resending the configuration the proxy rejected; it is sent again when it changes or the proxy reconnects",
		"node", n.proxy.ID, "type", shortType(typeURL), "rejected_version", v, "kept_version", req.GetVersionInfo())
	return v
}
