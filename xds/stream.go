package xds

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
)

// maxMessageSize bounds one response. A mesh's whole listener or cluster set comes in one
// state-of-the-world response, which outgrows gRPC's 4 MiB default well before the proxy
// runs out of memory.
const maxMessageSize = 64 << 20

// session is one ADS stream. Its requests and responses are handled by one goroutine, in
// order: a response is converted, checked, applied and answered (ACK or NACK) before the
// next is read, so the stream itself keeps the updates in sequence.
type session struct {
	c      *Client
	stream grpc.BidiStreamingClient[discoveryv3.DiscoveryRequest, discoveryv3.DiscoveryResponse]
	types  [numKinds]subscription
}

// subscription is the stream's protocol state for one resource type.
type subscription struct {
	sent    bool     // a request of this type went out on the stream
	names   []string // the resource names last requested (sorted; nil for wildcard)
	version string   // version_info of the last response accepted on this stream
	nonce   string   // nonce of the last response received

	// A server may answer a NACK by sending the refused version again at once (a
	// go-control-plane snapshot cache does: the NACK names an older version). Refusals of
	// the same version after the first are therefore sent after a growing delay, so the
	// two sides do not loop at full speed. rejectedVersion is the version refused last,
	// rejections how many times in a row; pendingNACK waits to be sent at due.
	rejectedVersion string
	rejections      int
	pendingNACK     *statuspb.Status
	due             time.Time
}

// Delays before a repeated NACK of one version: nackDelayMin for the second refusal,
// doubling up to nackDelayMax.
const (
	nackDelayMin = 250 * time.Millisecond
	nackDelayMax = 30 * time.Second
)

// nackDelay is how long to hold the n-th consecutive refusal of one version.
func nackDelay(n int) time.Duration {
	if n <= 1 {
		return 0
	}
	d := nackDelayMin
	for i := 2; i < n && d < nackDelayMax; i++ {
		d *= 2
	}
	return min(d, nackDelayMax)
}

// session opens a stream to addr and serves it until it fails or ctx ends. worked reports
// whether the control plane answered at all, which resets the reconnection backoff.
//
// A new stream starts without versions: the control plane sends its whole state again and
// the client compares it with what runs. (Sending the last version instead would let a
// restarted control plane that happens to reuse a version string skip a change.)
func (c *Client) session(ctx context.Context, addr string) (worked bool, err error) {
	conn, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageSize)),
		grpc.WithConnectParams(grpc.ConnectParams{MinConnectTimeout: c.timeout}),
	)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return false, err
	}
	s := &session{c: c, stream: stream}
	if err := s.subscribe(); err != nil {
		return false, err
	}
	c.setConnected(addr, true, nil)
	c.log.Info("xDS stream open", "server", addr, "node", c.node.GetId())

	// Responses are read by their own goroutine, so that this one can also send the NACKs
	// held back (see subscription); it alone sends and touches the session's state.
	responses := make(chan *discoveryv3.DiscoveryResponse)
	failed := make(chan error, 1)
	go func() {
		for {
			resp, err := stream.Recv()
			if err != nil {
				failed <- err
				return
			}
			select {
			case responses <- resp:
			case <-ctx.Done():
				return
			}
		}
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		timer.Reset(s.untilNextNACK())
		select {
		case resp := <-responses:
			worked = true
			if err := s.handle(resp); err != nil {
				return worked, err
			}
		case <-timer.C:
			if err := s.sendDueNACKs(); err != nil {
				return worked, err
			}
		case err := <-failed:
			return worked, err
		case <-ctx.Done():
			return worked, ctx.Err()
		}
	}
}

// untilNextNACK is how long until the earliest held NACK is due (an hour if none is held).
func (s *session) untilNextNACK() time.Duration {
	wait := time.Hour
	for k := range numKinds {
		if sub := &s.types[k]; sub.pendingNACK != nil {
			wait = min(wait, max(0, time.Until(sub.due)))
		}
	}
	return wait
}

