package trpc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/protocol/internal/pbwire"
)

// Encode implements protocol.Codec. A mutation sets trans_info entries in the protobuf
// header of a request or a response: entries with the mutated keys are replaced, the others,
// and every other field, are kept byte for byte. Body and attachment are copied as they are.
func (c *Codec) Encode(msg *protocol.Message, mut protocol.Mutation) ([]byte, error) {
	if len(mut) == 0 {
		return msg.Frame, nil
	}
	pb, rest, err := split(msg.Frame)
	if err != nil {
		return nil, err
	}
	transInfo := reqTransInfo
	if msg.Type.IsResponse() {
		transInfo = rspTransInfo
	}
	out := make([]byte, headerSize, headerSize+pbwire.MutatedSizeBound(pb, transInfo, mut)+len(rest))
	if out, err = pbwire.AppendMutated(out, pb, transInfo, mut); err != nil {
		return nil, fmt.Errorf("trpc: mutate trans_info: %w", err)
	}
	return assemble(out, msg.Frame[:headerSize], rest)
}

// ReplaceRequestID implements protocol.IDReplacer. The id is request_id, a varint in the
// protobuf header, rewritten in place when the new id fits its bytes, else in a new frame;
// the fixed header's stream id is set too when it carries the request id (protocol
// version 1 and later).
func (c *Codec) ReplaceRequestID(frame []byte, id uint64) ([]byte, error) {
	if id > math.MaxUint32 {
		return nil, fmt.Errorf("trpc: request id %d does not fit 32 bits", id)
	}
	pb, rest, err := split(frame)
	if err != nil {
		return nil, err
	}
	old, start, end, found, err := pbwire.LastVarint(pb, fieldRequestID)
	if err != nil {
		return nil, fmt.Errorf("trpc: set request_id: %w", err)
	}
	headCarriesID := binary.BigEndian.Uint32(frame[offStreamID:]) == uint32(old)
	out := frame
	if !found || !pbwire.PutVarint(pb[start:end], id) {
		out = make([]byte, headerSize, len(frame)+protowire.SizeTag(fieldRequestID)+protowire.SizeVarint(id))
		if out, err = pbwire.AppendSetVarint(out, pb, fieldRequestID, id); err != nil {
			return nil, fmt.Errorf("trpc: set request_id: %w", err)
		}
		if out, err = assemble(out, frame[:headerSize], rest); err != nil {
			return nil, err
		}
	}
	if headCarriesID {
		binary.BigEndian.PutUint32(out[offStreamID:], uint32(id))
	}
	return out, nil
}

// ErrorReply implements protocol.Codec: a unary response carrying req's request id (in the
// protobuf header and, as protocol version 1 has it, in the fixed header's stream id), a
// framework error code as ret, and "breeze: " + the message as error_msg. tRPC clients
// return it as a framework error of the callee with that code and message.
func (c *Codec) ErrorReply(req *protocol.Message, e *protocol.LocalError) ([]byte, error) {
	if req.RequestID > math.MaxUint32 {
		return nil, fmt.Errorf("trpc: request id %d does not fit 32 bits", req.RequestID)
	}
	text, ret := "breeze: internal error", retSystem
	if e != nil {
		text, ret = "breeze: "+e.Message, retFor(e.Kind)
		if e.Message == "" {
			text = "breeze: " + e.Kind.String()
		}
	}
	out := make([]byte, headerSize, headerSize+3*protowire.SizeTag(1)+protowire.SizeVarint(req.RequestID)+protowire.SizeVarint(uint64(ret))+protowire.SizeBytes(len(text)))
	out = protowire.AppendTag(out, fieldRequestID, protowire.VarintType)
	out = protowire.AppendVarint(out, req.RequestID)
	out = protowire.AppendTag(out, rspRet, protowire.VarintType)
	out = protowire.AppendVarint(out, uint64(ret))
	out = protowire.AppendTag(out, rspErrorMsg, protowire.BytesType)
	out = protowire.AppendString(out, text)
	head := [headerSize]byte{magicHigh, magicLow, unaryFrame, 0}
	binary.BigEndian.PutUint32(head[offStreamID:], uint32(req.RequestID))
	head[offVersion] = 1
	if len(req.Frame) >= headerSize {
		head[offVersion] = req.Frame[offVersion] // answer in the version the client speaks
	}
	return assemble(out, head[:], nil)
}

// Framework error codes (TrpcRetCode in trpc.proto) the proxy answers with. They are the
// server-side codes: the client sees the proxy as its callee.
const (
	retDecode    int32 = 1  // TRPC_SERVER_DECODE_ERR
	retNoService int32 = 11 // TRPC_SERVER_NOSERVICE_ERR
	retTimeout   int32 = 21 // TRPC_SERVER_TIMEOUT_ERR
	retLimited   int32 = 23 // TRPC_SERVER_LIMITED_ERR
	retSystem    int32 = 31 // TRPC_SERVER_SYSTEM_ERR
)

// retFor names a local failure with the closest framework error code.
func retFor(kind protocol.ErrorKind) int32 {
	switch kind {
	case protocol.RouteNotFound, protocol.ClusterNotFound:
		return retNoService
	case protocol.BadRequest:
		return retDecode
	case protocol.Timeout:
		return retTimeout
	case protocol.OverLimit:
		return retLimited
	}
	return retSystem
}

var errNotAFrame = errors.New("trpc: not a whole unary tRPC frame")

// split returns the protobuf header and what follows it (body and attachment) of a whole
// unary frame.
func split(frame []byte) (pb, rest []byte, err error) {
	if len(frame) < headerSize || frame[0] != magicHigh || frame[1] != magicLow || frame[2] != unaryFrame {
		return nil, nil, errNotAFrame
	}
	total, pbSize := binary.BigEndian.Uint32(frame[4:]), int(binary.BigEndian.Uint16(frame[8:]))
	if uint64(total) != uint64(len(frame)) || headerSize+pbSize > len(frame) {
		return nil, nil, errNotAFrame
	}
	return frame[headerSize : headerSize+pbSize], frame[headerSize+pbSize:], nil
}

// assemble completes a frame: out holds room for the fixed header and then the protobuf
// header; rest follows; the fixed header is copied from head with the new sizes.
func assemble(out, head, rest []byte) ([]byte, error) {
	pbSize := len(out) - headerSize
	if pbSize > math.MaxUint16 {
		return nil, fmt.Errorf("trpc: a %d-byte protobuf header does not fit the frame header's 16 bits", pbSize)
	}
	out = append(out, rest...)
	if len(out) > math.MaxUint32 {
		return nil, fmt.Errorf("trpc: a %d-byte frame does not fit the frame header's 32 bits", len(out))
	}
	copy(out, head[:headerSize])
	binary.BigEndian.PutUint32(out[4:], uint32(len(out)))
	binary.BigEndian.PutUint16(out[8:], uint16(pbSize))
	return out, nil
}
