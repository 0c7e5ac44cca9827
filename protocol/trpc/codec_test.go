package trpc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
	trpcgo "trpc.group/trpc-go/trpc-go"
	"trpc.group/trpc-go/trpc-go/client"
	"trpc.group/trpc-go/trpc-go/codec"
	"trpc.group/trpc-go/trpc-go/errs"
	"trpc.group/trpc-go/trpc-go/transport"
	trpcpb "trpc.group/trpc/trpc-protocol/pb/go/trpc"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/protocol/codectest"
)

// helloCall is a typical trpc-go request: caller, callee, func and two trans_info entries.
var helloCall = call{caller: "trpc.test.helloworld.Client", callee: greeterService, fn: sayHello, id: 300, in: "ann",
	transInfo: map[string]string{"x-user": "ann", "trpc-dyeing-key": "d-1"}, timeout: time.Second}

// suite is the conformance suite, on frames written by trpc-go's codec and by protobuf-go on
// the official trpc.proto types.
func suite(t testing.TB) codectest.Suite {
	hello := helloCall.frame(t)
	bare := call{callee: greeterService, fn: sayHi, in: "bob"}
	oneway := call{caller: "c", callee: greeterService, fn: sayHello, id: 7, in: "fire", oneway: true}
	return codectest.Suite{
		Codec:       Name,
		StatusCodes: true, // error replies carry the protocol's status (Message.Code)
		// The proxy's refusals that ran nowhere (retriable.go says why).
		RetriableKinds: []protocol.ErrorKind{protocol.OverLimit, protocol.RouteNotFound, protocol.ClusterNotFound},
		Requests: []codectest.Sample{
			{Name: "trpcgo_hello", Frame: hello, Type: protocol.Request, RequestID: 300, Metadata: map[string]string{
				KeyCaller: helloCall.caller, KeyCallee: greeterService, KeyFunc: sayHello, "x-user": "ann", "trpc-dyeing-key": "d-1"}},
			{Name: "trpcgo_first_request", Frame: bare.frame(t), Type: protocol.Request, RequestID: 1,
				Metadata: map[string]string{KeyCallee: greeterService, KeyFunc: sayHi}},
			{Name: "trpcgo_oneway", Frame: oneway.frame(t), Type: protocol.Oneway, RequestID: 7,
				Metadata: map[string]string{KeyCaller: "c", KeyCallee: greeterService, KeyFunc: sayHello}},
			{Name: "pb_attachment_request_id_0", Frame: pbFrame(t, &trpcpb.RequestProtocol{
				Callee: []byte("svc"), Func: []byte("/svc/M"), TransInfo: map[string][]byte{"func": []byte("fake"), "k": []byte("v")},
			}, []byte("body"), []byte("attachment")),
				Type: protocol.Request, RequestID: 0, Metadata: map[string]string{KeyCallee: "svc", KeyFunc: "/svc/M", "k": "v"}},
		},
		Responses: []codectest.Sample{
			// trpc-go's server echoes the request's trans_info in its response.
			{Name: "trpcgo_ok", Frame: answer{out: "hello ann", transInfo: map[string]string{"x-served-by": "v1"}}.reply(t, hello),
				Type: protocol.Response, RequestID: 300, Metadata: map[string]string{"x-served-by": "v1", "x-user": "ann", "trpc-dyeing-key": "d-1"}},
			{Name: "trpcgo_business_error", Frame: answer{err: errs.New(42, "no luck")}.reply(t, hello),
				Type: protocol.Error, RequestID: 300, Status: protocol.StatusError,
				Metadata: map[string]string{KeyFuncRet: "42", KeyErrorMsg: "no luck", "x-user": "ann", "trpc-dyeing-key": "d-1"}},
			{Name: "trpcgo_framework_error", Frame: answer{err: errs.NewFrameError(errs.RetServerNoFunc, "no func")}.reply(t, bare.frame(t)),
				Type: protocol.Error, RequestID: 1, Status: protocol.StatusError,
				Metadata: map[string]string{KeyRet: "12", KeyErrorMsg: "no func"}},
			{Name: "pb_negative_func_ret_attachment", Frame: pbFrame(t, &trpcpb.ResponseProtocol{RequestId: 1 << 31, FuncRet: -3},
				nil, []byte("att")), Type: protocol.Error, RequestID: 1 << 31, Status: protocol.StatusError,
				Metadata: map[string]string{KeyFuncRet: "-3", KeyErrorMsg: ""}},
		},
		OversizedHeader: oversizedHeader,
		Mutation:        protocol.Mutation{{Key: "x-breeze-route", Value: "canary"}, {Key: "x-user", Value: "bob"}},
	}
}

