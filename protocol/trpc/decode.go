package trpc

import (
	"encoding/binary"
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/protocol/internal/pbwire"
)

// The fixed header (big-endian): magic (2), data frame type (1), stream frame type (1),
// total frame size (4), protobuf header size (2), stream id (4), protocol version (1),
// reserved (1). Since protocol version 1 a unary frame carries its request id as the
// stream id too.
const (
	headerSize          = 16
	magicHigh, magicLow = 0x09, 0x30
	unaryFrame          = 0
	streamFrame         = 1
	offStreamID         = 10
	offVersion          = 14
)

// Field numbers of RequestProtocol and ResponseProtocol (trpc.proto of the tRPC protocol).
const (
	fieldCallType  protowire.Number = 2 // both
	fieldRequestID protowire.Number = 3 // both

	reqCaller         protowire.Number = 5
	reqCallee         protowire.Number = 6
	reqFunc           protowire.Number = 7
	reqTransInfo      protowire.Number = 9
	reqAttachmentSize protowire.Number = 12

	rspRet            protowire.Number = 4
	rspFuncRet        protowire.Number = 5
	rspErrorMsg       protowire.Number = 6
	rspTransInfo      protowire.Number = 8
	rspAttachmentSize protowire.Number = 12

	onewayCall = 1 // TRPC_ONEWAY_CALL
)

// Decode implements protocol.Codec. A request-side codec reads a RequestProtocol header, a
// response-side codec a ResponseProtocol header.
func (c *Codec) Decode(buf []byte, msg *protocol.Message) (int, error) {
	switch {
	case len(buf) >= 1 && buf[0] != magicHigh, len(buf) >= 2 && buf[1] != magicLow:
		return 0, fmt.Errorf("%w: trpc: bad magic %x", protocol.ErrMalformed, buf[:min(len(buf), 2)])
	case len(buf) < headerSize:
		return 0, protocol.ErrNeedMore
	}
	total, pbSize := binary.BigEndian.Uint32(buf[4:]), int(binary.BigEndian.Uint16(buf[8:]))
	switch {
	case uint64(total) > uint64(c.maxFrameSize):
		return 0, fmt.Errorf("%w: trpc: %d-byte frame, limit %d", protocol.ErrFrameTooLarge, total, c.maxFrameSize)
	case buf[2] == streamFrame:
		return 0, fmt.Errorf("%w: trpc: streaming frames are not supported", protocol.ErrMalformed)
	case buf[2] != unaryFrame:
		return 0, fmt.Errorf("%w: trpc: unknown data frame type %d", protocol.ErrMalformed, buf[2])
	case pbSize == 0:
		return 0, fmt.Errorf("%w: trpc: unary frame without a protobuf header", protocol.ErrMalformed)
	case int(total) < headerSize+pbSize:
		return 0, fmt.Errorf("%w: trpc: total size %d below the %d-byte headers", protocol.ErrMalformed, total, headerSize+pbSize)
	case len(buf) < int(total):
		return 0, protocol.ErrNeedMore
	}
	size := int(total)
	frame := buf[:size:size]
	room := size - headerSize - pbSize
	var err error
	if c.side == protocol.RequestSide {
		err = c.readRequest(frame[headerSize:headerSize+pbSize], room, msg)
	} else {
		err = c.readResponse(frame[headerSize:headerSize+pbSize], room, msg)
	}
	if err != nil {
		return 0, err
	}
	msg.Frame = frame
	msg.HeaderSize, msg.BodySize = headerSize+pbSize, room
	return size, nil
}

