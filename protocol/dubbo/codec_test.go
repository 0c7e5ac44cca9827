package dubbo

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"

	hessian "github.com/apache/dubbo-go-hessian2"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/protocol/codectest"
)

// suite is the conformance suite, on frames written by dubbo-go-hessian2.
func suite(t testing.TB) codectest.Suite {
	s := codectest.Suite{
		Codec:       Name,
		StatusCodes: true, // error replies carry the protocol's status (Message.Code)
		// The proxy's refusals that ran nowhere (retriable.go says why).
		RetriableKinds:  []protocol.ErrorKind{protocol.OverLimit, protocol.RouteNotFound, protocol.ClusterNotFound},
		OversizedHeader: oversizedHeader,
		Mutation:        protocol.Mutation{{Key: "x-breeze-route", Value: "canary"}, {Key: "timeout", Value: "500"}},
	}
	for _, tc := range peerRequestCases(t) {
		s.Requests = append(s.Requests, codectest.Sample{Name: tc.name, Frame: tc.frame, Type: tc.typ, RequestID: tc.id, Metadata: tc.md})
	}
	for _, tc := range peerResponseCases(t) {
		s.Responses = append(s.Responses, codectest.Sample{Name: tc.name, Frame: tc.frame, Type: tc.typ,
			RequestID: tc.id, Status: tc.status, Metadata: tc.md})
	}
	return s
}

// oversizedHeader is a request header whose body length makes a frame of size bytes.
func oversizedHeader(size int) []byte {
	h := appendHeader(nil, flagRequest|flagTwoWay|serializationHessian2, 0, 1)
	binary.BigEndian.PutUint32(h[12:], uint32(size-headerSize))
	return h
}

func TestConformance(t *testing.T) {
	codectest.Run(t, suite(t))
}

// frameOf builds a frame around a hessian2 body.
func frameOf(flag, status byte, id uint64, body []byte) []byte {
	f := append(appendHeader(nil, flag, status, id), body...)
	putBodyLen(f)
	return f
}

const requestFlag = flagRequest | flagTwoWay | serializationHessian2

func decodeOK(t *testing.T, frame []byte) *protocol.Message {
	t.Helper()
	var msg protocol.Message
	n, err := New(protocol.Options{}).Decode(frame, &msg)
	if err != nil || n != len(frame) {
		t.Fatalf("Decode = %d, %v; want %d, nil", n, err, len(frame))
	}
	return &msg
}

func TestHeaderErrors(t *testing.T) {
	good := HeartbeatRequest(9)
	cases := []struct {
		name     string
		frame    []byte
		want     error
		typeSet  protocol.MessageType
		idSet    uint64
		maxFrame int
	}{
		{name: "bad_first_magic_byte", frame: []byte{0xdb}, want: protocol.ErrMalformed},
		{name: "bad_second_magic_byte", frame: []byte{0xda, 0xbc}, want: protocol.ErrMalformed},
		{name: "fastjson_serialization", frame: frameOf(flagRequest|flagTwoWay|6, 0, 42, []byte("{}")),
			want: protocol.ErrMalformed, typeSet: protocol.Request, idSet: 42},
		{name: "unsupported_serialization_on_header_only", frame: frameOf(flagRequest|flagTwoWay|6, 0, 43, []byte("{}"))[:headerSize],
			want: protocol.ErrMalformed, typeSet: protocol.Request, idSet: 43},
		{name: "negative_body_length", frame: append(good[:12:12], 0x80, 0, 0, 0),
			want: protocol.ErrFrameTooLarge, typeSet: protocol.Heartbeat, idSet: 9},
		{name: "over_the_limit", frame: oversizedHeader(101), maxFrame: 100,
			want: protocol.ErrFrameTooLarge, typeSet: protocol.Request, idSet: 1},
		{name: "unknown_response_type", frame: frameOf(serializationHessian2, statusOK, 44, []byte{0x96}),
			want: protocol.ErrMalformed, typeSet: protocol.Response, idSet: 44},
		{name: "empty_ok_response", frame: frameOf(serializationHessian2, statusOK, 45, nil),
			want: protocol.ErrMalformed, typeSet: protocol.Response, idSet: 45},
		{name: "attachments_not_a_map", frame: frameOf(requestFlag, 0, 46, peerEncode(t, "2.0.2", "S", "", "m", "", "oops")),
			want: protocol.ErrMalformed, typeSet: protocol.Request, idSet: 46},
		{name: "fewer_arguments_than_declared", frame: frameOf(requestFlag, 0, 47, peerEncode(t, "2.0.2", "S", "", "m", "II", int32(1))),
			want: protocol.ErrMalformed, typeSet: protocol.Request, idSet: 47},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var msg protocol.Message
			n, err := New(protocol.Options{MaxFrameSize: tc.maxFrame}).Decode(tc.frame, &msg)
			if !errors.Is(err, tc.want) || n != 0 {
				t.Fatalf("Decode = %d, %v; want 0, %v", n, err, tc.want)
			}
			if msg.Type != tc.typeSet || msg.RequestID != tc.idSet {
				t.Errorf("Type, RequestID = %v, %d; want %v, %d so the proxy can answer", msg.Type, msg.RequestID, tc.typeSet, tc.idSet)
			}
		})
	}
}

