// Package localratelimit is the local_ratelimit filter: token buckets kept in the proxy, a
// default bucket and one per condition on the request's metadata, as Aeraki MetaRouter's
// localRateLimit. A request that finds its bucket empty is answered with the codec's
// over-limit error and never reaches the router.
package localratelimit

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	lrlv1 "github.com/breeze-mesh/breeze/api/filters/localratelimit/v1alpha1"
	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/filter"
	"github.com/breeze-mesh/breeze/proxy/filters/internal/match"
	"github.com/prometheus/client_golang/prometheus"
)

// Name is the name the filter is registered under; AerakiName is the name Aeraki writes.
const (
	Name       = "breeze.meta_protocol.filters.local_ratelimit"
	AerakiName = "aeraki.meta_protocol.filters.local_ratelimit"
)

// MinFillInterval is the shortest fill_interval accepted, as in Envoy: finer refills cost
// more than they limit.
const MinFillInterval = 50 * time.Millisecond

func init() {
	filter.RegisterWithContext(Name, New)
	filter.RegisterWithContext(AerakiName, New)
}

// Filter takes a token for every request from the bucket its metadata selects.
type Filter struct {
	conditions  []condition
	fallback    *bucket // nil: requests matching no condition pass
	ok, limited prometheus.Counter
	now         func() time.Time
}

type condition struct {
	match  *match.Matcher
	bucket *bucket
}

// New builds the filter from a *LocalRateLimit config, which is required. The buckets start
// full and live as long as this configuration: a new configuration starts new buckets.
func New(ctx filter.BuildContext, config any) (filter.Filter, error) {
	cfg, ok := config.(*lrlv1.LocalRateLimit)
	if !ok || cfg == nil {
		return nil, fmt.Errorf("local_ratelimit: config is a %T, want *%s", config, (&lrlv1.LocalRateLimit{}).ProtoReflect().Descriptor().FullName())
	}
	now := time.Now()
	f := &Filter{now: time.Now}
	if cfg.GetTokenBucket() != nil {
		b, err := newBucket("token_bucket", cfg.GetTokenBucket(), now)
		if err != nil {
			return nil, fmt.Errorf("local_ratelimit: %w", err)
		}
		f.fallback = b
	}
	for i, c := range cfg.GetConditions() {
		path := "conditions[" + strconv.Itoa(i) + "]"
		if len(c.GetMatch().GetMetadata()) == 0 {
			return nil, fmt.Errorf("local_ratelimit: %s.match: required (use token_bucket for every request)", path)
		}
		m, err := match.Compile(path+".match", c.GetMatch())
		if err != nil {
			return nil, fmt.Errorf("local_ratelimit: %w", err)
		}
		if c.GetTokenBucket() == nil {
			return nil, fmt.Errorf("local_ratelimit: %s.token_bucket: required", path)
		}
		b, err := newBucket(path+".token_bucket", c.GetTokenBucket(), now)
		if err != nil {
			return nil, fmt.Errorf("local_ratelimit: %w", err)
		}
		f.conditions = append(f.conditions, condition{match: m, bucket: b})
	}
	if f.fallback == nil && len(f.conditions) == 0 {
		return nil, fmt.Errorf("local_ratelimit: token_bucket or conditions is required")
	}
	m, err := ctx.Shared.Get("local_ratelimit/metrics", func() (any, error) { return newMetrics(ctx.Metrics) })
	if err != nil {
		return nil, fmt.Errorf("local_ratelimit: %w", err)
	}
	prefix := cfg.GetStatPrefix()
	if prefix == "" {
		prefix = ctx.StatPrefix
	}
	requests := m.(*prometheus.CounterVec)
	f.ok = requests.WithLabelValues(prefix, "ok")
	f.limited = requests.WithLabelValues(prefix, "rate_limited")
	return f, nil
}

// OnRequest implements filter.Filter.
func (f *Filter) OnRequest(s filter.Stream, next filter.Handler) {
	b := f.fallback
	md := &s.Request().Metadata
	for i := range f.conditions {
		if f.conditions[i].match.Matches(md) {
			b = f.conditions[i].bucket
			break
		}
	}
	if b == nil || b.take(f.now()) {
		f.ok.Inc()
		next.OnRequest(s)
		return
	}
	f.limited.Inc()
	s.Info().ResponseFlag = filter.FlagRateLimited
	s.LocalReply(&protocol.LocalError{Kind: protocol.OverLimit, Message: "local rate limit exceeded"})
}

// bucket is a token bucket refilled lazily: a request adds the fills that are due since the
// last one, so no timer runs while the listener is idle.
type bucket struct {
	max, perFill uint64
	interval     time.Duration

	mu       sync.Mutex
	tokens   uint64
	lastFill time.Time // when the last fill was due
}

func newBucket(path string, tb *lrlv1.TokenBucket, now time.Time) (*bucket, error) {
	if tb.GetMaxTokens() == 0 {
		return nil, fmt.Errorf("%s.max_tokens: must be at least 1", path)
	}
	perFill := uint64(1)
	if v := tb.GetTokensPerFill(); v != nil {
		if v.GetValue() == 0 {
			return nil, fmt.Errorf("%s.tokens_per_fill: must be at least 1", path)
		}
		perFill = uint64(v.GetValue())
	}
	d := tb.GetFillInterval()
	if d == nil {
		return nil, fmt.Errorf("%s.fill_interval: required", path)
	}
	if err := d.CheckValid(); err != nil || d.AsDuration() < MinFillInterval {
		return nil, fmt.Errorf("%s.fill_interval: must be at least %v", path, MinFillInterval)
	}
	return &bucket{
		max: uint64(tb.GetMaxTokens()), perFill: perFill, interval: d.AsDuration(),
		tokens: uint64(tb.GetMaxTokens()), lastFill: now,
	}, nil
}

// take removes a token, reporting false when the bucket is empty.
func (b *bucket) take(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if fills := now.Sub(b.lastFill) / b.interval; fills > 0 {
		b.lastFill = b.lastFill.Add(fills * b.interval)
		// Compare before multiplying: a long idle period must not overflow.
		if room := b.max - b.tokens; uint64(fills) >= room || uint64(fills)*b.perFill >= room {
			b.tokens = b.max
		} else {
			b.tokens += uint64(fills) * b.perFill
		}
	}
	if b.tokens == 0 {
		return false
	}
	b.tokens--
	return true
}

func newMetrics(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "breeze_local_rate_limit_requests_total",
		Help: "Requests seen by the local_ratelimit filter: decision is ok (a token was taken or no bucket applies) or rate_limited (answered with an over-limit error).",
	}, []string{"stat_prefix", "decision"})
	if err := reg.Register(requests); err != nil {
		return nil, err
	}
	return requests, nil
}
