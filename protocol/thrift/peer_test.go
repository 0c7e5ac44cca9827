package thrift

import (
	"context"
	"encoding/binary"
	"maps"
	"strconv"
	"testing"

	"github.com/apache/thrift/lib/go/thrift"
	gopkgttheader "github.com/cloudwego/gopkg/protocol/ttheader"
)

// Frames for the tests come from the real libraries: Apache Thrift Go v0.25.0 writes the
// messages and the framed, unframed and THeader transports; cloudwego/gopkg v0.2.0 (what
// kitex v0.16.3 uses) writes TTHeader headers.

// wire says how a test frame is written.
type wire struct {
	transport transport
	proto     proto
	// headers are THeader or TTHeader string headers; intHeaders TTHeader integer ones.
	headers    map[string]string
	intHeaders map[uint16]string
	// innerFramed puts a framed message in a TTHeader (kitex's TTHeaderFramed).
	innerFramed bool
}

func (w wire) name() string {
	return format{transport: w.transport, proto: w.proto, innerFramed: w.innerFramed}.String()
}

// allWires is every transport and protocol combination the codec reads.
var allWires = []wire{
	{transport: unframed, proto: binaryProto},
	{transport: unframed, proto: compactProto},
	{transport: framed, proto: binaryProto},
	{transport: framed, proto: compactProto},
	{transport: header, proto: binaryProto},
	{transport: header, proto: compactProto},
	{transport: ttheader, proto: binaryProto},
	{transport: ttheader, proto: binaryProto, innerFramed: true},
}

// writeFunc writes a message's struct.
type writeFunc func(ctx context.Context, p thrift.TProtocol) error

// peerFrame writes one message with the real libraries.
func peerFrame(t testing.TB, w wire, name string, typ thrift.TMessageType, seq int32, body writeFunc) []byte {
	t.Helper()
	ctx := context.Background()
	conf := &thrift.TConfiguration{}
	mem := thrift.NewTMemoryBuffer()
	var trans thrift.TTransport = mem
	if w.transport == framed || w.innerFramed {
		trans = thrift.NewTFramedTransportConf(mem, conf)
	}
	var p thrift.TProtocol
	switch {
	case w.transport == header:
		id := thrift.THeaderProtocolBinary
		if w.proto == compactProto {
			id = thrift.THeaderProtocolCompact
		}
		ht := thrift.NewTHeaderTransportConf(mem, &thrift.TConfiguration{THeaderProtocolID: &id})
		for _, k := range sortedKeys(w.headers) {
			ht.SetWriteHeader(k, w.headers[k])
		}
		p = thrift.NewTHeaderProtocolConf(ht, &thrift.TConfiguration{THeaderProtocolID: &id})
	case w.proto == compactProto:
		p = thrift.NewTCompactProtocolConf(trans, conf)
	default:
		p = thrift.NewTBinaryProtocolConf(trans, conf)
	}
	check(t, p.WriteMessageBegin(ctx, name, typ, seq))
	check(t, body(ctx, p))
	check(t, p.WriteMessageEnd(ctx))
	check(t, p.Flush(ctx))
	msg := append([]byte(nil), mem.Bytes()...)
	if w.transport != ttheader {
		return msg
	}
	protoID := gopkgttheader.ProtocolIDThriftBinary
	if w.proto == compactProto {
		protoID = gopkgttheader.ProtocolIDThriftCompact
	}
	hdr, err := gopkgttheader.EncodeToBytes(ctx, gopkgttheader.EncodeParam{
		Flags: gopkgttheader.HeaderFlagSupportOutOfOrder, SeqID: seq, ProtocolID: protoID,
		IntInfo: w.intHeaders, StrInfo: w.headers,
	})
	check(t, err)
	frame := append(hdr, msg...)
	binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
	return frame
}

