package thrift

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync/atomic"

	"github.com/breeze-mesh/breeze/protocol"
)

// Name is the codec's registered name; Aeraki's "aeraki.meta_protocol.codec.thrift" finds
// it too.
const Name = "thrift"

func init() {
	protocol.Register(protocol.Registration{
		Name: Name,
		New:  func(o protocol.Options) protocol.Codec { return New(o) },
	})
}

// Codec decodes and encodes Thrift frames for one connection direction. Thrift messages
// say themselves whether they are calls or replies, so both sides decode both.
type Codec struct {
	maxFrameSize int
	// last is the format of the last frame decoded (packed), for error replies to requests
	// that failed before their frame was whole. ErrorReply runs on other goroutines than
	// Decode, hence the atomic.
	last atomic.Uint32
	// resume is the progress through an unframed message still arriving (made on the
	// first unframed message: framed connections never pay for it).
	resume *resumeState
}

// New returns a codec configured by o.
func New(o protocol.Options) *Codec {
	c := &Codec{maxFrameSize: o.MaxFrameSize}
	if c.maxFrameSize <= 0 {
		c.maxFrameSize = protocol.DefaultMaxFrameSize
	}
	c.last.Store(defaultFormat.pack())
	return c
}

// setLast records the format of a frame being decoded.
func (c *Codec) setLast(f format) {
	if p := f.pack(); c.last.Load() != p {
		c.last.Store(p)
	}
}

// unappliedMutations counts mutations Encode could not apply; see UnappliedMutations.
var unappliedMutations atomic.Uint64

// UnappliedMutations is how many times, in this process, Encode was given a mutation for a
// frame whose transport cannot carry headers (framed or unframed) and returned the frame
// unchanged.
func UnappliedMutations() uint64 { return unappliedMutations.Load() }

// Encode implements protocol.Codec. A mutation is written as THeader (or TTHeader) info
// headers; other transports have no place for it, so their frames are returned unchanged
// and UnappliedMutations goes up.
func (c *Codec) Encode(msg *protocol.Message, mut protocol.Mutation) ([]byte, error) {
	if len(mut) == 0 {
		return msg.Frame, nil
	}
	f, err := detect(msg.Frame)
	if err != nil {
		return nil, fmt.Errorf("thrift: Encode needs a decoded frame: %w", err)
	}
	if f.transport != header && f.transport != ttheader {
		unappliedMutations.Add(1)
		return msg.Frame, nil
	}
	env, err := parseEnvelope(msg.Frame, f, len(msg.Frame))
	if err != nil {
		return nil, fmt.Errorf("thrift: Encode needs a decoded frame: %w", err)
	}
	return withInfo(msg.Frame, env, mut)
}

// ErrorReply implements protocol.Codec: a TApplicationException reply carrying req's
// sequence id and method name, written in the request's transport and protocol, with the
// exception type of exceptionTypeFor and the message "breeze: " + e.Message.
func (c *Codec) ErrorReply(req *protocol.Message, e *protocol.LocalError) ([]byte, error) {
	text, excType := "breeze: internal error", int32(exceptionInternalError)
	if e != nil {
		text, excType = "breeze: "+e.Message, exceptionTypeFor(e.Kind)
		if e.Message == "" {
			text = "breeze: " + e.Kind.String()
		}
	}
	f, flags := unpackFormat(c.last.Load()), uint16(0)
	if env, _, err := locate(req.Frame); err == nil {
		f = env.format
		if f.transport == header || f.transport == ttheader {
			flags = binary.BigEndian.Uint16(req.Frame[flagsOffset:])
		}
	}
	name := req.Metadata.Value(KeyMethod)
	seq := uint32(req.RequestID)
	out := make([]byte, 0, 32+len(name)+len(text))
	out, msgStart := appendEnvelope(out, f, flags, seq)
	out = appendMessageBegin(out, f.proto, name, typeException, seq)
	out = appendApplicationException(out, f.proto, text, excType)
	finishEnvelope(out, f, msgStart)
	return out, nil
}

// exceptionTypeFor maps why the proxy answers to a TApplicationException type: a request
// no route takes is a method this server does not have; one that could not be decoded is a
// protocol error; everything else is the server's own failure.
func exceptionTypeFor(k protocol.ErrorKind) int32 {
	switch k {
	case protocol.RouteNotFound:
		return exceptionUnknownMethod
	case protocol.BadRequest:
		return exceptionProtocolError
	}
	return exceptionInternalError
}

