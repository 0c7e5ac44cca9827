package thrift

import (
	"context"
	"encoding/binary"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/apache/thrift/lib/go/thrift"
	gopkgttheader "github.com/cloudwego/gopkg/protocol/ttheader"

	"github.com/breeze-mesh/breeze/protocol"
)

// The frames the codec writes (error replies, mutated headers, replaced sequence ids) are
// read back here with the real libraries, as a client or server would read them.

// peerReader returns a protocol reading frame as a peer speaking w would, and the headers a
// TTHeader frame carried (Apache's library does not read TTHeader, gopkg's does).
func peerReader(t *testing.T, w wire, frame []byte) (thrift.TProtocol, gopkgttheader.DecodeParam) {
	t.Helper()
	ctx := context.Background()
	var param gopkgttheader.DecodeParam
	if w.transport == ttheader {
		var err error
		if param, err = gopkgttheader.DecodeFromBytes(ctx, frame); err != nil {
			t.Fatalf("gopkg ttheader reads %x: %v", frame, err)
		}
		frame = frame[param.HeaderLen:]
	}
	mem := thrift.NewTMemoryBufferLen(len(frame))
	if _, err := mem.Write(frame); err != nil {
		t.Fatal(err)
	}
	conf := &thrift.TConfiguration{}
	var trans thrift.TTransport = mem
	if w.transport == framed || w.innerFramed {
		trans = thrift.NewTFramedTransportConf(mem, conf)
	}
	switch {
	case w.transport == header:
		return thrift.NewTHeaderProtocolConf(mem, conf), param
	case w.proto == compactProto:
		return thrift.NewTCompactProtocolConf(trans, conf), param
	}
	return thrift.NewTBinaryProtocolConf(trans, conf), param
}

// stringResult is the result struct of a method returning a string.
type stringResult struct{ success *string }

func (r *stringResult) Read(ctx context.Context, p thrift.TProtocol) error {
	if _, err := p.ReadStructBegin(ctx); err != nil {
		return err
	}
	for {
		_, typ, id, err := p.ReadFieldBegin(ctx)
		if err != nil {
			return err
		}
		if typ == thrift.STOP {
			break
		}
		if id == 0 && typ == thrift.STRING {
			s, err := p.ReadString(ctx)
			if err != nil {
				return err
			}
			r.success = &s
		} else if err := p.Skip(ctx, typ); err != nil {
			return err
		}
		if err := p.ReadFieldEnd(ctx); err != nil {
			return err
		}
	}
	return p.ReadStructEnd(ctx)
}

func (r *stringResult) Write(ctx context.Context, p thrift.TProtocol) error {
	return writeStruct(ctx, p, func() error { return nil })
}

// TestErrorReplyReadByPeers: Apache's client turns each error reply into a
// TApplicationException with the proxy's message and the type the kind maps to, in every
// transport and protocol; a reply to a TTHeader request is a TTHeader kitex's decoder reads.
func TestErrorReplyReadByPeers(t *testing.T) {
	kinds := map[protocol.ErrorKind]int32{
		protocol.RouteNotFound: thrift.UNKNOWN_METHOD,
		protocol.BadRequest:    thrift.PROTOCOL_ERROR,
		protocol.Timeout:       thrift.INTERNAL_ERROR,
		protocol.OverLimit:     thrift.INTERNAL_ERROR,
	}
	for _, w := range allWires {
		w = headersFor(w)
		t.Run(w.name(), func(t *testing.T) {
			frame := peerFrame(t, w, "sayHello", thrift.CALL, 1234, greetArgs("alice"))
			c := New(protocol.Options{})
			req := decodeOne(t, c, frame)
			for kind, wantType := range kinds {
				e := protocol.NewLocalError(kind, "no route for request (method=sayHello)")
				reply, err := c.ErrorReply(req, e)
				if err != nil {
					t.Fatal(err)
				}
				p, param := peerReader(t, w, reply)
				if w.transport == ttheader && (param.SeqID != 1234 || param.ProtocolID != gopkgttheader.ProtocolIDThriftBinary) {
					t.Errorf("TTHeader reply header: seq %d, protocol %d", param.SeqID, param.ProtocolID)
				}
				err = thrift.NewTStandardClient(p, p).Recv(context.Background(), p, 1234, "sayHello", &stringResult{})
				var ae thrift.TApplicationException
				if !errors.As(err, &ae) {
					t.Fatalf("%v: Apache's client read %v, want a TApplicationException", kind, err)
				}
				if ae.TypeId() != wantType || ae.Error() != "breeze: no route for request (method=sayHello)" {
					t.Errorf("%v: exception type %d %q, want type %d", kind, ae.TypeId(), ae.Error(), wantType)
				}
			}
		})
	}
}

