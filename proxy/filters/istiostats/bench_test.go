package istiostats_test

import (
	"context"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/filter"
	"github.com/breeze-mesh/breeze/proxy/filters/istiostats"
	"github.com/breeze-mesh/breeze/proxy/filters/metadataexchange"
	"github.com/breeze-mesh/breeze/proxy/internal/proxytest"
	"github.com/breeze-mesh/breeze/proxy/internal/testcodec"
	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkPeerLabels measures a request through istio_stats alone and through
// metadata_exchange + istio_stats, on each side, with the peer's x-envoy-peer-metadata in the
// request (inbound) or the response (outbound): the cost of the exchange per request.
func BenchmarkPeerLabels(b *testing.B) {
	peer := config.Node{ID: "sidecar~10.0.0.9~frontend-1.web~web.svc.cluster.local", Metadata: map[string]any{
		"NAMESPACE": "web", "WORKLOAD_NAME": "frontend", "CLUSTER_ID": "east",
		"LABELS": map[string]any{"app": "frontend", "version": "v1"},
	}}
	value, err := metadataexchange.Encode(peer)
	if err != nil {
		b.Fatal(err)
	}
	self := config.Node{ID: "sidecar~10.0.0.7~greeter-v2-1.shop~shop.svc.cluster.local", Metadata: map[string]any{
		"NAMESPACE": "shop", "WORKLOAD_NAME": "greeter-v2", "LABELS": map[string]any{"app": "greeter", "version": "v2"},
	}}
	for _, bc := range []struct {
		name     string
		listener string
		exchange bool
	}{
		{"outbound/istio_stats", outbound, false},
		{"outbound/metadata_exchange+istio_stats", outbound, true},
		{"inbound/istio_stats", "inbound|20880||", false},
		{"inbound/metadata_exchange+istio_stats", "inbound|20880||", true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := filter.BuildContext{Listener: bc.listener, Codec: proxytest.Codec, Direction: filter.DirectionOf(bc.listener),
				Node: self, Shared: filter.NewShared(), Metrics: prometheus.NewRegistry()}
			var chain []filter.Filter
			names := []string{istiostats.Name}
			if bc.exchange {
				names = []string{metadataexchange.Name, istiostats.Name}
			}
			for _, name := range names {
				f, err := filter.BuildWithContext(ctx, name, nil)
				if err != nil {
					b.Fatal(err)
				}
				chain = append(chain, f)
			}
			reqMD := map[string]string{"interface": iface, "method": "sayHello"}
			respMD := map[string]string{"server": "greeter"}
			if bc.exchange {
				if ctx.Direction == filter.Inbound {
					reqMD[metadataexchange.HeaderMetadata] = value
				} else {
					respMD[metadataexchange.HeaderMetadata] = value
				}
			}
			s := newStream(b, reqMD, respMD)
			h := filter.Chain(filter.HandlerFunc(func(st filter.Stream) {
				st.Info().Cluster = outbound
				st.Respond(&s.resp)
			}), chain...)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				s.reset()
				h.OnRequest(s)
			}
		})
	}
}

// stream is a filter.Stream over one decoded request and response, reused.
type stream struct {
	req, resp       protocol.Message
	info            filter.Info
	reqMut, respMut protocol.Mutation
	hooks           []func(filter.Result)
}

func newStream(b *testing.B, reqMD, respMD map[string]string) *stream {
	reg, err := protocol.Lookup(proxytest.Codec)
	if err != nil {
		b.Fatal(err)
	}
	codec := reg.New(protocol.Options{Side: protocol.ResponseSide, MaxFrameSize: 1 << 20})
	s := &stream{}
	if _, err := codec.Decode(testcodec.Frame('Q', 1, reqMD, "ping"), &s.req); err != nil {
		b.Fatal(err)
	}
	if _, err := codec.Decode(testcodec.Frame('R', 1, respMD, "pong"), &s.resp); err != nil {
		b.Fatal(err)
	}
	return s
}

func (s *stream) reset() {
	s.reqMut, s.respMut, s.hooks = s.reqMut[:0], s.respMut[:0], s.hooks[:0]
	s.info = filter.Info{Listener: "bench", Start: time.Now()}
}

func (s *stream) Context() context.Context           { return context.Background() }
func (s *stream) Request() *protocol.Message         { return &s.req }
func (s *stream) Codec() protocol.Codec              { return nil }
func (s *stream) RequestMutation() protocol.Mutation { return s.reqMut }
func (s *stream) Info() *filter.Info                 { return &s.info }
func (s *stream) OnFinish(fn func(filter.Result))    { s.hooks = append(s.hooks, fn) }
func (s *stream) Respond(resp *protocol.Message)     { s.finish(filter.Result{Response: resp}) }
func (s *stream) LocalReply(e *protocol.LocalError)  { s.finish(filter.Result{LocalError: e}) }
func (s *stream) Finish()                            { s.finish(filter.Result{}) }
func (s *stream) AddRequestMutation(k, v string) {
	s.reqMut = append(s.reqMut, protocol.KeyValue{Key: k, Value: v})
}
func (s *stream) AddResponseMutation(k, v string) {
	s.respMut = append(s.respMut, protocol.KeyValue{Key: k, Value: v})
}
func (s *stream) finish(r filter.Result) {
	for i := len(s.hooks) - 1; i >= 0; i-- {
		s.hooks[i](r)
	}
}
