package thrift

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/apache/thrift/lib/go/thrift"

	"github.com/breeze-mesh/breeze/protocol"
)

// nested returns an unframed binary call whose argument nests depth structs.
func nested(depth int) []byte {
	m := appendMessageBegin(nil, binaryProto, "deep", typeCall, 1)
	for range depth {
		m = append(m, tStruct, 0, 1)
	}
	for range depth + 1 {
		m = append(m, tStop)
	}
	return m
}

func TestDecodeErrors(t *testing.T) {
	zlib := func() []byte {
		mem := thrift.NewTMemoryBuffer()
		ht := thrift.NewTHeaderTransportConf(mem, &thrift.TConfiguration{})
		check(t, ht.AddTransform(thrift.TransformZlib))
		p := thrift.NewTHeaderProtocolConf(ht, &thrift.TConfiguration{})
		ctx := context.Background()
		check(t, p.WriteMessageBegin(ctx, "sayHello", thrift.CALL, 3))
		check(t, greetArgs("alice")(ctx, p))
		check(t, p.WriteMessageEnd(ctx))
		check(t, p.Flush(ctx))
		return mem.Bytes()
	}()
	unframedCall := peerFrame(t, wire{transport: unframed, proto: binaryProto}, "sayHello", thrift.CALL, 42, greetArgs("alice"))
	framedCall := peerFrame(t, wire{transport: framed, proto: binaryProto}, "sayHello", thrift.CALL, 43, greetArgs(strings.Repeat("a", 200)))
	withType := func(frame []byte, typ byte) []byte {
		f := bytes.Clone(frame)
		f[3] = typ
		return f
	}
	dupHeader := headerFrame(header, []byte{headerProtoBinary, 0, infoKeyValue, 2, 1, 'k', 1, 'a', 1, 'k', 1, 'b'}, unframedCall)
	list := func(count uint32) []byte { // a list<i32> argument claiming count elements
		m := appendMessageBegin(nil, binaryProto, "big", typeCall, 44)
		m = append(m, tList, 0, 1, tI32)
		return binary.BigEndian.AppendUint32(m, count)
	}
	compactString := func(n uint64) []byte {
		m := appendMessageBegin(nil, compactProto, "big", typeCall, 45)
		m = append(m, 1<<cDeltaShift|cBinary)
		return appendUvarint(m, n)
	}
	cases := []struct {
		name    string
		frame   []byte
		max     int
		want    error
		typ     protocol.MessageType
		id      uint64
		method  string
		message string // part of the error text
	}{
		{name: "http", frame: []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), want: protocol.ErrMalformed},
		{name: "tls_hello", frame: []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01}, want: protocol.ErrMalformed},
		{name: "high_first_byte", frame: []byte{0x81, 0, 0, 0}, want: protocol.ErrMalformed},
		{name: "binary_version_2", frame: []byte{0x80, 0x02, 0, 1}, want: protocol.ErrMalformed},
		{name: "compact_version_2", frame: []byte{0x82, 0x22}, want: protocol.ErrMalformed},
		{name: "unknown_message_type", frame: withType(unframedCall, 5), want: protocol.ErrMalformed, message: "message type 5"},
		{name: "negative_name_length", frame: []byte{0x80, 1, 0, 1, 0xff, 0xff, 0xff, 0xff}, want: protocol.ErrMalformed},
		{name: "name_over_limit", frame: []byte{0x80, 1, 0, 1, 0x00, 0x10, 0, 0}, max: 1000, want: protocol.ErrFrameTooLarge},
		{name: "frame_over_limit_after_header", frame: framedCall[:60], max: 100, want: protocol.ErrFrameTooLarge,
			typ: protocol.Request, id: 43, method: "sayHello"},
		{name: "framed_header_truncated", frame: []byte{0, 0, 0, 6, 0x80, 1, 0, 1, 0, 0}, want: protocol.ErrMalformed},
		{name: "framed_name_past_frame", frame: []byte{0, 0, 0, 8, 0x80, 1, 0, 1, 0, 0, 0, 9}, want: protocol.ErrMalformed},
		{name: "reply_without_result", frame: appendMessageBegin([]byte{0, 0, 0, 15}, binaryProto, "abc", typeReply, 46),
			want: protocol.ErrMalformed, typ: protocol.Response, id: 46, method: "abc"},
		{name: "theader_zlib", frame: zlib, want: protocol.ErrMalformed, message: "transforms"},
		{name: "theader_json_protocol", frame: headerFrame(header, []byte{1, 0}, unframedCall), want: protocol.ErrMalformed, message: "protocol id 1"},
		{name: "theader_protocol_mismatch", frame: headerFrame(header, []byte{headerProtoCompact, 0}, unframedCall), want: protocol.ErrMalformed},
		{name: "theader_empty_header", frame: []byte{0, 0, 0, 10, 0x0f, 0xff, 0, 0, 0, 0, 0, 1, 0, 0}, want: protocol.ErrMalformed},
		{name: "theader_header_past_frame", frame: []byte{0, 0, 0, 10, 0x0f, 0xff, 0, 0, 0, 0, 0, 1, 0, 9}, want: protocol.ErrMalformed},
		{name: "theader_duplicate_header", frame: dupHeader, want: protocol.ErrMalformed, message: `"k" appears twice`,
			typ: protocol.Request, id: 42, method: "sayHello"},
		{name: "theader_string_past_header", frame: headerFrame(header, []byte{0, 0, infoKeyValue, 1, 40, 'k'}, unframedCall), want: protocol.ErrMalformed,
			typ: protocol.Request, id: 42, method: "sayHello"},
		{name: "ttheader_unknown_info", frame: headerFrame(ttheader, []byte{0, 0, 0x42}, unframedCall), want: protocol.ErrMalformed,
			message: "info section id 0x42", typ: protocol.Request, id: 42, method: "sayHello"},
		{name: "ttheader_garbage_payload", frame: headerFrame(ttheader, []byte{0, 0}, []byte("not thrift at all")), want: protocol.ErrMalformed},
		{name: "nesting_too_deep", frame: nested(maxDepth), want: protocol.ErrMalformed, message: "nested deeper",
			typ: protocol.Request, id: 1, method: "deep"},
		{name: "huge_list", frame: list(1 << 30), want: protocol.ErrFrameTooLarge, typ: protocol.Request, id: 44, method: "big"},
		{name: "negative_list", frame: list(1 << 31), want: protocol.ErrMalformed},
		{name: "huge_string", frame: compactString(1<<31 - 1), want: protocol.ErrFrameTooLarge, typ: protocol.Request, id: 45, method: "big"},
		{name: "varint_too_long", frame: append(appendMessageBegin(nil, compactProto, "v", typeCall, 1), 1<<cDeltaShift|cI32, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01),
			want: protocol.ErrMalformed},
		{name: "bad_field_type", frame: append(appendMessageBegin(nil, binaryProto, "f", typeCall, 1), 7, 0, 1), want: protocol.ErrMalformed},
		{name: "bad_element_type", frame: append(appendMessageBegin(nil, binaryProto, "f", typeCall, 1), tList, 0, 1, 1, 0, 0, 0, 1), want: protocol.ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var msg protocol.Message
			n, err := New(protocol.Options{MaxFrameSize: tc.max}).Decode(tc.frame, &msg)
			if n != 0 || !errors.Is(err, tc.want) {
				t.Fatalf("Decode = %d, %v; want 0, %v", n, err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Errorf("error %q does not say %q", err, tc.message)
			}
			if tc.typ != 0 && (msg.Type != tc.typ || msg.RequestID != tc.id || msg.Metadata.Value(KeyMethod) != tc.method) {
				t.Errorf("Type, RequestID, method = %v, %d, %q; want %v, %d, %q so the proxy can answer",
					msg.Type, msg.RequestID, msg.Metadata.Value(KeyMethod), tc.typ, tc.id, tc.method)
			}
		})
	}
	// One level less than the limit decodes.
	if _, err := New(protocol.Options{}).Decode(nested(maxDepth-1), &protocol.Message{}); err != nil {
		t.Errorf("%d nested structs: %v", maxDepth-1, err)
	}
}

