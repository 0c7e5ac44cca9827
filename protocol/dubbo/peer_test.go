package dubbo

import (
	"bufio"
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	hessian "github.com/apache/dubbo-go-hessian2"

	"github.com/breeze-mesh/breeze/protocol"
)

// Frames in these tests come from dubbo-go-hessian2 v1.12.5, the hessian2 and Dubbo frame
// codec dubbo-go clients use: the real peer. Frames the codec writes are read back with it.

// User is a POJO as a Java service would take: a class definition, then instances.
type User struct {
	Name    string
	Age     int32
	Tags    []string
	Friend  *User
	Balance float64
}

func (User) JavaClassName() string { return "org.example.User" }

// Address is a second POJO, so a body holds more than one class definition.
type Address struct {
	City string
	Zip  int64
}

func (Address) JavaClassName() string { return "org.example.Address" }

func init() {
	hessian.RegisterPOJO(&User{})
	hessian.RegisterPOJO(&Address{})
}

// peerRequest builds a request frame with dubbo-go-hessian2.
func peerRequest(t testing.TB, id int64, typ hessian.PackageType, svc hessian.Service, args []any, att map[string]string) []byte {
	t.Helper()
	frame, err := hessian.NewHessianCodec(nil).Write(svc, hessian.DubboHeader{SerialID: serializationHessian2, Type: typ, ID: id},
		hessian.NewRequest(args, att))
	if err != nil {
		t.Fatalf("dubbo-go-hessian2 request: %v", err)
	}
	return frame
}

// peerResponse builds a response frame with dubbo-go-hessian2; body is a *hessian.Response
// or nil for a heartbeat.
func peerResponse(t testing.TB, id int64, typ hessian.PackageType, status byte, body any) []byte {
	t.Helper()
	frame, err := hessian.NewHessianCodec(nil).Write(hessian.Service{},
		hessian.DubboHeader{SerialID: serializationHessian2, Type: typ, ID: id, ResponseStatus: status}, body)
	if err != nil {
		t.Fatalf("dubbo-go-hessian2 response: %v", err)
	}
	return frame
}

// peerRead reads one frame with dubbo-go-hessian2's codec: the header, then the body into
// out (for requests a []any of 7, for responses a *hessian.Response, or nil).
func peerRead(t testing.TB, frame []byte, out any) hessian.DubboHeader {
	t.Helper()
	codec := hessian.NewHessianCodec(bufio.NewReaderSize(bytes.NewReader(frame), max(len(frame), 16)))
	var h hessian.DubboHeader
	if err := codec.ReadHeader(&h); err != nil {
		t.Fatalf("dubbo-go-hessian2 ReadHeader: %v", err)
	}
	if err := codec.ReadBody(out); err != nil {
		t.Fatalf("dubbo-go-hessian2 ReadBody: %v", err)
	}
	return h
}

// peerReadRequest returns the arguments and attachments dubbo-go-hessian2 reads from a
// request frame.
func peerReadRequest(t testing.TB, frame []byte) (args []any, att map[string]string) {
	t.Helper()
	req := make([]any, 7)
	peerRead(t, frame, req)
	args, _ = req[5].([]any)
	att, _ = req[6].(map[string]string)
	return args, att
}

var helloService = hessian.Service{
	Path: "org.example.HelloService", Interface: "org.example.HelloService",
	Version: "1.0.0", Group: "blue", Method: "sayHello", Timeout: 3 * time.Second,
}

// longText is long enough that hessian2 writes it in several chunks, and mixes 1-, 2-, 3-
// and 4-byte UTF-8 (the last as a surrogate pair).
var longText = strings.Repeat("abc é 中 😀 ", 1200)

