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

// The fixed header: magic, body size (meta + payload + attachment), meta size.
const (
	headerSize = 12
	magic      = "PRPC"
)

// Field numbers of RpcMeta and the messages in it (api/peers/brpc/baidu_rpc_meta.proto).
const (
	metaRequest        protowire.Number = 1
	metaResponse       protowire.Number = 2
	metaCorrelationID  protowire.Number = 4
	metaAttachmentSize protowire.Number = 5
	metaChunkInfo      protowire.Number = 6
	metaStreamSettings protowire.Number = 8
	metaUserFields     protowire.Number = 9

	requestServiceName protowire.Number = 1
	requestMethodName  protowire.Number = 2
	requestLogID       protowire.Number = 3

	responseErrorCode protowire.Number = 1
	responseErrorText protowire.Number = 2
)

// Decode implements protocol.Codec. A request-side codec reads the meta's request part, a
// response-side codec its response part.
func (c *Codec) Decode(buf []byte, msg *protocol.Message) (int, error) {
	for i := 0; i < len(buf) && i < len(magic); i++ {
		if buf[i] != magic[i] {
			return 0, fmt.Errorf("%w: brpc: bad magic %q", protocol.ErrMalformed, buf[:i+1])
		}
	}
	if len(buf) < headerSize {
		return 0, protocol.ErrNeedMore
	}
	bodySize, metaSize := binary.BigEndian.Uint32(buf[4:]), binary.BigEndian.Uint32(buf[8:])
	if bodySize > math.MaxInt32 || headerSize+int(bodySize) > c.maxFrameSize {
		return 0, fmt.Errorf("%w: brpc: %d-byte body, limit %d bytes per frame", protocol.ErrFrameTooLarge, bodySize, c.maxFrameSize)
	}
	if metaSize > bodySize {
		return 0, fmt.Errorf("%w: brpc: meta size %d exceeds body size %d", protocol.ErrMalformed, metaSize, bodySize)
	}
	size := headerSize + int(bodySize)
	if len(buf) < size {
		return 0, protocol.ErrNeedMore
	}
	frame := buf[:size:size]
	meta := frame[headerSize : headerSize+int(metaSize)]
	if err := c.readMeta(meta, int(bodySize-metaSize), msg); err != nil {
		return 0, err
	}
	msg.Frame = frame
	msg.HeaderSize, msg.BodySize = headerSize+int(metaSize), int(bodySize-metaSize)
	return size, nil
}

// metaValues are what one walk of the meta finds. Repeated fields keep their last value and
// repeated messages merge, as in the peers' parsers.
type metaValues struct {
	id, logID                 uint64 // an absent correlation_id is 0, as protobuf has it
	hasLogID                  bool
	service, method           []byte
	hasService, hasMethod     bool
	errorCode                 int32
	errorText                 []byte
	attachmentSize            int64
	hasChunkInfo, hasStreamID bool
}

// readMeta walks the meta of a frame whose payload and attachment take room bytes, and
// fills msg's type, id, status and metadata.
func (c *Codec) readMeta(meta []byte, room int, msg *protocol.Message) error {
	var v metaValues
	err := c.walkMeta(meta, &v, msg)
	if c.side == protocol.RequestSide {
		msg.Type = protocol.Request
	} else {
		msg.Type = protocol.Response
	}
	msg.RequestID = v.id
	switch {
	case err != nil:
		return fmt.Errorf("%w: brpc: meta: %w", protocol.ErrMalformed, err)
	case v.attachmentSize < 0 || v.attachmentSize > int64(room):
		return fmt.Errorf("%w: brpc: attachment_size %d outside the %d bytes after the meta", protocol.ErrMalformed, v.attachmentSize, room)
	case v.hasChunkInfo:
		return fmt.Errorf("%w: brpc: chunked messages (chunk_info) are not supported", protocol.ErrMalformed)
	case v.hasStreamID:
		return fmt.Errorf("%w: brpc: streaming RPC (stream_settings) is not supported", protocol.ErrMalformed)
	}
	if c.side == protocol.ResponseSide {
		msg.Code = v.errorCode
		if v.errorCode != 0 {
			msg.Type, msg.Status = protocol.Error, protocol.StatusError
			msg.Metadata.Add(KeyErrorCode, c.texts.Int(int64(v.errorCode)))
			msg.Metadata.Add(KeyErrorText, protocol.AliasString(v.errorText))
		}
		return nil
	}
	if !v.hasService || !v.hasMethod {
		return fmt.Errorf("%w: brpc: request meta lacks service_name or method_name", protocol.ErrMalformed)
	}
	msg.Metadata.Add(KeyService, protocol.AliasString(v.service))
	msg.Metadata.Add(KeyMethod, protocol.AliasString(v.method))
	if v.hasLogID {
		msg.Metadata.Add(KeyLogID, c.texts.Int(int64(v.logID)))
	}
	return nil
}