// TestUnframedResumes: an unframed message read a byte at a time into a growing buffer is
// stepped over once, not once per read: the token count equals a single pass's.
func TestUnframedResumes(t *testing.T) {
	for _, p := range []proto{binaryProto, compactProto} {
		t.Run(p.String(), func(t *testing.T) {
			frame := peerFrame(t, wire{transport: unframed, proto: p}, "process", thrift.CALL, 1, richArgs)
			one := New(protocol.Options{})
			decodeOne(t, one, frame)
			once := one.resume.s.tokens

			c := New(protocol.Options{})
			buf := append([]byte(nil), frame...)
			for k := 1; k < len(buf); k++ {
				if n, err := c.Decode(buf[:k], &protocol.Message{}); n != 0 || !errors.Is(err, protocol.ErrNeedMore) {
					t.Fatalf("Decode(%d of %d bytes) = %d, %v", k, len(buf), n, err)
				}
			}
			decodeOne(t, c, buf)
			if got := c.resume.s.tokens; got != once || once < 40 {
				t.Errorf("stepped over %d tokens reading a byte at a time, %d in one pass", got, once)
			}
		})
	}
}

// TestUnframedRestartsOnOtherBytes: progress is not carried over to a buffer that holds
// other bytes, even at the same address.
func TestUnframedRestartsOnOtherBytes(t *testing.T) {
	a := peerFrame(t, wire{transport: unframed, proto: compactProto}, "process", thrift.CALL, 1, richArgs)
	b := peerFrame(t, wire{transport: unframed, proto: compactProto}, "other", thrift.CALL, 2, greetArgs(strings.Repeat("z", 300)))
	buf := make([]byte, max(len(a), len(b)))
	c := New(protocol.Options{})
	copy(buf, a)
	if _, err := c.Decode(buf[:len(a)-5], &protocol.Message{}); !errors.Is(err, protocol.ErrNeedMore) {
		t.Fatalf("Decode(partial) = %v", err)
	}
	copy(buf, b)
	msg := decodeOne(t, c, buf[:len(b)])
	if msg.RequestID != 2 || msg.Metadata.Value(KeyMethod) != "other" {
		t.Errorf("decoded id %d method %q", msg.RequestID, msg.Metadata.Value(KeyMethod))
	}
}

