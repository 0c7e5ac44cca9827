package dubbo

import (
	"strings"
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

// BenchmarkDecodeResponsePeerMetadata decodes a response carrying Istio's peer metadata
// attachments (a base64 value of Istio's typical size), which metrics read.
func BenchmarkDecodeResponsePeerMetadata(b *testing.B) {
	benchDecode(b, peerResponse(b, 1, hessian.PackageResponse, hessian.Response_OK,
		hessian.NewResponse("hello alice", nil, map[string]string{
			"dubbo":                    "2.0.2",
			"x-envoy-peer-metadata":    strings.Repeat("Q2hJS1ZVRkNSVXhURWpZcU5Bb1lDZ05oY0hBU0VSb1BaM0psWlhSbGNp", 8),
			"x-envoy-peer-metadata-id": "sidecar~10.0.0.7~greeter-v2-5d8f.shop~shop.svc.cluster.local",
		})))
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

// BenchmarkEncodeResponsePeerMetadata adds Istio's peer metadata attachments to a response
// (what an inbound proxy's metadata_exchange filter asks for on every response).
func BenchmarkEncodeResponsePeerMetadata(b *testing.B) {
	c := New(protocol.Options{Side: protocol.ResponseSide})
	msg := &protocol.Message{}
	frame := peerResponse(b, 1, hessian.PackageResponse, hessian.Response_OK,
		hessian.NewResponse("hello alice", nil, map[string]string{"dubbo": "2.0.2"}))
	if _, err := c.Decode(frame, msg); err != nil {
		b.Fatal(err)
	}
	mut := protocol.Mutation{
		{Key: "x-envoy-peer-metadata", Value: strings.Repeat("Q2hJS1ZVRkNSVXhURWpZcU5Bb1lDZ05oY0hBU0VSb1BaM0psWlhSbGNp", 8)},
		{Key: "x-envoy-peer-metadata-id", Value: "sidecar~10.0.0.7~greeter-v2-5d8f.shop~shop.svc.cluster.local"},
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Encode(msg, mut); err != nil {
			b.Fatal(err)
		}
	}
}
