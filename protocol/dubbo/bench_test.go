package dubbo

import (
	"testing"

	hessian "github.com/apache/dubbo-go-hessian2"

	"github.com/breeze-mesh/breeze/protocol"
)

func benchDecode(b *testing.B, frame []byte) {
	c := New(protocol.Options{})
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

// BenchmarkDecodeRequest decodes a small request: five string arguments, four attachments.
func BenchmarkDecodeRequest(b *testing.B) { benchDecode(b, typicalRequest(b)) }

// BenchmarkDecodeLargeRequest decodes a request with every kind of argument (about 95 KB).
func BenchmarkDecodeLargeRequest(b *testing.B) { benchDecode(b, peerRequestCases(b)[1].frame) }

func BenchmarkDecodeResponse(b *testing.B) {
	benchDecode(b, peerResponse(b, 1, hessian.PackageResponse, hessian.Response_OK,
		hessian.NewResponse("hello alice", nil, map[string]string{"dubbo": "2.0.2"})))
}

func decoded(b *testing.B, frame []byte) (*Codec, *protocol.Message) {
	c := New(protocol.Options{})
	msg := &protocol.Message{}
	if _, err := c.Decode(frame, msg); err != nil {
		b.Fatal(err)
	}
	return c, msg
}

func BenchmarkEncodeEmptyMutation(b *testing.B) {
	c, msg := decoded(b, typicalRequest(b))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Encode(msg, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeMutation(b *testing.B) {
	c, msg := decoded(b, typicalRequest(b))
	mut := protocol.Mutation{{Key: "x-envoy-peer-metadata-id", Value: "sidecar~10.0.0.1~app.ns"}, {Key: "x-route", Value: "canary"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Encode(msg, mut); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRewriteRequestID(b *testing.B) {
	frame := typicalRequest(b)
	c := New(protocol.Options{})
	b.ReportAllocs()
	id := uint64(0)
	for b.Loop() {
		id++
		if err := c.RewriteRequestID(frame, id); err != nil {
			b.Fatal(err)
		}
	}
}
