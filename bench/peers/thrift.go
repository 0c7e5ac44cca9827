package peers

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/apache/thrift/lib/go/thrift"
)

// ThriftFramed is the framing of Thrift's framed transport carrying the strict binary
// protocol: a 4-byte length, then the message header (version word with the message type,
// method name, sequence id). The sequence id is the request id. A response is OK when it
// is a REPLY (not an EXCEPTION).
var ThriftFramed = Framing{Len: thriftFrameLen, ID: thriftSeqID, SetID: setThriftSeqID, OK: thriftOK}

// thriftMaxFrame bounds what the framing accepts, so garbage does not look like a 2 GiB frame.
const thriftMaxFrame = 16 << 20

// ThriftRequest returns a framed binary CALL of method with one string argument (field 1)
// of payload bytes, encoded by the Apache Thrift library.
func ThriftRequest(method string, payload int) []byte {
	return thriftMessage(method, thrift.CALL, 1, strings.Repeat("x", payload))
}

// ThriftResponse returns a framed binary REPLY to method whose result struct holds a
// string success value (field 0) of payload bytes.
func ThriftResponse(method string, payload int) []byte {
	return thriftMessage(method, thrift.REPLY, 0, strings.Repeat("y", payload))
}

// thriftMessage encodes name(seq 1) with a struct of one string field.
func thriftMessage(name string, kind thrift.TMessageType, field int16, value string) []byte {
	ctx := context.Background()
	mem := thrift.NewTMemoryBuffer()
	conf := &thrift.TConfiguration{}
	framed := thrift.NewTFramedTransportConf(mem, conf)
	p := thrift.NewTBinaryProtocolConf(framed, conf)
	must(p.WriteMessageBegin(ctx, name, kind, 1))
	must(p.WriteStructBegin(ctx, name+"_args"))
	must(p.WriteFieldBegin(ctx, "value", thrift.STRING, field))
	must(p.WriteString(ctx, value))
	must(p.WriteFieldEnd(ctx))
	must(p.WriteFieldStop(ctx))
	must(p.WriteStructEnd(ctx))
	must(p.WriteMessageEnd(ctx))
	must(p.Flush(ctx))
	return append([]byte(nil), mem.Bytes()...)
}

func thriftFrameLen(b []byte) (int, error) {
	if len(b) < 4 {
		return 0, nil
	}
	n := binary.BigEndian.Uint32(b)
	if n > thriftMaxFrame {
		return 0, fmt.Errorf("thrift frame of %d bytes is over the %d-byte limit", n, thriftMaxFrame)
	}
	return 4 + int(n), nil
}

// thriftSeqIDOffset locates the sequence id: after the length, the version word and the
// method name (a 4-byte length and its bytes).
func thriftSeqIDOffset(frame []byte) int {
	if len(frame) < 12 {
		return -1
	}
	off := 12 + int(binary.BigEndian.Uint32(frame[8:12]))
	if off+4 > len(frame) || off < 12 {
		return -1
	}
	return off
}

func thriftSeqID(frame []byte) uint64 {
	off := thriftSeqIDOffset(frame)
	if off < 0 {
		return 0
	}
	return uint64(binary.BigEndian.Uint32(frame[off:]))
}

func setThriftSeqID(frame []byte, id uint64) {
	if off := thriftSeqIDOffset(frame); off >= 0 {
		binary.BigEndian.PutUint32(frame[off:], uint32(id))
	}
}

// thriftOK reads the message type from the low byte of the version word.
func thriftOK(frame []byte) bool {
	return len(frame) > 7 && thrift.TMessageType(frame[7]) == thrift.REPLY
}
