package peers

import (
	"encoding/binary"
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
	trpcpb "trpc.group/trpc/trpc-protocol/pb/go/trpc"
)

// TRPC is the framing of tRPC unary frames: a 16-byte header (magic 0x0930, frame types,
// total size, protobuf header size, stream id, version), the RequestProtocol or
// ResponseProtocol header, then the body. The request id is the protobuf header's
// request_id (field 3 of both). A response is OK when ret and func_ret are 0.
var TRPC = Framing{Len: trpcFrameLen, ID: trpcID, SetID: setTRPCID, OK: trpcOK}

const trpcHeaderLen = 16

// TRPCRequest returns a unary call of fn on callee whose body is a StringValue of payload
// bytes, its header encoded by the protobuf library with tRPC's own message types.
func TRPCRequest(callee, fn string, payload int) []byte {
	return trpcFrame(&trpcpb.RequestProtocol{
		Version:   uint32(trpcpb.TrpcProtoVersion_TRPC_PROTO_V1),
		CallType:  uint32(trpcpb.TrpcCallType_TRPC_UNARY_CALL),
		RequestId: varintIDBase + 1,
		Timeout:   1000,
		Caller:    []byte("trpc.bench.client.service"),
		Callee:    []byte(callee),
		Func:      []byte(fn),
	}, strings.Repeat("x", payload))
}

// TRPCResponse returns a successful response whose body is a StringValue of payload bytes.
func TRPCResponse(payload int) []byte {
	return trpcFrame(&trpcpb.ResponseProtocol{
		Version:   uint32(trpcpb.TrpcProtoVersion_TRPC_PROTO_V1),
		CallType:  uint32(trpcpb.TrpcCallType_TRPC_UNARY_CALL),
		RequestId: varintIDBase + 1,
	}, strings.Repeat("y", payload))
}

// trpcFrame assembles a frame with protocol version 0 in the fixed header, where the stream
// id does not repeat the request id.
func trpcFrame(head proto.Message, value string) []byte {
	pb, err := proto.Marshal(head)
	must(err)
	body, err := proto.Marshal(wrapperspb.String(value))
	must(err)
	out := []byte{0x09, 0x30, 0, 0}
	out = binary.BigEndian.AppendUint32(out, uint32(trpcHeaderLen+len(pb)+len(body)))
	out = binary.BigEndian.AppendUint16(out, uint16(len(pb)))
	out = binary.BigEndian.AppendUint32(out, 0) // stream id
	out = append(out, 0, 0)                     // version, reserved
	return append(append(out, pb...), body...)
}

func trpcFrameLen(b []byte) (int, error) {
	if len(b) < trpcHeaderLen {
		return 0, nil
	}
	if b[0] != 0x09 || b[1] != 0x30 {
		return 0, fmt.Errorf("bad trpc magic %x", b[:2])
	}
	n := binary.BigEndian.Uint32(b[4:])
	if n < trpcHeaderLen || n > thriftMaxFrame {
		return 0, fmt.Errorf("trpc frame size %d out of range", n)
	}
	return int(n), nil
}

// trpcHead returns the protobuf header of a whole frame.
func trpcHead(frame []byte) []byte {
	if len(frame) < trpcHeaderLen {
		return nil
	}
	end := trpcHeaderLen + int(binary.BigEndian.Uint16(frame[8:]))
	if end > len(frame) {
		return nil
	}
	return frame[trpcHeaderLen:end]
}

const (
	trpcFieldRequestID protowire.Number = 3
	trpcFieldRet       protowire.Number = 4 // ResponseProtocol
	trpcFieldFuncRet   protowire.Number = 5 // ResponseProtocol
)

func trpcID(frame []byte) uint64 { return varintID(trpcHead(frame), trpcFieldRequestID) }

func setTRPCID(frame []byte, id uint64) { setVarintID(trpcHead(frame), trpcFieldRequestID, id) }

func trpcOK(frame []byte) bool {
	head := trpcHead(frame)
	return varintField(head, trpcFieldRet) == 0 && varintField(head, trpcFieldFuncRet) == 0
}
