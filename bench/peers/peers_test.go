package peers

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"strings"
	"testing"

	hessian "github.com/apache/dubbo-go-hessian2"
	"github.com/apache/thrift/lib/go/thrift"
)

// The Dubbo templates are what dubbo-go-hessian2's own Dubbo codec reads as a request with
// the attachments the routes match on, and a response carrying the payload.
func TestDubboTemplatesDecodeWithHessian2(t *testing.T) {
	req := DubboRequest("org.apache.dubbo.sample.Greeter", "sayHello", "1.0.0", 100)
	SetDubboID(req, 42)
	codec := hessian.NewHessianCodec(bufio.NewReader(bytes.NewReader(req)))
	var h hessian.DubboHeader
	if err := codec.ReadHeader(&h); err != nil {
		t.Fatal(err)
	}
	if h.ID != 42 || h.Type&hessian.PackageRequest == 0 || h.Type&hessian.PackageRequest_TwoWay == 0 {
		t.Fatalf("header %+v: want a two-way request with id 42", h)
	}
	att, err := codec.ReadAttachments()
	if err != nil {
		t.Fatal(err)
	}
	if att["interface"] != "org.apache.dubbo.sample.Greeter" || att["version"] != "1.0.0" {
		t.Fatalf("attachments %v", att)
	}

	resp := DubboResponse(300)
	codec = hessian.NewHessianCodec(bufio.NewReader(bytes.NewReader(resp)))
	h = hessian.DubboHeader{} // ReadHeader adds to Type
	if err := codec.ReadHeader(&h); err != nil {
		t.Fatal(err)
	}
	decoded := &hessian.Response{}
	if err := codec.ReadBody(decoded); err != nil {
		t.Fatal(err)
	}
	if value, _ := decoded.RspObj.(string); value != strings.Repeat("y", 300) || decoded.Exception != nil || !Dubbo.OK(resp) {
		t.Fatalf("response %+v, OK %v", decoded, Dubbo.OK(resp))
	}
}

// The Thrift templates read back with the Apache Thrift library's framed transport and
// binary protocol, and the framing finds their sequence id.
func TestThriftTemplatesDecodeWithApacheThrift(t *testing.T) {
	for _, tc := range []struct {
		frame []byte
		kind  thrift.TMessageType
		field int16
		want  string
	}{
		{ThriftRequest("sayHello", 50), thrift.CALL, 1, strings.Repeat("x", 50)},
		{ThriftResponse("sayHello", 70), thrift.REPLY, 0, strings.Repeat("y", 70)},
	} {
		ThriftFramed.SetID(tc.frame, 7)
		if got := ThriftFramed.ID(tc.frame); got != 7 {
			t.Fatalf("seq id reads back as %d", got)
		}
		if n, err := ThriftFramed.Len(tc.frame); err != nil || n != len(tc.frame) {
			t.Fatalf("Len = %d, %v; want %d", n, err, len(tc.frame))
		}
		ctx := context.Background()
		mem := thrift.NewTMemoryBuffer()
		mem.Write(tc.frame)
		conf := &thrift.TConfiguration{}
		p := thrift.NewTBinaryProtocolConf(thrift.NewTFramedTransportConf(mem, conf), conf)
		name, kind, seq, err := p.ReadMessageBegin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if name != "sayHello" || kind != tc.kind || seq != 7 {
			t.Fatalf("message %q kind %v seq %d", name, kind, seq)
		}
		if _, err := p.ReadStructBegin(ctx); err != nil {
			t.Fatal(err)
		}
		_, typ, id, err := p.ReadFieldBegin(ctx)
		if err != nil || typ != thrift.STRING || id != tc.field {
			t.Fatalf("field %d of type %v (%v); want string field %d", id, typ, err, tc.field)
		}
		if s, err := p.ReadString(ctx); err != nil || s != tc.want {
			t.Fatalf("value %q (%v)", s, err)
		}
		if ok := ThriftFramed.OK(tc.frame); ok != (tc.kind == thrift.REPLY) {
			t.Fatalf("OK = %v for a %v", ok, tc.kind)
		}
	}
	if _, err := ThriftFramed.Len([]byte{0x7f, 0, 0, 0}); err == nil {
		t.Fatal("a 2 GiB frame length was accepted")
	}
}

// The echo server answers pipelined requests on one connection, each with its own id.
func TestEchoServerPipelined(t *testing.T) {
	for _, tc := range []struct {
		name      string
		f         Framing
		req, resp []byte
	}{
		{"dubbo", Dubbo, DubboRequest("a.B", "c", "", 10), DubboResponse(10)},
		{"thrift", ThriftFramed, ThriftRequest("sayHello", 10), ThriftResponse("sayHello", 10)},
		{"brpc", BRPC, BRPCRequest("example.EchoService", "Echo", 10), BRPCResponse(10)},
		{"trpc", TRPC, TRPCRequest("trpc.test.helloworld.Greeter", "/trpc.test.helloworld.Greeter/SayHello", 10), TRPCResponse(10)},
		{"kvrpc", KVRPC, KVRequest("echo", 10), KVResponse(10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := StartEchoServer(tc.f, tc.resp)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			c, err := net.Dial("tcp", srv.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var batch []byte
			for id := uint64(1); id <= 3; id++ {
				tc.f.SetID(tc.req, id)
				batch = append(batch, tc.req...)
			}
			if _, err := c.Write(batch); err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(c)
			var buf []byte
			for id := uint64(1); id <= 3; id++ {
				n, err := ReadFrame(r, tc.f, &buf)
				if err != nil {
					t.Fatal(err)
				}
				if got := tc.f.ID(buf[:n]); got != id || !tc.f.OK(buf[:n]) {
					t.Fatalf("response %d has id %d", id, got)
				}
				if FrameBuffered(r, tc.f) != (id < 3 && r.Buffered() >= len(tc.resp)) {
					t.Fatalf("FrameBuffered disagrees with %d buffered bytes", r.Buffered())
				}
			}
		})
	}
}
