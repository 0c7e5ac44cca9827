//go:build unix

package proxytest_test

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	accesslogv1 "github.com/breeze-mesh/breeze/api/filters/accesslog/v1alpha1"
	istiostatsv1 "github.com/breeze-mesh/breeze/api/filters/istiostats/v1alpha1"
	metadataexchangev1 "github.com/breeze-mesh/breeze/api/filters/metadataexchange/v1alpha1"
	tracingv1 "github.com/breeze-mesh/breeze/api/filters/tracing/v1alpha1"
	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/filter"
	"github.com/breeze-mesh/breeze/proxy/filters/accesslog"
	"github.com/breeze-mesh/breeze/proxy/filters/istiostats"
	"github.com/breeze-mesh/breeze/proxy/filters/metadataexchange"
	"github.com/breeze-mesh/breeze/proxy/filters/tracing"
	"github.com/breeze-mesh/breeze/proxy/filters/tracing/tracingtest"
	"github.com/breeze-mesh/breeze/proxy/internal/connio"
	"github.com/breeze-mesh/breeze/proxy/internal/proxytest"
	"github.com/breeze-mesh/breeze/proxy/internal/testcodec"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// BenchmarkTelemetry measures what the telemetry filters cost per request: the same
// traffic through an in-process proxy with no filter, with istio_stats, with tracing at 1 %
// and 100 % sampling (exporting to a real OTLP receiver), with both, and with a JSON access
// log. cpu-µs/req is the whole process's CPU time (client, proxy and server) per request, so
// the difference between two sub-benchmarks is the filters' own cost.
func BenchmarkTelemetry(b *testing.B) {
	for _, bc := range telemetryCases(b) {
		b.Run(bc.name, func(b *testing.B) { benchmarkFilters(b, bc.filters) })
	}
}

// telemetryCase is one sub-benchmark of the telemetry benchmarks: a filter chain.
type telemetryCase struct {
	name    string
	filters []config.Filter
}

// telemetryCases are the filter chains both telemetry benchmarks compare. Tracing exports
// to a real OTLP receiver and the access log writes to a file, both kept for the whole
// benchmark.
func telemetryCases(b *testing.B) []telemetryCase {
	receiver := tracingtest.Start(b)
	traced := func(percent float64) config.Filter {
		return config.Filter{Name: tracing.Name, Config: &tracingv1.Tracing{
			RandomSampling: wrapperspb.Double(percent),
			Otlp:           &tracingv1.Otlp{Endpoint: receiver.Addr(), Insecure: true, BatchTimeout: durationpb.New(100 * time.Millisecond)},
		}}
	}
	metrics := config.Filter{Name: istiostats.Name, Config: &istiostatsv1.IstioStats{}}
	// The exchange writes the peer headers into every outbound request: the codec
	// re-encodes it, which is most of what the exchange costs.
	exchange := config.Filter{Name: metadataexchange.Name, Config: &metadataexchangev1.MetadataExchange{
		Workload: &istiostatsv1.Workload{Name: "frontend", Namespace: "shop", App: "frontend", Version: "v1"},
	}}
	logged := config.Filter{Name: accesslog.Name, Config: &accesslogv1.AccessLog{
		Path:      filepath.Join(b.TempDir(), "access.log"),
		LogFormat: &accesslogv1.LogFormat{Format: &accesslogv1.LogFormat_JsonFormat{JsonFormat: &structpb.Struct{}}},
	}}
	return []telemetryCase{
		{"off", nil},
		{"metrics", []config.Filter{metrics}},
		{"tracing-1pct", []config.Filter{traced(1)}},
		{"metrics+tracing-1pct", []config.Filter{metrics, traced(1)}},
		{"metrics+exchange", []config.Filter{exchange, metrics}},
		{"tracing-100pct", []config.Filter{traced(100)}},
		{"accesslog-json", []config.Filter{logged}},
	}
}

func benchmarkFilters(b *testing.B, filters []config.Filter) {
	const listener = "outbound|20880||greeter.shop.svc.cluster.local"
	server := proxytest.StartServer(b, "greeter")
	p := proxytest.StartProxy(b, &config.Bootstrap{
		Listeners: []*config.Listener{{
			Name: listener, Address: "127.0.0.1:0", Codec: proxytest.Codec, Filters: filters,
			Routes: &config.RouteTable{Routes: []*config.Route{{Name: "greeter", Match: proxytest.Exact("interface", "org.example.Greeter"), Cluster: "greeter"}}},
		}},
		Clusters: []*config.Cluster{proxytest.Cluster("greeter", server.Addr())},
	})
	addr := p.Listener(b, listener)
	req := testcodec.Frame('Q', 0, map[string]string{"interface": "org.example.Greeter", "method": "sayHello", "version": "1.0.0"}, "ping")

	const workers = 4
	conns := make([]net.Conn, workers)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
		roundTrip(b, c, connio.NewFrameReader(c, newResponseCodec(), 1<<20), req, 1) // warm the path
	}
	b.ReportAllocs()
	cpuBefore := cpuTime()
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := range workers {
		n := b.N / workers
		if w < b.N%workers {
			n++
		}
		wg.Add(1)
		go func(c net.Conn) {
			defer wg.Done()
			fr := connio.NewFrameReader(c, newResponseCodec(), 1<<20)
			frame := append([]byte(nil), req...)
			for i := range n {
				roundTrip(b, c, fr, frame, uint64(i+2))
			}
		}(conns[w])
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpuBefore).Microseconds())/float64(b.N), "cpu-µs/req")
}

