package brpc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	baidurpc "github.com/baidu-golang/pbrpc"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	brpcpb "github.com/breeze-mesh/breeze/api/peers/brpc"
	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/protocol/codectest"
)

// userServiceMeta is a request meta with every request field and two user fields, as a
// bRPC client that sets them sends it.
func userServiceMeta() *brpcpb.RpcMeta {
	return &brpcpb.RpcMeta{
		Request: &brpcpb.RpcRequestMeta{
			ServiceName: proto.String("example.UserService"), MethodName: proto.String("Get"),
			LogId: proto.Int64(-5), TraceId: proto.Int64(11), SpanId: proto.Int64(12), ParentSpanId: proto.Int64(13),
			RequestId: proto.String("req-1"), TimeoutMs: proto.Int32(100),
		},
		CorrelationId: proto.Int64(300),
		UserFields:    map[string]string{"x-user": "ann", "x-trace": "t-1"},
	}
}

// suite is the conformance suite, on frames from pbrpc and from the spec schema.
func suite(t testing.TB) codectest.Suite {
	echo := pbrpcCall{service: echoService, method: "Echo", id: 7, in: "hello"}
	withLog := pbrpcCall{service: echoService, method: "Echo", id: 1 << 40, logID: 123456789, in: "big", attachment: []byte("att-bytes")}
	echoMD := map[string]string{KeyService: echoService, KeyMethod: "Echo"}
	reply := echo
	reply.reply, reply.out, reply.replyAttachment = true, "echo: hello", []byte("att")
	notFound := echo
	notFound.reply, notFound.errorCode, notFound.errorText = true, 1001, "[server-1001]Service name 'EchoService' or method name 'Nope' not found"
	return codectest.Suite{
		Codec:       Name,
		StatusCodes: true, // error replies carry the protocol's status (Message.Code)
		// The proxy's refusals that ran nowhere (retriable.go says why).
		RetriableKinds: []protocol.ErrorKind{protocol.OverLimit, protocol.RouteNotFound, protocol.ClusterNotFound},
		Requests: []codectest.Sample{
			{Name: "pbrpc_echo", Frame: echo.frame(t), Type: protocol.Request, RequestID: 7, Metadata: echoMD},
			{Name: "pbrpc_log_id_attachment", Frame: withLog.frame(t), Type: protocol.Request, RequestID: 1 << 40,
				Metadata: map[string]string{KeyService: echoService, KeyMethod: "Echo", KeyLogID: "123456789"}},
			{Name: "spec_user_fields", Frame: specFrame(t, userServiceMeta(), stringValue(t, "ann"), []byte("attachment")),
				Type: protocol.Request, RequestID: 300, Metadata: map[string]string{
					KeyService: "example.UserService", KeyMethod: "Get", KeyLogID: "-5", "x-user": "ann", "x-trace": "t-1"}},
			{Name: "spec_no_correlation_id", Frame: specFrame(t, &brpcpb.RpcMeta{Request: &brpcpb.RpcRequestMeta{
				ServiceName: proto.String("S"), MethodName: proto.String("m")}}, nil, nil),
				Type: protocol.Request, RequestID: 0, Metadata: map[string]string{KeyService: "S", KeyMethod: "m"}},
			{Name: "spec_reserved_user_field", Frame: specFrame(t, &brpcpb.RpcMeta{
				Request:       &brpcpb.RpcRequestMeta{ServiceName: proto.String("S"), MethodName: proto.String("real")},
				CorrelationId: proto.Int64(9), UserFields: map[string]string{KeyMethod: "fake", "x": "y"}}, nil, nil),
				Type: protocol.Request, RequestID: 9, Metadata: map[string]string{KeyService: "S", KeyMethod: "real", "x": "y"}},
		},
		Responses: []codectest.Sample{
			{Name: "pbrpc_ok", Frame: reply.frame(t), Type: protocol.Response, RequestID: 7, Metadata: map[string]string{}},
			{Name: "pbrpc_service_not_found", Frame: notFound.frame(t), Type: protocol.Error, RequestID: 7, Status: protocol.StatusError,
				Metadata: map[string]string{KeyErrorCode: "1001", KeyErrorText: notFound.errorText}},
			{Name: "spec_ok_user_fields", Frame: specFrame(t, &brpcpb.RpcMeta{CorrelationId: proto.Int64(300),
				UserFields: map[string]string{"x-served-by": "v2"}}, stringValue(t, "ok"), nil),
				Type: protocol.Response, RequestID: 300, Metadata: map[string]string{"x-served-by": "v2"}},
			{Name: "spec_error", Frame: specFrame(t, &brpcpb.RpcMeta{CorrelationId: proto.Int64(5),
				Response: &brpcpb.RpcResponseMeta{ErrorCode: proto.Int32(2004), ErrorText: proto.String("limit")}}, nil, nil),
				Type: protocol.Error, RequestID: 5, Status: protocol.StatusError, Metadata: map[string]string{KeyErrorCode: "2004", KeyErrorText: "limit"}},
		},
		OversizedHeader: oversizedHeader,
		Mutation:        protocol.Mutation{{Key: "x-breeze-route", Value: "canary"}, {Key: "x-user", Value: "bob"}},
	}
}

