package thrift

import (
	"context"
	"testing"

	"github.com/apache/thrift/lib/go/thrift"

	"github.com/breeze-mesh/breeze/protocol"
)

// typicalArgs is a small call: a few string and integer arguments.
func typicalArgs(ctx context.Context, p thrift.TProtocol) error {
	w := &fieldWriter{ctx: ctx, p: p}
	return writeStruct(ctx, p, func() error {
		w.field(1, thrift.STRING, func() error { return p.WriteString(ctx, "alice") })
		w.field(2, thrift.STRING, func() error { return p.WriteString(ctx, "hello there") })
		w.field(3, thrift.I32, func() error { return p.WriteI32(ctx, 42) })
		w.field(4, thrift.I64, func() error { return p.WriteI64(ctx, 1700000000000) })
		w.field(5, thrift.LIST, func() error {
			w.check(p.WriteListBegin(ctx, thrift.STRING, 3))
			for _, s := range []string{"a", "bb", "ccc"} {
				w.check(p.WriteString(ctx, s))
			}
			return p.WriteListEnd(ctx)
		})
		return w.err
	})
}

// BenchmarkDecode decodes a small call in each transport and protocol; THeader and
// TTHeader calls carry two headers (TTHeader also four integer ones).
func BenchmarkDecode(b *testing.B) {
	for _, w := range allWires {
		w = headersFor(w)
		b.Run(w.name(), func(b *testing.B) {
			benchDecode(b, peerFrame(b, w, "sayHello", thrift.CALL, 12345, typicalArgs))
		})
	}
}

// BenchmarkDecodeRich decodes the call with every field type (about 250 bytes): unframed,
// the codec steps over all of it.
func BenchmarkDecodeRich(b *testing.B) {
	for _, w := range []wire{{transport: unframed, proto: binaryProto}, {transport: unframed, proto: compactProto}, {transport: framed, proto: binaryProto}} {
		b.Run(w.name(), func(b *testing.B) { benchDecode(b, peerFrame(b, w, "process", thrift.CALL, 1, richArgs)) })
	}
}

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

func decodedFor(b *testing.B, w wire) (*Codec, *protocol.Message) {
	c := New(protocol.Options{})
	msg := &protocol.Message{}
	if _, err := c.Decode(peerFrame(b, headersFor(w), "sayHello", thrift.CALL, 12345, typicalArgs), msg); err != nil {
		b.Fatal(err)
	}
	return c, msg
}

func BenchmarkEncodeEmptyMutation(b *testing.B) {
	c, msg := decodedFor(b, wire{transport: framed, proto: binaryProto})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Encode(msg, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeMutation writes two headers into a THeader and a TTHeader call.
func BenchmarkEncodeMutation(b *testing.B) {
	mut := protocol.Mutation{{Key: "x-envoy-peer-metadata-id", Value: "sidecar~10.0.0.1~app.ns"}, {Key: "x-route", Value: "canary"}}
	for _, w := range []wire{{transport: header, proto: binaryProto}, {transport: ttheader, proto: binaryProto}} {
		b.Run(w.name(), func(b *testing.B) {
			c, msg := decodedFor(b, w)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Encode(msg, mut); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReplaceRequestID sets ids of the width the frame has (in place) and, for the
// compact protocol, of another width (a new frame).
func BenchmarkReplaceRequestID(b *testing.B) {
	cases := []struct {
		name string
		w    wire
		id   uint64
	}{
		{"framed/binary", wire{transport: framed, proto: binaryProto}, 777},
		{"header/binary", wire{transport: header, proto: binaryProto}, 777},
		{"framed/compact/same_width", wire{transport: framed, proto: compactProto}, 12346},
		{"framed/compact/other_width", wire{transport: framed, proto: compactProto}, 7},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			frame := peerFrame(b, tc.w, "sayHello", thrift.CALL, 12345, typicalArgs)
			c := New(protocol.Options{})
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.ReplaceRequestID(frame, tc.id); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkErrorReply(b *testing.B) {
	c, msg := decodedFor(b, wire{transport: framed, proto: binaryProto})
	e := protocol.NewLocalError(protocol.RouteNotFound, "no route for request (method=sayHello)")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.ErrorReply(msg, e); err != nil {
			b.Fatal(err)
		}
	}
}
