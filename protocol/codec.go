package protocol

// Side says which peer's frames a codec decodes. Some protocols cannot tell a request from
// a response by bytes alone (brpc, tRPC); the side tells them which header schema to expect.
type Side uint8

const (
	// RequestSide decodes what clients send (requests) and encodes what goes back to them.
	RequestSide Side = iota
	// ResponseSide decodes what servers send (responses) and encodes requests to them.
	ResponseSide
)

func (s Side) String() string {
	if s == ResponseSide {
		return "response"
	}
	return "request"
}

// Options configure a codec for one connection direction.
type Options struct {
	// Side says whose frames Decode reads.
	Side Side
	// MaxFrameSize is the largest frame Decode accepts, in bytes. Always > 0.
	MaxFrameSize int
}

// DefaultMaxFrameSize is used when the configuration sets no limit: 8 MiB, as Dubbo's
// default payload limit.
const DefaultMaxFrameSize = 8 << 20

// Codec decodes and encodes one protocol's frames. See the package documentation for the
// contract in full.
type Codec interface {
	// Decode decodes the first frame of buf into msg (which the caller has reset) and
	// returns how many bytes it used. With an incomplete frame it returns 0, ErrNeedMore.
	// For input that is not a valid frame it returns an error wrapping ErrMalformed or
	// ErrFrameTooLarge; if the header was readable it sets msg.Type and msg.RequestID first,
	// so the proxy can answer the request with an error reply.
	Decode(buf []byte, msg *Message) (n int, err error)

	// Encode returns the frame to send for msg with mut applied. With an empty mutation (or a
	// protocol that cannot carry one) it returns msg.Frame unchanged. It may reuse
	// msg.Frame's memory only if the result fits; the returned slice is what gets sent.
	Encode(msg *Message, mut Mutation) ([]byte, error)

	// ErrorReply returns a complete protocol-native error response to req, carrying
	// req.RequestID, that the protocol's clients turn into an error for the caller. req holds
	// at least Type and RequestID; other fields may be zero when decoding failed early.
	ErrorReply(req *Message, e *LocalError) ([]byte, error)
}

// IDRewriter is implemented by codecs whose frames carry a request id the proxy may
// rewrite, which lets many downstream clients share one upstream connection.
type IDRewriter interface {
	// RewriteRequestID sets the request id of a complete frame, in place. The proxy only
	// uses ids from 1 to MaxSharedRequestID.
	RewriteRequestID(frame []byte, id uint64) error
}

// IDReplacer is implemented instead of IDRewriter by codecs whose request id field has a
// variable width, such as a protobuf varint (bRPC's correlation_id, tRPC's request_id): a
// new id may need more bytes than the old one, so it cannot always be written in place. The
// proxy multiplexes upstream connections with either interface.
type IDReplacer interface {
	// ReplaceRequestID returns the frame with its request id set to id. When the new id
	// fits, it rewrites frame in place and returns it; otherwise it returns a new frame and
	// leaves frame unchanged. The proxy only uses ids from 1 to MaxSharedRequestID.
	ReplaceRequestID(frame []byte, id uint64) ([]byte, error)
}

// MaxSharedRequestID is the largest id the proxy assigns when it rewrites request ids: it
// fits the narrowest id field of the protocols we know (Thrift's signed 32-bit sequence id).
const MaxSharedRequestID = 1<<31 - 1

// HeartbeatResponder is implemented by codecs whose protocol has heartbeats the proxy
// should answer itself rather than forward.
type HeartbeatResponder interface {
	// HeartbeatReply returns the answer to a Heartbeat message decoded on the request side.
	HeartbeatReply(req *Message) ([]byte, error)
}

// HeartbeatRequester is implemented by codecs whose protocol has a heartbeat a client can
// send. The proxy's active health checks send it to each endpoint and expect a Heartbeat
// message with the same request id back.
type HeartbeatRequester interface {
	// HeartbeatRequest returns a complete heartbeat request frame carrying id.
	HeartbeatRequest(id uint64) []byte
}

// RetryAdvisor is implemented by codecs whose protocol has responses that say the server
// refused a request without running it: overloaded, rate limited, shutting down, or without
// the service the request names. Such a request may safely be sent to another endpoint, and
// a route whose retry_on has retriable-status does that. Errors the server may have met
// while running the request (a timeout, an exception from the application) are not
// retriable: repeating them could run a non-idempotent request twice.
//
// A codec's [Codec.ErrorReply] for the proxy's own refusals (over_limit, route_not_found,
// cluster_not_found) should be answers its Retriable accepts, so that a refusal by one
// Breeze proxy is retried by the proxy in front of it.
type RetryAdvisor interface {
	// Retriable reports whether resp, a decoded Response or Error, says the server refused
	// the request without running it. It reads resp's Type, Status, Code and Metadata, may
	// run concurrently with Decode, and must not allocate.
	Retriable(resp *Message) bool
}

// SniffResult is a sniffer's verdict.
type SniffResult uint8

const (
	// SniffNo means the bytes are not this protocol.
	SniffNo SniffResult = iota
	// SniffYes means the bytes are this protocol.
	SniffYes
	// SniffNeedMore means there are too few bytes to tell.
	SniffNeedMore
)

// Sniffer is implemented by codecs that can recognise their protocol from a connection's
// first bytes.
type Sniffer interface {
	Sniff(prefix []byte) SniffResult
}