// oversizedHeader is a fixed header whose total size is size.
func oversizedHeader(size int) []byte {
	h := []byte{magicHigh, magicLow, unaryFrame, 0}
	h = binary.BigEndian.AppendUint32(h, uint32(size))
	h = binary.BigEndian.AppendUint16(h, 10)
	return append(h, 0, 0, 0, 1, 1, 0)
}

func TestConformance(t *testing.T) {
	codectest.Run(t, suite(t))
}

// TestTRPCServerAnswers sends requests to a real trpc-go server — as the client wrote them,
// mutated by Encode, and with ids set by ReplaceRequestID in place and in a longer frame —
// and decodes the answers: the server accepts what the codec writes (it sees the mutated
// trans_info), and the codec reads what the server writes. The server echoes the request's
// trans_info in its response.
func TestTRPCServerAnswers(t *testing.T) {
	addr := startGreeter(t)
	c := New(protocol.Options{})
	hello := helloCall.frame(t)
	mutated, err := c.Encode(decodeOK(t, protocol.RequestSide, hello), protocol.Mutation{{Key: "x-route", Value: "canary"}})
	if err != nil {
		t.Fatal(err)
	}
	inPlace, err := c.ReplaceRequestID(bytes.Clone(hello), 5) // id 300 takes 2 bytes; 5 fits
	if err != nil || len(inPlace) != len(hello) {
		t.Fatalf("ReplaceRequestID(5) = %d bytes, %v; want in place", len(inPlace), err)
	}
	first := call{callee: greeterService, fn: sayHello, in: "bob"}.frame(t)
	echoed := map[string]string{"x-user": "ann", "trpc-dyeing-key": "d-1"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range echoed {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	grown, err := c.ReplaceRequestID(first, protocol.MaxSharedRequestID)
	if err != nil || len(grown) != len(first)+4 {
		t.Fatalf("ReplaceRequestID(max) = %d bytes, %v; want %d", len(grown), err, len(first)+4)
	}
	cases := []struct {
		name    string
		request []byte
		id      uint64
		typ     protocol.MessageType
		md      map[string]string
		reply   string
	}{
		{"hello", hello, 300, protocol.Response, with(), "hello ann"},
		{"mutated", mutated, 300, protocol.Response, with("x-route", "canary", "x-route-seen", "canary"), "hello ann"},
		{"id_in_place", inPlace, 5, protocol.Response, with(), "hello ann"},
		{"id_grown", grown, protocol.MaxSharedRequestID, protocol.Response, map[string]string{}, "hello bob"},
		{"business_error", call{callee: greeterService, fn: failMethod, in: "x"}.frame(t), 1, protocol.Error,
			map[string]string{KeyFuncRet: "42", KeyErrorMsg: "no luck today"}, ""},
		{"unknown_func", call{callee: greeterService, fn: "/trpc.test.helloworld.Greeter/Nope"}.frame(t), 1, protocol.Error,
			map[string]string{KeyRet: "12", KeyErrorMsg: "service handle: rpc name /trpc.test.helloworld.Greeter/Nope invalid, current service:trpc.test.helloworld.Greeter"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			answer := exchange(t, addr, tc.request)
			msg := decodeOK(t, protocol.ResponseSide, answer)
			if msg.Type != tc.typ || msg.RequestID != tc.id {
				t.Errorf("answer decodes as %v id %d, want %v id %d", msg.Type, msg.RequestID, tc.typ, tc.id)
			}
			if got := mdMap(&msg.Metadata); !reflect.DeepEqual(got, tc.md) {
				t.Errorf("answer metadata = %v, want %v", got, tc.md)
			}
			if tc.reply != "" {
				body, _, err := clientRead(t, tc.request, answer)
				if err != nil || unString(t, body) != tc.reply {
					t.Errorf("trpc-go's client reads %q, %v; want %q", unString(t, body), err, tc.reply)
				}
			}
		})
	}
}

// TestMutationReadByPeers: trpc-go's server codec and the official types read the mutated
// trans_info (an existing key replaced, the others kept) and every other field unchanged.
func TestMutationReadByPeers(t *testing.T) {
	frame := helloCall.frame(t)
	orig := readRequestHead(t, frame)
	mut := protocol.Mutation{{Key: "x-user", Value: "bob"}, {Key: "x-new", Value: "1"}, {Key: "x-new", Value: "2"}}
	out, err := New(protocol.Options{}).Encode(decodeOK(t, protocol.RequestSide, frame), mut)
	if err != nil {
		t.Fatal(err)
	}
	head := readRequestHead(t, out)
	want := map[string][]byte{"x-user": []byte("bob"), "trpc-dyeing-key": []byte("d-1"), "x-new": []byte("2")}
	if !reflect.DeepEqual(head.TransInfo, want) {
		t.Errorf("trans_info = %q, want %q", head.TransInfo, want)
	}
	head.TransInfo, orig.TransInfo = nil, nil
	if !proto.Equal(head, orig) {
		t.Errorf("header changed beyond trans_info:\n got %v\nwant %v", head, orig)
	}
	_, msg := codec.WithNewMessage(context.Background())
	body, err := trpcgo.DefaultServerCodec.Decode(msg, out)
	if err != nil || unString(t, body) != "ann" || string(msg.ServerMetaData()["x-user"]) != "bob" || msg.ServerRPCName() != sayHello {
		t.Errorf("trpc-go's server codec reads body %q, metadata %q, func %q, %v", body, msg.ServerMetaData(), msg.ServerRPCName(), err)
	}

	// Responses carry trans_info in another field; trpc-go's client reads the mutation.
	resp := answer{out: "hi", transInfo: map[string]string{"x-served-by": "v1"}}.reply(t, frame)
	out, err = New(protocol.Options{}).Encode(decodeOK(t, protocol.ResponseSide, resp), protocol.Mutation{{Key: "x-served-by", Value: "proxy"}})
	if err != nil {
		t.Fatal(err)
	}
	body, rmsg, rerr := clientRead(t, frame, out)
	if rerr != nil || unString(t, body) != "hi" || string(rmsg.ClientMetaData()["x-served-by"]) != "proxy" {
		t.Errorf("trpc-go's client reads %q, %v, metadata %q", body, rerr, rmsg.ClientMetaData())
	}
}

func readRequestHead(t *testing.T, frame []byte) *trpcpb.RequestProtocol {
	t.Helper()
	head := &trpcpb.RequestProtocol{}
	if err := proto.Unmarshal(frame[headerSize:headerSize+int(binary.BigEndian.Uint16(frame[8:]))], head); err != nil {
		t.Fatal(err)
	}
	return head
}

// TestErrorReplyReadByClient: trpc-go's client codec turns an error reply into a callee
// framework error with the code and message, matched to the request by id.
func TestErrorReplyReadByClient(t *testing.T) {
	cases := []struct {
		err  *protocol.LocalError
		code trpcpb.TrpcRetCode
		msg  string
	}{
		{nil, 31, "breeze: internal error"},
		{protocol.NewLocalError(protocol.RouteNotFound, "no route for func=/x"), 11, "breeze: no route for func=/x"},
		{protocol.NewLocalError(protocol.ClusterNotFound, "c"), 11, "breeze: c"},
		{protocol.NewLocalError(protocol.BadRequest, "bad"), 1, "breeze: bad"},
		{protocol.NewLocalError(protocol.Timeout, "slow"), 21, "breeze: slow"},
		{&protocol.LocalError{Kind: protocol.OverLimit}, 23, "breeze: over_limit"},
		{protocol.NewLocalError(protocol.UpstreamReset, "gone"), 31, "breeze: gone"},
		{protocol.NewLocalError(protocol.NoHealthyUpstream, "none"), 31, "breeze: none"},
		{protocol.NewLocalError(protocol.BadResponse, "garbled"), 31, "breeze: garbled"},
	}
	for _, request := range [][]byte{helloCall.frame(t), call{fn: sayHi}.frame(t)} {
		req := decodeOK(t, protocol.RequestSide, request)
		for _, tc := range cases {
			reply, err := New(protocol.Options{}).ErrorReply(req, tc.err)
			if err != nil {
				t.Fatal(err)
			}
			_, msg, cerr := clientRead(t, request, reply)
			var e *errs.Error
			if !errors.As(cerr, &e) || e.Code != tc.code || e.Msg != tc.msg || e.Type != errs.ErrorTypeCalleeFramework {
				t.Errorf("client error %#v, want callee framework error %d %q", cerr, tc.code, tc.msg)
			}
			if msg.RequestID() != uint32(req.RequestID) {
				t.Errorf("client reads request id %d, want %d", msg.RequestID(), req.RequestID)
			}
			if got := binary.BigEndian.Uint32(reply[offStreamID:]); got != uint32(req.RequestID) || reply[offVersion] != request[offVersion] {
				t.Errorf("fixed header stream id %d version %d, want %d %d", got, reply[offVersion], req.RequestID, request[offVersion])
			}
		}
	}
}

// TestTRPCClientSeesErrorReply: a trpc-go client calling a server that answers every
// request with ErrorReply (as the proxy does when no route matches) gets the error.
func TestTRPCClientSeesErrorReply(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- answerWithErrors(ln) }()
	t.Cleanup(func() {
		ln.Close()
		if err := <-done; err != nil {
			t.Errorf("error-reply server: %v", err)
		}
	})
	cl := client.New()
	for _, fn := range []string{sayHello, sayHi} {
		ctx, msg := codec.WithCloneMessage(context.Background())
		msg.WithClientRPCName(fn)
		msg.WithCalleeServiceName(greeterService)
		var rsp wrapperspb.StringValue
		err := cl.Invoke(ctx, wrapperspb.String("ann"), &rsp, client.WithTarget("ip://"+ln.Addr().String()),
			client.WithProtocol("trpc"), client.WithTimeout(10*time.Second), client.WithDisableConnectionPool(),
			client.WithTransport(transport.DefaultClientTransport)) // go-net, as startGreeter explains
		if errs.Code(err) != errs.RetServerNoService || errs.Msg(err) != "breeze: no route for func="+fn {
			t.Errorf("%s: error %v (code %d), want code 11 and the proxy's message", fn, err, errs.Code(err))
		}
		codec.PutBackMessage(msg)
	}
}

// answerWithErrors answers each request on each connection with an error reply naming the
// func, until the listener closes.
func answerWithErrors(ln net.Listener) error {
	for {
		nc, err := ln.Accept()
		if err != nil {
			return nil
		}
		go func() {
			defer nc.Close()
			c := New(protocol.Options{})
			buf := make([]byte, 0, 4096)
			for {
				var msg protocol.Message
				n, err := c.Decode(buf, &msg)
				if errors.Is(err, protocol.ErrNeedMore) && len(buf) < cap(buf) {
					m, rerr := nc.Read(buf[len(buf):cap(buf)])
					if rerr != nil {
						return
					}
					buf = buf[:len(buf)+m]
					continue
				}
				if err != nil {
					return
				}
				reply, err := c.ErrorReply(&msg, protocol.NewLocalError(protocol.RouteNotFound, "no route for func=%s", msg.Metadata.Value(KeyFunc)))
				if err != nil {
					return
				}
				if _, err := nc.Write(reply); err != nil {
					return
				}
				buf = append(buf[:0], buf[n:]...)
			}
		}()
	}
}

func TestReplaceRequestID(t *testing.T) {
	c := New(protocol.Options{})
	v1 := func(id uint32, head uint32, extra ...byte) []byte {
		f := pbFrame(t, &trpcpb.RequestProtocol{RequestId: id, Func: []byte("/s/m")}, []byte("body"), nil)
		binary.BigEndian.PutUint32(f[offStreamID:], head)
		if len(extra) > 0 {
			pbSize := int(binary.BigEndian.Uint16(f[8:]))
			f = append(f[:headerSize+pbSize:headerSize+pbSize], append(extra, "body"...)...)
			binary.BigEndian.PutUint16(f[8:], uint16(pbSize+len(extra)))
			binary.BigEndian.PutUint32(f[4:], uint32(len(f)))
		}
		return f
	}
	cases := []struct {
		name     string
		frame    []byte
		id       uint64
		inPlace  bool
		wantHead uint32
	}{
		{"narrower_fits", v1(1<<30, 1<<30), 3, true, 3},
		{"wider_grows", v1(1, 1), 1 << 30, false, 1 << 30},
		{"absent_is_added", v1(0, 0), 42, false, 42},
		{"head_without_id_kept", v1(9, 0), 10, true, 0},
		{"repeated_field_last_wins", v1(1, 1<<28, 0x18, 0x80, 0x80, 0x80, 0x80, 0x01), 1 << 20, true, 1 << 20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			orig := bytes.Clone(tc.frame)
			out, err := c.ReplaceRequestID(tc.frame, tc.id)
			if err != nil {
				t.Fatal(err)
			}
			if same := &out[0] == &tc.frame[0]; same != tc.inPlace {
				t.Errorf("in place = %v, want %v", same, tc.inPlace)
			}
			if !tc.inPlace && !bytes.Equal(tc.frame, orig) {
				t.Errorf("a replacement in a new frame modified the old one")
			}
			head := readRequestHead(t, out)
			if uint64(head.RequestId) != tc.id || string(head.Func) != "/s/m" || !bytes.HasSuffix(out, []byte("body")) {
				t.Errorf("official types read %v", head)
			}
			if got := binary.BigEndian.Uint32(out[offStreamID:]); got != tc.wantHead {
				t.Errorf("fixed header stream id = %d, want %d", got, tc.wantHead)
			}
			_, msg := codec.WithNewMessage(context.Background())
			if _, err := trpcgo.DefaultServerCodec.Decode(msg, out); err != nil {
				t.Errorf("trpc-go's server codec rejects it: %v", err)
			}
		})
	}
	for _, bad := range [][]byte{nil, {magicHigh, magicLow}, oversizedHeader(100), v1(1, 1)[:20]} {
		if _, err := c.ReplaceRequestID(bad, 1); err == nil {
			t.Errorf("ReplaceRequestID(%x) succeeded", bad)
		}
	}
	if _, err := c.ReplaceRequestID(v1(1, 1), 1<<32); err == nil {
		t.Errorf("ReplaceRequestID accepted an id wider than 32 bits")
	}
}

