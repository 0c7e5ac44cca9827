// Package router is the terminal filter of every listener's chain: it matches the request
// against the route table, picks a cluster and an endpoint, applies the route's mutations
// and sends the request upstream.
package router

import (
	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/filter"
	"github.com/breeze-mesh/breeze/proxy/route"
	"github.com/breeze-mesh/breeze/proxy/stats"
	"github.com/breeze-mesh/breeze/proxy/upstream"
	"github.com/prometheus/client_golang/prometheus"
)

// Router sends requests to upstream clusters.
type Router struct {
	table    *route.Table
	clusters *upstream.Manager
	codec    protocol.Registration
	// routeCounts[i] counts the requests of table.Routes[i] (route.Route.Index).
	routeCounts []prometheus.Counter
	// advisor is the codec's judge of retriable responses; nil when it has none.
	advisor protocol.RetryAdvisor
}

// New returns a router for one listener: its route table, the proxy's clusters, and the
// listener's codec (upstream connections speak it too).
func New(table *route.Table, clusters *upstream.Manager, codec protocol.Registration, st *stats.Listener) *Router {
	r := &Router{table: table, clusters: clusters, codec: codec, routeCounts: make([]prometheus.Counter, len(table.Routes))}
	for _, rt := range table.Routes {
		r.routeCounts[rt.Index] = st.Route(rt.Name)
	}
	if needsAdvisor(table) {
		// A codec value of its own: Retriable may run concurrently with anything, and this
		// one never decodes.
		r.advisor, _ = codec.New(protocol.Options{Side: protocol.ResponseSide, MaxFrameSize: protocol.DefaultMaxFrameSize}).(protocol.RetryAdvisor)
	}
	return r
}

// needsAdvisor reports whether a route of table retries on the codec's judgement.
func needsAdvisor(table *route.Table) bool {
	for _, rt := range table.Routes {
		if rt.Retry != nil && rt.Retry.On&config.RetryOnRetriableStatus != 0 {
			return true
		}
	}
	return false
}

// OnRequest routes s. It never blocks: the response arrives through s.Respond from the
// upstream connection's goroutine.
func (r *Router) OnRequest(s filter.Stream) {
	req := s.Request()
	rt := r.table.Match(&req.Metadata)
	if rt == nil {
		s.LocalReply(protocol.NewLocalError(protocol.RouteNotFound, "no route for request (%s)", r.table.Describe(&req.Metadata)))
		return
	}
	r.routeCounts[rt.Index].Inc()
	info := s.Info()
	info.Route = rt.Name
	clusterName, subset := rt.PickDestination()
	info.Cluster = clusterName
	cluster := r.clusters.Get(clusterName)
	if cluster == nil {
		s.LocalReply(protocol.NewLocalError(protocol.ClusterNotFound, "route %q names unknown cluster %q", rt.Name, clusterName))
		return
	}
	pick := upstream.PickContext{MetadataMatch: subset}
	if len(rt.HashPolicy) > 0 {
		pick.Hash, pick.Hashed = hashKey(rt.HashPolicy, &req.Metadata)
	}
	host := cluster.Pick(pick)
	if host == nil {
		s.LocalReply(protocol.NewLocalError(protocol.NoHealthyUpstream, "cluster %q has no healthy endpoints", clusterName))
		return
	}
	info.Upstream = host.Address
	for _, kv := range rt.RequestMutation {
		s.AddRequestMutation(kv.Key, kv.Value)
	}
	for _, kv := range rt.ResponseMutation {
		s.AddResponseMutation(kv.Key, kv.Value)
	}
	frame := req.Frame
	if mut := s.RequestMutation(); len(mut) > 0 {
		var err error
		if frame, err = s.Codec().Encode(req, mut); err != nil {
			s.LocalReply(protocol.NewLocalError(protocol.Internal, "apply request mutation: %v", err))
			return
		}
	}
	oneway, id := req.Type == protocol.Oneway, req.RequestID
	if len(rt.Mirrors) > 0 {
		r.mirror(rt, frame, id, oneway, pick) // mirror.go
	}
	cluster.Stats.Requests.Inc()
	cb, ok := s.(upstream.Callbacks)
	if !ok {
		cb = callbacks{s}
	}
	if rt.Retry != nil && !oneway {
		r.sendWithRetries(s, rt, clusterName, host, pick, frame, cb) // retry.go
		return
	}
	host.Send(r.codec, upstream.Request{
		Frame:     frame,
		ID:        id,
		Oneway:    oneway,
		Timeout:   rt.Timeout,
		Callbacks: cb,
	})
	if oneway {
		s.Finish()
	}
}

// hashKey computes a request's consistent-hash key from the values of the route's
// hash_policy keys; ok is false when the request has none of them (the cluster then
// balances the request as if the route had no hash policy).
func hashKey(keys []string, md *protocol.Metadata) (key uint64, ok bool) {
	for _, k := range keys {
		if v, present := md.Get(k); present {
			key, ok = upstream.HashValue(key, v), true
		}
	}
	return key, ok
}

// callbacks adapts a stream to upstream.Callbacks, for streams that do not implement it.
type callbacks struct{ s filter.Stream }

func (c callbacks) OnResponse(resp *protocol.Message)  { c.s.Respond(resp) }
func (c callbacks) OnFailure(err *protocol.LocalError) { c.s.LocalReply(err) }

// Interface guards.
var (
	_ filter.Handler     = (*Router)(nil)
	_ upstream.Callbacks = callbacks{}
)
