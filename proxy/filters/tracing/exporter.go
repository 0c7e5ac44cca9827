package tracing

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	tracingv1 "github.com/breeze-mesh/breeze/api/filters/tracing/v1alpha1"
	"github.com/breeze-mesh/breeze/proxy/filter"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Defaults of the exporter settings, as OpenTelemetry's own.
const (
	defaultExportTimeout  = 10 * time.Second
	defaultBatchTimeout   = 5 * time.Second
	defaultMaxQueueSize   = 2048
	defaultMaxExportBatch = 512
	defaultServiceName    = "breeze-proxy"
)

// exporterSettings are what tell two exporters apart: listeners (and config versions) with
// the same settings share one TracerProvider, its queue and its gRPC connection.
type exporterSettings struct {
	endpoint    string
	insecure    bool
	headers     map[string]string
	timeout     time.Duration
	batch       time.Duration
	maxQueue    int
	maxBatch    int
	serviceName string
	instanceID  string
}

func settingsOf(cfg *tracingv1.Tracing, ctx filter.BuildContext) (exporterSettings, error) {
	o := cfg.GetOtlp()
	if o.GetEndpoint() == "" {
		return exporterSettings{}, errors.New("otlp.endpoint is required (the collector's host:port)")
	}
	s := exporterSettings{
		endpoint:    o.GetEndpoint(),
		insecure:    o.GetInsecure(),
		headers:     o.GetHeaders(),
		timeout:     defaultExportTimeout,
		batch:       defaultBatchTimeout,
		maxQueue:    defaultMaxQueueSize,
		maxBatch:    defaultMaxExportBatch,
		serviceName: cfg.GetServiceName(),
		instanceID:  ctx.Node.ID,
	}
	if d := o.GetTimeout(); d != nil {
		if err := d.CheckValid(); err != nil || d.AsDuration() <= 0 {
			return s, fmt.Errorf("otlp.timeout must be positive")
		}
		s.timeout = d.AsDuration()
	}
	if d := o.GetBatchTimeout(); d != nil {
		if err := d.CheckValid(); err != nil || d.AsDuration() <= 0 {
			return s, fmt.Errorf("otlp.batch_timeout must be positive")
		}
		s.batch = d.AsDuration()
	}
	if n := o.GetMaxQueueSize(); n > 0 {
		s.maxQueue = int(n)
	}
	if n := o.GetMaxExportBatchSize(); n > 0 {
		s.maxBatch = int(n)
	}
	if s.maxBatch > s.maxQueue {
		return s, fmt.Errorf("otlp.max_export_batch_size (%d) exceeds max_queue_size (%d)", s.maxBatch, s.maxQueue)
	}
	if s.serviceName == "" {
		if w, _ := ctx.Node.Metadata["workload"].(string); w != "" {
			s.serviceName = w
		} else if w, _ := ctx.Node.Metadata["WORKLOAD_NAME"].(string); w != "" {
			s.serviceName = w
		} else {
			s.serviceName = defaultServiceName
		}
	}
	return s, nil
}

// key identifies the settings in filter.Shared.
func (s exporterSettings) key() string {
	var b strings.Builder
	fmt.Fprintf(&b, "tracing/otlp/%s/%t/%s/%s/%d/%d/%q/%q", s.endpoint, s.insecure, s.timeout, s.batch, s.maxQueue, s.maxBatch, s.serviceName, s.instanceID)
	names := make([]string, 0, len(s.headers))
	for k := range s.headers {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(&b, "/%q=%q", k, s.headers[k])
	}
	return b.String()
}

// newProvider starts a TracerProvider that batches spans and sends them to the collector
// from its own goroutine. Its queue is bounded and never blocks the span's End: when the
// collector is slow or down, spans are dropped rather than requests delayed. The gRPC
// connection is made lazily, so a collector that is not up yet does not fail the config.
func newProvider(s exporterSettings) (*sdktrace.TracerProvider, error) {
	opts := []otlptracegrpc.Option{
		otlptracegrpc.WithEndpoint(s.endpoint),
		otlptracegrpc.WithTimeout(s.timeout),
	}
	if s.insecure {
		opts = append(opts, otlptracegrpc.WithInsecure())
	}
	if len(s.headers) > 0 {
		opts = append(opts, otlptracegrpc.WithHeaders(s.headers))
	}
	exp, err := otlptracegrpc.New(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("otlp exporter: %w", err)
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", s.serviceName)}
	if s.instanceID != "" {
		attrs = append(attrs, attribute.String("service.instance.id", s.instanceID))
	}
	return sdktrace.NewTracerProvider(
		// The filter decides whether a trace starts (random_sampling); a span it starts is
		// recorded, and a sampled parent is always followed.
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())),
		sdktrace.WithResource(resource.NewSchemaless(attrs...)),
		sdktrace.WithBatcher(exp,
			sdktrace.WithBatchTimeout(s.batch),
			sdktrace.WithExportTimeout(s.timeout),
			sdktrace.WithMaxQueueSize(s.maxQueue),
			sdktrace.WithMaxExportBatchSize(s.maxBatch),
		),
	), nil
}
