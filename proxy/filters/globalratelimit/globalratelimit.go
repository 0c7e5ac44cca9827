// Package globalratelimit is the global_ratelimit filter: it asks a rate limit service
// speaking Envoy's rate limit service v3 gRPC API whether a request may pass, with a domain
// and a descriptor built from the request's metadata, as Aeraki MetaRouter's globalRateLimit.
//
// The check runs on its own goroutine, so requests on the same connection never wait for
// each other's checks; every listener that names the same service shares one gRPC
// connection, for the proxy's life.
package globalratelimit

import (
	"context"
	"fmt"
	"time"

	rlcommonv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	grlv1 "github.com/breeze-mesh/breeze/api/filters/globalratelimit/v1alpha1"
	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/filter"
	"github.com/breeze-mesh/breeze/proxy/filters/internal/match"
)

// Name is the name the filter is registered under; AerakiName is the name Aeraki writes.
const (
	Name       = "breeze.meta_protocol.filters.global_ratelimit"
	AerakiName = "aeraki.meta_protocol.filters.ratelimit"
)

// DefaultRequestTimeout bounds a check when the config sets no request_timeout (Envoy's
// default).
const DefaultRequestTimeout = 20 * time.Millisecond

func init() {
	filter.RegisterWithContext(Name, New)
	filter.RegisterWithContext(AerakiName, New)
}

// Filter checks each matching request with the rate limit service.
type Filter struct {
	match       *match.Matcher
	domain      string
	descriptors []*grlv1.Descriptor
	timeout     time.Duration
	denyOnFail  bool
	client      rlsv3.RateLimitServiceClient

	ok, overLimit, failOpen, failClosed prometheus.Counter
}

// New builds the filter from a *GlobalRateLimit config, which is required.
func New(ctx filter.BuildContext, config any) (filter.Filter, error) {
	cfg, ok := config.(*grlv1.GlobalRateLimit)
	if !ok || cfg == nil {
		return nil, fmt.Errorf("global_ratelimit: config is a %T, want *%s", config, (&grlv1.GlobalRateLimit{}).ProtoReflect().Descriptor().FullName())
	}
	if cfg.GetDomain() == "" {
		return nil, fmt.Errorf("global_ratelimit: domain: required")
	}
	target := cfg.GetRateLimitService()
	if target == "" {
		return nil, fmt.Errorf("global_ratelimit: rate_limit_service: required (the service's host:port)")
	}
	if len(cfg.GetDescriptors()) == 0 {
		return nil, fmt.Errorf("global_ratelimit: descriptors: at least one is required")
	}
	for i, d := range cfg.GetDescriptors() {
		if d.GetProperty() == "" {
			return nil, fmt.Errorf("global_ratelimit: descriptors[%d].property: required", i)
		}
		if d.GetDescriptorKey() == "" {
			return nil, fmt.Errorf("global_ratelimit: descriptors[%d].descriptor_key: required", i)
		}
	}
	m, err := match.Compile("match", cfg.GetMatch())
	if err != nil {
		return nil, fmt.Errorf("global_ratelimit: %w", err)
	}
	timeout := DefaultRequestTimeout
	if d := cfg.GetRequestTimeout(); d != nil {
		if err := d.CheckValid(); err != nil || d.AsDuration() <= 0 {
			return nil, fmt.Errorf("global_ratelimit: request_timeout: must be positive")
		}
		timeout = d.AsDuration()
	}
	// One connection per service for the proxy's life: a new configuration reuses it, and
	// the proxy closes it at shutdown (Shared closes io.Closers).
	conn, err := ctx.Shared.Get("global_ratelimit/conn/"+target, func() (any, error) {
		return grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	})
	if err != nil {
		return nil, fmt.Errorf("global_ratelimit: rate_limit_service %q: %w", target, err)
	}
	counters, err := ctx.Shared.Get("global_ratelimit/metrics", func() (any, error) { return newMetrics(ctx.Metrics) })
	if err != nil {
		return nil, fmt.Errorf("global_ratelimit: %w", err)
	}
	prefix := cfg.GetStatPrefix()
	if prefix == "" {
		prefix = ctx.StatPrefix
	}
	requests := counters.(*prometheus.CounterVec)
	return &Filter{
		match: m, domain: cfg.GetDomain(), descriptors: cfg.GetDescriptors(), timeout: timeout,
		denyOnFail: cfg.GetDenyOnFail(),
		client:     rlsv3.NewRateLimitServiceClient(conn.(*grpc.ClientConn)),
		ok:         requests.WithLabelValues(prefix, "ok"),
		overLimit:  requests.WithLabelValues(prefix, "over_limit"),
		failOpen:   requests.WithLabelValues(prefix, "error_allowed"),
		failClosed: requests.WithLabelValues(prefix, "error_denied"),
	}, nil
}

// OnRequest implements filter.Filter.
func (f *Filter) OnRequest(s filter.Stream, next filter.Handler) {
	md := &s.Request().Metadata
	if !f.match.Matches(md) {
		next.OnRequest(s)
		return
	}
	entries := make([]*rlcommonv3.RateLimitDescriptor_Entry, len(f.descriptors))
	for i, d := range f.descriptors {
		v, ok := md.Get(d.GetProperty())
		if !ok {
			next.OnRequest(s) // no complete descriptor: nothing to limit on
			return
		}
		entries[i] = &rlcommonv3.RateLimitDescriptor_Entry{Key: d.GetDescriptorKey(), Value: v}
	}
	req := &rlsv3.RateLimitRequest{
		Domain:      f.domain,
		Descriptors: []*rlcommonv3.RateLimitDescriptor{{Entries: entries}},
		HitsAddend:  1,
	}
	go f.check(s, next, req)
}

// check asks the service and then passes the request on or answers it.
func (f *Filter) check(s filter.Stream, next filter.Handler, req *rlsv3.RateLimitRequest) {
	ctx, cancel := context.WithTimeout(s.Context(), f.timeout)
	resp, err := f.client.ShouldRateLimit(ctx, req)
	cancel()
	switch {
	case err != nil && f.denyOnFail:
		f.failClosed.Inc()
		s.Info().ResponseFlag = filter.FlagRateLimitServiceError
		s.LocalReply(protocol.NewLocalError(protocol.OverLimit, "rate limit service failed and deny_on_fail is set: %v", err))
	case err != nil:
		f.failOpen.Inc()
		next.OnRequest(s)
	case resp.GetOverallCode() == rlsv3.RateLimitResponse_OVER_LIMIT:
		f.overLimit.Inc()
		s.Info().ResponseFlag = filter.FlagRateLimited
		s.LocalReply(&protocol.LocalError{Kind: protocol.OverLimit, Message: "global rate limit exceeded"})
	default:
		f.ok.Inc()
		next.OnRequest(s)
	}
}

func newMetrics(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "breeze_global_rate_limit_requests_total",
		Help: "Requests checked with the rate limit service: decision is ok, over_limit, error_allowed (the check failed, fail open) or error_denied (the check failed, deny_on_fail).",
	}, []string{"stat_prefix", "decision"})
	if err := reg.Register(requests); err != nil {
		return nil, err
	}
	return requests, nil
}