// roundTrip sends one request with id and reads its reply.
func roundTrip(b *testing.B, c net.Conn, fr *connio.FrameReader, frame []byte, id uint64) {
	if err := (&testcodec.Codec{}).RewriteRequestID(frame, id); err != nil {
		b.Error(err)
		return
	}
	if _, err := c.Write(frame); err != nil {
		b.Error(err)
		return
	}
	var msg protocol.Message
	if err := fr.Next(&msg); err != nil || msg.RequestID != id || msg.Type != protocol.Response {
		b.Errorf("reply %v id %d type %v, want a response to %d", err, msg.RequestID, msg.Type, id)
	}
}

func newResponseCodec() protocol.Codec {
	reg, err := protocol.Lookup(proxytest.Codec)
	if err != nil {
		panic(err)
	}
	return reg.New(protocol.Options{Side: protocol.ResponseSide, MaxFrameSize: 1 << 20})
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTelemetryFilters measures the filters alone: each iteration runs one decoded
// request through a chain of the filters in front of a terminal that answers at once, with
// no network, so ns/op and allocs/op are the filters' own per-request cost.
func BenchmarkTelemetryFilters(b *testing.B) {
	for _, bc := range telemetryCases(b) {
		b.Run(bc.name, func(b *testing.B) {
			shared := filter.NewShared()
			reg := prometheus.NewRegistry()
			fctx := filter.BuildContext{Listener: "outbound|20880||greeter.shop.svc.cluster.local", Codec: proxytest.Codec,
				Direction: filter.Outbound, Shared: shared, Metrics: reg}
			var chain []filter.Filter
			for _, fc := range bc.filters {
				f, err := filter.BuildWithContext(fctx, fc.Name, fc.Config)
				if err != nil {
					b.Fatal(err)
				}
				chain = append(chain, f)
			}
			s := newBenchStream(b)
			terminal := filter.HandlerFunc(func(st filter.Stream) {
				info := st.Info()
				info.Route, info.Cluster, info.Upstream = "greeter", "outbound|20880||greeter.shop.svc.cluster.local", "10.0.0.7:20880"
				st.Respond(&s.resp)
			})
			h := filter.Chain(terminal, chain...)
			b.ReportAllocs()
			cpuBefore := cpuTime()
			b.ResetTimer()
			for range b.N {
				s.reset()
				h.OnRequest(s)
			}
			b.StopTimer()
			// Closing flushes what the filters left to their goroutines (spans to export,
			// lines to format and write), so the CPU time covers it.
			if err := shared.Close(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(cpuTime()-cpuBefore)/float64(b.N), "cpu-ns/req")
			if dropped := counterSum(b, reg, "breeze_access_log_dropped_total"); dropped > 0 {
				b.ReportMetric(dropped/float64(b.N), "dropped/req")
			}
		})
	}
}

// counterSum adds up the counters of a family in reg.
func counterSum(b *testing.B, reg *prometheus.Registry, name string) float64 {
	fams, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	total := 0.0
	for _, f := range fams {
		if f.GetName() == name {
			for _, m := range f.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

// benchStream is a filter.Stream over one decoded request and response, reused.
type benchStream struct {
	req, resp protocol.Message
	info      filter.Info
	reqMut    protocol.Mutation
	respMut   protocol.Mutation
	hooks     []func(filter.Result)
}

func newBenchStream(b *testing.B) *benchStream {
	s := &benchStream{}
	codec := newResponseCodec()
	for _, m := range []struct {
		msg   *protocol.Message
		frame []byte
	}{
		{&s.req, testcodec.Frame('Q', 1, map[string]string{"interface": "org.example.Greeter", "method": "sayHello", "version": "1.0.0"}, "ping")},
		{&s.resp, testcodec.Frame('R', 1, map[string]string{"server": "greeter"}, "pong")},
	} {
		if _, err := codec.Decode(m.frame, m.msg); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

func (s *benchStream) reset() {
	s.reqMut, s.respMut, s.hooks = s.reqMut[:0], s.respMut[:0], s.hooks[:0]
	s.info = filter.Info{Listener: "bench", Start: time.Now(), Downstream: "127.0.0.1:50000"}
}

func (s *benchStream) Context() context.Context   { return context.Background() }
func (s *benchStream) Request() *protocol.Message { return &s.req }
func (s *benchStream) Codec() protocol.Codec      { return nil }
func (s *benchStream) AddRequestMutation(k, v string) {
	s.reqMut = append(s.reqMut, protocol.KeyValue{Key: k, Value: v})
}
func (s *benchStream) RequestMutation() protocol.Mutation { return s.reqMut }
func (s *benchStream) AddResponseMutation(k, v string) {
	s.respMut = append(s.respMut, protocol.KeyValue{Key: k, Value: v})
}
func (s *benchStream) Info() *filter.Info                { return &s.info }
func (s *benchStream) OnFinish(fn func(filter.Result))   { s.hooks = append(s.hooks, fn) }
func (s *benchStream) Respond(resp *protocol.Message)    { s.finish(filter.Result{Response: resp}) }
func (s *benchStream) LocalReply(e *protocol.LocalError) { s.finish(filter.Result{LocalError: e}) }
func (s *benchStream) Finish()                           { s.finish(filter.Result{}) }
func (s *benchStream) finish(r filter.Result) {
	for i := len(s.hooks) - 1; i >= 0; i-- {
		s.hooks[i](r)
	}
}
