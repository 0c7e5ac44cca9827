package brpc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/protocol/internal/pbwire"
)

// Encode implements protocol.Codec. A mutation sets user_fields entries in the meta of a
// request or a response: entries with the mutated keys are replaced, the others, and every
// other field, are kept byte for byte. The payload and attachment are copied as they are.
func (c *Codec) Encode(msg *protocol.Message, mut protocol.Mutation) ([]byte, error) {
	if len(mut) == 0 {
		return msg.Frame, nil
	}
	meta, rest, err := split(msg.Frame)
	if err != nil {
		return nil, err
	}
	out := make([]byte, headerSize, headerSize+pbwire.MutatedSizeBound(meta, metaUserFields, mut)+len(rest))
	out, err = pbwire.AppendMutated(out, meta, metaUserFields, mut)
	if err != nil {
		return nil, fmt.Errorf("brpc: mutate user_fields: %w", err)
	}
	return assemble(out, rest)
}

// ReplaceRequestID implements protocol.IDReplacer: correlation_id is a varint in the meta,
// rewritten in place when the new id fits its bytes, else in a new frame.
func (c *Codec) ReplaceRequestID(frame []byte, id uint64) ([]byte, error) {
	meta, rest, err := split(frame)
	if err != nil {
		return nil, err
	}
	done, err := pbwire.SetVarint(meta, metaCorrelationID, id)
	if err != nil {
		return nil, fmt.Errorf("brpc: set correlation_id: %w", err)
	}
	if done {
		return frame, nil
	}
	out := make([]byte, headerSize, len(frame)+protowire.SizeTag(metaCorrelationID)+protowire.SizeVarint(id))
	if out, err = pbwire.AppendSetVarint(out, meta, metaCorrelationID, id); err != nil {
		return nil, fmt.Errorf("brpc: set correlation_id: %w", err)
	}
	return assemble(out, rest)
}

// ErrorReply implements protocol.Codec: a response whose meta carries req's correlation id
// and a response part with an error code from bRPC's errno list and the text
// "breeze: " + the message, which bRPC clients report as the call's error.
func (c *Codec) ErrorReply(req *protocol.Message, e *protocol.LocalError) ([]byte, error) {
	text, code := "breeze: internal error", errInternal
	if e != nil {
		text, code = "breeze: "+e.Message, errorCodeFor(e.Kind)
		if e.Message == "" {
			text = "breeze: " + e.Kind.String()
		}
	}
	resp := protowire.SizeTag(responseErrorCode) + protowire.SizeVarint(uint64(code)) +
		protowire.SizeTag(responseErrorText) + protowire.SizeBytes(len(text))
	out := make([]byte, headerSize, headerSize+protowire.SizeTag(metaResponse)+protowire.SizeBytes(resp)+
		protowire.SizeTag(metaCorrelationID)+protowire.SizeVarint(req.RequestID))
	out = protowire.AppendTag(out, metaResponse, protowire.BytesType)
	out = protowire.AppendVarint(out, uint64(resp))
	out = protowire.AppendTag(out, responseErrorCode, protowire.VarintType)
	out = protowire.AppendVarint(out, uint64(code))
	out = protowire.AppendTag(out, responseErrorText, protowire.BytesType)
	out = protowire.AppendString(out, text)
	out = protowire.AppendTag(out, metaCorrelationID, protowire.VarintType)
	out = protowire.AppendVarint(out, req.RequestID)
	return assemble(out, nil)
}

// Error codes of bRPC's errno.proto the proxy answers with.
const (
	errNoService     int32 = 1001 // ENOSERVICE: service not found
	errRequest       int32 = 1003 // EREQUEST: bad request
	errRPCTimedOut   int32 = 1008 // ERPCTIMEDOUT: the call timed out
	errInternal      int32 = 2001 // EINTERNAL: internal server error
	errBadResponse   int32 = 2002 // ERESPONSE: bad response
	errLimitExceeded int32 = 2004 // ELIMIT: reached the server's limit on resources
)

// errorCodeFor names a local failure with the bRPC error code closest to it. Errors brpc's
// default retry policy retries on (EFAILEDSOCKET, EEOF, ...) are avoided: the request may
// have reached an upstream already.
func errorCodeFor(kind protocol.ErrorKind) int32 {
	switch kind {
	case protocol.RouteNotFound, protocol.ClusterNotFound:
		return errNoService
	case protocol.BadRequest:
		return errRequest
	case protocol.Timeout:
		return errRPCTimedOut
	case protocol.BadResponse:
		return errBadResponse
	case protocol.OverLimit:
		return errLimitExceeded
	}
	return errInternal
}

var errNotAFrame = errors.New("brpc: not a whole baidu_std frame")

// split returns the meta and what follows it (payload and attachment) of a whole frame.
func split(frame []byte) (meta, rest []byte, err error) {
	if len(frame) < headerSize || string(frame[:len(magic)]) != magic {
		return nil, nil, errNotAFrame
	}
	bodySize, metaSize := binary.BigEndian.Uint32(frame[4:]), binary.BigEndian.Uint32(frame[8:])
	if uint64(bodySize) != uint64(len(frame)-headerSize) || metaSize > bodySize {
		return nil, nil, errNotAFrame
	}
	end := headerSize + int(metaSize)
	return frame[headerSize:end], frame[end:], nil
}

// assemble completes a frame: out holds room for the header and then the meta; rest
// follows; the header is written last, when the sizes are known.
func assemble(out, rest []byte) ([]byte, error) {
	metaSize := len(out) - headerSize
	out = append(out, rest...)
	bodySize := len(out) - headerSize
	if bodySize > math.MaxInt32 {
		return nil, fmt.Errorf("brpc: a %d-byte body does not fit the header", bodySize)
	}
	copy(out, magic)
	binary.BigEndian.PutUint32(out[4:], uint32(bodySize))
	binary.BigEndian.PutUint32(out[8:], uint32(metaSize))
	return out, nil
}
