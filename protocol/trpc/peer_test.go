package trpc

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
	trpcgo "trpc.group/trpc-go/trpc-go"
	"trpc.group/trpc-go/trpc-go/codec"
	"trpc.group/trpc-go/trpc-go/errs"
	"trpc.group/trpc-go/trpc-go/filter"
	"trpc.group/trpc-go/trpc-go/server"
	"trpc.group/trpc-go/trpc-go/transport"
	trpcpb "trpc.group/trpc/trpc-protocol/pb/go/trpc"

	"github.com/breeze-mesh/breeze/protocol"
)

// Frames in these tests are written by trpc-go v1.0.3's own codec (the client codec for
// requests, the server codec for responses, as the framework runs them) or, for what
// trpc-go does not send, by protobuf-go on the official trpc.proto types
// (trpc.group/trpc/trpc-protocol).

const (
	greeterService = "trpc.test.helloworld.Greeter"
	sayHello       = "/trpc.test.helloworld.Greeter/SayHello"
	sayHi          = "/trpc.test.helloworld.Greeter/SayHi"
	failMethod     = "/trpc.test.helloworld.Greeter/Fail"
)

// call describes a request as a trpc-go client makes it.
type call struct {
	caller, callee, fn string
	id                 uint32 // the client codec's n-th request; 1 when 0
	in                 string
	transInfo          map[string]string
	oneway             bool
	timeout            time.Duration
}