// TestAttachmentsOverrideBody checks the metadata follows what Dubbo's server dispatches on:
// the path and version attachments win over the body, interface/method/dubbo attachments
// cannot disguise the call, and scalar attachment values are rendered as text.
func TestAttachmentsOverrideBody(t *testing.T) {
	att := map[any]any{
		"path": "org.example.Real", "version": "2.0", "interface": "org.example.Fake", "method": "fake", "dubbo": "9.9",
		"timeout": int32(3000), "retries": int64(1 << 40), "async": true, "sticky": false, "nothing": nil,
		"weight": 1.5, "tags": []any{"a"}, "when": map[any]any{"k": "v"}, int32(7): "int key",
	}
	body := peerEncode(t, "2.0.2", "org.example.Body", "1.0", "call", "Ljava/lang/String;", "arg", att)
	msg := decodeOK(t, frameOf(requestFlag, 0, 1, body))
	want := map[string]string{
		"interface": "org.example.Real", "path": "org.example.Real", "version": "2.0", "method": "call", "dubbo": "2.0.2",
		"timeout": "3000", "retries": "1099511627776", "async": "true", "sticky": "false", "nothing": "",
	}
	if got := mdMap(&msg.Metadata); !reflect.DeepEqual(got, want) || msg.Metadata.Len() != len(want) {
		t.Errorf("metadata:\n got %v\nwant %v", got, want)
	}

	// An empty version attachment empties the version, as it does for the server.
	body = peerEncode(t, "2.0.2", "S", "1.0", "m", "", map[any]any{"version": ""})
	if v, ok := decodeOK(t, frameOf(requestFlag, 0, 1, body)).Metadata.Get(KeyVersion); ok {
		t.Errorf("version = %q, want none", v)
	}
}

func TestErrorMessageMetadata(t *testing.T) {
	long := strings.Repeat("trace line 中\n", 6000) // chunked
	for _, text := range []string{"short", long} {
		frame := frameOf(serializationHessian2, statusServiceError, 3, peerEncode(t, text))
		var msg protocol.Message
		if _, err := New(protocol.Options{Side: protocol.ResponseSide}).Decode(frame, &msg); err != nil {
			t.Fatal(err)
		}
		if got := msg.Metadata.Value(KeyErrorMessage); got != text {
			t.Errorf("error_message = %.30q..., want %.30q...", got, text)
		}
	}
	// A non-string error body is no reason to reject the response.
	msg := decodeOK(t, frameOf(serializationHessian2, statusServerError, 4, []byte{0x91}))
	if msg.Type != protocol.Error || msg.Metadata.Len() != 0 {
		t.Errorf("decoded %v with %v", msg.Type, msg.Metadata.All())
	}
}

