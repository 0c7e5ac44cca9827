// Package thrift is the codec for Apache Thrift: the binary and compact protocols over the
// framed, unframed (buffered) and THeader transports, and kitex's TTHeader. Every frame says
// by its first bytes which of these it is, so one listener (and one connection) serves them
// all; replies and error replies are written the way the request came.
//
// Metadata values alias the frame, so decoding a framed request allocates nothing; an
// unframed message has no length prefix, and Decode steps over its fields to find where it
// ends, remembering how far it got when the message is still arriving. See README.md for the
// metadata keys, mutation, error replies and limits.
package thrift