// readRequest reads a RequestProtocol whose frame has room bytes for body and attachment.
// Repeated fields keep their last value, as in the peers' parsers; so does Metadata for
// caller, callee and func, which are set once the walk is done.
func (c *Codec) readRequest(pb []byte, room int, msg *protocol.Message) error {
	var caller, callee, fn []byte
	var callType, attachment uint64
	msg.Type = protocol.Request
	f := pbwire.NewFields(pb)
	for f.Next() {
		switch {
		case f.Type == protowire.VarintType && f.Num == fieldRequestID:
			msg.RequestID = uint64(uint32(f.Varint))
		case f.Type == protowire.VarintType && f.Num == fieldCallType:
			callType = uint64(uint32(f.Varint))
		case f.Type == protowire.VarintType && f.Num == reqAttachmentSize:
			attachment = uint64(uint32(f.Varint))
		case f.Type != protowire.BytesType:
		case f.Num == reqCaller:
			caller = f.Bytes
		case f.Num == reqCallee:
			callee = f.Bytes
		case f.Num == reqFunc:
			fn = f.Bytes
		case f.Num == reqTransInfo:
			if err := addTransInfo(f.Bytes, msg); err != nil {
				return fmt.Errorf("%w: trpc: %w", protocol.ErrMalformed, err)
			}
		}
	}
	if err := f.Err(); err != nil {
		return fmt.Errorf("%w: trpc: request header: %w", protocol.ErrMalformed, err)
	}
	if callType == onewayCall {
		msg.Type = protocol.Oneway
	}
	if attachment > uint64(room) {
		return fmt.Errorf("%w: trpc: attachment_size %d beyond the %d bytes after the header", protocol.ErrMalformed, attachment, room)
	}
	for _, kv := range [...]struct {
		key   string
		value []byte
	}{{KeyCaller, caller}, {KeyCallee, callee}, {KeyFunc, fn}} {
		if len(kv.value) > 0 {
			msg.Metadata.Add(kv.key, protocol.AliasString(kv.value))
		}
	}
	return nil
}

// readResponse reads a ResponseProtocol whose frame has room bytes for body and attachment.
func (c *Codec) readResponse(pb []byte, room int, msg *protocol.Message) error {
	var ret, funcRet int32
	var errorMsg []byte
	var attachment uint64
	msg.Type = protocol.Response
	f := pbwire.NewFields(pb)
	for f.Next() {
		switch {
		case f.Type == protowire.VarintType && f.Num == fieldRequestID:
			msg.RequestID = uint64(uint32(f.Varint))
		case f.Type == protowire.VarintType && f.Num == rspRet:
			ret = int32(f.Varint)
		case f.Type == protowire.VarintType && f.Num == rspFuncRet:
			funcRet = int32(f.Varint)
		case f.Type == protowire.VarintType && f.Num == rspAttachmentSize:
			attachment = uint64(uint32(f.Varint))
		case f.Type != protowire.BytesType:
		case f.Num == rspErrorMsg:
			errorMsg = f.Bytes
		case f.Num == rspTransInfo:
			if err := addTransInfo(f.Bytes, msg); err != nil {
				return fmt.Errorf("%w: trpc: %w", protocol.ErrMalformed, err)
			}
		}
	}
	if err := f.Err(); err != nil {
		return fmt.Errorf("%w: trpc: response header: %w", protocol.ErrMalformed, err)
	}
	if attachment > uint64(room) {
		return fmt.Errorf("%w: trpc: attachment_size %d beyond the %d bytes after the header", protocol.ErrMalformed, attachment, room)
	}
	// Code is the framework's ret: the codes tRPC itself defines (TrpcRetCode), which
	// mean the same in every service. func_ret is the application's own number, kept in
	// the metadata.
	msg.Code = ret
	if ret != 0 || funcRet != 0 {
		msg.Type, msg.Status = protocol.Error, protocol.StatusError
		if ret != 0 {
			msg.Metadata.Add(KeyRet, c.texts.Int(int64(ret)))
		}
		if funcRet != 0 {
			msg.Metadata.Add(KeyFuncRet, c.texts.Int(int64(funcRet)))
		}
		msg.Metadata.Add(KeyErrorMsg, protocol.AliasString(errorMsg))
	}
	return nil
}

// errRepeatedTransInfo refuses a trans_info key that appears twice: the peer keeps the last
// value, Metadata.Get would return the first, and routing or authorization must not see
// another value than the server.
var errRepeatedTransInfo = errors.New("trans_info repeats a key")

// addTransInfo adds one trans_info entry to the metadata, unless its key is one the codec
// sets itself.
func addTransInfo(entry []byte, msg *protocol.Message) error {
	k, val, err := pbwire.MapEntry(entry)
	if err != nil {
		return fmt.Errorf("trans_info: %w", err)
	}
	key := protocol.AliasString(k)
	switch key {
	case KeyCaller, KeyCallee, KeyFunc, KeyRet, KeyFuncRet, KeyErrorMsg:
		return nil
	}
	for _, kv := range msg.Metadata.All() {
		if kv.Key == key {
			return fmt.Errorf("%w: %q", errRepeatedTransInfo, key)
		}
	}
	msg.Metadata.Add(key, protocol.AliasString(val))
	return nil
}
