package server

import (
	"context"
	"fmt"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// callbacks connect go-control-plane's stream events to the server: the first request of a
// stream registers its proxy (and gets it a snapshot), a request carrying error_detail is a
// NACK, a closed stream may be the proxy's last.
type callbacks struct{ s *Server }

func (c callbacks) OnStreamOpen(context.Context, int64, string) error      { return nil }
func (c callbacks) OnDeltaStreamOpen(context.Context, int64, string) error { return nil }
func (c callbacks) OnFetchRequest(context.Context, *discoveryv3.DiscoveryRequest) error {
	return status.Error(codes.Unimplemented, "Breeze serves xDS over ADS streams only")
}
func (c callbacks) OnFetchResponse(*discoveryv3.DiscoveryRequest, *discoveryv3.DiscoveryResponse) {}

func (c callbacks) OnStreamClosed(id int64, _ *corev3.Node) {
	c.s.disconnect(streamKey{id: id})
}

func (c callbacks) OnDeltaStreamClosed(id int64, _ *corev3.Node) {
	c.s.disconnect(streamKey{delta: true, id: id})
}

func (c callbacks) OnStreamRequest(id int64, req *discoveryv3.DiscoveryRequest) error {
	key := streamKey{id: id}
	if err := c.s.request(key, req.GetNode()); err != nil {
		return err
	}
	if req.GetErrorDetail() != nil {
		rejected := c.s.nack(key, req.GetTypeUrl(), req.GetResponseNonce(), req.GetVersionInfo(), req.GetErrorDetail().GetMessage())
		c.s.reject(key, req.GetTypeUrl(), rejected)
	}
	return nil
}

func (c callbacks) OnStreamDeltaRequest(id int64, req *discoveryv3.DeltaDiscoveryRequest) error {
	key := streamKey{delta: true, id: id}
	if err := c.s.request(key, req.GetNode()); err != nil {
		return err
	}
	if req.GetErrorDetail() != nil {
		_ = c.s.nack(key, req.GetTypeUrl(), req.GetResponseNonce(), "", req.GetErrorDetail().GetMessage())
	}
	return nil
}

func (c callbacks) OnStreamResponse(_ context.Context, id int64, _ *discoveryv3.DiscoveryRequest, resp *discoveryv3.DiscoveryResponse) {
	c.s.sent(streamKey{id: id}, resp.GetNonce(), resp.GetVersionInfo())
}

func (c callbacks) OnStreamDeltaResponse(id int64, _ *discoveryv3.DeltaDiscoveryRequest, resp *discoveryv3.DeltaDiscoveryResponse) {
	names := make([]string, len(resp.GetResources()))
	for i, r := range resp.GetResources() {
		names[i] = r.GetName() + "@" + r.GetVersion()
	}
	c.s.sent(streamKey{delta: true, id: id}, resp.GetNonce(), strings.Join(names, ","))
}

// request handles the node of a stream's request. Only the first request of a stream must
// carry it; a stream whose first request has none, or an invalid one, is refused.
func (s *Server) request(key streamKey, node *corev3.Node) error {
	s.mu.Lock()
	known := s.streams[key] != nil && s.streams[key].node != ""
	s.mu.Unlock()
	if node == nil {
		if known {
			return nil
		}
		s.stats.rejectedNodes.Add(1)
		return status.Error(codes.InvalidArgument, "the first request of a stream must carry the node")
	}
	if known && node.GetId() == s.streamNode(key) {
		return nil // the same node again (state-of-the-world requests repeat it)
	}
	proxy, err := proxyFromNode(node)
	if err != nil {
		s.stats.rejectedNodes.Add(1)
		s.log.Warn("proxy refused: invalid node", "node", node.GetId(), "error", err)
		return status.Error(codes.InvalidArgument, fmt.Sprintf("breeze control: %v (see docs/xds.md)", err))
	}
	s.connect(key, proxy)
	return nil
}

func (s *Server) streamNode(key streamKey) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.streams[key]; st != nil {
		return st.node
	}
	return ""
}

// sent remembers what a response carried, to name it if it is refused.
func (s *Server) sent(key streamKey, nonce, version string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[key]
	if st == nil {
		return
	}
	// Only the latest response per nonce matters; keep the map small.
	if len(st.sent) > 64 {
		clear(st.sent)
	}
	st.sent[nonce] = version
}

// nack logs and counts a proxy's refusal of a response, and returns the refused version
// ("" when unknown). The proxy keeps its previous configuration for that type; the next
// change is sent as usual.
func (s *Server) nack(key streamKey, typeURL, nonce, acceptedVersion, reason string) string {
	s.stats.nacks.Add(1)
	s.mu.Lock()
	node, rejected := "", ""
	if st := s.streams[key]; st != nil {
		node, rejected = st.node, st.sent[nonce]
		if n := s.nodes[st.node]; n != nil {
			n.lastNACK = reason
		}
	}
	s.mu.Unlock()
	s.log.Warn("proxy rejected configuration (NACK)", "node", node, "type", shortType(typeURL),
		"rejected_version", rejected, "kept_version", acceptedVersion, "nonce", nonce, "reason", reason)
	return rejected
}

// reject records the version of a type a proxy refused on a state-of-the-world stream, for
// nackGuard.
func (s *Server) reject(key streamKey, typeURL, version string) {
	if version == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.streams[key]; st != nil {
		if n := s.nodes[st.node]; n != nil {
			n.rejected[typeURL] = version
		}
	}
}

// shortType is the last element of a type URL: "Listener", "RouteConfiguration".
func shortType(typeURL string) string {
	if i := strings.LastIndexByte(typeURL, '.'); i >= 0 {
		return typeURL[i+1:]
	}
	return typeURL
}