// oversizedHeader is a header whose body size makes a frame of size bytes.
func oversizedHeader(size int) []byte {
	h := []byte(magic)
	h = binary.BigEndian.AppendUint32(h, uint32(size-headerSize))
	return binary.BigEndian.AppendUint32(h, 0)
}

func TestConformance(t *testing.T) {
	codectest.Run(t, suite(t))
}

// TestPBRPCServerAnswers sends requests to a real pbrpc server — as the client wrote them,
// mutated by Encode, and with ids set by ReplaceRequestID both in place and in a longer
// frame — and decodes its answers: the server accepts what the codec writes, and the codec
// reads what the server writes.
func TestPBRPCServerAnswers(t *testing.T) {
	skipUnderRace(t)
	addr := startPBRPCServer(t)
	c := New(protocol.Options{})
	echo := pbrpcCall{service: echoService, method: "Echo", id: 1 << 20, in: "ann", attachment: []byte("att")}.frame(t)
	mutated, err := c.Encode(decodeOK(t, protocol.RequestSide, echo), protocol.Mutation{{Key: "x-route", Value: "canary"}})
	if err != nil {
		t.Fatal(err)
	}
	inPlace, err := c.ReplaceRequestID(bytes.Clone(echo), 5) // a 3-byte varint holds 5
	if err != nil || len(inPlace) != len(echo) {
		t.Fatalf("ReplaceRequestID(5) = %d bytes, %v; want in place", len(inPlace), err)
	}
	small := pbrpcCall{service: echoService, method: "Echo", id: 1, in: "bob"}.frame(t)
	grown, err := c.ReplaceRequestID(small, protocol.MaxSharedRequestID)
	if err != nil || len(grown) != len(small)+4 {
		t.Fatalf("ReplaceRequestID(max) = %d bytes, %v; want %d", len(grown), err, len(small)+4)
	}
	cases := []struct {
		name    string
		request []byte
		id      uint64
		typ     protocol.MessageType
		md      map[string]string
		reply   string
	}{
		{"echo", echo, 1 << 20, protocol.Response, map[string]string{}, "echo: ann"},
		{"mutated", mutated, 1 << 20, protocol.Response, map[string]string{"x-route": "canary"}, "echo: ann"},
		{"id_in_place", inPlace, 5, protocol.Response, map[string]string{}, "echo: ann"},
		{"id_grown", grown, protocol.MaxSharedRequestID, protocol.Response, map[string]string{}, "echo: bob"},
		{"handler_error", pbrpcCall{service: echoService, method: "Fail", id: 3, in: "x"}.frame(t), 3, protocol.Error,
			map[string]string{KeyErrorCode: "2001", KeyErrorText: "no luck today"}, ""},
		{"unknown_method", pbrpcCall{service: echoService, method: "Nope", id: 4}.frame(t), 4, protocol.Error,
			map[string]string{KeyErrorCode: "1001", KeyErrorText: "[server-1001]Service name 'EchoService' or method name 'Nope' not found"}, ""},
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
				p := pbrpcParse(t, answer)
				if got := mustString(t, p.GetData()); got != tc.reply || string(p.GetAttachment()) != string(pbrpcParse(t, tc.request).GetAttachment()) {
					t.Errorf("reply %q with attachment %q", got, p.GetAttachment())
				}
			}
		})
	}
}