// TestDecodeErrors checks every refusal: the error, and the type and id set so the proxy
// can answer a request it cannot forward.
func TestDecodeErrors(t *testing.T) {
	withPB := func(pb []byte, rest string) []byte {
		f := []byte{magicHigh, magicLow, unaryFrame, 0}
		f = binary.BigEndian.AppendUint32(f, uint32(headerSize+len(pb)+len(rest)))
		f = binary.BigEndian.AppendUint16(f, uint16(len(pb)))
		f = append(f, 0, 0, 0, 0, 1, 0)
		return append(append(f, pb...), rest...)
	}
	marshal := func(m proto.Message) []byte {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	stream := withPB(marshal(&trpcpb.RequestProtocol{RequestId: 3}), "")
	stream[2], stream[3] = streamFrame, 1
	cases := []struct {
		name   string
		side   protocol.Side
		frame  []byte
		max    int
		want   error
		typ    protocol.MessageType
		id     uint64
		detail string
	}{
		{name: "bad_magic", frame: []byte{0x09, 0x31}, want: protocol.ErrMalformed, detail: "magic"},
		{name: "http", frame: []byte("GET / HTTP/1.1\r\n"), want: protocol.ErrMalformed},
		{name: "over_the_limit", frame: oversizedHeader(101), max: 100, want: protocol.ErrFrameTooLarge},
		{name: "streaming", frame: stream, want: protocol.ErrMalformed, detail: "streaming"},
		{name: "unknown_frame_type", frame: append([]byte{magicHigh, magicLow, 7}, stream[3:]...), want: protocol.ErrMalformed, detail: "frame type"},
		{name: "no_protobuf_header", frame: withPB(nil, "body"), want: protocol.ErrMalformed, detail: "without a protobuf header"},
		{name: "total_below_headers", frame: append([]byte{magicHigh, magicLow, 0, 0, 0, 0, 0, 17, 0, 2}, make([]byte, 6)...),
			want: protocol.ErrMalformed, detail: "total size"},
		{name: "truncated_field", frame: withPB([]byte{0x18, 0x05, 0x2a, 0x09, 'x'}, ""), want: protocol.ErrMalformed,
			typ: protocol.Request, id: 5},
		{name: "attachment_beyond_frame", frame: withPB(marshal(&trpcpb.RequestProtocol{RequestId: 6, AttachmentSize: 5}), "body"),
			want: protocol.ErrMalformed, typ: protocol.Request, id: 6, detail: "attachment_size"},
		{name: "repeated_trans_info", frame: withPB(append(marshal(&trpcpb.RequestProtocol{RequestId: 8,
			TransInfo: map[string][]byte{"x-user": []byte("admin")}}), marshal(&trpcpb.RequestProtocol{
			TransInfo: map[string][]byte{"x-user": []byte("guest")}})...), ""),
			want: protocol.ErrMalformed, typ: protocol.Request, id: 8, detail: "repeats"},
		{name: "response_attachment_beyond_frame", side: protocol.ResponseSide,
			frame: withPB(marshal(&trpcpb.ResponseProtocol{RequestId: 9, AttachmentSize: 1}), ""),
			want:  protocol.ErrMalformed, typ: protocol.Response, id: 9, detail: "attachment_size"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var msg protocol.Message
			n, err := New(protocol.Options{Side: tc.side, MaxFrameSize: tc.max}).Decode(tc.frame, &msg)
			if !errors.Is(err, tc.want) || n != 0 {
				t.Fatalf("Decode = %d, %v; want 0, %v", n, err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.detail) {
				t.Errorf("error %q does not say %q", err, tc.detail)
			}
			if msg.Type != tc.typ || msg.RequestID != tc.id {
				t.Errorf("Type, RequestID = %v, %d; want %v, %d", msg.Type, msg.RequestID, tc.typ, tc.id)
			}
		})
	}
}

// TestProtobufMerging: a repeated field keeps its last value, as trpc-go's parser has it;
// a field of the wrong wire type is an unknown field, skipped.
func TestProtobufMerging(t *testing.T) {
	var pb []byte
	field := func(num protowire.Number, s string) {
		pb = protowire.AppendTag(pb, num, protowire.BytesType)
		pb = protowire.AppendString(pb, s)
	}
	id := func(v uint64) {
		pb = protowire.AppendTag(pb, fieldRequestID, protowire.VarintType)
		pb = protowire.AppendVarint(pb, v)
	}
	id(1)
	field(reqFunc, "/first")
	field(reqCallee, "svc")
	field(reqFunc, "/second")
	id(2)
	field(fieldRequestID, "not a varint")
	f := pbFrame(t, &trpcpb.RequestProtocol{}, nil, nil)
	f = append(f[:headerSize:headerSize], pb...)
	binary.BigEndian.PutUint16(f[8:], uint16(len(pb)))
	binary.BigEndian.PutUint32(f[4:], uint32(len(f)))

	msg := decodeOK(t, protocol.RequestSide, f)
	if got := mdMap(&msg.Metadata); msg.RequestID != 2 || !reflect.DeepEqual(got, map[string]string{KeyCallee: "svc", KeyFunc: "/second"}) {
		t.Errorf("decoded id %d metadata %v", msg.RequestID, got)
	}
	_, tm := codec.WithNewMessage(context.Background())
	_, err := trpcgo.DefaultServerCodec.Decode(tm, f)
	head, _ := tm.ServerReqHead().(*trpcpb.RequestProtocol)
	if err != nil || head.GetRequestId() != 2 || tm.ServerRPCName() != "/second" {
		t.Errorf("trpc-go reads id %d func %q, %v", head.GetRequestId(), tm.ServerRPCName(), err)
	}
}

func TestSniff(t *testing.T) {
	c := New(protocol.Options{})
	for in, want := range map[string]protocol.SniffResult{
		"": protocol.SniffNeedMore, "\x09": protocol.SniffNeedMore, "\x09\x30": protocol.SniffYes, "\x09\x30\x00\x00": protocol.SniffYes,
		"\x09\x31": protocol.SniffNo, "\x0a": protocol.SniffNo, "PRPC": protocol.SniffNo,
	} {
		if got := c.Sniff([]byte(in)); got != want {
			t.Errorf("Sniff(%q) = %d, want %d", in, got, want)
		}
	}
}

// TestDecodeRequestAllocatesNothing holds the hot path to its promise.
func TestDecodeRequestAllocatesNothing(t *testing.T) {
	frame := helloCall.frame(t)
	c := New(protocol.Options{})
	var msg protocol.Message
	allocs := testing.AllocsPerRun(1000, func() {
		msg.Reset()
		if _, err := c.Decode(frame, &msg); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Decode allocates %.2f times per request", allocs)
	}
}

func mdMap(md *protocol.Metadata) map[string]string {
	m := map[string]string{}
	for _, kv := range md.All() {
		m[kv.Key] = kv.Value
	}
	return m
}
