package upstream

import (
	"time"

	"github.com/breeze-mesh/breeze/protocol"
)

// Callbacks receive the outcome of one request. Exactly one of them is called, once, from
// a goroutine of this package; neither may block.
type Callbacks interface {
	// OnResponse gets the response, its request id already set back to the request's own.
	// resp is valid only until OnResponse returns (its Frame bytes stay valid for good).
	OnResponse(resp *protocol.Message)
	// OnFailure gets why no response will come.
	OnFailure(err *protocol.LocalError)
}

// AttemptCallbacks is implemented by callbacks that want to know why a request failed, to
// decide whether to try again (a router with a retry policy). OnAttemptFailure is then
// called instead of OnFailure.
type AttemptCallbacks interface {
	Callbacks
	OnAttemptFailure(err *protocol.LocalError, cause FailureCause)
}

// FailureCause says why an upstream request failed, in the terms retry policies use.
type FailureCause uint8

// Failure causes.
const (
	// FailureInternal: the proxy could not send the request (its frame could not be
	// prepared); sending it again would fail the same way.
	FailureInternal FailureCause = iota
	// FailureOverflow: a circuit breaker refused the request; it was not sent.
	FailureOverflow
	// FailureConnect: no connection to the endpoint could be made; the request was not sent.
	FailureConnect
	// FailureReset: the connection failed or closed while the request was in flight; the
	// endpoint may or may not have processed it.
	FailureReset
	// FailureTimeout: no response within the request's timeout.
	FailureTimeout
	// FailureBadResponse: the response could not be decoded.
	FailureBadResponse
)

var failureCauseNames = [...]string{"internal", "overflow", "connect_failure", "reset", "timeout", "bad_response"}

func (c FailureCause) String() string {
	if int(c) < len(failureCauseNames) {
		return failureCauseNames[c]
	}
	return "FailureCause(?)"
}

// fail reports a failure to cb, with its cause when cb wants it.
func fail(cb Callbacks, err *protocol.LocalError, cause FailureCause) {
	if ac, ok := cb.(AttemptCallbacks); ok {
		ac.OnAttemptFailure(err, cause)
		return
	}
	cb.OnFailure(err)
}

// Request is one frame to send and where its outcome goes.
type Request struct {
	// Frame is the encoded request. With a multiplexed pool its id field is rewritten in
	// place, so it must be the caller's to modify.
	Frame []byte
	// ID is the request id the client used; the response carries it back.
	ID uint64
	// Oneway requests get no response and no callback.
	Oneway bool
	// Timeout bounds the wait for the response (0: none).
	Timeout time.Duration
	// Callbacks receive the outcome of a two-way request.
	Callbacks Callbacks
}

// exchange is a request awaiting its response on one connection.
type exchange struct {
	origID uint64
	cb     Callbacks
	timer  *time.Timer
}