// encodeMutation decodes frame and encodes it with mut.
func encodeMutation(t *testing.T, frame []byte, mut protocol.Mutation) []byte {
	t.Helper()
	c := New(protocol.Options{})
	var msg protocol.Message
	if _, err := c.Decode(frame, &msg); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	out, err := c.Encode(&msg, mut)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return out
}

func TestEncodeMissingOrNullAttachments(t *testing.T) {
	mut := protocol.Mutation{{Key: "x-route", Value: "canary"}}
	for name, tail := range map[string][]any{"null": {nil}, "absent": nil} {
		t.Run(name, func(t *testing.T) {
			body := peerEncode(t, append([]any{"2.0.2", "org.example.S", "", "m", "I", int32(5)}, tail...)...)
			out := encodeMutation(t, frameOf(requestFlag, 0, 8, body), mut)
			args, att := peerReadRequest(t, out)
			if !reflect.DeepEqual(args, []any{int32(5)}) || att["x-route"] != "canary" {
				t.Errorf("dubbo-go-hessian2 reads args %v attachments %v", args, att)
			}
			if got := decodeOK(t, out).Metadata.Value("x-route"); got != "canary" {
				t.Errorf("x-route = %q after mutation", got)
			}
		})
	}
}

// TestEncodeKeepsComplexValues checks that an attachment holding a list is not removed when
// a mutation sets its key (that would renumber references), and the new value still wins.
func TestEncodeKeepsComplexValues(t *testing.T) {
	shared := []any{"x"}
	att := map[any]any{"tags": shared, "again": shared, "keep": "me"}
	body := peerEncode(t, "2.0.2", "org.example.S", "", "m", "", att)
	out := encodeMutation(t, frameOf(requestFlag, 0, 8, body), protocol.Mutation{{Key: "tags", Value: "new"}})
	msg := decodeOK(t, out)
	if got := mdMap(&msg.Metadata); got["tags"] != "new" || got["keep"] != "me" || msg.Metadata.Len() != 5 {
		t.Errorf("metadata after mutation = %v", msg.Metadata.All())
	}
	_, peerAtt := peerReadRequest(t, out)
	if peerAtt["tags"] != "new" || peerAtt["keep"] != "me" {
		t.Errorf("dubbo-go-hessian2 reads attachments %v", peerAtt)
	}
}

// TestEncodeObjectAttachmentOfArgumentClass covers an attachment holding an object whose
// class definition is in the arguments: Encode must walk the body from the start.
func TestEncodeObjectAttachmentOfArgumentClass(t *testing.T) {
	u := &User{Name: "ann"}
	att := map[any]any{"user": &User{Name: "bob"}, "k": "v"}
	body := peerEncode(t, "2.0.2", "org.example.S", "", "m", "Lorg/example/User;", u, att)
	if bytes.Count(body, []byte("org.example.User")) != 1 {
		t.Fatalf("expected the attachment to reuse the argument's class definition: %q", body)
	}
	out := encodeMutation(t, frameOf(requestFlag, 0, 8, body), protocol.Mutation{{Key: "x", Value: "y"}})
	args, peerAtt := peerReadRequest(t, out)
	if got, ok := args[0].(*User); !ok || got.Name != "ann" || peerAtt["x"] != "y" || peerAtt["k"] != "v" {
		t.Errorf("dubbo-go-hessian2 reads args %#v attachments %v", args, peerAtt)
	}
}

