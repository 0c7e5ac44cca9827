package brpc

import (
	"testing"

	"github.com/breeze-mesh/breeze/protocol"
)

func benchDecode(b *testing.B, side protocol.Side, frame []byte) {
	c := New(protocol.Options{Side: side})
	var msg protocol.Message
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		msg.Reset()
		if _, err := c.Decode(frame, &msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeRequest decodes a pbrpc request with a small payload.
func BenchmarkDecodeRequest(b *testing.B) { benchDecode(b, protocol.RequestSide, typicalRequest(b)) }

// BenchmarkDecodeRequestUserFields decodes a request with every request field, a log id
// and two user fields.
func BenchmarkDecodeRequestUserFields(b *testing.B) {
	benchDecode(b, protocol.RequestSide, specFrame(b, userServiceMeta(), stringValue(b, "ann"), []byte("attachment")))
}

// BenchmarkDecodeResponse decodes pbrpc's answer to typicalRequest.
func BenchmarkDecodeResponse(b *testing.B) {
	benchDecode(b, protocol.ResponseSide, pbrpcCall{service: "example.UserService", method: "GetUser", id: 12345,
		in: "alice", reply: true, out: "alice, 42"}.frame(b))
}

func BenchmarkEncodeEmptyMutation(b *testing.B) {
	c := New(protocol.Options{})
	msg := decodeOK(b, protocol.RequestSide, typicalRequest(b))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Encode(msg, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeMutation(b *testing.B) {
	c := New(protocol.Options{})
	msg := decodeOK(b, protocol.RequestSide, typicalRequest(b))
	mut := protocol.Mutation{{Key: "x-envoy-peer-metadata-id", Value: "sidecar~10.0.0.1~app.ns"}, {Key: "x-route", Value: "canary"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Encode(msg, mut); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReplaceRequestIDInPlace sets ids that fit the client's correlation_id field.
func BenchmarkReplaceRequestIDInPlace(b *testing.B) {
	frame := typicalRequest(b) // id 12345: 2 bytes
	c := New(protocol.Options{})
	b.ReportAllocs()
	id := uint64(0)
	for b.Loop() {
		id = id%16000 + 1
		if _, err := c.ReplaceRequestID(frame, id); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReplaceRequestIDGrow sets an id wider than the client's: a new frame each time.
func BenchmarkReplaceRequestIDGrow(b *testing.B) {
	frame := typicalRequest(b)
	c := New(protocol.Options{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.ReplaceRequestID(frame, protocol.MaxSharedRequestID); err != nil {
			b.Fatal(err)
		}
	}
}