// TestMutationReadBySpec reads mutated frames with the spec schema: user_fields carry the
// mutation (overriding an existing key, keeping the others), every other field, the payload
// and the attachment are unchanged.
func TestMutationReadBySpec(t *testing.T) {
	orig := userServiceMeta()
	frame := specFrame(t, orig, stringValue(t, "payload"), []byte("attachment"))
	mut := protocol.Mutation{{Key: "x-user", Value: "bob"}, {Key: "x-new", Value: "1"}, {Key: "x-new", Value: "2"}}
	out, err := New(protocol.Options{}).Encode(decodeOK(t, protocol.RequestSide, frame), mut)
	if err != nil {
		t.Fatal(err)
	}
	meta, payload, att := specParse(t, out)
	if want := map[string]string{"x-user": "bob", "x-trace": "t-1", "x-new": "2"}; !reflect.DeepEqual(meta.UserFields, want) {
		t.Errorf("user_fields = %v, want %v", meta.UserFields, want)
	}
	meta.UserFields, orig.UserFields = nil, nil
	if !proto.Equal(meta, orig) {
		t.Errorf("meta changed beyond user_fields:\n got %v\nwant %v", meta, orig)
	}
	if mustString(t, payload) != "payload" || string(att) != "attachment" {
		t.Errorf("payload %q, attachment %q", payload, att)
	}
	// A response is mutated the same way; pbrpc still reads the request part it echoes.
	resp := pbrpcCall{service: echoService, method: "Echo", id: 2, in: "r", reply: true, out: "r"}.frame(t)
	rmsg := decodeOK(t, protocol.ResponseSide, resp)
	out, err = New(protocol.Options{}).Encode(rmsg, protocol.Mutation{{Key: "x-served-by", Value: "v1"}})
	if err != nil {
		t.Fatal(err)
	}
	if meta, _, _ := specParse(t, out); meta.UserFields["x-served-by"] != "v1" || pbrpcParse(t, out).GetMeta().GetRequest().GetMethodName() != "Echo" {
		t.Errorf("mutated response: user_fields %v", meta.UserFields)
	}
}

// TestErrorReplyReadByPeers: pbrpc and the spec schema read the error code, text and id.
func TestErrorReplyReadByPeers(t *testing.T) {
	c := New(protocol.Options{})
	cases := []struct {
		err  *protocol.LocalError
		code int32
		text string
	}{
		{nil, 2001, "breeze: internal error"},
		{protocol.NewLocalError(protocol.RouteNotFound, "no route for method=Get"), 1001, "breeze: no route for method=Get"},
		{protocol.NewLocalError(protocol.ClusterNotFound, "x"), 1001, "breeze: x"},
		{protocol.NewLocalError(protocol.BadRequest, "bad"), 1003, "breeze: bad"},
		{protocol.NewLocalError(protocol.Timeout, "slow"), 1008, "breeze: slow"},
		{protocol.NewLocalError(protocol.BadResponse, "garbled"), 2002, "breeze: garbled"},
		{&protocol.LocalError{Kind: protocol.OverLimit}, 2004, "breeze: over_limit"},
		{protocol.NewLocalError(protocol.UpstreamReset, "gone"), 2001, "breeze: gone"},
		{protocol.NewLocalError(protocol.NoHealthyUpstream, "none"), 2001, "breeze: none"},
	}
	for _, id := range []uint64{0, 1, 1 << 40} {
		for _, tc := range cases {
			reply, err := c.ErrorReply(&protocol.Message{Type: protocol.Request, RequestID: id}, tc.err)
			if err != nil {
				t.Fatal(err)
			}
			p := pbrpcParse(t, reply)
			if r := p.GetMeta().GetResponse(); r.GetErrorCode() != tc.code || r.GetErrorText() != tc.text || uint64(p.GetMeta().GetCorrelationId()) != id {
				t.Errorf("pbrpc reads code %d text %q id %d, want %d %q %d", r.GetErrorCode(), r.GetErrorText(), p.GetMeta().GetCorrelationId(), tc.code, tc.text, id)
			}
			meta, payload, att := specParse(t, reply)
			if meta.GetResponse().GetErrorCode() != tc.code || meta.GetRequest() != nil || len(payload)+len(att) != 0 {
				t.Errorf("spec reads %v, payload %q", meta, payload)
			}
		}
	}
}