// peerArgs is an argument list of every kind of hessian2 value dubbo-go writes.
func peerArgs() []any {
	friend := &User{Name: "bob", Age: 40}
	return []any{
		"hello",
		"héllo wörld 中文 😀",
		longText,
		int32(42), int32(-100000), int32(1 << 30),
		int64(1 << 40), int64(-3), int(7),
		3.14, 0.0, 1.0, 100.0, 1000.5, float32(2.5),
		true,
		[]byte{1, 2, 3},
		bytes.Repeat([]byte{0xab}, 70000),
		time.Date(2024, 5, 17, 10, 30, 0, 0, time.UTC),
		[]string{"a", "b", ""},
		[]int32{1, 2, 3},
		[]int64{1 << 33},
		[]any{int32(1), "x", nil, 2.5},
		map[any]any{"k": "v", int32(1): []any{"nested", int64(9)}},
		&User{Name: "ann 中", Age: 30, Tags: []string{"x", "y"}, Friend: friend, Balance: 12.25},
		[]any{&User{Name: "c"}, &Address{City: "Z", Zip: 8000}, &User{Name: "d", Friend: friend}},
		nil,
	}
}

// Requests the tests use, with the metadata they must decode to.
type peerRequestCase struct {
	name  string
	frame []byte
	typ   protocol.MessageType
	id    uint64
	md    map[string]string
}

func peerRequestCases(t testing.TB) []peerRequestCase {
	noVersion := hessian.Service{Path: "org.example.Plain", Method: "ping"}
	custom := map[string]string{"x-user": "ann", "x-tenant": "ünïcode-中", "traceparent": "00-abc-def-01"}
	return []peerRequestCase{
		{
			name:  "simple",
			frame: peerRequest(t, 1, hessian.PackageRequest_TwoWay, helloService, []any{"world"}, map[string]string{"x-user": "ann"}),
			typ:   protocol.Request, id: 1,
			md: map[string]string{
				"interface": "org.example.HelloService", "method": "sayHello", "version": "1.0.0", "dubbo": "2.0.2",
				"group": "blue", "path": "org.example.HelloService", "timeout": "3000", "x-user": "ann",
			},
		},
		{
			name:  "every_argument_kind",
			frame: peerRequest(t, 0x1122334455667788, hessian.PackageRequest_TwoWay, helloService, peerArgs(), custom),
			typ:   protocol.Request, id: 0x1122334455667788,
			md: map[string]string{
				"interface": "org.example.HelloService", "method": "sayHello", "version": "1.0.0", "dubbo": "2.0.2",
				"group": "blue", "path": "org.example.HelloService", "timeout": "3000",
				"x-user": "ann", "x-tenant": "ünïcode-中", "traceparent": "00-abc-def-01",
			},
		},
		{
			name:  "no_arguments_no_version",
			frame: peerRequest(t, 2, hessian.PackageRequest_TwoWay, noVersion, []any{}, nil),
			typ:   protocol.Request, id: 2,
			md: map[string]string{"interface": "org.example.Plain", "method": "ping", "dubbo": "2.0.2", "path": "org.example.Plain"},
		},
		{
			name:  "long_attachment",
			frame: peerRequest(t, 3, hessian.PackageRequest_TwoWay, noVersion, []any{int32(1)}, map[string]string{"blob": longText}),
			typ:   protocol.Request, id: 3,
			md: map[string]string{"interface": "org.example.Plain", "method": "ping", "dubbo": "2.0.2",
				"path": "org.example.Plain", "blob": longText},
		},
		{
			name:  "oneway",
			frame: peerRequest(t, 4, hessian.PackageRequest, helloService, []any{"fire"}, nil),
			typ:   protocol.Oneway, id: 4,
			md: map[string]string{
				"interface": "org.example.HelloService", "method": "sayHello", "version": "1.0.0", "dubbo": "2.0.2",
				"group": "blue", "path": "org.example.HelloService", "timeout": "3000",
			},
		},
		{
			name:  "heartbeat",
			frame: peerRequest(t, 5, hessian.PackageHeartbeat, hessian.Service{}, []any{}, nil),
			typ:   protocol.Heartbeat, id: 5,
			md: map[string]string{},
		},
	}
}

type peerResponseCase struct {
	name   string
	frame  []byte
	typ    protocol.MessageType
	id     uint64
	status protocol.Status
	md     map[string]string
	code   int32 // the status byte; 0 for a heartbeat, whose body is not read
}

