// Package tracing is the tracing filter: one OpenTelemetry span per request — a client span
// on an outbound listener, a server span on an inbound one — exported over OTLP/gRPC, with
// the trace context carried in the protocol's own headers.
//
// The context travels through the codec SDK without new surface: it is read from the
// request's Metadata (Dubbo attachments, THeader headers, tRPC trans_info, ... — whatever
// the codec exposes as metadata) and written with a request Mutation, which the codec
// encodes into the same place. Any codec whose metadata carries the request's headers and
// whose mutation writes them carries traces.
package tracing

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"unicode/utf8"

	tracingv1 "github.com/breeze-mesh/breeze/api/filters/tracing/v1alpha1"
	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/filter"
	"go.opentelemetry.io/contrib/propagators/b3"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Name is the name the filter is registered under.
const Name = "breeze.meta_protocol.filters.tracing"

func init() { filter.RegisterWithContext(Name, New) }

// Filter starts and ends a span per request.
type Filter struct {
	tracer      trace.Tracer
	propagator  propagation.TextMapPropagator
	kind        trace.SpanKind
	ratio       float64 // share of requests without a context that start a trace, 0..1
	rpcSystem   string
	listener    string
	metadataFor []string // metadata keys copied into span attributes
}

// New builds the filter from a *Tracing config.
func New(ctx filter.BuildContext, config any) (filter.Filter, error) {
	cfg, ok := config.(*tracingv1.Tracing)
	if !ok || cfg == nil {
		return nil, fmt.Errorf("tracing: config is a %T, want *%s (otlp.endpoint is required)", config, (&tracingv1.Tracing{}).ProtoReflect().Descriptor().FullName())
	}
	settings, err := settingsOf(cfg, ctx)
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	ratio := 1.0
	if rs := cfg.GetRandomSampling(); rs != nil {
		if v := rs.GetValue(); v < 0 || v > 100 || math.IsNaN(v) {
			return nil, fmt.Errorf("tracing: random_sampling %v is not a percentage from 0 to 100", v)
		}
		ratio = rs.GetValue() / 100
	}
	propagator, err := propagatorOf(cfg.GetPropagation())
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	v, err := ctx.Shared.Get(settings.key(), func() (any, error) { return newProvider(settings) })
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	kind := trace.SpanKindClient
	switch cfg.GetKind() {
	case tracingv1.Tracing_SERVER:
		kind = trace.SpanKindServer
	case tracingv1.Tracing_AUTO:
		if ctx.Direction == filter.Inbound {
			kind = trace.SpanKindServer
		}
	}
	return &Filter{
		tracer:      v.(*sdktrace.TracerProvider).Tracer("github.com/breeze-mesh/breeze/proxy/filters/tracing"),
		propagator:  propagator,
		kind:        kind,
		ratio:       ratio,
		rpcSystem:   rpcSystem(ctx.Codec),
		listener:    ctx.Listener,
		metadataFor: cfg.GetMetadataAttributes(),
	}, nil
}

func propagatorOf(formats []tracingv1.Tracing_Propagation) (propagation.TextMapPropagator, error) {
	if len(formats) == 0 {
		return propagation.TraceContext{}, nil
	}
	var ps []propagation.TextMapPropagator
	for _, f := range formats {
		switch f {
		case tracingv1.Tracing_W3C:
			ps = append(ps, propagation.TraceContext{})
		case tracingv1.Tracing_B3:
			ps = append(ps, b3.New(b3.WithInjectEncoding(b3.B3SingleHeader)))
		case tracingv1.Tracing_B3_MULTI:
			ps = append(ps, b3.New(b3.WithInjectEncoding(b3.B3MultipleHeader)))
		default:
			return nil, fmt.Errorf("unknown propagation %v", f)
		}
	}
	return propagation.NewCompositeTextMapPropagator(ps...), nil
}

// rpcSystem is OpenTelemetry's rpc.system value for a codec where the conventions name one.
func rpcSystem(codec string) string {
	if codec == "dubbo" {
		return "apache_dubbo"
	}
	return codec
}

// OnRequest decides whether the request is traced, starts its span and writes the span's
// context into the request, then passes it on. The span ends when the stream finishes.
//
//   - An incoming sampled context: a child span, always.
//   - An incoming context that is not sampled: nothing is recorded or written; the
//     context goes upstream as it came, so the next hop respects the decision.
//   - No incoming context: a new trace for random_sampling percent of requests; the others
//     go upstream untouched (no mutation, so the codec forwards the original bytes).
func (f *Filter) OnRequest(s filter.Stream, next filter.Handler) {
	req := s.Request()
	parent := f.propagator.Extract(context.Background(), metadataCarrier{&req.Metadata})
	psc := trace.SpanContextFromContext(parent)
	switch {
	case psc.IsValid() && !psc.IsSampled():
		next.OnRequest(s)
		return
	case !psc.IsValid() && (f.ratio <= 0 || (f.ratio < 1 && rand.Float64() >= f.ratio)):
		next.OnRequest(s)
		return
	}

	service, method := filter.RPCService(&req.Metadata), filter.RPCMethod(&req.Metadata)
	attrs := []attribute.KeyValue{
		attribute.String("rpc.system", f.rpcSystem),
		attribute.String("breeze.listener", f.listener),
	}
	if service != "" {
		attrs = append(attrs, attribute.String("rpc.service", clean(service)))
	}
	if method != "" {
		attrs = append(attrs, attribute.String("rpc.method", clean(method)))
	}
	for _, k := range f.metadataFor {
		if v, ok := req.Metadata.Get(k); ok {
			attrs = append(attrs, attribute.String("rpc.request.metadata."+k, clean(v)))
		}
	}
	if f.kind == trace.SpanKindServer {
		attrs = appendPeer(attrs, "client.address", "client.port", s.Info().Downstream)
	}
	ctx, span := f.tracer.Start(parent, spanName(service, method, f.rpcSystem),
		trace.WithSpanKind(f.kind),
		trace.WithTimestamp(s.Info().Start),
		trace.WithAttributes(attrs...))
	// The upstream sees this span as its parent: for a client span the server's span is
	// its child; for a server span the application's own spans are.
	f.propagator.Inject(ctx, mutationCarrier{s})
	s.OnFinish(func(r filter.Result) { f.end(span, s, r) })
	next.OnRequest(s)
}

