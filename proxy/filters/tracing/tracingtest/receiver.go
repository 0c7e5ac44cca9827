// Package tracingtest is a real OTLP/gRPC trace receiver for tests: a gRPC server
// implementing OpenTelemetry's collector TraceService on a loopback port, keeping every
// span it is sent. The tracing filter's tests and the end-to-end tests point proxies at it.
package tracingtest

import (
	"context"
	"encoding/hex"
	"net"
	"strconv"
	"sync"
	"testing"

	collectortracev1 "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonv1 "go.opentelemetry.io/proto/otlp/common/v1"
	tracev1 "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
)

// Span is one received span, flattened for assertions.
type Span struct {
	// ServiceName is the service.name of the span's resource.
	ServiceName string
	Name        string
	Kind        tracev1.Span_SpanKind
	// TraceID, SpanID and ParentSpanID are lower-case hex ("" for a root's parent).
	TraceID, SpanID, ParentSpanID string
	// Attributes holds the string, integer and boolean attributes, formatted as strings.
	Attributes map[string]string
	// StatusCode is the span's status (unset, ok or error).
	StatusCode tracev1.Status_StatusCode
	// StartUnixNano and EndUnixNano are the span's times.
	StartUnixNano, EndUnixNano uint64
}

// Receiver is a running OTLP/gRPC trace receiver.
type Receiver struct {
	collectortracev1.UnimplementedTraceServiceServer
	ln  net.Listener
	srv *grpc.Server

	mu      sync.Mutex
	spans   []Span
	exports int
}

// Start starts a receiver on a free loopback port; it is stopped at the end of the test.
func Start(t testing.TB) *Receiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &Receiver{ln: ln, srv: grpc.NewServer()}
	collectortracev1.RegisterTraceServiceServer(r.srv, r)
	go func() { _ = r.srv.Serve(ln) }()
	t.Cleanup(r.srv.Stop)
	return r
}

// Addr is the receiver's host:port, the OTLP endpoint to configure.
func (r *Receiver) Addr() string { return r.ln.Addr().String() }

// Export implements the collector's TraceService.
func (r *Receiver) Export(_ context.Context, req *collectortracev1.ExportTraceServiceRequest) (*collectortracev1.ExportTraceServiceResponse, error) {
	var got []Span
	for _, rs := range req.GetResourceSpans() {
		service := attributes(rs.GetResource().GetAttributes())["service.name"]
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				got = append(got, Span{
					ServiceName:   service,
					Name:          s.GetName(),
					Kind:          s.GetKind(),
					TraceID:       hex.EncodeToString(s.GetTraceId()),
					SpanID:        hex.EncodeToString(s.GetSpanId()),
					ParentSpanID:  hex.EncodeToString(s.GetParentSpanId()),
					Attributes:    attributes(s.GetAttributes()),
					StatusCode:    s.GetStatus().GetCode(),
					StartUnixNano: s.GetStartTimeUnixNano(),
					EndUnixNano:   s.GetEndTimeUnixNano(),
				})
			}
		}
	}
	r.mu.Lock()
	r.spans = append(r.spans, got...)
	r.exports++
	r.mu.Unlock()
	return &collectortracev1.ExportTraceServiceResponse{}, nil
}

// Spans returns every span received so far.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// Exports is the number of export calls received.
func (r *Receiver) Exports() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.exports
}

func attributes(kvs []*commonv1.KeyValue) map[string]string {
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		v := kv.GetValue()
		switch v.GetValue().(type) {
		case *commonv1.AnyValue_StringValue:
			out[kv.GetKey()] = v.GetStringValue()
		case *commonv1.AnyValue_IntValue:
			out[kv.GetKey()] = strconv.FormatInt(v.GetIntValue(), 10)
		case *commonv1.AnyValue_BoolValue:
			out[kv.GetKey()] = strconv.FormatBool(v.GetBoolValue())
		}
	}
	return out
}