// TestErrorReplyBeforeFrameIsWhole: a request refused for its size gets an error reply in
// its own transport, carrying its id and method, though its frame never arrived whole.
func TestErrorReplyBeforeFrameIsWhole(t *testing.T) {
	w := wire{transport: header, proto: compactProto}
	frame := peerFrame(t, w, "upload", thrift.CALL, 77, greetArgs(strings.Repeat("x", 4000)))
	c := New(protocol.Options{MaxFrameSize: 1024})
	var msg protocol.Message
	if _, err := c.Decode(frame[:200], &msg); !errors.Is(err, protocol.ErrFrameTooLarge) {
		t.Fatalf("Decode = %v, want ErrFrameTooLarge", err)
	}
	if msg.Type != protocol.Request || msg.RequestID != 77 || msg.Metadata.Value(KeyMethod) != "upload" {
		t.Fatalf("decoded %v id %d method %q before refusing", msg.Type, msg.RequestID, msg.Metadata.Value(KeyMethod))
	}
	reply, err := c.ErrorReply(&msg, protocol.NewLocalError(protocol.BadRequest, "frame too large"))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := peerReader(t, w, reply)
	err = thrift.NewTStandardClient(p, p).Recv(context.Background(), p, 77, "upload", &stringResult{})
	var ae thrift.TApplicationException
	if !errors.As(err, &ae) || ae.TypeId() != thrift.PROTOCOL_ERROR {
		t.Fatalf("Apache's client read %v, want a PROTOCOL_ERROR exception", err)
	}
}

// TestMutationReadByPeers: the headers a mutation writes are what Apache's THeader and
// gopkg's TTHeader readers see, the frame's own headers kept or replaced, the message intact.
func TestMutationReadByPeers(t *testing.T) {
	mut := protocol.Mutation{{Key: "x-user", Value: "first"}, {Key: "x-route", Value: "canary"}, {Key: "x-user", Value: "bob"}, {Key: "to_method", Value: "sayHi"}}
	for _, w := range allWires {
		if w.transport != header && w.transport != ttheader {
			continue
		}
		w = headersFor(w)
		t.Run(w.name(), func(t *testing.T) {
			frame := peerFrame(t, w, "sayHello", thrift.CALL, 5, greetArgs("alice"))
			c := New(protocol.Options{})
			out, err := c.Encode(decodeOne(t, c, frame), mut)
			if err != nil {
				t.Fatal(err)
			}
			want := maps.Clone(w.headers)
			want["x-user"], want["x-route"] = "bob", "canary"
			p, param := peerReader(t, w, out)
			ctx := context.Background()
			name, typ, seq, err := p.ReadMessageBegin(ctx)
			if err != nil || name != "sayHello" || typ != thrift.CALL || seq != 5 {
				t.Fatalf("message begin %q %v %d, %v", name, typ, seq, err)
			}
			var got map[string]string
			if w.transport == header {
				want["to_method"] = "sayHi" // a plain header in THeader
				got = p.(*thrift.THeaderProtocol).GetReadHeaders()
			} else {
				got = param.StrInfo
				wantInt := maps.Clone(w.intHeaders)
				wantInt[9] = "sayHi" // to_method is integer key 9
				if !maps.Equal(param.IntInfo, wantInt) {
					t.Errorf("TTHeader integer headers %v, want %v", param.IntInfo, wantInt)
				}
			}
			if !maps.Equal(got, want) {
				t.Errorf("headers %v, want %v", got, want)
			}
			if err := p.Skip(ctx, thrift.STRUCT); err != nil {
				t.Errorf("arguments after mutation: %v", err)
			}
		})
	}
}

