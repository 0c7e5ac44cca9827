package router_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/filter"
	"github.com/breeze-mesh/breeze/proxy/filters/router"
	"github.com/breeze-mesh/breeze/proxy/internal/testbackend"
	"github.com/breeze-mesh/breeze/proxy/internal/testcodec"
	"github.com/breeze-mesh/breeze/proxy/route"
	"github.com/breeze-mesh/breeze/proxy/stats"
	"github.com/breeze-mesh/breeze/proxy/upstream"
)

// benchStream is a filter.Stream for benchmarks: it signals done when the stream ends.
type benchStream struct {
	req  protocol.Message
	info filter.Info
	done chan struct{}
}

func (s *benchStream) Context() context.Context           { return context.Background() }
func (s *benchStream) Request() *protocol.Message         { return &s.req }
func (s *benchStream) Codec() protocol.Codec              { return nil }
func (s *benchStream) AddRequestMutation(string, string)  {}
func (s *benchStream) RequestMutation() protocol.Mutation { return nil }
func (s *benchStream) AddResponseMutation(string, string) {}
func (s *benchStream) Info() *filter.Info                 { return &s.info }
func (s *benchStream) OnFinish(func(filter.Result))       {}
func (s *benchStream) Respond(*protocol.Message)          { s.done <- struct{}{} }

// The proxy's streams are upstream.Callbacks themselves; so is this one.
func (s *benchStream) OnResponse(*protocol.Message)        { s.done <- struct{}{} }
func (s *benchStream) OnFailure(err *protocol.LocalError)  { panic(err) }
func (s *benchStream) LocalReply(err *protocol.LocalError) { panic(err) }
func (s *benchStream) Finish()                             {}

// benchRouter builds a router whose table has eight routes on "method", the last one
// matching m1; its cluster is one endpoint at addr.
func benchRouter(b *testing.B, addr string, retry *config.RetryPolicy) *router.Router {
	reg, err := protocol.Lookup(testcodec.Name)
	if err != nil {
		b.Fatal(err)
	}
	m := stats.New()
	clusters := upstream.NewManager(m)
	clusters.Update([]*config.Cluster{cluster(config.RoundRobin, addr)})
	b.Cleanup(clusters.Close)
	rt := &config.RouteTable{Name: "t"}
	for i := range 8 {
		rt.Routes = append(rt.Routes, &config.Route{Name: fmt.Sprintf("r%d", i), Cluster: "c", Retry: retry, Timeout: 10 * time.Second,
			Match: []config.Matcher{{Key: "method", Kind: config.MatchExact, Value: fmt.Sprintf("m%d", 8-i)}}})
	}
	return router.New(route.NewTable(rt), clusters, reg, m.Listener("in"))
}

// discardServer accepts connections and reads everything sent on them, allocating nothing
// per request: oneway requests need no answer.
func discardServer(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func benchRequest(b *testing.B, typ byte) *benchStream {
	reg, _ := protocol.Lookup(testcodec.Name)
	s := &benchStream{done: make(chan struct{}, 1)}
	frame := testcodec.Frame(typ, 1, map[string]string{"method": "m1"}, "x")
	if _, err := reg.New(protocol.Options{MaxFrameSize: 1 << 20}).Decode(frame, &s.req); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkOneway: the router's work for a oneway request — match the last of eight
// routes, count it, pick an endpoint, hand the frame to the connection's writer — with no
// wait for an answer. The upstream reads and drops the bytes. The frame is the same every
// time (a oneway frame's id is not rewritten), so it is not copied.
func BenchmarkOneway(b *testing.B) {
	r := benchRouter(b, discardServer(b), nil)
	s := benchRequest(b, 'O')
	b.ReportAllocs()
	for b.Loop() {
		r.OnRequest(s)
	}
}

// BenchmarkRoundTrip: a two-way request through the router to an in-process testcodec
// server and back, one at a time, without and with a retry policy (which is not used:
// every answer is OK). allocs/op includes the server's own (it builds each answer).
func BenchmarkRoundTrip(b *testing.B) {
	for _, tt := range []struct {
		name  string
		retry *config.RetryPolicy
	}{
		{"no-retry", nil},
		{"retry", &config.RetryPolicy{On: config.RetryOnConnectFailure, NumRetries: 1}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			r := benchRouter(b, testbackend.Start(b, "s").Addr(), tt.retry)
			s := benchRequest(b, 'Q')
			b.ReportAllocs()
			for b.Loop() {
				// The pool rewrites the frame's id in place; the previous request is
				// answered, so its bytes are written out.
				r.OnRequest(s)
				<-s.done
			}
		})
	}
}