// appendEnvelope writes what comes before a message in format f (with the length fields
// zero) and returns where the message starts.
func appendEnvelope(b []byte, f format, flags uint16, seq uint32) ([]byte, int) {
	switch f.transport {
	case framed:
		b = append(b, 0, 0, 0, 0)
	case header, ttheader:
		magic := uint16(headerMagic)
		if f.transport == ttheader {
			magic = ttheaderMagic
		}
		id := byte(headerProtoBinary)
		if f.proto == compactProto {
			id = headerProtoCompact
		}
		b = append(b, 0, 0, 0, 0)
		b = binary.BigEndian.AppendUint16(b, magic)
		b = binary.BigEndian.AppendUint16(b, flags)
		b = binary.BigEndian.AppendUint32(b, seq)
		// One word of header info: protocol id, no transforms, two bytes of padding (the
		// same bytes as varints or as TTHeader's single bytes).
		b = append(b, 0, 1, id, 0, 0, 0)
		if f.innerFramed {
			b = append(b, 0, 0, 0, 0)
		}
	}
	return b, len(b)
}

// finishEnvelope fills in the length fields of a frame appendEnvelope started.
func finishEnvelope(b []byte, f format, msgStart int) {
	if f.transport == unframed {
		return
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)-lengthSize))
	if f.innerFramed {
		binary.BigEndian.PutUint32(b[msgStart-lengthSize:], uint32(len(b)-msgStart))
	}
}

// locate parses the envelope and message header of a complete frame.
func locate(frame []byte) (envelope, msgHeader, error) {
	f, err := detect(frame)
	if err != nil {
		return envelope{}, msgHeader{}, err
	}
	env := envelope{format: f, size: len(frame)}
	if f.transport != unframed {
		size := lengthSize + int(binary.BigEndian.Uint32(frame))
		if size != len(frame) {
			return env, msgHeader{}, fmt.Errorf("thrift: frame of %d bytes, its length says %d", len(frame), size)
		}
		if env, err = parseEnvelope(frame, f, size); err != nil {
			return env, msgHeader{}, err
		}
	}
	h, err := parseMessageHeader(frame[env.msg:], env.proto, len(frame)-env.msg)
	if err != nil {
		return env, h, err
	}
	return env, h, nil
}

// ReplaceRequestID implements protocol.IDReplacer. The sequence id is a fixed 4 bytes in the
// binary protocol, rewritten in place; the compact protocol writes it as a varint, so an id
// of another width makes a new frame (with its length fields adjusted). THeader and
// TTHeader carry the id in their header too; both are set.
func (c *Codec) ReplaceRequestID(frame []byte, id uint64) ([]byte, error) {
	if id > math.MaxUint32 {
		return nil, fmt.Errorf("thrift: request id %d does not fit a sequence id", id)
	}
	env, h, err := locate(frame)
	if err != nil {
		return nil, fmt.Errorf("thrift: ReplaceRequestID needs a whole frame: %w", err)
	}
	seq := uint32(id)
	off := env.msg + h.seqOff
	if env.proto == compactProto && uvarintLen(id) != h.seqLen {
		out := make([]byte, 0, len(frame)+varint32Max)
		out = append(out, frame[:off]...)
		out = appendUvarint(out, id)
		out = append(out, frame[off+h.seqLen:]...)
		if env.transport != unframed {
			binary.BigEndian.PutUint32(out, uint32(len(out)-lengthSize))
		}
		if env.innerFramed {
			binary.BigEndian.PutUint32(out[env.msg-lengthSize:], uint32(len(out)-env.msg))
		}
		frame = out
	} else if env.proto == compactProto {
		var v [varint32Max]byte
		copy(frame[off:], appendUvarint(v[:0], id))
	} else {
		binary.BigEndian.PutUint32(frame[off:], seq)
	}
	if env.transport == header || env.transport == ttheader {
		binary.BigEndian.PutUint32(frame[headerSeqID:], seq)
	}
	return frame, nil
}

// Sniff implements protocol.Sniffer: an unframed binary or compact message, or a frame
// holding one, a THeader or a TTHeader.
func (c *Codec) Sniff(prefix []byte) protocol.SniffResult {
	_, err := detect(prefix)
	switch {
	case err == nil:
		return protocol.SniffYes
	case errors.Is(err, errShort):
		return protocol.SniffNeedMore
	}
	return protocol.SniffNo
}

// Interface guards.
var (
	_ protocol.Codec      = (*Codec)(nil)
	_ protocol.IDReplacer = (*Codec)(nil)
	_ protocol.Sniffer    = (*Codec)(nil)
)