func peerResponseCases(t testing.TB) []peerResponseCase {
	withAtt := map[string]string{"dubbo": "2.0.2", "x-served-by": "pod-1"}
	// Response attachments become metadata, but for "dubbo", a key the codec reserves.
	attMD := map[string]string{"x-served-by": "pod-1"}
	return []peerResponseCase{
		{name: "value", typ: protocol.Response, id: 1, code: 20,
			frame: peerResponse(t, 1, hessian.PackageResponse, hessian.Response_OK, hessian.NewResponse("hi world", nil, nil))},
		{name: "value_with_attachments", typ: protocol.Response, id: 2, code: 20, md: attMD,
			frame: peerResponse(t, 2, hessian.PackageResponse, hessian.Response_OK,
				hessian.NewResponse(&User{Name: "ann", Tags: []string{"a"}}, nil, withAtt))},
		{name: "null", typ: protocol.Response, id: 3, code: 20,
			frame: peerResponse(t, 3, hessian.PackageResponse, hessian.Response_OK, hessian.NewResponse(nil, nil, nil))},
		{name: "null_with_attachments", typ: protocol.Response, id: 4, code: 20, md: attMD,
			frame: peerResponse(t, 4, hessian.PackageResponse, hessian.Response_OK, hessian.NewResponse(nil, nil, withAtt))},
		{name: "exception", typ: protocol.Error, id: 5, status: protocol.StatusError, code: 20,
			frame: peerResponse(t, 5, hessian.PackageResponse, hessian.Response_OK, hessian.NewResponse(nil, errors.New("boom"), nil))},
		{name: "exception_with_attachments", typ: protocol.Error, id: 6, status: protocol.StatusError, code: 20, md: attMD,
			frame: peerResponse(t, 6, hessian.PackageResponse, hessian.Response_OK, hessian.NewResponse(nil, errors.New("boom"), withAtt))},
		{name: "service_not_found", typ: protocol.Error, id: 7, status: protocol.StatusError, code: 60,
			md: map[string]string{"error_message": "no provider for org.example.Missing"},
			frame: peerResponse(t, 7, hessian.PackageResponse, hessian.Response_SERVICE_NOT_FOUND,
				hessian.NewResponse(nil, errors.New("no provider for org.example.Missing"), nil))},
		{name: "server_timeout", typ: protocol.Error, id: 8, status: protocol.StatusError, code: 31,
			md: map[string]string{"error_message": "too slow: 中"},
			frame: peerResponse(t, 8, hessian.PackageResponse, hessian.Response_SERVER_TIMEOUT,
				hessian.NewResponse(nil, errors.New("too slow: 中"), nil))},
		{name: "heartbeat", typ: protocol.Heartbeat, id: 9,
			frame: peerResponse(t, 9, hessian.PackageHeartbeat, hessian.Response_OK, nil)},
	}
}

func TestDecodeRequestsFromDubboGo(t *testing.T) {
	for _, tc := range peerRequestCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			var msg protocol.Message
			n, err := New(protocol.Options{}).Decode(tc.frame, &msg)
			if err != nil || n != len(tc.frame) {
				t.Fatalf("Decode = %d, %v; want %d, nil", n, err, len(tc.frame))
			}
			if msg.Type != tc.typ || msg.RequestID != tc.id {
				t.Errorf("decoded %v id %#x, want %v id %#x", msg.Type, msg.RequestID, tc.typ, tc.id)
			}
			if msg.HeaderSize != headerSize || msg.BodySize != len(tc.frame)-headerSize {
				t.Errorf("HeaderSize, BodySize = %d, %d", msg.HeaderSize, msg.BodySize)
			}
			if got := mdMap(&msg.Metadata); !reflect.DeepEqual(got, tc.md) || msg.Metadata.Len() != len(tc.md) {
				t.Errorf("metadata:\n got %v\nwant %v", got, tc.md)
			}
		})
	}
}