// TestEncodeCopiedMessage checks Encode does not trust a position recorded for other memory.
func TestEncodeCopiedMessage(t *testing.T) {
	frame := peerRequestCases(t)[0].frame
	c := New(protocol.Options{})
	var msg protocol.Message
	if _, err := c.Decode(bytes.Clone(frame), &msg); err != nil {
		t.Fatal(err)
	}
	msg.Frame = bytes.Clone(msg.Frame) // CodecState still points into the old buffer
	out, err := c.Encode(&msg, protocol.Mutation{{Key: "x", Value: "y"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, att := peerReadRequest(t, out); att["x"] != "y" || att["x-user"] != "ann" {
		t.Errorf("attachments = %v", att)
	}
	msg.CodecState = nil
	if out2, err := c.Encode(&msg, protocol.Mutation{{Key: "x", Value: "y"}}); err != nil || !bytes.Equal(out, out2) {
		t.Errorf("Encode without the recorded position = %v, differs: %v", err, !bytes.Equal(out, out2))
	}
}

func TestEncodeTypedMapAndTrailingBytes(t *testing.T) {
	body := peerEncode(t, "2.0.2", "org.example.S", "", "m", "")
	body = append(body, "M\x11java.util.HashMap\x01a\x01bZ"...)
	body = append(body, 'N') // trailing bytes after the attachments are kept
	out := encodeMutation(t, frameOf(requestFlag, 0, 8, body), protocol.Mutation{{Key: "c", Value: "d"}})
	wantBody := string(body[:len(body)-len("M\x11java.util.HashMap\x01a\x01bZN")]) + "M\x11java.util.HashMap\x01a\x01b\x01c\x01dZN"
	if got := string(out[headerSize:]); got != wantBody {
		t.Errorf("mutated body = %q\nwant %q", got, wantBody)
	}
}

func TestEncodeUntouchedFrames(t *testing.T) {
	mut := protocol.Mutation{{Key: "x", Value: "y"}}
	c := New(protocol.Options{})
	for _, frame := range [][]byte{HeartbeatRequest(3), frameOf(serializationHessian2, statusServiceError, 3, peerEncode(t, "err"))} {
		var msg protocol.Message
		if _, err := c.Decode(frame, &msg); err != nil {
			t.Fatal(err)
		}
		if out, err := c.Encode(&msg, mut); err != nil || &out[0] != &frame[0] {
			t.Errorf("Encode(%x) changed a frame that carries no attachments (err %v)", frame[:4], err)
		}
	}
}

func TestRewriteRequestIDErrors(t *testing.T) {
	c := New(protocol.Options{})
	for _, frame := range [][]byte{nil, HeartbeatRequest(1)[:15], append([]byte{0xca, 0xfe}, HeartbeatRequest(1)[2:]...)} {
		if err := c.RewriteRequestID(frame, 5); err == nil {
			t.Errorf("RewriteRequestID(%x) succeeded", frame)
		}
	}
}

func TestSniff(t *testing.T) {
	c := New(protocol.Options{})
	cases := map[string]protocol.SniffResult{
		"":                   protocol.SniffNeedMore,
		"\xda":               protocol.SniffNeedMore,
		"\xda\xbb":           protocol.SniffYes,
		"\xda\xbb\xc2\x00":   protocol.SniffYes,
		"\xdb":               protocol.SniffNo,
		"\xda\xbc":           protocol.SniffNo,
		"GET / HTTP/1.1\r\n": protocol.SniffNo,
	}
	for in, want := range cases {
		if got := c.Sniff([]byte(in)); got != want {
			t.Errorf("Sniff(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestErrorReplyMessage(t *testing.T) {
	c := New(protocol.Options{})
	req := &protocol.Message{Type: protocol.Request, RequestID: 5}
	for e, want := range map[*protocol.LocalError]string{
		nil:                        "breeze: internal error",
		{Kind: protocol.OverLimit}: "breeze: over_limit",
		{Kind: protocol.Timeout, Message: "upstream took 3s"}: "breeze: upstream took 3s",
	} {
		reply, err := c.ErrorReply(req, e)
		if err != nil {
			t.Fatal(err)
		}
		var msg protocol.Message
		if _, err := New(protocol.Options{Side: protocol.ResponseSide}).Decode(reply, &msg); err != nil {
			t.Fatal(err)
		}
		if got := msg.Metadata.Value(KeyErrorMessage); got != want {
			t.Errorf("error message = %q, want %q", got, want)
		}
	}
}

func TestLookupAerakiName(t *testing.T) {
	r, err := protocol.Lookup("aeraki.meta_protocol.codec.dubbo")
	if err != nil || r.Name != Name {
		t.Fatalf("Lookup = %v, %v", r.Name, err)
	}
	if _, ok := r.New(protocol.Options{}).(*Codec); !ok {
		t.Errorf("the registered codec is not *dubbo.Codec")
	}
}

// TestDecodeRequestAllocatesNothing holds the hot path to its promise.
func TestDecodeRequestAllocatesNothing(t *testing.T) {
	frame := typicalRequest(t)
	c := New(protocol.Options{})
	var msg protocol.Message
	allocs := testing.AllocsPerRun(100, func() {
		msg.Reset()
		if _, err := c.Decode(frame, &msg); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Decode of a typical request allocates %.1f times", allocs)
	}
}

// typicalRequest is a small request: five string arguments and four attachments (dubbo-go
// adds path and version).
func typicalRequest(t testing.TB) []byte {
	svc := hessian.Service{Path: "org.apache.dubbo.samples.api.GreetingService", Version: "1.0.0", Method: "greet"}
	args := []any{"alice", "bob", "hello there", "zh-CN", "2024-05-17"}
	att := map[string]string{"group": "blue", "x-request-id": "4bf92f3577b34da6"} // + path, version
	return peerRequest(t, 12345, hessian.PackageRequest_TwoWay, svc, args, att)
}

// TestDuplicateAttachmentKeys: Dubbo keeps a repeated key's last value while Metadata.Get
// returns the first, so a repeat the metadata would carry twice is refused. (Found by
// FuzzDecode; see testdata/fuzz/FuzzDecode/regression_duplicate_attachment_key.)
func TestDuplicateAttachmentKeys(t *testing.T) {
	prefix := peerEncode(t, "2.0.2", "org.example.S", "1.0", "m", "")
	entries := func(kvs ...any) []byte {
		return append(append(bytes.Clone(prefix), 'H'), append(peerEncode(t, kvs...), 'Z')...)
	}
	cases := []struct {
		name    string
		body    []byte
		wantErr bool
		want    map[string]string
	}{
		{name: "string_twice", body: entries("x-user", "admin", "x-user", "guest"), wantErr: true},
		{name: "string_then_list", body: entries("x-user", "admin", "x-user", []any{"guest"}), wantErr: true},
		{name: "path_twice", body: entries("path", "a", "path", "b"), wantErr: true},
		{name: "list_then_string", body: entries("x-user", []any{"old"}, "x-user", "new"), // what Encode writes
			want: map[string]string{"interface": "org.example.S", "method": "m", "version": "1.0", "dubbo": "2.0.2", "x-user": "new"}},
		{name: "version_twice_last_wins", body: entries("version", "2.0", "version", "3.0"),
			want: map[string]string{"interface": "org.example.S", "method": "m", "version": "3.0", "dubbo": "2.0.2"}},
		{name: "case_differs", body: entries("x-user", "a", "X-User", "b"),
			want: map[string]string{"interface": "org.example.S", "method": "m", "version": "1.0", "dubbo": "2.0.2", "x-user": "a", "X-User": "b"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var msg protocol.Message
			_, err := New(protocol.Options{}).Decode(frameOf(requestFlag, 0, 1, tc.body), &msg)
			if tc.wantErr {
				if !errors.Is(err, protocol.ErrMalformed) || msg.Type != protocol.Request {
					t.Errorf("Decode = %v (type %v), want ErrMalformed on a request", err, msg.Type)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := mdMap(&msg.Metadata); !reflect.DeepEqual(got, tc.want) || msg.Metadata.Len() != len(tc.want) {
				t.Errorf("metadata = %v, want %v", msg.Metadata.All(), tc.want)
			}
		})
	}
}
