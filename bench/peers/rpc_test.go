package peers

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	brpcpb "github.com/breeze-mesh/breeze/api/peers/brpc"
	"github.com/breeze-mesh/breeze/examples/kvrpc/kvwire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
	trpcpb "trpc.group/trpc/trpc-protocol/pb/go/trpc"
)

// Ids round-trip through the framings, the offset ones the generator uses and the small
// ones a proxy assigns upstream alike, and the frames stay what the protocols' own
// libraries read.
func TestVarintIDs(t *testing.T) {
	for _, id := range []uint64{1, 2, 127, 128, 1 << 20, 1<<31 - 1} {
		for _, up := range []uint64{id, id - varintIDBase} { // generator id, proxy-assigned id
			f := BRPCRequest("example.EchoService", "Echo", 8)
			BRPC.SetID(f, up)
			if got := BRPC.ID(f); got != up {
				t.Fatalf("brpc: SetID(%d) reads back %d", up, got)
			}
			var meta brpcpb.RpcMeta
			if err := proto.Unmarshal(brpcMeta(f), &meta); err != nil || uint64(meta.GetCorrelationId()) != up+varintIDBase {
				t.Fatalf("brpc: meta %v (%v), want correlation_id %d", &meta, err, up+varintIDBase)
			}
			g := TRPCRequest("trpc.test.helloworld.Greeter", "/trpc.test.helloworld.Greeter/SayHello", 8)
			TRPC.SetID(g, up)
			var head trpcpb.RequestProtocol
			if err := proto.Unmarshal(trpcHead(g), &head); err != nil || uint64(head.RequestId) != uint64(uint32(up+varintIDBase)) || TRPC.ID(g) != up {
				t.Fatalf("trpc: header %v (%v), id %d, want %d", &head, err, TRPC.ID(g), up)
			}
		}
	}
}

func TestBRPCTemplates(t *testing.T) {
	req := BRPCRequest("example.EchoService", "Echo", 40)
	if n, err := BRPC.Len(req); err != nil || n != len(req) {
		t.Fatalf("Len = %d, %v", n, err)
	}
	var meta brpcpb.RpcMeta
	if err := proto.Unmarshal(brpcMeta(req), &meta); err != nil {
		t.Fatal(err)
	}
	if meta.GetRequest().GetServiceName() != "example.EchoService" || meta.GetRequest().GetMethodName() != "Echo" {
		t.Fatalf("meta %v", &meta)
	}
	var body wrapperspb.StringValue
	if err := proto.Unmarshal(req[brpcHeaderLen+len(brpcMeta(req)):], &body); err != nil || body.Value != strings.Repeat("x", 40) {
		t.Fatalf("payload %q (%v)", body.Value, err)
	}
	resp := BRPCResponse(10)
	if !BRPC.OK(resp) {
		t.Fatal("a response without an error code is not OK")
	}
	bad := brpcFrame(&brpcpb.RpcMeta{Response: &brpcpb.RpcResponseMeta{ErrorCode: proto.Int32(1004)}, CorrelationId: proto.Int64(varintIDBase + 1)}, "")
	if BRPC.OK(bad) {
		t.Fatal("a response with error_code 1004 is OK")
	}
}

func TestTRPCTemplates(t *testing.T) {
	req := TRPCRequest("trpc.test.helloworld.Greeter", "/trpc.test.helloworld.Greeter/SayHello", 40)
	if n, err := TRPC.Len(req); err != nil || n != len(req) {
		t.Fatalf("Len = %d, %v", n, err)
	}
	var head trpcpb.RequestProtocol
	if err := proto.Unmarshal(trpcHead(req), &head); err != nil {
		t.Fatal(err)
	}
	if string(head.Callee) != "trpc.test.helloworld.Greeter" || string(head.Func) != "/trpc.test.helloworld.Greeter/SayHello" {
		t.Fatalf("header %v", &head)
	}
	resp := TRPCResponse(10)
	if !TRPC.OK(resp) {
		t.Fatal("ret 0 is not OK")
	}
	pb, _ := proto.Marshal(&trpcpb.ResponseProtocol{RequestId: varintIDBase + 1, FuncRet: 3})
	bad := append(binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint32([]byte{0x09, 0x30, 0, 0}, uint32(trpcHeaderLen+len(pb))), uint16(len(pb))), 0, 0, 0, 0, 0, 0)
	if TRPC.OK(append(bad, pb...)) {
		t.Fatal("func_ret 3 is OK")
	}
}

func TestKVRPCTemplates(t *testing.T) {
	req := KVRequest("echo", 40)
	KVRPC.SetID(req, 99)
	f, err := kvwire.Read(bytes.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	if f.ID != 99 || f.Get("cmd") != "echo" || len(f.Body) != 40 || KVRPC.ID(req) != 99 {
		t.Fatalf("frame %+v", f)
	}
	if n, err := KVRPC.Len(req); err != nil || n != len(req) {
		t.Fatalf("Len = %d, %v", n, err)
	}
	if !KVRPC.OK(KVResponse(1)) || KVRPC.OK(kvFrame(&kvwire.Frame{Kind: kvwire.Error, ID: 1, Body: []byte("no")})) {
		t.Fatal("OK does not tell responses from errors")
	}
}
