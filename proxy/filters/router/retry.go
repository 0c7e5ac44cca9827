package router

import (
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/config"
	"github.com/breeze-mesh/breeze/proxy/filter"
	"github.com/breeze-mesh/breeze/proxy/route"
	"github.com/breeze-mesh/breeze/proxy/upstream"
)

// retrier carries one request through the attempts its route's retry policy allows. It
// receives each attempt's outcome and answers the stream once: with a response, or with
// the failure of the last attempt. Attempts run one after the other — each started from
// the previous one's callback, directly or from a backoff timer the callback set — so its
// fields need no lock.
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
	host    *upstream.Host    // where the current (or the scheduled) attempt goes
	budget  *upstream.Cluster // holds a retry slot of this cluster while a retry runs
}

// sendWithRetries sends the request's first attempt to host; failures and responses the
// route's retry policy names are retried on other hosts of the cluster.
func (r *Router) sendWithRetries(s filter.Stream, rt *route.Route, cluster string, host *upstream.Host, pick upstream.PickContext, frame []byte, done upstream.Callbacks) {
	rr := &retrier{
		r: r, s: s, done: done, policy: rt.Retry, cluster: cluster, pick: pick,
		frame: frame, id: s.Request().RequestID, timeout: rt.Timeout, start: time.Now(), host: host,
	}
	rr.send(frame, rr.attemptTimeout())
}

func (rr *retrier) send(frame []byte, timeout time.Duration) {
	rr.host.Send(rr.r.codec, upstream.Request{Frame: frame, ID: rr.id, Timeout: timeout, Callbacks: rr})
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

// OnResponse implements upstream.Callbacks. A response ends the request — it is the
// server's answer, error responses included — unless the policy retries it (retry_on
// retriable-status or retriable-status-codes) and a retry can be sent. A response that is
// not retried, however retriable, goes to the client as it is: the client learns what
// the last server said, not that the proxy ran out of retries.
func (rr *retrier) OnResponse(resp *protocol.Message) {
	rr.endRetry()
	if rr.retriableResponse(resp) && rr.retry() {
		return
	}
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
	if !rr.retriable(cause) || !rr.retry() {
		rr.done.OnFailure(err)
	}
}

// retry schedules the next attempt, after the policy's backoff, on another host of the
// cluster when it has one. It returns false, having changed nothing, when no retry may
// be made: the retries are used up, the route's timeout would pass during the backoff,
// the cluster is gone, its retry budget is spent (counted by the cluster), or it has no
// host.
func (rr *retrier) retry() bool {
	if rr.retries >= rr.policy.NumRetries {
		return false
	}
	delay := backOff(rr.policy.BackOff, rr.retries+1, jitter)
	if rr.timeout > 0 && time.Since(rr.start)+delay >= rr.timeout {
		return false
	}
	cluster := rr.r.clusters.Get(rr.cluster)
	if cluster == nil || !cluster.StartRetry() {
		return false
	}
	pick := rr.pick
	pick.Avoid = rr.host
	host := cluster.Pick(pick)
	if host == nil {
		cluster.EndRetry()
		return false
	}
	rr.budget = cluster
	rr.retries++
	rr.host = host
	rr.s.Info().Upstream = host.Address
	cluster.Stats.Retries.Inc()
	if delay <= 0 {
		rr.resend()
	} else {
		// On a timer: the callback that got here runs on an upstream connection's reader,
		// which must go on reading other requests' responses meanwhile.
		schedule(delay, rr.resend)
	}
	return true
}

// resend sends the retry that retry scheduled.
func (rr *retrier) resend() {
	timeout := rr.attemptTimeout()
	if timeout < 0 {
		// The backoff timer fired late, past the route's timeout.
		rr.endRetry()
		rr.done.OnFailure(protocol.NewLocalError(protocol.Timeout, "no answer within %v (%d retries)", rr.timeout, rr.retries))
		return
	}
	// A fresh copy: the earlier attempt's connection may still hold the bytes it sent.
	rr.send(append([]byte(nil), rr.frame...), timeout)
}

// schedule runs f after d, and jitter draws the random part of a backoff. Tests replace
// them to see the delays without waiting for them, and to pick them.
var (
	schedule = func(d time.Duration, f func()) { time.AfterFunc(d, f) }
	jitter   = rand.Int64N
)

// backOff is the wait before retry n (1 for the first): Envoy's jittered exponential
// backoff, a random time in [0, (2^n - 1) * base], at most max. rnd(k) returns a number
// in [0, k). A zero policy waits nothing.
func backOff(p config.RetryBackOff, n int, rnd func(int64) int64) time.Duration {
	if p.Base <= 0 || p.Max <= 0 {
		return 0
	}
	upper := p.Max
	if n < 62 {
		if mult := time.Duration(1)<<n - 1; p.Base <= p.Max/mult {
			upper = p.Base * mult
		}
	}
	return time.Duration(rnd(int64(min(upper, math.MaxInt64-1)) + 1)) // [0, upper]
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

// retriableResponse reports whether the policy retries resp: the codec says the server
// refused it (retriable-status), or its code is listed (retriable-status-codes).
func (rr *retrier) retriableResponse(resp *protocol.Message) bool {
	on := rr.policy.On
	if on&config.RetryOnRetriableStatus != 0 && rr.r.advisor != nil && rr.r.advisor.Retriable(resp) {
		return true
	}
	return on&config.RetryOnRetriableStatusCodes != 0 && resp.Code != 0 && slices.Contains(rr.policy.RetriableStatusCodes, resp.Code)
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
