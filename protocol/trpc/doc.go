// Package trpc is the codec for the tRPC protocol (trpc-go, trpc-cpp), registered as
// "trpc".
//
// A frame is a 16-byte fixed header — magic 0x0930, data frame type, stream frame type,
// total size, protobuf header size, stream id, protocol version, reserved — then a protobuf
// header (RequestProtocol or ResponseProtocol), the body and an attachment whose size the
// header gives. Decode walks the protobuf header where it lies (package pbwire) and aliases
// metadata values into the frame, so decoding a request allocates nothing. Requests and
// responses cannot be told apart by bytes alone; the codec's side says which header to
// expect.
//
// Unary calls (oneway included) are supported; streaming frames are refused. See README.md
// for the metadata keys, what a mutation does, and the error replies.
package trpc
