// Package dubbo is the codec for the Dubbo 2 protocol over TCP with hessian2 serialization
// (registered as "dubbo"; Aeraki's "aeraki.meta_protocol.codec.dubbo" resolves to it).
//
// A frame is a 16-byte header (magic 0xdabb, flags, status, 8-byte request id, body length)
// and a body of hessian2 values. For a request, the body holds the Dubbo version, service
// path, service version and method name, the parameter descriptor, one value per argument,
// and the attachments map. Decode reads a request just far enough to fill the metadata
// ("interface", "method", "version", "group", "dubbo" and the attachments; see the
// constants Key*): it steps over the arguments with a hessian2 reader that materialises
// nothing, and the metadata values alias the frame, so decoding a request allocates nothing.
// For a response it reads the header status and the response type that starts the body.
//
// Encode turns a mutation into attachments: it re-encodes only the attachments map and
// splices it in, with the body length patched. The codec rewrites request ids in place,
// answers heartbeats, sniffs the magic number, and builds error replies that Dubbo clients
// (Java and dubbo-go) raise as exceptions with the proxy's message.
//
// The README lists the metadata keys, the error-reply status table and the limits.
package dubbo
