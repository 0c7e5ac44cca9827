package router

import (
	"time"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/filter"
	"github.com/breeze-mesh/breeze/proxy/route"
	"github.com/breeze-mesh/breeze/proxy/upstream"
)

// retrier carries one request through the attempts its route's retry policy allows. It
// receives each attempt's outcome and answers the stream once: with the first response,
// or with the failure of the last attempt. Attempts run one after the other, each started
// from the previous one's failure callback, so its fields need no lock.
type retrier struct {
	r       *Router
	s       filter.Stream
	done    upstream.Callbacks // the stream's own callbacks
	policy  *config.RetryPolicy
	cluster string
	pick    upstream.PickContext
	frame   []byte // the request as the first attempt sent it
	id      uint64
	// timeout bounds the request as a whole (the route's), from start; 0: no bound.
	timeout time.Duration
	start   time.Time
	retries int
	host    *upstream.Host    // where the current attempt went
	budget  *upstream.Cluster // holds a retry slot of this cluster while a retry runs
}

// sendWithRetries sends the request's first attempt to host; failures the route's retry
// policy names are retried on other hosts of the cluster.
func (r *Router) sendWithRetries(s filter.Stream, rt *route.Route, cluster string, host *upstream.Host, pick upstream.PickContext, frame []byte, done upstream.Callbacks) {
	rr := &retrier{
		r: r, s: s, done: done, policy: rt.Retry, cluster: cluster, pick: pick,
		frame: frame, id: s.Request().RequestID, timeout: rt.Timeout, start: time.Now(), host: host,
	}
	rr.send(host, frame, rr.attemptTimeout())
}

func (rr *retrier) send(host *upstream.Host, frame []byte, timeout time.Duration) {
	host.Send(rr.r.codec, upstream.Request{Frame: frame, ID: rr.id, Timeout: timeout, Callbacks: rr})
}

// attemptTimeout is the per-try timeout, cut to what is left of the route's; 0 when
// neither bounds the attempt, negative when the route's timeout has passed.
func (rr *retrier) attemptTimeout() time.Duration {
	t := rr.policy.PerTryTimeout
	if rr.timeout > 0 {
		left := rr.timeout - time.Since(rr.start)
		if left <= 0 {
			return -1
		}
		if t == 0 || left < t {
			t = left
		}
	}
	return t
}

// OnResponse implements upstream.Callbacks: any response ends the request, error
// responses included (they are the server's answer, not a transport failure).
func (rr *retrier) OnResponse(resp *protocol.Message) {
	rr.endRetry()
	rr.done.OnResponse(resp)
}

// OnFailure implements upstream.Callbacks; upstream calls OnAttemptFailure instead.
func (rr *retrier) OnFailure(err *protocol.LocalError) {
	rr.endRetry()
	rr.done.OnFailure(err)
}

// OnAttemptFailure implements upstream.AttemptCallbacks: it retries the request on another
// host when the policy allows, and otherwise answers with err.
func (rr *retrier) OnAttemptFailure(err *protocol.LocalError, cause upstream.FailureCause) {
	rr.endRetry()
	if !rr.retriable(cause) || rr.retries >= rr.policy.NumRetries {
		rr.done.OnFailure(err)
		return
	}
	timeout := rr.attemptTimeout()
	if timeout < 0 {
		rr.done.OnFailure(err) // the route's timeout has passed: no time for another try
		return
	}
	cluster := rr.r.clusters.Get(rr.cluster)
	if cluster == nil || !cluster.StartRetry() {
		rr.done.OnFailure(err) // removed meanwhile, or the retry budget is spent (counted)
		return
	}
	pick := rr.pick
	pick.Avoid = rr.host
	host := cluster.Pick(pick)
	if host == nil {
		cluster.EndRetry()
		rr.done.OnFailure(err)
		return
	}
	rr.budget = cluster
	rr.retries++
	rr.host = host
	rr.s.Info().Upstream = host.Address
	cluster.Stats.Retries.Inc()
	// A fresh copy: the earlier attempt's connection may still hold the bytes it sent.
	rr.send(host, append([]byte(nil), rr.frame...), timeout)
}

// retriable reports whether the policy retries a failure of this cause.
func (rr *retrier) retriable(cause upstream.FailureCause) bool {
	var on config.RetryOn
	switch cause {
	case upstream.FailureConnect:
		on = config.RetryOnConnectFailure
	case upstream.FailureReset:
		on = config.RetryOnReset
	case upstream.FailureTimeout:
		on = config.RetryOnTimeout
	}
	return rr.policy.On&on != 0
}

// endRetry gives back the retry slot a finished retry held.
func (rr *retrier) endRetry() {
	if rr.budget != nil {
		rr.budget.EndRetry()
		rr.budget = nil
	}
}

// Interface guard.
var _ upstream.AttemptCallbacks = (*retrier)(nil)