func TestDecodeResponsesFromDubboGo(t *testing.T) {
	for _, tc := range peerResponseCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			var msg protocol.Message
			n, err := New(protocol.Options{Side: protocol.ResponseSide}).Decode(tc.frame, &msg)
			if err != nil || n != len(tc.frame) {
				t.Fatalf("Decode = %d, %v; want %d, nil", n, err, len(tc.frame))
			}
			if msg.Type != tc.typ || msg.RequestID != tc.id || msg.Status != tc.status || msg.Code != tc.code {
				t.Errorf("decoded %v id %#x status %v code %d, want %v id %#x status %v code %d", msg.Type, msg.RequestID, msg.Status, msg.Code, tc.typ, tc.id, tc.status, tc.code)
			}
			want := tc.md
			if want == nil {
				want = map[string]string{}
			}
			if got := mdMap(&msg.Metadata); !reflect.DeepEqual(got, want) {
				t.Errorf("metadata = %v, want %v", got, want)
			}
		})
	}
}

// TestMutatedRequestReadByDubboGo checks that dubbo-go-hessian2 reads a mutated request
// with the arguments intact and the new attachments present.
func TestMutatedRequestReadByDubboGo(t *testing.T) {
	mut := protocol.Mutation{
		{Key: "x-route", Value: "canary"},
		{Key: "timeout", Value: "500"}, // replaces the client's
		{Key: "x-unicode", Value: "zürich 😀"},
		{Key: "x-long", Value: longText},
		{Key: "x-route", Value: "stable"}, // a later entry for the same key wins
	}
	for _, tc := range peerRequestCases(t) {
		if tc.typ != protocol.Request && tc.typ != protocol.Oneway {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			wantArgs, wantAtt := peerReadRequest(t, tc.frame)
			c := New(protocol.Options{})
			var msg protocol.Message
			if _, err := c.Decode(bytes.Clone(tc.frame), &msg); err != nil {
				t.Fatal(err)
			}
			out, err := c.Encode(&msg, mut)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			gotArgs, gotAtt := peerReadRequest(t, out)
			if !reflect.DeepEqual(gotArgs, wantArgs) {
				t.Errorf("arguments changed by the mutation:\n got %#v\nwant %#v", gotArgs, wantArgs)
			}
			wantAtt["x-route"], wantAtt["timeout"], wantAtt["x-unicode"], wantAtt["x-long"] = "stable", "500", "zürich 😀", longText
			if !reflect.DeepEqual(gotAtt, wantAtt) {
				t.Errorf("attachments:\n got %v\nwant %v", gotAtt, wantAtt)
			}
			if n := strings.Count(string(out), "\x07timeout"); n != 1 {
				t.Errorf("the mutated frame holds %d timeout keys, want the replaced one only", n)
			}
		})
	}
}

// TestMutatedResponseReadByDubboGo checks mutation of responses that carry attachments, and
// that other responses are left alone.
func TestMutatedResponseReadByDubboGo(t *testing.T) {
	mut := protocol.Mutation{{Key: "x-envoy-peer-metadata-id", Value: "sidecar~10.0.0.1"}, {Key: "x-served-by", Value: "proxy"}}
	for _, tc := range peerResponseCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			c := New(protocol.Options{Side: protocol.ResponseSide})
			var msg protocol.Message
			if _, err := c.Decode(bytes.Clone(tc.frame), &msg); err != nil {
				t.Fatal(err)
			}
			out, err := c.Encode(&msg, mut)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if !strings.HasSuffix(tc.name, "with_attachments") {
				if !bytes.Equal(out, tc.frame) {
					t.Errorf("a response without attachments changed")
				}
				return
			}
			var want, got hessian.Response
			peerRead(t, tc.frame, &want)
			peerRead(t, out, &got)
			if !reflect.DeepEqual(got.RspObj, want.RspObj) || (got.Exception == nil) != (want.Exception == nil) {
				t.Errorf("response value changed: got %#v / %v, want %#v / %v", got.RspObj, got.Exception, want.RspObj, want.Exception)
			}
			want.Attachments["x-envoy-peer-metadata-id"], want.Attachments["x-served-by"] = "sidecar~10.0.0.1", "proxy"
			if !reflect.DeepEqual(got.Attachments, want.Attachments) {
				t.Errorf("attachments = %v, want %v", got.Attachments, want.Attachments)
			}
		})
	}
}