func TestSniff(t *testing.T) {
	c := New(protocol.Options{})
	cases := map[string]protocol.SniffResult{
		"":                                 protocol.SniffNeedMore,
		"\x80":                             protocol.SniffNeedMore,
		"\x80\x01":                         protocol.SniffYes,
		"\x80\x02":                         protocol.SniffNo,
		"\x82\x21":                         protocol.SniffYes,
		"\x82\x22":                         protocol.SniffNo,
		"\x00\x00\x00\x10\x80":             protocol.SniffNeedMore,
		"\x00\x00\x00\x10\x80\x01":         protocol.SniffYes,
		"\x00\x00\x00\x10\x0f\xff":         protocol.SniffYes,
		"\x00\x00\x00\x10\x10\x00":         protocol.SniffYes,
		"\x00\x00\x00\x10\x82\x21":         protocol.SniffYes,
		"\xda\xbb\xc2\x00":                 protocol.SniffNo, // Dubbo
		"GET / HTTP/1.1\r\n":               protocol.SniffNo,
		"*1\r\n$4\r\nPING\r\n":             protocol.SniffNo, // Redis
		"\x00\x00\x00\x10\x00\x00\x00\x00": protocol.SniffNo,
	}
	for in, want := range cases {
		if got := c.Sniff([]byte(in)); got != want {
			t.Errorf("Sniff(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestLookupAerakiName(t *testing.T) {
	r, err := protocol.Lookup("aeraki.meta_protocol.codec.thrift")
	if err != nil || r.Name != Name {
		t.Fatalf("Lookup = %v, %v", r.Name, err)
	}
	if _, ok := r.New(protocol.Options{}).(*Codec); !ok {
		t.Errorf("the registered codec is not *thrift.Codec")
	}
}

// TestDecodeAllocatesNothing holds the hot path to its promise, for a framed call, a
// THeader call with headers and (once its progress record exists) an unframed one.
func TestDecodeAllocatesNothing(t *testing.T) {
	for _, w := range []wire{{transport: framed, proto: binaryProto}, headersFor(wire{transport: header, proto: compactProto}),
		headersFor(wire{transport: ttheader, proto: binaryProto}), {transport: unframed, proto: compactProto}} {
		frame := peerFrame(t, w, "sayHello", thrift.CALL, 9, greetArgs("alice"))
		c := New(protocol.Options{})
		var msg protocol.Message
		allocs := testing.AllocsPerRun(100, func() {
			msg.Reset()
			if _, err := c.Decode(frame, &msg); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: Decode allocates %.1f times", w.name(), allocs)
		}
	}
}

func TestUnappliedMutations(t *testing.T) {
	mut := protocol.Mutation{{Key: "x", Value: "y"}}
	for _, w := range allWires {
		frame := peerFrame(t, w, "m", thrift.CALL, 1, greetArgs("a"))
		c := New(protocol.Options{})
		msg := decodeOne(t, c, frame)
		before := UnappliedMutations()
		out, err := c.Encode(msg, mut)
		if err != nil {
			t.Fatal(err)
		}
		carries := w.transport == header || w.transport == ttheader
		if counted := UnappliedMutations() - before; carries && counted != 0 || !carries && counted != 1 {
			t.Errorf("%s: UnappliedMutations went up by %d", w.name(), counted)
		}
		if !carries && &out[0] != &msg.Frame[0] {
			t.Errorf("%s: a frame that cannot carry the mutation was not forwarded as it is", w.name())
		}
		if out, err := c.Encode(msg, nil); err != nil || &out[0] != &msg.Frame[0] {
			t.Errorf("%s: Encode without a mutation did not return the frame (%v)", w.name(), err)
		}
	}
}

// TestErrorReplyMessages: the text names the cause, and a reply to a request that was never
// decoded uses the last format the codec saw.
func TestErrorReplyMessages(t *testing.T) {
	c := New(protocol.Options{})
	bare := &protocol.Message{Type: protocol.Request, RequestID: 5}
	for e, want := range map[*protocol.LocalError]string{
		nil:                        "breeze: internal error",
		{Kind: protocol.OverLimit}: "breeze: over_limit",
		{Kind: protocol.Timeout, Message: "upstream took 3s"}: "breeze: upstream took 3s",
	} {
		reply, err := c.ErrorReply(bare, e)
		if err != nil {
			t.Fatal(err)
		}
		msg := decodeOne(t, New(protocol.Options{Side: protocol.ResponseSide}), reply)
		if got := msg.Metadata.Value(KeyErrorMessage); got != want || msg.Metadata.Value(KeyTransport) != "framed" {
			t.Errorf("error message %q transport %q, want %q over framed (the default)", got, msg.Metadata.Value(KeyTransport), want)
		}
	}
	decodeOne(t, c, peerFrame(t, wire{transport: unframed, proto: compactProto}, "m", thrift.CALL, 1, greetArgs("a")))
	reply, _ := c.ErrorReply(bare, nil)
	if msg := decodeOne(t, New(protocol.Options{}), reply); msg.Metadata.Value(KeyTransport) != "unframed" || msg.Metadata.Value(KeyProtocol) != "compact" {
		t.Errorf("reply to a bare request after an unframed compact one: %v", msg.Metadata.All())
	}
}

// TestErrorReplyWhileDecoding: ErrorReply and Encode run on other goroutines than Decode
// (the SDK's contract); under -race this catches state they share without synchronisation.
func TestErrorReplyWhileDecoding(t *testing.T) {
	frames := [][]byte{
		peerFrame(t, wire{transport: unframed, proto: compactProto}, "a", thrift.CALL, 1, richArgs),
		peerFrame(t, headersFor(wire{transport: header, proto: binaryProto}), "b", thrift.CALL, 2, greetArgs("x")),
	}
	c := New(protocol.Options{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			var msg protocol.Message
			if _, err := c.Decode(frames[i%2], &msg); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	bare := &protocol.Message{Type: protocol.Request, RequestID: 9}
	for range 200 {
		reply, err := c.ErrorReply(bare, protocol.NewLocalError(protocol.Timeout, "late"))
		if err != nil {
			t.Fatal(err)
		}
		if msg := decodeOne(t, New(protocol.Options{}), reply); msg.RequestID != 9 {
			t.Fatalf("reply id %d", msg.RequestID)
		}
	}
	<-done
}
