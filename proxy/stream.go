package proxy

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/filter"
	"github.com/breeze-mesh/breeze/proxy/upstream"
)

// stream is one request from decode to reply. It implements filter.Stream.
type stream struct {
	conn    *downstream
	req     protocol.Message // decoded in place: one allocation per request for both
	info    filter.Info
	reqMut  protocol.Mutation
	respMut protocol.Mutation
	hooks   []func(filter.Result)
	// hookBuf holds the first hooks, so that the telemetry filters' hooks cost no
	// allocation of their own.
	hookBuf [4]func(filter.Result)
	// reqMutBuf and respMutBuf hold the first mutations, for the same reason: tracing adds
	// traceparent, metadata exchange two peer headers, a route its own few.
	reqMutBuf  [4]protocol.KeyValue
	respMutBuf [2]protocol.KeyValue
	done       atomic.Bool
}

func newStream(d *downstream) *stream {
	s := &stream{conn: d, info: filter.Info{Listener: d.l.name, Start: time.Now(), Downstream: d.remote}}
	s.hooks = s.hookBuf[:0]
	s.reqMut, s.respMut = s.reqMutBuf[:0], s.respMutBuf[:0]
	return s
}

func (s *stream) Context() context.Context           { return s.conn.ctx }
func (s *stream) Request() *protocol.Message         { return &s.req }
func (s *stream) Codec() protocol.Codec              { return s.conn.codec }
func (s *stream) Info() *filter.Info                 { return &s.info }
func (s *stream) RequestMutation() protocol.Mutation { return s.reqMut }
func (s *stream) OnFinish(fn func(filter.Result))    { s.hooks = append(s.hooks, fn) }

func (s *stream) AddRequestMutation(key, value string) {
	s.reqMut = append(s.reqMut, protocol.KeyValue{Key: key, Value: value})
}

func (s *stream) AddResponseMutation(key, value string) {
	s.respMut = append(s.respMut, protocol.KeyValue{Key: key, Value: value})
}

// Respond writes the upstream response to the client, with the response mutation applied.
func (s *stream) Respond(resp *protocol.Message) {
	if s.done.Swap(true) {
		return
	}
	frame := resp.Frame
	if len(s.respMut) > 0 {
		var err error
		if frame, err = s.conn.codec.Encode(resp, s.respMut); err != nil {
			// The response is intact; only the mutation failed. Send it as it came.
			frame = resp.Frame
		}
	}
	s.conn.write(frame)
	s.finish(filter.Result{Response: resp})
}

// LocalReply answers the client with a protocol-native error.
func (s *stream) LocalReply(e *protocol.LocalError) {
	if s.done.Swap(true) {
		return
	}
	s.conn.l.stats.LocalReply(e.Kind)
	if s.req.Type != protocol.Oneway {
		s.conn.replyError(&s.req, e)
	}
	s.finish(filter.Result{LocalError: e, Flag: s.info.ResponseFlag})
}

// Finish ends a stream that gets no reply.
func (s *stream) Finish() {
	if s.done.Swap(true) {
		return
	}
	s.finish(filter.Result{})
}

func (s *stream) finish(r filter.Result) {
	for i := len(s.hooks) - 1; i >= 0; i-- {
		s.hooks[i](r)
	}
	s.conn.requestDone()
}

// OnResponse and OnFailure let the upstream pool answer the stream without an adapter.
func (s *stream) OnResponse(resp *protocol.Message)  { s.Respond(resp) }
func (s *stream) OnFailure(err *protocol.LocalError) { s.LocalReply(err) }

// Interface guards.
var (
	_ filter.Stream      = (*stream)(nil)
	_ upstream.Callbacks = (*stream)(nil)
)
