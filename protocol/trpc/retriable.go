package trpc

import "github.com/breeze-mesh/breeze/protocol"

// Framework error codes (TrpcRetCode in trpc.proto) of refusals, besides those encode.go
// answers with.
const (
	retNoFunc   int32 = 12 // TRPC_SERVER_NOFUNC_ERR: the service has no such method
	retOverload int32 = 22 // TRPC_SERVER_OVERLOAD_ERR: the server's overload control refused
)

// Retriable implements protocol.RetryAdvisor: a response's framework error code (ret,
// Message.Code) says the server refused the request before its handler ran.
//
//   - 22 TRPC_SERVER_OVERLOAD_ERR and 23 TRPC_SERVER_LIMITED_ERR: the server's overload
//     control or rate limiter turned the request away (a Breeze proxy answers over_limit
//     with 23).
//   - 11 TRPC_SERVER_NOSERVICE_ERR and 12 TRPC_SERVER_NOFUNC_ERR: no handler to run (a
//     Breeze proxy answers route_not_found and cluster_not_found with 11); another
//     endpoint may have it.
//
// Not retriable: 21 (the request's deadline passed in the server, which may have started
// it), 31 system errors, decode/encode, auth and validation errors (any endpoint refuses
// the same bytes alike), and the client-side codes (1xx) a relaying server may pass on:
// that server's handler ran and its own call failed. Business errors (func_ret) are never
// a codec's concern.
func (c *Codec) Retriable(resp *protocol.Message) bool {
	if resp.Type != protocol.Error {
		return false
	}
	switch resp.Code {
	case retOverload, retLimited, retNoService, retNoFunc:
		return true
	}
	return false
}

var _ protocol.RetryAdvisor = (*Codec)(nil)