func check(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range maps.Keys(m) {
		keys = append(keys, k)
	}
	for i := range keys { // tiny maps: insertion sort
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

// greetArgs writes the arguments of Greeter.sayHello(1: string name).
func greetArgs(name string) writeFunc {
	return func(ctx context.Context, p thrift.TProtocol) error {
		return writeStruct(ctx, p, func() error { return stringField(ctx, p, 1, name) })
	}
}

// successResult writes a result struct holding a string return value (field 0).
func successResult(value string) writeFunc {
	return func(ctx context.Context, p thrift.TProtocol) error {
		return writeStruct(ctx, p, func() error { return stringField(ctx, p, 0, value) })
	}
}

// voidResult writes the result of a void method: an empty struct.
func voidResult(ctx context.Context, p thrift.TProtocol) error {
	return writeStruct(ctx, p, func() error { return nil })
}

// declaredExceptionResult writes a result holding a declared exception (field 1, a struct
// with a message).
func declaredExceptionResult(ctx context.Context, p thrift.TProtocol) error {
	return writeStruct(ctx, p, func() error {
		check0 := p.WriteFieldBegin(ctx, "notFound", thrift.STRUCT, 1)
		if check0 != nil {
			return check0
		}
		if err := writeStruct(ctx, p, func() error { return stringField(ctx, p, 1, "no such user") }); err != nil {
			return err
		}
		return p.WriteFieldEnd(ctx)
	})
}

// applicationException writes a TApplicationException, as a server does for an unknown
// method.
func applicationException(text string) writeFunc {
	return func(ctx context.Context, p thrift.TProtocol) error {
		return thrift.NewTApplicationException(thrift.UNKNOWN_METHOD, text).Write(ctx, p)
	}
}

func writeStruct(ctx context.Context, p thrift.TProtocol, fields func() error) error {
	if err := p.WriteStructBegin(ctx, "s"); err != nil {
		return err
	}
	if err := fields(); err != nil {
		return err
	}
	if err := p.WriteFieldStop(ctx); err != nil {
		return err
	}
	return p.WriteStructEnd(ctx)
}

func stringField(ctx context.Context, p thrift.TProtocol, id int16, v string) error {
	if err := p.WriteFieldBegin(ctx, "f", thrift.STRING, id); err != nil {
		return err
	}
	if err := p.WriteString(ctx, v); err != nil {
		return err
	}
	return p.WriteFieldEnd(ctx)
}

// richArgs writes a struct with a field of every type, nested containers, a long field id
// and a container long enough for the compact protocol's long size form: what the codec
// steps over to find the end of an unframed message.
func richArgs(ctx context.Context, p thrift.TProtocol) error {
	w := &fieldWriter{ctx: ctx, p: p}
	return writeStruct(ctx, p, func() error {
		w.field(1, thrift.STRING, func() error { return p.WriteString(ctx, "alice") })
		w.field(2, thrift.BOOL, func() error { return p.WriteBool(ctx, true) })
		w.field(3, thrift.BOOL, func() error { return p.WriteBool(ctx, false) })
		w.field(4, thrift.BYTE, func() error { return p.WriteByte(ctx, -3) })
		w.field(5, thrift.I16, func() error { return p.WriteI16(ctx, -300) })
		w.field(6, thrift.I32, func() error { return p.WriteI32(ctx, 70000) })
		w.field(7, thrift.I64, func() error { return p.WriteI64(ctx, -1<<40) })
		w.field(8, thrift.DOUBLE, func() error { return p.WriteDouble(ctx, 3.5) })
		w.field(9, thrift.STRING, func() error { return p.WriteBinary(ctx, []byte{0, 1, 2, 0xff}) })
		w.field(10, thrift.LIST, func() error {
			w.check(p.WriteListBegin(ctx, thrift.I32, 3))
			for _, v := range []int32{1, -2, 1 << 30} {
				w.check(p.WriteI32(ctx, v))
			}
			return p.WriteListEnd(ctx)
		})
		w.field(11, thrift.SET, func() error {
			w.check(p.WriteSetBegin(ctx, thrift.STRING, 2))
			w.check(p.WriteString(ctx, "a"))
			w.check(p.WriteString(ctx, "b"))
			return p.WriteSetEnd(ctx)
		})
		w.field(12, thrift.MAP, func() error {
			w.check(p.WriteMapBegin(ctx, thrift.STRING, thrift.LIST, 1))
			w.check(p.WriteString(ctx, "k"))
			w.check(p.WriteListBegin(ctx, thrift.BOOL, 2))
			w.check(p.WriteBool(ctx, true))
			w.check(p.WriteBool(ctx, false))
			w.check(p.WriteListEnd(ctx))
			return p.WriteMapEnd(ctx)
		})
		w.field(13, thrift.STRUCT, func() error {
			return writeStruct(ctx, p, func() error {
				w.field(1, thrift.STRING, func() error { return p.WriteString(ctx, "nested") })
				w.field(2, thrift.MAP, func() error {
					w.check(p.WriteMapBegin(ctx, thrift.I64, thrift.DOUBLE, 0))
					return p.WriteMapEnd(ctx)
				})
				w.field(3, thrift.LIST, func() error {
					w.check(p.WriteListBegin(ctx, thrift.STRUCT, 2))
					for range 2 {
						w.check(writeStruct(ctx, p, func() error {
							w.field(1, thrift.BOOL, func() error { return p.WriteBool(ctx, true) })
							return w.err
						}))
					}
					return p.WriteListEnd(ctx)
				})
				return w.err
			})
		})
		w.field(14, thrift.UUID, func() error {
			return p.WriteUUID(ctx, thrift.Tuuid{0: 0x12, 15: 0x34})
		})
		w.field(15, thrift.LIST, func() error {
			w.check(p.WriteListBegin(ctx, thrift.BOOL, 20))
			for i := range 20 {
				w.check(p.WriteBool(ctx, i%3 == 0))
			}
			return p.WriteListEnd(ctx)
		})
		w.field(300, thrift.I32, func() error { return p.WriteI32(ctx, 7) })
		w.field(-2, thrift.STRING, func() error { return p.WriteString(ctx, "negative id") })
		return w.err
	})
}

// fieldWriter writes fields and keeps the first error.
type fieldWriter struct {
	ctx context.Context
	p   thrift.TProtocol
	err error
}

func (w *fieldWriter) check(err error) {
	if w.err == nil {
		w.err = err
	}
}

func (w *fieldWriter) field(id int16, typ thrift.TType, value func() error) {
	w.check(w.p.WriteFieldBegin(w.ctx, "f"+strconv.Itoa(int(id)), typ, id))
	w.check(value())
	w.check(w.p.WriteFieldEnd(w.ctx))
}