func TestReplaceRequestID(t *testing.T) {
	c := New(protocol.Options{})
	frame := func(id *int64, extra ...byte) []byte {
		meta, err := proto.Marshal(&brpcpb.RpcMeta{Request: &brpcpb.RpcRequestMeta{ServiceName: proto.String("S"), MethodName: proto.String("m")}, CorrelationId: id})
		if err != nil {
			t.Fatal(err)
		}
		meta = append(meta, extra...)
		f := binary.BigEndian.AppendUint32([]byte(magic), uint32(len(meta)+3))
		f = binary.BigEndian.AppendUint32(f, uint32(len(meta)))
		return append(append(f, meta...), "pay"...)
	}
	cases := []struct {
		name    string
		frame   []byte
		id      uint64
		inPlace bool
	}{
		{"narrower_fits", frame(proto.Int64(1 << 30)), 3, true},
		{"same_width", frame(proto.Int64(100)), 27, true},
		{"wider_grows", frame(proto.Int64(1)), 1 << 30, false},
		{"absent_is_added", frame(nil), 42, false},
		{"negative_id_has_ten_bytes", frame(proto.Int64(-1)), protocol.MaxSharedRequestID, true},
		// The last of two correlation_id fields is the one parsers keep.
		{"repeated_field_last_wins", frame(proto.Int64(1), 0x20, 0x80, 0x80, 0x80, 0x80, 0x01), 1 << 20, true},
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
			meta, payload, _ := specParse(t, out)
			if uint64(meta.GetCorrelationId()) != tc.id || string(payload) != "pay" || meta.GetRequest().GetMethodName() != "m" {
				t.Errorf("spec reads id %d payload %q meta %v", meta.GetCorrelationId(), payload, meta)
			}
			if got := pbrpcParse(t, out).GetMeta().GetCorrelationId(); uint64(got) != tc.id {
				t.Errorf("pbrpc reads id %d, want %d", got, tc.id)
			}
			if msg := decodeOK(t, protocol.RequestSide, out); msg.RequestID != tc.id {
				t.Errorf("Decode reads id %d", msg.RequestID)
			}
		})
	}
	for _, bad := range [][]byte{nil, []byte("PRPC"), []byte("XRPC\x00\x00\x00\x00\x00\x00\x00\x00"), frame(nil)[:20]} {
		if _, err := c.ReplaceRequestID(bad, 1); err == nil {
			t.Errorf("ReplaceRequestID(%x) succeeded", bad)
		}
	}
}

