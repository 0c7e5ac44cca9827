// Package fault is the fault filter: it delays requests, or answers them with an error of
// the request's own protocol, for a share of the requests its match selects, to test how
// clients and services cope (Istio's HTTP fault injection, for RPC protocols).
package fault

import (
	"fmt"
	"math/rand/v2"
	"time"

	faultv1 "github.com/breeze-mesh/breeze/api/filters/fault/v1alpha1"
	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/filter"
	"github.com/breeze-mesh/breeze/proxy/filters/internal/match"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Name is the name the filter is registered under.
const Name = "breeze.meta_protocol.filters.fault"

// DefaultAbortMessage is the error message of an abort that sets none.
const DefaultAbortMessage = "fault filter abort"

func init() { filter.RegisterWithContext(Name, New) }

// Filter injects the configured faults.
type Filter struct {
	match *match.Matcher

	delay    time.Duration // 0: no delay
	delayPct float64

	abort    *protocol.LocalError // nil: no abort
	abortPct float64

	delays, aborts prometheus.Counter
}

// New builds the filter from a *Fault config, which is required.
func New(ctx filter.BuildContext, config any) (filter.Filter, error) {
	cfg, ok := config.(*faultv1.Fault)
	if !ok || cfg == nil {
		return nil, fmt.Errorf("fault: config is a %T, want *%s", config, (&faultv1.Fault{}).ProtoReflect().Descriptor().FullName())
	}
	if cfg.GetDelay() == nil && cfg.GetAbort() == nil {
		return nil, fmt.Errorf("fault: one of delay or abort is required")
	}
	m, err := match.Compile("match", cfg.GetMatch())
	if err != nil {
		return nil, fmt.Errorf("fault: %w", err)
	}
	f := &Filter{match: m}
	if d := cfg.GetDelay(); d != nil {
		fd := d.GetFixedDelay()
		if fd == nil {
			return nil, fmt.Errorf("fault: delay.fixed_delay: required")
		}
		if err := fd.CheckValid(); err != nil || fd.AsDuration() <= 0 {
			return nil, fmt.Errorf("fault: delay.fixed_delay: must be positive")
		}
		f.delay = fd.AsDuration()
		if f.delayPct, err = percentage("delay.percentage", d.GetPercentage()); err != nil {
			return nil, err
		}
	}
	if a := cfg.GetAbort(); a != nil {
		kind := protocol.ErrorKind(a.GetErrorKind())
		if int(a.GetErrorKind()) >= len(protocol.ErrorKinds()) || a.GetErrorKind() < 0 {
			return nil, fmt.Errorf("fault: abort.error_kind: unknown kind %d", a.GetErrorKind())
		}
		msg := a.GetMessage()
		if msg == "" {
			msg = DefaultAbortMessage
		}
		f.abort = &protocol.LocalError{Kind: kind, Message: msg}
		if f.abortPct, err = percentage("abort.percentage", a.GetPercentage()); err != nil {
			return nil, err
		}
	}
	counters, err := ctx.Shared.Get("fault/metrics", func() (any, error) { return newMetrics(ctx.Metrics) })
	if err != nil {
		return nil, fmt.Errorf("fault: %w", err)
	}
	injected := counters.(*prometheus.CounterVec)
	f.delays = injected.WithLabelValues(ctx.StatPrefix, "delay")
	f.aborts = injected.WithLabelValues(ctx.StatPrefix, "abort")
	return f, nil
}

// percentage reads an optional 0–100 share; unset means every request.
func percentage(path string, p *wrapperspb.DoubleValue) (float64, error) {
	if p == nil {
		return 100, nil
	}
	if v := p.GetValue(); v >= 0 && v <= 100 {
		return v, nil
	}
	return 0, fmt.Errorf("fault: %s: %v is not between 0 and 100", path, p.GetValue())
}

// hit draws whether a request falls in a share of pct percent.
func hit(pct float64) bool {
	return pct >= 100 || (pct > 0 && rand.Float64()*100 < pct)
}

// OnRequest implements filter.Filter. Both draws happen on arrival, independently, as in
// Istio; a delayed request waits on a timer, not on the connection's goroutine, so other
// requests on the connection go on meanwhile.
func (f *Filter) OnRequest(s filter.Stream, next filter.Handler) {
	if !f.match.Matches(&s.Request().Metadata) {
		next.OnRequest(s)
		return
	}
	abort := f.abort != nil && hit(f.abortPct)
	if f.delay > 0 && hit(f.delayPct) {
		f.delays.Inc()
		time.AfterFunc(f.delay, func() {
			if s.Context().Err() != nil {
				// The client went away while the request waited: finish the stream
				// without sending it upstream.
				s.LocalReply(&protocol.LocalError{Kind: protocol.Internal, Message: "client closed the connection during an injected delay"})
				return
			}
			f.proceed(s, next, abort)
		})
		return
	}
	f.proceed(s, next, abort)
}

func (f *Filter) proceed(s filter.Stream, next filter.Handler, abort bool) {
	if abort {
		f.aborts.Inc()
		s.LocalReply(f.abort) // read-only for the stream and its hooks: shared
		return
	}
	next.OnRequest(s)
}

func newMetrics(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	injected := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "breeze_fault_injected_total",
		Help: "Faults the fault filter injected, by fault: delay or abort.",
	}, []string{"stat_prefix", "fault"})
	if err := reg.Register(injected); err != nil {
		return nil, err
	}
	return injected, nil
}
