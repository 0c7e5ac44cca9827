package thrift

import (
	"encoding/binary"
	"errors"
	"math"
)

// msgHeader is the start of a Thrift message: type, sequence id, method name, and where
// each is, relative to the start of the message.
type msgHeader struct {
	typ    byte
	seqID  uint32
	seqOff int
	// seqLen is the sequence id's width: 4 in the binary protocol, the varint's length in
	// the compact one.
	seqLen int
	name   []byte
	// body is where the argument (or result) struct starts.
	body int
}

// errBeyond is returned by parseMessageHeader for a method name longer than limit allows,
// with the header's length in msgHeader.body: the caller knows whether that is a truncated
// frame or one over the size limit.
var errBeyond = errors.New("message header runs past its limit")

// parseMessageHeader reads the message header at the start of b, which may hold more (or
// less) than the message. The message may take at most limit bytes.
func parseMessageHeader(b []byte, p proto, limit int) (msgHeader, error) {
	var h msgHeader
	if p == binaryProto {
		// version (0x8001, unused byte, type) | name length | name | sequence id
		if len(b) >= 2 && (b[0] != binaryVersionHigh || b[1] != binaryVersionLow) {
			return h, malformedf("binary message starts with %#x, want 0x8001", b[:2])
		}
		if len(b) < 8 {
			return h, errShort
		}
		h.typ = b[3]
		n := int32(binary.BigEndian.Uint32(b[4:]))
		if n < 0 {
			return h, malformedf("method name length %d", n)
		}
		end := 12 + int(n)
		if end > limit {
			h.body = end
			return h, errBeyond
		}
		if len(b) < end {
			return h, errShort
		}
		h.name = b[8 : 8+n]
		h.seqOff, h.seqLen = 8+int(n), 4
		h.seqID = binary.BigEndian.Uint32(b[h.seqOff:])
		h.body = end
	} else {
		// protocol id | version and type | sequence id (varint) | name length (varint) | name
		if len(b) >= 1 && b[0] != compactID {
			return h, malformedf("compact message starts with %#x, want 0x82", b[0])
		}
		if len(b) < 2 {
			return h, errShort
		}
		if b[1]&compactVersionBit != compactVersion {
			return h, malformedf("compact protocol version %d, want %d", b[1]&compactVersionBit, compactVersion)
		}
		h.typ = b[1] >> compactTypeShift
		seq, p, err := uvarint(b, 2, varint32Max)
		if err != nil {
			return h, err
		}
		h.seqID, h.seqOff, h.seqLen = uint32(seq), 2, p-2
		n, p, err := uvarint(b, p, varint32Max)
		if err != nil {
			return h, err
		}
		if n > math.MaxInt32 {
			return h, malformedf("method name length %d", n)
		}
		end := p + int(n)
		if end > limit {
			h.body = end
			return h, errBeyond
		}
		if len(b) < end {
			return h, errShort
		}
		h.name = b[p:end]
		h.body = end
	}
	if h.typ < typeCall || h.typ > typeOneway {
		return h, malformedf("message type %d (call 1, reply 2, exception 3, oneway 4)", h.typ)
	}
	return h, nil
}

// appendMessageBegin writes a message header.
func appendMessageBegin(b []byte, p proto, name string, typ byte, seqID uint32) []byte {
	if p == binaryProto {
		b = append(b, binaryVersionHigh, binaryVersionLow, 0, typ)
		b = binary.BigEndian.AppendUint32(b, uint32(len(name)))
		b = append(b, name...)
		return binary.BigEndian.AppendUint32(b, seqID)
	}
	b = append(b, compactID, compactVersion|typ<<compactTypeShift)
	b = appendUvarint(b, uint64(seqID))
	b = appendUvarint(b, uint64(len(name)))
	return append(b, name...)
}

// TApplicationException fields and the types the codec uses.
const (
	exceptionFieldMessage = 1
	exceptionFieldType    = 2

	exceptionUnknownMethod = 1
	exceptionInternalError = 6
	exceptionProtocolError = 7
)

// appendApplicationException writes a TApplicationException struct: message, type, stop.
func appendApplicationException(b []byte, p proto, text string, excType int32) []byte {
	if p == binaryProto {
		b = append(b, tString, 0, exceptionFieldMessage)
		b = binary.BigEndian.AppendUint32(b, uint32(len(text)))
		b = append(b, text...)
		b = append(b, tI32, 0, exceptionFieldType)
		b = binary.BigEndian.AppendUint32(b, uint32(excType))
		return append(b, tStop)
	}
	// Field headers carry the id delta (1 each time) in their high nibble.
	b = append(b, 1<<cDeltaShift|cBinary)
	b = appendUvarint(b, uint64(len(text)))
	b = append(b, text...)
	b = append(b, 1<<cDeltaShift|cI32)
	b = appendUvarint(b, uint64(uint32(excType<<1^excType>>31))) // zigzag
	return append(b, cStop)
}