// TestMutationKeepsUnknownSections: THeader info sections the codec does not read and a
// TTHeader ACL token survive a mutation.
func TestMutationKeepsUnknownSections(t *testing.T) {
	ctx := context.Background()
	t.Run("ttheader_acl_token", func(t *testing.T) {
		w := wire{transport: ttheader, proto: binaryProto, headers: map[string]string{gopkgttheader.GDPRToken: "secret", "k": "v"}}
		frame := peerFrame(t, w, "m", thrift.CALL, 1, greetArgs("a"))
		c := New(protocol.Options{})
		msg := decodeOne(t, c, frame)
		if _, ok := msg.Metadata.Get(gopkgttheader.GDPRToken); ok {
			t.Errorf("the ACL token is in the metadata")
		}
		out, err := c.Encode(msg, protocol.Mutation{{Key: "x", Value: "y"}})
		check(t, err)
		param, err := gopkgttheader.DecodeFromBytes(ctx, out)
		check(t, err)
		if want := map[string]string{gopkgttheader.GDPRToken: "secret", "k": "v", "x": "y"}; !maps.Equal(param.StrInfo, want) {
			t.Errorf("headers %v, want %v", param.StrInfo, want)
		}
	})
	t.Run("theader_unknown_section", func(t *testing.T) {
		payload := peerFrame(t, wire{transport: unframed, proto: binaryProto}, "m", thrift.CALL, 1, greetArgs("a"))
		// key/values {k: v}, then a section of type 2 (fbthrift's persistent headers).
		info := []byte{headerProtoBinary, 0, infoKeyValue, 1, 1, 'k', 1, 'v', 2, 1, 1, 'p', 1, 'q'}
		frame := headerFrame(header, info, payload)
		c := New(protocol.Options{})
		msg := decodeOne(t, c, frame)
		if got := msg.Metadata.Value("k"); got != "v" || msg.Metadata.Value("p") != "" {
			t.Errorf("metadata %v", msg.Metadata.All())
		}
		out, err := c.Encode(msg, protocol.Mutation{{Key: "x", Value: "y"}})
		check(t, err)
		env, _, err := locate(out)
		check(t, err)
		want := []byte{infoKeyValue, 2, 1, 'k', 1, 'v', 1, 'x', 1, 'y', 2, 1, 1, 'p', 1, 'q'}
		if got := out[env.infoKV:env.infoEnd]; !strings.HasPrefix(string(got), string(want)) || strings.Trim(string(got[len(want):]), "\x00") != "" {
			t.Errorf("info after mutation %q, want %q and padding", got, want)
		}
		p, _ := peerReader(t, wire{transport: header}, out)
		if _, _, _, err := p.ReadMessageBegin(ctx); err != nil {
			t.Fatal(err)
		}
		if got := p.(*thrift.THeaderProtocol).GetReadHeaders(); !maps.Equal(got, map[string]string{"k": "v", "x": "y"}) {
			t.Errorf("Apache reads headers %v", got)
		}
	})
}

// headerFrame builds a THeader or TTHeader frame around info (protocol id onwards), padded,
// and a message.
func headerFrame(tr transport, info, message []byte) []byte {
	magic := []byte{0x0f, 0xff}
	if tr == ttheader {
		magic = []byte{0x10, 0x00}
	}
	b := append([]byte{0, 0, 0, 0}, magic...)
	b = append(b, 0, 0, 0, 0, 0, 1, 0, 0) // flags, sequence id 1, header words (set below)
	b = append(b, info...)
	for (len(b)-headerInfoBase)%4 != 0 {
		b = append(b, 0)
	}
	binary.BigEndian.PutUint16(b[headerWords:], uint16((len(b)-headerInfoBase)/4))
	b = append(b, message...)
	binary.BigEndian.PutUint32(b, uint32(len(b)-lengthSize))
	return b
}

// TestReplaceRequestIDReadByPeers: a sequence id replaced in place or, in the compact
// protocol, in a frame of another length, is what the peers read, the arguments intact.
func TestReplaceRequestIDReadByPeers(t *testing.T) {
	ctx := context.Background()
	for _, w := range allWires {
		w = headersFor(w)
		t.Run(w.name(), func(t *testing.T) {
			frame := peerFrame(t, w, "process", thrift.CALL, 200, richArgs) // two bytes as a varint
			for _, id := range []uint64{1, 0x7f, 0x80, 200, 0x3fff, 0x4000, 0x12345, protocol.MaxSharedRequestID, 0xffffffff} {
				buf := append([]byte(nil), frame...)
				out, err := New(protocol.Options{}).ReplaceRequestID(buf, id)
				if err != nil {
					t.Fatal(err)
				}
				inPlace := &out[0] == &buf[0]
				if wantInPlace := w.proto == binaryProto || uvarintLen(id) == 2; inPlace != wantInPlace {
					t.Errorf("id %#x: rewritten in place %v, want %v", id, inPlace, wantInPlace)
				}
				p, param := peerReader(t, w, out)
				_, _, seq, err := p.ReadMessageBegin(ctx)
				if err != nil || uint32(seq) != uint32(id) {
					t.Fatalf("id %#x: peer reads sequence id %d, %v", id, seq, err)
				}
				if w.transport == ttheader && uint32(param.SeqID) != uint32(id) {
					t.Errorf("id %#x: TTHeader sequence id %d", id, param.SeqID)
				}
				if w.transport == header && uint32(p.(*thrift.THeaderProtocol).Transport().(*thrift.THeaderTransport).SequenceID) != uint32(id) {
					t.Errorf("id %#x: THeader sequence id not set", id)
				}
				if err := p.Skip(ctx, thrift.STRUCT); err != nil {
					t.Errorf("id %#x: arguments: %v", id, err)
				}
			}
		})
	}
}
