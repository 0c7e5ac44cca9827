package protocol

import (
	"errors"
	"fmt"
)

// ErrNeedMore is returned by Decode when the input holds no complete frame yet. Nothing is
// consumed; Decode is called again with the same bytes plus more.
var ErrNeedMore = errors.New("need more data")

// NeedMoreError is ErrNeedMore from a codec that already knows the whole frame's size (its
// header is in, the body is not). The proxy then reads the rest of the frame into one
// buffer of that size, where it would otherwise grow a buffer step by step: for a frame of
// tens of KiB that saves several allocations and copies; for frames of a few KiB or less it
// gains nothing, and boxing the value in an error costs an allocation. Optional: plain
// ErrNeedMore is always correct, and errors.Is(NeedMoreError{...}, ErrNeedMore) holds. The
// proxy recognises the value itself, not a wrapped one.
type NeedMoreError struct {
	// FrameSize is the length of the whole frame, header included.
	FrameSize int
}

func (e NeedMoreError) Error() string {
	return fmt.Sprintf("need more data: the frame is %d bytes", e.FrameSize)
}

// Is reports whether target is ErrNeedMore.
func (e NeedMoreError) Is(target error) bool { return target == ErrNeedMore }

// ErrMalformed is wrapped by Decode errors for input that can never become a valid frame.
// The proxy counts it, answers with an error reply when it knows the request id, and closes
// the connection: after a framing error the byte stream cannot be trusted.
var ErrMalformed = errors.New("malformed frame")

// ErrFrameTooLarge is wrapped by Decode errors for a frame whose declared length exceeds
// [Options.MaxFrameSize]. Decode must return it before allocating anything for the frame.
var ErrFrameTooLarge = errors.New("frame too large")

// ErrorKind is why the proxy answers a request itself.
type ErrorKind uint8

// Error kinds for locally generated replies.
const (
	// Internal is a failure inside the proxy with no better description.
	Internal ErrorKind = iota
	// RouteNotFound: no route matched the request's metadata.
	RouteNotFound
	// ClusterNotFound: the matched route names a cluster the proxy does not have.
	ClusterNotFound
	// NoHealthyUpstream: the cluster has no endpoint to send to.
	NoHealthyUpstream
	// OverLimit: a rate limit or circuit breaker refused the request.
	OverLimit
	// Timeout: the upstream did not answer within the route's timeout.
	Timeout
	// UpstreamReset: the upstream connection failed or closed before the response.
	UpstreamReset
	// BadResponse: the upstream's response could not be decoded.
	BadResponse
	// BadRequest: the request could not be decoded or is too large.
	BadRequest
)

var errorKindNames = [...]string{"internal", "route_not_found", "cluster_not_found", "no_healthy_upstream", "over_limit", "timeout", "upstream_reset", "bad_response", "bad_request"}

// String returns the kind's snake_case name, used in metrics labels and access logs.
func (k ErrorKind) String() string {
	if int(k) < len(errorKindNames) {
		return errorKindNames[k]
	}
	return fmt.Sprintf("ErrorKind(%d)", uint8(k))
}

// ErrorKinds lists every kind, for metrics that pre-create one series per kind.
func ErrorKinds() []ErrorKind {
	ks := make([]ErrorKind, len(errorKindNames))
	for i := range ks {
		ks[i] = ErrorKind(i)
	}
	return ks
}

// LocalError is a failure the proxy reports to a client with [Codec.ErrorReply].
type LocalError struct {
	Kind    ErrorKind
	Message string
}

func (e *LocalError) Error() string { return e.Kind.String() + ": " + e.Message }

// NewLocalError returns a LocalError of kind with a formatted message.
func NewLocalError(kind ErrorKind, format string, args ...any) *LocalError {
	return &LocalError{Kind: kind, Message: fmt.Sprintf(format, args...)}
}
