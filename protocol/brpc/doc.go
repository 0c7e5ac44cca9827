// Package brpc is the codec for bRPC's baidu_std protocol (also spoken by pbrpc and
// Jprotobuf-rpc-socket), registered as "brpc".
//
// A frame is a 12-byte header — "PRPC", the body size and the meta size, big-endian uint32s —
// and a body: a protobuf RpcMeta, the payload, and an attachment whose size the meta gives.
// Decode walks the meta where it lies (package pbwire) and aliases metadata values into the
// frame, so decoding a request allocates nothing. Requests and responses share the RpcMeta
// schema and cannot be told apart by bytes alone; the codec's side says which to expect.
//
// See README.md for the metadata keys, what a mutation does, and the error replies.
package brpc