func (f *Filter) end(span trace.Span, s filter.Stream, r filter.Result) {
	info := s.Info()
	attrs := make([]attribute.KeyValue, 0, 8)
	if info.Route != "" {
		attrs = append(attrs, attribute.String("breeze.route", info.Route))
	}
	if info.Cluster != "" {
		attrs = append(attrs, attribute.String("breeze.cluster", info.Cluster))
	}
	if f.kind == trace.SpanKindClient {
		attrs = appendPeer(attrs, "server.address", "server.port", info.Upstream)
	} else if info.Upstream != "" {
		attrs = append(attrs, attribute.String("breeze.upstream", info.Upstream))
	}
	attrs = append(attrs,
		attribute.Int("rpc.request.size", len(s.Request().Frame)),
		attribute.String("breeze.response_flags", r.ResponseFlags()))
	if r.Response != nil {
		attrs = append(attrs, attribute.Int("rpc.response.size", len(r.Response.Frame)))
	}
	span.SetAttributes(attrs...)
	if r.ResponseCode() != 0 {
		span.SetStatus(codes.Error, errorDescription(r))
	}
	span.End()
}

// errorDescription says why a request failed: the local error, or the error message the
// codec read from the response.
func errorDescription(r filter.Result) string {
	if r.LocalError != nil {
		return clean(r.LocalError.Error())
	}
	if r.Response != nil {
		if msg := r.Response.Metadata.Value("error_message"); msg != "" {
			return clean(msg)
		}
	}
	return "error response"
}

// appendPeer adds an address's host and port as attributes, and as network.peer.*.
func appendPeer(attrs []attribute.KeyValue, hostKey, portKey, addr string) []attribute.KeyValue {
	if addr == "" {
		return attrs
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return append(attrs, attribute.String(hostKey, addr))
	}
	attrs = append(attrs, attribute.String(hostKey, host), attribute.String("network.peer.address", host))
	if p, err := strconv.Atoi(port); err == nil {
		attrs = append(attrs, attribute.Int(portKey, p), attribute.Int("network.peer.port", p))
	}
	return attrs
}

// spanName follows OpenTelemetry's RPC conventions: "service/method".
func spanName(service, method, system string) string {
	switch {
	case service != "" && method != "":
		return clean(service + "/" + method)
	case method != "":
		return clean(method)
	case service != "":
		return clean(service)
	}
	return system
}

// maxAttrLen bounds a span name or attribute value taken from a request (Envoy's default
// max_tag_length).
const maxAttrLen = 256

// clean copies a value from a request for a span: at most maxAttrLen bytes of valid UTF-8
// (OTLP's protobuf encoding refuses anything else, which would lose the whole batch), not
// sharing the request's memory (the span outlives it in the export queue).
func clean(v string) string {
	if len(v) > maxAttrLen {
		v = v[:maxAttrLen]
	}
	if !utf8.ValidString(v) {
		return strings.ToValidUTF8(v, "\uFFFD")
	}
	return strings.Clone(v)
}

// metadataCarrier reads trace headers from a request's metadata (keys compare without case,
// so "X-B3-TraceId" is found as "x-b3-traceid").
type metadataCarrier struct{ md *protocol.Metadata }

func (c metadataCarrier) Get(key string) string { return c.md.Value(key) }
func (c metadataCarrier) Set(string, string)    {} // extraction only
func (c metadataCarrier) Keys() []string {
	keys := make([]string, 0, c.md.Len())
	for _, kv := range c.md.All() {
		keys = append(keys, kv.Key)
	}
	return keys
}

// mutationCarrier writes trace headers into the request upstream, through the codec.
type mutationCarrier struct{ s filter.Stream }

func (c mutationCarrier) Get(string) string     { return "" } // injection only
func (c mutationCarrier) Set(key, value string) { c.s.AddRequestMutation(key, value) }
func (c mutationCarrier) Keys() []string        { return nil }

// Interface guards.
var (
	_ filter.Filter              = (*Filter)(nil)
	_ propagation.TextMapCarrier = metadataCarrier{}
	_ propagation.TextMapCarrier = mutationCarrier{}
)