// TestDecodeErrors checks every refusal: the error, and the type and id set so the proxy
// can answer a request it cannot forward.
func TestDecodeErrors(t *testing.T) {
	withMeta := func(meta []byte, rest string) []byte {
		f := binary.BigEndian.AppendUint32([]byte(magic), uint32(len(meta)+len(rest)))
		f = binary.BigEndian.AppendUint32(f, uint32(len(meta)))
		return append(append(f, meta...), rest...)
	}
	marshal := func(m *brpcpb.RpcMeta) []byte {
		b, err := proto.MarshalOptions{Deterministic: true, AllowPartial: true}.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	request := &brpcpb.RpcRequestMeta{ServiceName: proto.String("S"), MethodName: proto.String("m")}
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
		{name: "bad_magic", frame: []byte("PRPX"), want: protocol.ErrMalformed, detail: "bad magic"},
		{name: "http", frame: []byte("GET / HTTP/1.1\r\n"), want: protocol.ErrMalformed},
		{name: "meta_larger_than_body", frame: []byte("PRPC\x00\x00\x00\x01\x00\x00\x00\x02"), want: protocol.ErrMalformed, detail: "meta size"},
		{name: "body_size_negative", frame: []byte("PRPC\x80\x00\x00\x00\x00\x00\x00\x00"), want: protocol.ErrFrameTooLarge},
		{name: "over_the_limit", frame: oversizedHeader(101), max: 100, want: protocol.ErrFrameTooLarge},
		{name: "truncated_varint", frame: withMeta([]byte{0x20, 0x80}, ""), want: protocol.ErrMalformed, typ: protocol.Request},
		{name: "missing_method", frame: withMeta(marshal(&brpcpb.RpcMeta{CorrelationId: proto.Int64(8),
			Request: &brpcpb.RpcRequestMeta{ServiceName: proto.String("S")}}), ""),
			want: protocol.ErrMalformed, typ: protocol.Request, id: 8, detail: "method_name"},
		{name: "response_on_request_side", frame: withMeta(marshal(&brpcpb.RpcMeta{CorrelationId: proto.Int64(8),
			Response: &brpcpb.RpcResponseMeta{ErrorCode: proto.Int32(1)}}), ""),
			want: protocol.ErrMalformed, typ: protocol.Request, id: 8},
		{name: "attachment_beyond_body", frame: withMeta(marshal(&brpcpb.RpcMeta{CorrelationId: proto.Int64(9), Request: request,
			AttachmentSize: proto.Int32(4)}), "abc"), want: protocol.ErrMalformed, typ: protocol.Request, id: 9, detail: "attachment_size"},
		{name: "attachment_negative", frame: withMeta(marshal(&brpcpb.RpcMeta{CorrelationId: proto.Int64(9), Request: request,
			AttachmentSize: proto.Int32(-1)}), "abc"), want: protocol.ErrMalformed, typ: protocol.Request, id: 9, detail: "attachment_size"},
		{name: "chunked", frame: withMeta(marshal(&brpcpb.RpcMeta{CorrelationId: proto.Int64(10), Request: request,
			ChunkInfo: &brpcpb.ChunkInfo{StreamId: proto.Int64(1), ChunkId: proto.Int64(0)}}), ""),
			want: protocol.ErrMalformed, typ: protocol.Request, id: 10, detail: "chunk_info"},
		{name: "streaming", frame: withMeta(marshal(&brpcpb.RpcMeta{CorrelationId: proto.Int64(11), Request: request,
			StreamSettings: &brpcpb.StreamSettings{StreamId: proto.Int64(3)}}), ""),
			want: protocol.ErrMalformed, typ: protocol.Request, id: 11, detail: "stream_settings"},
		{name: "repeated_user_field", frame: withMeta(append(marshal(&brpcpb.RpcMeta{CorrelationId: proto.Int64(12), Request: request,
			UserFields: map[string]string{"x-user": "admin"}}), marshal(&brpcpb.RpcMeta{UserFields: map[string]string{"x-user": "guest"}})...), ""),
			want: protocol.ErrMalformed, typ: protocol.Request, id: 12, detail: "repeats"},
		{name: "response_bad_submessage", side: protocol.ResponseSide, frame: withMeta([]byte{0x20, 0x05, 0x12, 0x01, 0x08}, ""),
			want: protocol.ErrMalformed, typ: protocol.Response, id: 5},
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

// TestProtobufMerging: a field repeated in the meta keeps its last value and repeated
// request parts merge, as the server's parser has them; fields of the wrong wire type are
// unknown fields, skipped.
func TestProtobufMerging(t *testing.T) {
	var meta []byte
	meta = protowire.AppendTag(meta, metaCorrelationID, protowire.VarintType)
	meta = protowire.AppendVarint(meta, 1)
	part := func(num protowire.Number, s string) []byte {
		b := protowire.AppendTag(nil, num, protowire.BytesType)
		return protowire.AppendString(b, s)
	}
	meta = protowire.AppendTag(meta, metaRequest, protowire.BytesType)
	meta = protowire.AppendBytes(meta, append(part(requestServiceName, "First"), part(requestMethodName, "m1")...))
	meta = protowire.AppendTag(meta, metaRequest, protowire.BytesType)
	meta = protowire.AppendBytes(meta, part(requestMethodName, "m2"))
	meta = protowire.AppendTag(meta, metaCorrelationID, protowire.VarintType)
	meta = protowire.AppendVarint(meta, 2)
	meta = append(meta, part(metaCorrelationID, "not a varint")...)
	f := binary.BigEndian.AppendUint32([]byte(magic), uint32(len(meta)))
	f = append(binary.BigEndian.AppendUint32(f, uint32(len(meta))), meta...)

	msg := decodeOK(t, protocol.RequestSide, f)
	if got := mdMap(&msg.Metadata); msg.RequestID != 2 || !reflect.DeepEqual(got, map[string]string{KeyService: "First", KeyMethod: "m2"}) {
		t.Errorf("decoded id %d metadata %v", msg.RequestID, got)
	}
	spec, _, _ := specParse(t, f)
	if spec.GetCorrelationId() != 2 || spec.GetRequest().GetServiceName() != "First" || spec.GetRequest().GetMethodName() != "m2" {
		t.Errorf("the spec schema reads %v", spec)
	}
}

func TestSniff(t *testing.T) {
	c := New(protocol.Options{})
	for in, want := range map[string]protocol.SniffResult{
		"": protocol.SniffNeedMore, "PR": protocol.SniffNeedMore, "PRPC": protocol.SniffYes, "PRPC\x00": protocol.SniffYes,
		"PRX": protocol.SniffNo, "\xda\xbb": protocol.SniffNo, "GET /": protocol.SniffNo,
	} {
		if got := c.Sniff([]byte(in)); got != want {
			t.Errorf("Sniff(%q) = %d, want %d", in, got, want)
		}
	}
}

// TestDecodeRequestAllocatesNothing holds the hot path to its promise; a log_id costs a
// share of a text block now and then, never one allocation per request.
func TestDecodeRequestAllocatesNothing(t *testing.T) {
	for name, frame := range map[string][]byte{
		"without_log_id": typicalRequest(t),
		"with_log_id":    pbrpcCall{service: echoService, method: "Echo", id: 1 << 40, logID: 123456789, in: "x"}.frame(t),
	} {
		c := New(protocol.Options{})
		var msg protocol.Message
		allocs := testing.AllocsPerRun(1000, func() {
			msg.Reset()
			if _, err := c.Decode(frame, &msg); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: Decode allocates %.2f times per request", name, allocs)
		}
	}
}

// typicalRequest is a pbrpc request with a small payload.
func typicalRequest(t testing.TB) []byte {
	return pbrpcCall{service: "example.UserService", method: "GetUser", id: 12345, in: "alice"}.frame(t)
}

func mdMap(md *protocol.Metadata) map[string]string {
	m := map[string]string{}
	for _, kv := range md.All() {
		m[kv.Key] = kv.Value
	}
	return m
}

func mustString(t testing.TB, b []byte) string {
	t.Helper()
	var v wrapperspb.StringValue
	if err := proto.Unmarshal(b, &v); err != nil {
		t.Fatalf("payload is not a StringValue: %v", err)
	}
	return v.GetValue()
}

// TestPBRPCClientSeesErrorReply: a pbrpc client calling a server that answers every request
// with ErrorReply (as the proxy does when no route matches) gets the code and text as its
// call's error, each call its own.
func TestPBRPCClientSeesErrorReply(t *testing.T) {
	skipUnderRace(t)
	silencePBRPC()
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

	host, port := "127.0.0.1", ln.Addr().(*net.TCPAddr).Port
	timeout := 10 * time.Second
	conn, err := baidurpc.NewTCPConnection(*(&baidurpc.URL{}).SetHost(&host).SetPort(&port), &timeout)
	if err != nil {
		t.Fatal(err)
	}
	client, err := baidurpc.NewRpcCient(conn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	defer client.Close()
	for _, method := range []string{"Get", "Put"} {
		service := "example.UserService"
		inv := baidurpc.NewRpcInvocation(&service, &method)
		inv.SetParameterIn(wrapperspb.String("ann"))
		var out wrapperspb.StringValue
		_, err := client.SendRpcRequestWithTimeout(timeout, inv, &out)
		want := "code=1001, msg='breeze: no route for method=" + method + "'"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", method, err, want)
		}
	}
}

// answerWithErrors accepts one connection and answers each request on it with an
// error reply naming the method, until the client goes away.
func answerWithErrors(ln net.Listener) error {
	nc, err := ln.Accept()
	if err != nil {
		return err
	}
	defer nc.Close()
	c := New(protocol.Options{})
	buf := make([]byte, 0, 4096)
	for {
		var msg protocol.Message
		n, err := c.Decode(buf, &msg)
		switch {
		case errors.Is(err, protocol.ErrNeedMore):
			if len(buf) == cap(buf) {
				return errors.New("request larger than the buffer")
			}
			m, rerr := nc.Read(buf[len(buf):cap(buf)])
			if rerr != nil {
				return nil // the client closed the connection
			}
			buf = buf[:len(buf)+m]
			continue
		case err != nil:
			return err
		}
		reply, err := c.ErrorReply(&msg, protocol.NewLocalError(protocol.RouteNotFound, "no route for method=%s", msg.Metadata.Value(KeyMethod)))
		if err != nil {
			return err
		}
		if _, err := nc.Write(reply); err != nil {
			return err
		}
		buf = append(buf[:0], buf[n:]...)
	}
}
