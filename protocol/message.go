package protocol

import "fmt"

// MessageType says what a frame is. The proxy routes requests, matches responses to
// requests by id, forwards oneway requests without waiting, and answers heartbeats.
type MessageType uint8

// Message types. The zero value is invalid so a codec that forgets to set the type is caught.
const (
	// Request expects exactly one Response (or Error) with the same request id.
	Request MessageType = iota + 1
	// Response answers a Request.
	Response
	// Oneway is a request for which no response will come.
	Oneway
	// Heartbeat is a keep-alive, in either direction; see [HeartbeatResponder].
	Heartbeat
	// Error is a response that carries a failure (an exception, a non-OK status).
	Error
	// StreamInit opens a stream; it is routed like a request.
	StreamInit
	// StreamData is a frame within an open stream.
	StreamData
	// StreamClose ends a stream.
	StreamClose
)

var messageTypeNames = [...]string{"invalid", "request", "response", "oneway", "heartbeat", "error", "stream_init", "stream_data", "stream_close"}

func (t MessageType) String() string {
	if int(t) < len(messageTypeNames) {
		return messageTypeNames[t]
	}
	return fmt.Sprintf("MessageType(%d)", uint8(t))
}

// IsResponse reports whether t answers a request (Response or Error).
func (t MessageType) IsResponse() bool { return t == Response || t == Error }

// Status is the outcome a response reports, in protocol-neutral terms. Metrics map it to
// Istio's response_code, outlier detection counts StatusError as a failure.
type Status uint8

const (
	// StatusOK is a successful response (or a request: requests have no status).
	StatusOK Status = iota
	// StatusError is a response that reports a failure.
	StatusError
)

// Message is one decoded frame. The codec fills it; the proxy reads the type, id and
// metadata and forwards Frame.
type Message struct {
	// Type is what the frame is; Decode must set it.
	Type MessageType
	// RequestID pairs a response with its request. Protocols whose ids are narrower than 64
	// bits store them zero-extended.
	RequestID uint64
	// StreamID identifies the stream of StreamInit/StreamData/StreamClose frames.
	StreamID uint64
	// Status is the outcome reported by a Response or Error.
	Status Status
	// Code is the protocol's own status code of a Response or Error, as the protocol
	// defines it (each codec's README says which number: Dubbo's status byte, tRPC's ret,
	// bRPC's error code, Thrift's TApplicationException type). 0 when the codec reports
	// none. Metrics label responses with it and retry policies match it; Status, not
	// Code, says whether the response is a success.
	Code int32
	// Metadata holds the routable attributes of the frame (see the codec's README for keys).
	Metadata Metadata
	// Frame is the whole frame as received, header included.
	Frame []byte
	// HeaderSize and BodySize are the frame's parts as the protocol defines them; they
	// add up to len(Frame) for most protocols and feed byte counters and traces.
	HeaderSize, BodySize int
	// CodecState is for the codec's own use between Decode and Encode (for instance the
	// offset of a section Encode rewrites). The proxy never reads it.
	CodecState any
}

// Reset clears m for reuse, keeping the Metadata's storage.
func (m *Message) Reset() {
	kvs := m.Metadata.kvs
	grown := cap(kvs) > 0 && &kvs[:1][0] != &m.Metadata.inline[0]
	*m = Message{}
	if grown {
		clear(kvs[:cap(kvs)]) // drop references to the old message's strings
		m.Metadata.kvs = kvs[:0]
	}
}

// Size is the length of the frame in bytes.
func (m *Message) Size() int { return len(m.Frame) }