// frame encodes c with trpc-go's client codec.
func (c call) frame(t testing.TB) []byte {
	t.Helper()
	cc := &trpcgo.ClientCodec{}
	_, msg := codec.WithNewMessage(context.Background())
	msg.WithCallerServiceName(c.caller)
	msg.WithCalleeServiceName(c.callee)
	msg.WithClientRPCName(c.fn)
	msg.WithRequestTimeout(c.timeout)
	if len(c.transInfo) > 0 {
		md := codec.MetaData{}
		for k, v := range c.transInfo {
			md[k] = []byte(v)
		}
		msg.WithClientMetaData(md)
	}
	if c.oneway {
		msg.WithCallType(codec.SendOnly)
	}
	body := pbString(t, c.in)
	for i := uint32(1); i < c.id; i++ { // the codec numbers requests itself
		if _, err := cc.Encode(msg, body); err != nil {
			t.Fatal(err)
		}
		msg.WithClientReqHead(nil)
	}
	f, err := cc.Encode(msg, body)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// answer describes how a trpc-go server answers a request.
type answer struct {
	out       string
	transInfo map[string]string
	err       error // errs.New (business) or errs.NewFrameError (framework)
}

// reply decodes request with trpc-go's server codec and encodes the answer with it.
func (a answer) reply(t testing.TB, request []byte) []byte {
	t.Helper()
	_, msg := codec.WithNewMessage(context.Background())
	if _, err := trpcgo.DefaultServerCodec.Decode(msg, request); err != nil {
		t.Fatalf("trpc-go's server codec rejects the request: %v", err)
	}
	if len(a.transInfo) > 0 { // as trpc.SetMetaData in a handler: added to the request's
		md := msg.ServerMetaData()
		if md == nil {
			md = codec.MetaData{}
		}
		for k, v := range a.transInfo {
			md[k] = []byte(v)
		}
		msg.WithServerMetaData(md)
	}
	var body []byte
	if a.err != nil {
		msg.WithServerRspErr(a.err)
	} else {
		body = pbString(t, a.out)
	}
	f, err := trpcgo.DefaultServerCodec.Encode(msg, body)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// pbFrame builds a unary frame around a protobuf header message (official types).
func pbFrame(t testing.TB, head proto.Message, body, attachment []byte) []byte {
	t.Helper()
	switch h := head.(type) {
	case *trpcpb.RequestProtocol:
		h.AttachmentSize = uint32(len(attachment))
	case *trpcpb.ResponseProtocol:
		h.AttachmentSize = uint32(len(attachment))
	}
	pb, err := proto.MarshalOptions{Deterministic: true}.Marshal(head)
	if err != nil {
		t.Fatal(err)
	}
	f := []byte{magicHigh, magicLow, unaryFrame, 0}
	f = binary.BigEndian.AppendUint32(f, uint32(headerSize+len(pb)+len(body)+len(attachment)))
	f = binary.BigEndian.AppendUint16(f, uint16(len(pb)))
	f = append(f, 0, 0, 0, 0, 1, 0) // stream id 0, protocol version 1
	return append(append(append(f, pb...), body...), attachment...)
}

// clientRead decodes a response with trpc-go's client codec, as the client that sent
// request does, and returns the body, the message, and the error the client would get.
func clientRead(t testing.TB, request, response []byte) ([]byte, codec.Msg, error) {
	t.Helper()
	_, msg := codec.WithNewMessage(context.Background())
	reqHead := &trpcpb.RequestProtocol{}
	if err := proto.Unmarshal(request[headerSize:headerSize+int(binary.BigEndian.Uint16(request[8:]))], reqHead); err != nil {
		t.Fatal(err)
	}
	msg.WithClientReqHead(reqHead)
	body, err := trpcgo.DefaultClientCodec.Decode(msg, response)
	if err != nil {
		t.Fatalf("trpc-go's client codec rejects the response: %v", err)
	}
	return body, msg, msg.ClientRspErr()
}

func pbString(t testing.TB, s string) []byte {
	t.Helper()
	b, err := proto.Marshal(wrapperspb.String(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func unString(t testing.TB, b []byte) string {
	t.Helper()
	var v wrapperspb.StringValue
	if err := proto.Unmarshal(b, &v); err != nil {
		t.Fatalf("body is not a StringValue: %v", err)
	}
	return v.GetValue()
}

// greeter is the handler interface of the test service (trpc-go checks implementations
// against it).
type greeter interface{}

// startGreeter runs a trpc-go server for greeterService on a loopback port until the test
// ends. SayHello answers "hello <in>" and echoes the request's trans_info x-route back in
// the response's; Fail fails with business error 42.
func startGreeter(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	handle := func(fn func(ctx context.Context, in string) (string, error)) func(interface{}, context.Context, server.FilterFunc) (interface{}, error) {
		return func(_ interface{}, ctx context.Context, f server.FilterFunc) (interface{}, error) {
			req := &wrapperspb.StringValue{}
			filters, err := f(req)
			if err != nil {
				return nil, err
			}
			return filters.Filter(ctx, req, filter.ServerHandleFunc(func(ctx context.Context, r interface{}) (interface{}, error) {
				out, err := fn(ctx, r.(*wrapperspb.StringValue).GetValue())
				if err != nil {
					return nil, err
				}
				return wrapperspb.String(out), nil
			}))
		}
	}
	desc := &server.ServiceDesc{
		ServiceName: greeterService,
		HandlerType: (*greeter)(nil),
		Methods: []server.Method{
			{Name: sayHello, Func: handle(func(ctx context.Context, in string) (string, error) {
				if route := trpcgo.GetMetaData(ctx, "x-route"); route != nil {
					trpcgo.SetMetaData(ctx, "x-route-seen", route)
				}
				return "hello " + in, nil
			})},
			{Name: failMethod, Func: handle(func(context.Context, string) (string, error) {
				return "", errs.New(42, "no luck today")
			})},
		},
	}
	// The go-net transport: tnet, the default on Linux, converts pointers in ways the race
	// detector's checks refuse. (test/e2e runs trpc-go with tnet.)
	svc := server.New(server.WithListener(ln), server.WithProtocol("trpc"), server.WithNetwork("tcp"),
		server.WithServiceName(greeterService), server.WithTransport(transport.DefaultServerTransport))
	if err := svc.Register(desc, nil); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- svc.Serve() }()
	t.Cleanup(func() {
		_ = svc.Close(nil)
		if err := <-served; err != nil {
			t.Errorf("trpc-go server: %v", err)
		}
	})
	return ln.Addr().String()
}

// exchange sends request on a new connection to addr and returns the raw answer frame.
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
	frame := append(head, make([]byte, int(binary.BigEndian.Uint32(head[4:]))-headerSize)...)
	if _, err := io.ReadFull(conn, frame[headerSize:]); err != nil {
		t.Fatalf("read answer: %v", err)
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
