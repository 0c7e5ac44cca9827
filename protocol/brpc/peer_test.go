package brpc

import (
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"net"
	"sync"
	"testing"
	"time"

	baidurpc "github.com/baidu-golang/pbrpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	brpcpb "github.com/breeze-mesh/breeze/api/peers/brpc"
	"github.com/breeze-mesh/breeze/protocol"
)

// Frames in these tests come from two independent encoders: pbrpc v1.3.1 (a Go
// implementation of baidu_std, github.com/baidu-golang/pbrpc) and protobuf-go on the
// RpcMeta schema written from bRPC's specification (api/peers/brpc), which knows the fields
// pbrpc lacks (user_fields, stream_settings).

var quietPBRPC sync.Once

// silencePBRPC keeps pbrpc's logging (the standard logger) off the test output.
func silencePBRPC() { quietPBRPC.Do(func() { log.SetOutput(io.Discard) }) }

// pbrpcCall describes a request built as pbrpc's client builds it (RpcInvocation), or —
// with reply set — the response pbrpc's server makes of it (the request package with its
// result and response meta set).
type pbrpcCall struct {
	service, method string
	id, logID       int64
	in              string
	attachment      []byte

	reply           bool
	out             string
	errorCode       int32
	errorText       string
	replyAttachment []byte
}

// frame encodes c with pbrpc (RpcDataPackage.Write).
func (c pbrpcCall) frame(t testing.TB) []byte {
	t.Helper()
	inv := baidurpc.NewRpcInvocation(&c.service, &c.method)
	if c.in != "" {
		inv.SetParameterIn(wrapperspb.String(c.in))
	}
	if c.logID != 0 {
		inv.LogId = &c.logID
	}
	inv.Attachment = c.attachment
	p, err := inv.GetRequestRpcDataPackage()
	if err != nil {
		t.Fatal(err)
	}
	p.CorrelationId(c.id)
	if c.reply {
		p.SetData(nil).SetAttachment(c.replyAttachment).ErrorCode(c.errorCode).ErrorText(c.errorText)
		if c.out != "" {
			p.SetData(stringValue(t, c.out))
		}
	}
	b, err := p.Write()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// specFrame encodes a frame from a spec-schema meta, a payload and an attachment (whose size
// it sets in the meta).
func specFrame(t testing.TB, meta *brpcpb.RpcMeta, payload, attachment []byte) []byte {
	t.Helper()
	if len(attachment) > 0 {
		meta.AttachmentSize = proto.Int32(int32(len(attachment)))
	}
	m, err := proto.MarshalOptions{Deterministic: true}.Marshal(meta)
	if err != nil {
		t.Fatal(err)
	}
	f := []byte(magic)
	f = binary.BigEndian.AppendUint32(f, uint32(len(m)+len(payload)+len(attachment)))
	f = binary.BigEndian.AppendUint32(f, uint32(len(m)))
	return append(append(append(f, m...), payload...), attachment...)
}

// specParse reads a frame with the spec schema: the meta, the payload and the attachment.
func specParse(t testing.TB, frame []byte) (meta *brpcpb.RpcMeta, payload, attachment []byte) {
	t.Helper()
	if len(frame) < headerSize || string(frame[:4]) != magic {
		t.Fatalf("not a baidu_std frame: %x", frame)
	}
	body, metaSize := binary.BigEndian.Uint32(frame[4:]), binary.BigEndian.Uint32(frame[8:])
	if int(body) != len(frame)-headerSize || metaSize > body {
		t.Fatalf("header sizes %d/%d do not match a %d-byte frame", body, metaSize, len(frame))
	}
	meta = &brpcpb.RpcMeta{}
	if err := proto.Unmarshal(frame[headerSize:headerSize+metaSize], meta); err != nil {
		t.Fatalf("the spec schema cannot read the meta: %v", err)
	}
	rest := frame[headerSize+metaSize:]
	att := int(meta.GetAttachmentSize())
	return meta, rest[:len(rest)-att], rest[len(rest)-att:]
}

// pbrpcParse reads a frame with pbrpc (RpcDataPackage.Read).
func pbrpcParse(t testing.TB, frame []byte) *baidurpc.RpcDataPackage {
	t.Helper()
	p := baidurpc.NewRpcDataPackage()
	if err := p.Read(frame); err != nil {
		t.Fatalf("pbrpc cannot read the frame: %v", err)
	}
	return p
}

func stringValue(t testing.TB, s string) []byte {
	t.Helper()
	b, err := proto.Marshal(wrapperspb.String(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// echoService is what startPBRPCServer serves: EchoService.Echo answers "echo: <in>" with
// the request's attachment; EchoService.Fail fails with a handler error.
const echoService = "EchoService"

// skipUnderRace skips a test that runs pbrpc's server or client in this process when the
// race detector is on (see race_test.go).
func skipUnderRace(t *testing.T) {
	t.Helper()
	if raceDetector {
		t.Skip("pbrpc v1.3.1 races on its own state; this test runs without -race (and in test/e2e)")
	}
}

// startPBRPCServer runs a pbrpc server on a loopback port for the test's duration.
func startPBRPCServer(t *testing.T) string {
	t.Helper()
	silencePBRPC()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := baidurpc.NewTpcServer(&baidurpc.ServerMeta{})
	echo := func(msg proto.Message) (proto.Message, error) {
		return wrapperspb.String("echo: " + msg.(*wrapperspb.StringValue).GetValue()), nil
	}
	fail := func(proto.Message) (proto.Message, error) { return nil, fmt.Errorf("no luck today") }
	for _, m := range []*pbrpcMethod{{name: "Echo", fn: echo}, {name: "Fail", fn: fail}} {
		if _, err := srv.Register(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.StartServer(ln); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	return ln.Addr().String()
}

// pbrpcMethod is one method of echoService, as a pbrpc Service that returns the request's
// attachment. (pbrpc's RegisterRpc decodes every request of a method into one shared
// message, which concurrent calls overwrite; a Service gives each request its own.)
type pbrpcMethod struct {
	name string
	fn   func(proto.Message) (proto.Message, error)
}

func (m *pbrpcMethod) GetServiceName() string      { return echoService }
func (m *pbrpcMethod) GetMethodName() string       { return m.name }
func (m *pbrpcMethod) NewParameter() proto.Message { return &wrapperspb.StringValue{} }
func (m *pbrpcMethod) DoService(msg proto.Message, attachment []byte, _ *int64) (proto.Message, []byte, error) {
	out, err := m.fn(msg)
	return out, attachment, err
}

// exchange sends a request frame on a new connection to addr and returns the raw frame of
// the answer.
func exchange(t *testing.T, addr string, request []byte) []byte {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := conn.Write(request); err != nil {
		t.Fatal(err)
	}
	head := make([]byte, headerSize)
	if _, err := io.ReadFull(conn, head); err != nil {
		t.Fatalf("read answer header: %v", err)
	}
	frame := append(head, make([]byte, binary.BigEndian.Uint32(head[4:]))...)
	if _, err := io.ReadFull(conn, frame[headerSize:]); err != nil {
		t.Fatalf("read answer body: %v", err)
	}
	return frame
}

// decodeOK decodes one whole frame on side.
func decodeOK(t testing.TB, side protocol.Side, frame []byte) *protocol.Message {
	t.Helper()
	var msg protocol.Message
	n, err := New(protocol.Options{Side: side}).Decode(frame, &msg)
	if err != nil || n != len(frame) {
		t.Fatalf("Decode = %d, %v; want %d, nil", n, err, len(frame))
	}
	return &msg
}