// TestErrorReplyReadByDubboGo checks that dubbo-go-hessian2's codec, as dubbo-go clients
// use it, turns every error reply into an error carrying the proxy's message.
func TestErrorReplyReadByDubboGo(t *testing.T) {
	want := map[protocol.ErrorKind]byte{
		protocol.Internal:          hessian.Response_SERVER_ERROR,
		protocol.RouteNotFound:     hessian.Response_SERVICE_NOT_FOUND,
		protocol.ClusterNotFound:   hessian.Response_SERVICE_NOT_FOUND,
		protocol.NoHealthyUpstream: hessian.Response_SERVER_ERROR,
		protocol.OverLimit:         statusThreadpoolExhausted,
		protocol.Timeout:           hessian.Response_SERVER_TIMEOUT,
		protocol.UpstreamReset:     hessian.Response_SERVER_ERROR,
		protocol.BadResponse:       hessian.Response_BAD_RESPONSE,
		protocol.BadRequest:        hessian.Response_BAD_REQUEST,
	}
	req := &protocol.Message{Type: protocol.Request, RequestID: 0x0102030405060708}
	for _, kind := range protocol.ErrorKinds() {
		t.Run(kind.String(), func(t *testing.T) {
			text := "no route for interface org.example.HelloService method sayHello (中)"
			reply, err := New(protocol.Options{}).ErrorReply(req, &protocol.LocalError{Kind: kind, Message: text})
			if err != nil {
				t.Fatal(err)
			}
			var resp hessian.Response
			h := peerRead(t, reply, &resp)
			if h.ID != int64(req.RequestID) || h.ResponseStatus != want[kind] {
				t.Errorf("header id %#x status %d, want %#x status %d", h.ID, h.ResponseStatus, req.RequestID, want[kind])
			}
			if h.Type&hessian.PackageResponse_Exception == 0 {
				t.Errorf("dubbo-go-hessian2 does not see an exception (type %#x)", h.Type)
			}
			if resp.Exception == nil || !strings.Contains(resp.Exception.Error(), "breeze: "+text) {
				t.Errorf("dubbo-go-hessian2 error = %v, want it to carry %q", resp.Exception, "breeze: "+text)
			}
		})
	}
}

// TestHeartbeatsMatchDubboGo compares heartbeat frames with what dubbo-go-hessian2 writes and
// checks that it reads ours.
func TestHeartbeatsMatchDubboGo(t *testing.T) {
	const id = 77
	ping := HeartbeatRequest(id)
	if theirs := peerRequest(t, id, hessian.PackageHeartbeat, hessian.Service{}, []any{}, nil); !bytes.Equal(ping, theirs) {
		t.Errorf("HeartbeatRequest = %x, dubbo-go-hessian2 writes %x", ping, theirs)
	}
	h := peerRead(t, ping, nil)
	if h.ID != id || h.Type != hessian.PackageRequest|hessian.PackageRequest_TwoWay|hessian.PackageHeartbeat {
		t.Errorf("dubbo-go-hessian2 reads our ping as type %#x id %d", h.Type, h.ID)
	}

	reply, err := New(protocol.Options{}).HeartbeatReply(&protocol.Message{Type: protocol.Heartbeat, RequestID: id})
	if err != nil {
		t.Fatal(err)
	}
	// dubbo-go-hessian2 appends a second null to every response body, which Java does not;
	// the headers must agree.
	theirs := peerResponse(t, id, hessian.PackageHeartbeat, hessian.Response_OK, nil)
	if !bytes.Equal(reply[:12], theirs[:12]) || !bytes.Equal(reply[headerSize:], []byte{'N'}) {
		t.Errorf("HeartbeatReply = %x, dubbo-go-hessian2 writes %x", reply, theirs)
	}
	h = peerRead(t, reply, nil)
	if h.ID != id || h.Type != hessian.PackageResponse|hessian.PackageHeartbeat {
		t.Errorf("dubbo-go-hessian2 reads our pong as type %#x id %d", h.Type, h.ID)
	}
}

// mdMap flattens metadata, keeping the first value of a duplicated key (which the length
// checks catch).
func mdMap(md *protocol.Metadata) map[string]string {
	m := map[string]string{}
	for _, kv := range md.All() {
		if _, dup := m[kv.Key]; !dup {
			m[kv.Key] = kv.Value
		}
	}
	return m
}