// walkMeta reads the top-level RpcMeta fields into v, and user_fields into msg's metadata.
func (c *Codec) walkMeta(meta []byte, v *metaValues, msg *protocol.Message) error {
	f := pbwire.NewFields(meta)
	for f.Next() {
		switch {
		case f.Type == protowire.VarintType && f.Num == metaCorrelationID:
			v.id = f.Varint
		case f.Type == protowire.VarintType && f.Num == metaAttachmentSize:
			v.attachmentSize = int64(int32(f.Varint))
		case f.Type != protowire.BytesType:
		case f.Num == metaRequest && c.side == protocol.RequestSide:
			if err := readRequestMeta(f.Bytes, v); err != nil {
				return err
			}
		case f.Num == metaResponse && c.side == protocol.ResponseSide:
			if err := readResponseMeta(f.Bytes, v); err != nil {
				return err
			}
		case f.Num == metaChunkInfo:
			v.hasChunkInfo = true
		case f.Num == metaStreamSettings:
			v.hasStreamID = true
		case f.Num == metaUserFields:
			if err := addUserField(f.Bytes, msg); err != nil {
				return err
			}
		}
	}
	return f.Err()
}

func readRequestMeta(b []byte, v *metaValues) error {
	f := pbwire.NewFields(b)
	for f.Next() {
		switch {
		case f.Num == requestServiceName && f.Type == protowire.BytesType:
			v.service, v.hasService = f.Bytes, true
		case f.Num == requestMethodName && f.Type == protowire.BytesType:
			v.method, v.hasMethod = f.Bytes, true
		case f.Num == requestLogID && f.Type == protowire.VarintType:
			v.logID, v.hasLogID = f.Varint, true
		}
	}
	return f.Err()
}

func readResponseMeta(b []byte, v *metaValues) error {
	f := pbwire.NewFields(b)
	for f.Next() {
		switch {
		case f.Num == responseErrorCode && f.Type == protowire.VarintType:
			v.errorCode = int32(f.Varint)
		case f.Num == responseErrorText && f.Type == protowire.BytesType:
			v.errorText = f.Bytes
		}
	}
	return f.Err()
}

// errRepeatedUserField refuses a user_fields key that appears twice: the peer keeps the
// last value, Metadata.Get would return the first, and routing or authorization must not
// see another value than the server.
var errRepeatedUserField = errors.New("user_fields repeats a key")

// addUserField adds one user_fields entry to the metadata, unless its key is one the codec
// sets itself.
func addUserField(entry []byte, msg *protocol.Message) error {
	k, val, err := pbwire.MapEntry(entry)
	if err != nil {
		return err
	}
	key := protocol.AliasString(k)
	switch key {
	case KeyService, KeyMethod, KeyLogID, KeyErrorCode, KeyErrorText:
		return nil
	}
	for _, kv := range msg.Metadata.All() {
		if kv.Key == key {
			return fmt.Errorf("%w: %q", errRepeatedUserField, key)
		}
	}
	msg.Metadata.Add(key, protocol.AliasString(val))
	return nil
}
