package peers

import (
	"encoding/binary"
	"fmt"
	"strings"

	brpcpb "github.com/breeze-mesh/breeze/api/peers/brpc"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// BRPC is the framing of bRPC's baidu_std protocol: "PRPC", the body size and the meta size
// (big-endian uint32s), then the RpcMeta, the payload and the attachment. The request id is
// the meta's correlation_id (field 4). A response is OK when its meta carries no non-zero
// response.error_code.
var BRPC = Framing{Len: brpcFrameLen, ID: brpcID, SetID: setBRPCID, OK: brpcOK}

const brpcHeaderLen = 12

// BRPCRequest returns a baidu_std request for service.method whose payload is a
// StringValue of payload bytes, its meta encoded by the protobuf library.
func BRPCRequest(service, method string, payload int) []byte {
	return brpcFrame(&brpcpb.RpcMeta{
		Request:       &brpcpb.RpcRequestMeta{ServiceName: proto.String(service), MethodName: proto.String(method), LogId: proto.Int64(7)},
		CorrelationId: proto.Int64(varintIDBase + 1),
	}, strings.Repeat("x", payload))
}

// BRPCResponse returns a successful baidu_std response (no error code, as bRPC's servers
// send) whose payload is a StringValue of payload bytes.
func BRPCResponse(payload int) []byte {
	return brpcFrame(&brpcpb.RpcMeta{CorrelationId: proto.Int64(varintIDBase + 1)}, strings.Repeat("y", payload))
}

func brpcFrame(meta *brpcpb.RpcMeta, value string) []byte {
	m, err := proto.Marshal(meta)
	must(err)
	body, err := proto.Marshal(wrapperspb.String(value))
	must(err)
	out := []byte("PRPC")
	out = binary.BigEndian.AppendUint32(out, uint32(len(m)+len(body)))
	out = binary.BigEndian.AppendUint32(out, uint32(len(m)))
	return append(append(out, m...), body...)
}

func brpcFrameLen(b []byte) (int, error) {
	if len(b) < brpcHeaderLen {
		return 0, nil
	}
	if string(b[:4]) != "PRPC" {
		return 0, fmt.Errorf("bad brpc magic %q", b[:4])
	}
	n := binary.BigEndian.Uint32(b[4:])
	if n > thriftMaxFrame {
		return 0, fmt.Errorf("brpc frame of %d bytes is over the limit", n)
	}
	return brpcHeaderLen + int(n), nil
}

// brpcMeta returns the RpcMeta of a whole frame.
func brpcMeta(frame []byte) []byte {
	if len(frame) < brpcHeaderLen {
		return nil
	}
	end := brpcHeaderLen + int(binary.BigEndian.Uint32(frame[8:]))
	if end > len(frame) {
		return nil
	}
	return frame[brpcHeaderLen:end]
}

const (
	brpcFieldResponse      protowire.Number = 2
	brpcFieldCorrelationID protowire.Number = 4
	brpcFieldErrorCode     protowire.Number = 1 // in RpcResponseMeta
)

func brpcID(frame []byte) uint64 { return varintID(brpcMeta(frame), brpcFieldCorrelationID) }

func setBRPCID(frame []byte, id uint64) {
	setVarintID(brpcMeta(frame), brpcFieldCorrelationID, id)
}

func brpcOK(frame []byte) bool {
	resp, ok := lastBytesField(brpcMeta(frame), brpcFieldResponse)
	return !ok || varintField(resp, brpcFieldErrorCode) == 0
}
