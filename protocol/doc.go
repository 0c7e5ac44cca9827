// Package protocol is the codec SDK: everything a protocol author needs to bring an RPC
// protocol into the Breeze mesh, and nothing from the proxy.
//
// # What a codec does
//
// A codec turns bytes into [Message] values and back. The proxy does everything else —
// routing, load balancing, rate limiting, mirroring, metrics, tracing — by reading the flat
// string [Metadata] the codec fills in. A codec implements [Codec]:
//
//   - Decode reads one frame from the front of a byte slice. If the slice does not yet hold a
//     whole frame it returns [ErrNeedMore] and consumes nothing; the proxy calls it again with
//     more bytes. Input that can never become a valid frame returns an error wrapping
//     [ErrMalformed] or [ErrFrameTooLarge]. Decode must check a frame's length field against
//     [Options.MaxFrameSize] before it allocates anything for the frame.
//   - Encode returns the bytes to send for a message after applying a [Mutation] (key/values
//     a route or filter wants added to the request, e.g. Dubbo attachments or THeader
//     headers). With an empty mutation it must return [Message.Frame] itself: untouched frames
//     are forwarded as the original bytes.
//   - ErrorReply builds a protocol-native error response for a request the proxy answers
//     itself (no route, over limit, timeout, ...), carrying the request's id so the client
//     matches it to its call.
//
// Optional capabilities are separate interfaces, discovered with a type assertion:
//
//   - [IDRewriter]: rewrite a frame's request id in place. With it, the proxy shares one
//     upstream connection between many downstream clients (multiplexing); without it, each
//     in-flight request owns an upstream connection (ping-pong).
//   - [IDReplacer]: the same for protocols whose id field has a variable width (a protobuf
//     varint in bRPC and tRPC headers), where a new id may not fit in place.
//   - [HeartbeatResponder]: answer a client's heartbeat locally instead of forwarding it.
//   - [Sniffer]: say whether the first bytes of a connection are this protocol.
//   - [RetryAdvisor]: say whether an error response means the server refused the request
//     without running it, so a retry policy may send it to another endpoint.
//
// # Ownership and allocation
//
// Decode may keep references into the slice it is given: [Message.Frame] and metadata values
// may alias it. The proxy never overwrites bytes it has handed to a successful Decode, so a
// codec can expose metadata without copying, using [AliasString]. The proxy resets a Message
// (keeping its Metadata backing array) before each Decode and may reuse it once the request
// is finished.
//
// A codec value serves one connection direction. [Registration.New] is called once per
// connection direction. Decode is called from one goroutine at a time and may keep state
// across calls (a partially parsed header, a negotiated transport). Encode, ErrorReply and
// the optional methods may run concurrently with Decode and with each other, from other
// goroutines (responses are encoded on the upstream connection's goroutine; a filter may
// resume a request from a timer): they must not touch state Decode changes without
// synchronisation.
//
// # Registering
//
// A codec package registers itself from init:
//
//	func init() {
//		protocol.Register(protocol.Registration{
//			Name: "dubbo",
//			New:  func(o protocol.Options) protocol.Codec { return newCodec(o) },
//		})
//	}
//
// and is compiled in with a blank import. [Lookup] accepts the plain name ("dubbo") and
// Aeraki's form ("aeraki.meta_protocol.codec.dubbo").
//
// Package codectest holds the conformance kit every codec runs from its own tests.
package protocol
