package thrift

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/breeze-mesh/breeze/protocol"
)

// Message types, as both protocols write them.
const (
	typeCall      = 1
	typeReply     = 2
	typeException = 3
	typeOneway    = 4
)

// Protocol markers: the strict binary version word starts 0x80 0x01; a compact message
// starts with its protocol id, then a byte holding the version in its low 5 bits and the
// message type in its high 3.
const (
	binaryVersionHigh = 0x80
	binaryVersionLow  = 0x01
	compactID         = 0x82
	compactVersion    = 1
	compactVersionBit = 0x1f
	compactTypeShift  = 5
)

// Field types of the binary protocol; the compact protocol's are mapped onto these.
const (
	tStop   = 0
	tBool   = 2
	tByte   = 3
	tDouble = 4
	tI16    = 6
	tI32    = 8
	tI64    = 10
	tString = 11
	tStruct = 12
	tMap    = 13
	tSet    = 14
	tList   = 15
	tUUID   = 16
)

// Field types of the compact protocol.
const (
	cStop       = 0
	cBoolTrue   = 1
	cBoolFalse  = 2
	cByte       = 3
	cI16        = 4
	cI32        = 5
	cI64        = 6
	cDouble     = 7
	cBinary     = 8
	cList       = 9
	cSet        = 10
	cMap        = 11
	cStruct     = 12
	cUUID       = 13
	cTypeCount  = 14
	cTypeBits   = 0x0f
	cDeltaShift = 4
)

// compactTypes maps a compact field type to the binary one (0 for none).
var compactTypes = [cTypeCount]byte{
	cBoolTrue: tBool, cBoolFalse: tBool, cByte: tByte, cI16: tI16, cI32: tI32, cI64: tI64,
	cDouble: tDouble, cBinary: tString, cList: tList, cSet: tSet, cMap: tMap, cStruct: tStruct,
	cUUID: tUUID,
}

// errShort is returned by the readers when the input ends before what they read: more
// bytes may complete it (ErrNeedMore), or, inside a complete frame, it is truncated.
var errShort = errors.New("input ends early")

func malformedf(format string, args ...any) error {
	return fmt.Errorf("thrift: "+format+": %w", append(args, protocol.ErrMalformed)...)
}

func tooLargef(format string, args ...any) error {
	return fmt.Errorf("thrift: "+format+": %w", append(args, protocol.ErrFrameTooLarge)...)
}

// Varint widths: a 32-bit value takes at most 5 bytes, a 16-bit one 3, a 64-bit one 10.
const (
	varint16Max = 3
	varint32Max = 5
	varint64Max = 10
)

// uvarint reads the unsigned LEB128 varint at b[p:] of at most maxLen bytes and returns it
// with the offset after it. Redundant continuation bytes are accepted, as Apache Thrift's
// reader accepts them; bits above 64 are dropped.
func uvarint(b []byte, p, maxLen int) (v uint64, next int, err error) {
	var shift uint
	for i := 0; i < maxLen; i++ {
		if p+i >= len(b) {
			return 0, 0, errShort
		}
		c := b[p+i]
		if shift < 64 {
			v |= uint64(c&0x7f) << shift
		}
		if c&0x80 == 0 {
			return v, p + i + 1, nil
		}
		shift += 7
	}
	return 0, 0, malformedf("varint longer than %d bytes", maxLen)
}

// uvarintLen is the number of bytes of v as a canonical varint.
func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func appendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

// be32 reads a big-endian uint32 at b[p:], or errShort.
func be32(b []byte, p int) (uint32, error) {
	if p+4 > len(b) {
		return 0, errShort
	}
	return binary.BigEndian.Uint32(b[p:]), nil
}

func be16(b []byte, p int) (uint16, error) {
	if p+2 > len(b) {
		return 0, errShort
	}
	return binary.BigEndian.Uint16(b[p:]), nil
}