// sendDueNACKs sends the held NACKs whose time has come.
func (s *session) sendDueNACKs() error {
	now := time.Now()
	for k := range numKinds {
		if sub := &s.types[k]; sub.pendingNACK != nil && !now.Before(sub.due) {
			if err := s.request(k, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// subscribe sends the stream's first requests: clusters and listeners by wildcard, then the
// endpoints and route tables already known to be needed (after a reconnection, those of
// the running configuration, so the resync does not wait a round trip).
func (s *session) subscribe() error {
	for k := range numKinds {
		if k.wildcard() {
			if s.c.subscribesWildcard(k) {
				if err := s.request(k, nil); err != nil {
					return err
				}
			}
			continue
		}
		if names := s.c.accepted.names(k, s.c.static); len(names) > 0 {
			if err := s.request(k, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// handle takes one response: convert its resources, assemble the configuration they make
// with everything else accepted, apply it, and ACK; or, if any step fails, NACK with the
// reason and keep the last good configuration. The returned error is a failure to send.
func (s *session) handle(resp *discoveryv3.DiscoveryResponse) error {
	c := s.c
	k, known := kindOf(resp.GetTypeUrl())
	if !known || !s.types[k].sent {
		err := fmt.Errorf("type %q was not subscribed to", resp.GetTypeUrl())
		c.log.Warn("xDS response of a type not subscribed to; rejected", "type_url", resp.GetTypeUrl())
		return s.stream.Send(&discoveryv3.DiscoveryRequest{
			Node: c.node, TypeUrl: resp.GetTypeUrl(), ResponseNonce: resp.GetNonce(), ErrorDetail: errorDetail(err),
		})
	}
	sub := &s.types[k]
	sub.nonce = resp.GetNonce()
	sub.pendingNACK = nil // a held NACK is for an older response

	out, err := c.tryApply(k, resp)
	if err != nil {
		c.recordRejected(k, resp.GetVersionInfo(), err)
		c.accepted = c.accepted.withRefs(k, resp)
		if s.reject(k, resp, err) {
			c.log.Warn("xDS update rejected; keeping the last good configuration",
				"type", k.String(), "version", resp.GetVersionInfo(), "error", err)
		}
		return s.resubscribe()
	}
	c.accepted, c.applied, c.failed = out.state, out.cfg, out.failed
	if out.leftOut != nil {
		// Applied without the listeners that cannot run: NACKed, as Envoy does, with the
		// version left at the last response accepted whole.
		c.recordApplied(k, "", out.pending, out.failed)
		c.recordRejected(k, resp.GetVersionInfo(), out.leftOut)
		if s.reject(k, resp, out.leftOut) {
			c.log.Warn("xDS update applied without listeners that cannot run",
				"type", k.String(), "version", resp.GetVersionInfo(), "error", out.leftOut)
		}
		c.checkReady(out.pending)
		return s.resubscribe()
	}
	sub.rejectedVersion, sub.rejections = "", 0
	sub.version = resp.GetVersionInfo()
	c.recordApplied(k, sub.version, out.pending, out.failed)
	c.log.Info("xDS update applied", "type", k.String(), "version", sub.version,
		"resources", len(resp.GetResources()), "pending", len(out.pending))
	c.checkReady(out.pending)
	if err := s.request(k, nil); err != nil {
		return err
	}
	return s.resubscribe()
}

// resubscribe asks for the endpoints and route tables the accepted clusters and listeners
// now name, where that differs from the last request. It always asks for all of them: the
// control plane answers a named subscription only when it covers the whole set.
func (s *session) resubscribe() error {
	for _, k := range []kind{endpoints, routes} {
		names := s.c.accepted.names(k, s.c.static)
		sub := &s.types[k]
		if sub.sent && slices.Equal(sub.names, slices.Sorted(maps.Keys(names))) {
			continue
		}
		if !sub.sent && len(names) == 0 {
			// A first request without names would subscribe to every resource of the type.
			continue
		}
		if err := s.request(k, nil); err != nil {
			return err
		}
	}
	return nil
}

// reject NACKs a response of kind k: at once the first time its version is refused, later
// each time the server sends it again. It reports whether this is the first refusal (the
// one worth a log line).
func (s *session) reject(k kind, resp *discoveryv3.DiscoveryResponse, err error) (first bool) {
	sub := &s.types[k]
	if sub.rejections > 0 && sub.rejectedVersion == resp.GetVersionInfo() {
		sub.rejections++
	} else {
		sub.rejectedVersion, sub.rejections = resp.GetVersionInfo(), 1
	}
	sub.pendingNACK = errorDetail(err)
	sub.due = time.Now().Add(nackDelay(sub.rejections))
	if sub.rejections > 1 {
		s.c.log.Debug("xDS update refused again; NACK held back", "type", k.String(),
			"version", resp.GetVersionInfo(), "times", sub.rejections, "delay", nackDelay(sub.rejections))
	}
	return sub.rejections == 1
}

// request sends a request for kind k: the current names, the last accepted version and the
// last nonce, which makes it an ACK of the last response, or a NACK when detail is set or
// a NACK is held for the type (it goes now).
func (s *session) request(k kind, detail *statuspb.Status) error {
	sub := &s.types[k]
	if detail == nil && sub.pendingNACK != nil {
		detail = sub.pendingNACK
	}
	sub.pendingNACK = nil
	var names []string
	if !k.wildcard() {
		names = slices.Sorted(maps.Keys(s.c.accepted.names(k, s.c.static)))
		if names == nil {
			names = []string{}
		}
	}
	err := s.stream.Send(&discoveryv3.DiscoveryRequest{
		VersionInfo:   sub.version,
		Node:          s.c.node,
		ResourceNames: names,
		TypeUrl:       k.typeURL(),
		ResponseNonce: sub.nonce,
		ErrorDetail:   detail,
	})
	if err != nil {
		return fmt.Errorf("send %s request: %w", k, err)
	}
	sub.sent, sub.names = true, names
	return nil
}

// errorDetail is a NACK's reason. Its message names the resource and the field at fault.
func errorDetail(err error) *statuspb.Status {
	return &statuspb.Status{Code: int32(codes.InvalidArgument), Message: err.Error()}
}
