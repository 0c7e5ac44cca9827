package thrift

import (
	"bytes"
	"encoding/binary"
	"errors"

	"github.com/breeze-mesh/breeze/protocol"
)

// Metadata keys the codec sets. THeader and TTHeader string info headers are added under
// their own names, TTHeader integer ones under the names of intKeyNames; see the README.
const (
	// KeyMethod is the method name as on the wire ("Service:method" through Thrift's
	// TMultiplexedProtocol).
	KeyMethod = "method"
	// KeyMessageType is "call", "oneway", "reply" or "exception".
	KeyMessageType = "message_type"
	// KeyTransport is "unframed", "framed", "header" (THeader) or "ttheader".
	KeyTransport = "transport"
	// KeyProtocol is "binary" or "compact".
	KeyProtocol = "protocol"
	// KeyErrorMessage is the message of a TApplicationException (an exception reply).
	KeyErrorMessage = "error_message"
)

var messageTypeNames = [...]string{typeCall: "call", typeReply: "reply", typeException: "exception", typeOneway: "oneway"}

// reserved reports whether key is one the codec sets itself: a header of that name is not
// copied into the metadata, so the key keeps its meaning.
func reserved(key string) bool {
	switch key {
	case KeyMethod, KeyMessageType, KeyTransport, KeyProtocol, KeyErrorMessage:
		return true
	}
	return false
}

// Decode implements protocol.Codec.
func (c *Codec) Decode(buf []byte, msg *protocol.Message) (int, error) {
	f, err := detect(buf)
	if errors.Is(err, errShort) && len(buf) >= lengthSize {
		// A length prefix over the limit is refused before the rest of the header arrives.
		if size := lengthSize + int(binary.BigEndian.Uint32(buf)); size > c.maxFrameSize {
			return 0, tooLargef("frame of %d bytes exceeds the %d-byte limit", size, c.maxFrameSize)
		}
	}
	if errors.Is(err, errShort) {
		return 0, protocol.ErrNeedMore
	}
	if err != nil {
		return 0, err
	}
	if f.transport == unframed {
		return c.decodeUnframed(buf, f, msg)
	}
	return c.decodeFramed(buf, f, msg)
}

// decodeFramed decodes a frame with a length prefix (framed, THeader, TTHeader).
func (c *Codec) decodeFramed(buf []byte, f format, msg *protocol.Message) (int, error) {
	size := lengthSize + int(binary.BigEndian.Uint32(buf))
	complete := len(buf) >= size
	frame := buf[:min(len(buf), size)]

	env, err := parseEnvelope(frame, f, size)
	var h msgHeader
	if err == nil {
		c.setLast(env.format)
		h, err = parseMessageHeader(frame[env.msg:], env.proto, size-env.msg)
		if err == nil {
			c.setHeader(msg, &h)
		}
	}
	if size > c.maxFrameSize {
		return 0, tooLargef("%v frame of %d bytes exceeds the %d-byte limit", f.transport, size, c.maxFrameSize)
	}
	switch {
	case errors.Is(err, errBeyond):
		return 0, malformedf("message header needs %d bytes, the frame has %d", h.body, size-env.msg)
	case errors.Is(err, errShort) && complete:
		return 0, malformedf("%v frame of %d bytes ends inside its header", env.format, size)
	case errors.Is(err, errShort) || err == nil && !complete:
		return 0, protocol.ErrNeedMore
	case err != nil:
		return 0, err
	}
	msg.Frame = buf[:size:size]
	msg.HeaderSize, msg.BodySize = env.msg+h.body, size-env.msg-h.body
	if err := c.fillMetadata(msg, &h, env.format, msg.Frame[env.msg:]); err != nil {
		return 0, err
	}
	if f.transport != framed {
		if err := addInfoHeaders(&msg.Metadata, msg.Frame, env); err != nil {
			return 0, err
		}
	}
	return size, nil
}

// decodeUnframed decodes a message with nothing around it: its end is found by stepping
// over its argument (or result) struct, resuming where the last call stopped when the
// caller passes the same bytes again with more after them.
func (c *Codec) decodeUnframed(buf []byte, f format, msg *protocol.Message) (int, error) {
	h, err := parseMessageHeader(buf, f.proto, c.maxFrameSize)
	switch {
	case errors.Is(err, errBeyond):
		return 0, tooLargef("message header of %d bytes exceeds the %d-byte limit", h.body, c.maxFrameSize)
	case errors.Is(err, errShort):
		return 0, protocol.ErrNeedMore
	case err != nil:
		return 0, err
	}
	c.setLast(f)
	c.setHeader(msg, &h)
	end, err := c.skipBody(buf, h.body, f.proto)
	if err != nil {
		return 0, err
	}
	msg.Frame = buf[:end:end]
	msg.HeaderSize, msg.BodySize = h.body, end-h.body
	if err := c.fillMetadata(msg, &h, f, msg.Frame); err != nil {
		return 0, err
	}
	return end, nil
}

// skipBody returns the end of the struct at buf[body:], or ErrNeedMore having saved how far
// it got.
func (c *Codec) skipBody(buf []byte, body int, p proto) (int, error) {
	r := c.resume
	if r == nil {
		r = new(resumeState)
		c.resume = r
	}
	if !r.matches(buf, body, p) {
		r.start(buf, body, p)
	}
	err := r.s.run(buf, c.maxFrameSize)
	if errors.Is(err, errShort) {
		return 0, protocol.ErrNeedMore
	}
	r.base = nil // done with this message (and its buffer)
	if err != nil {
		return 0, err
	}
	if r.s.pos > c.maxFrameSize {
		return 0, tooLargef("message of %d bytes exceeds the %d-byte limit", r.s.pos, c.maxFrameSize)
	}
	return r.s.pos, nil
}

// resumeState is the progress through an unframed message that has not fully arrived.
type resumeState struct {
	s skipper
	// base is the first byte of the buffer the progress was made in: the caller passes
	// the same memory again, longer, until the message is whole. (Holding the pointer
	// keeps that memory from being reused for another buffer meanwhile.)
	base *byte
	body int
	// head is a copy of the message's first bytes, to catch a caller that passes other
	// bytes at the same address.
	head    [32]byte
	headLen int
}

func (r *resumeState) start(buf []byte, body int, p proto) {
	r.s.startStruct(p, body)
	r.base, r.body = &buf[0], body
	r.headLen = copy(r.head[:], buf[:body])
}

func (r *resumeState) matches(buf []byte, body int, p proto) bool {
	return r.base == &buf[0] && r.body == body && r.s.proto == p && r.s.pos <= len(buf) &&
		bytes.Equal(r.head[:r.headLen], buf[:r.headLen])
}

// setHeader sets the message type and id from a message header: what the proxy needs to
// answer a request that fails to decode further. The method name goes into the metadata
// too, as an error reply carries it.
func (c *Codec) setHeader(msg *protocol.Message, h *msgHeader) {
	msg.RequestID = uint64(h.seqID)
	switch h.typ {
	case typeCall:
		msg.Type = protocol.Request
	case typeOneway:
		msg.Type = protocol.Oneway
	case typeReply:
		msg.Type = protocol.Response
	case typeException:
		msg.Type, msg.Status = protocol.Error, protocol.StatusError
	}
	msg.Metadata.Reset()
	msg.Metadata.Add(KeyMethod, protocol.AliasString(h.name))
}

// fillMetadata adds the message's metadata after the method name, and reads a reply's
// outcome. m is the message, from its first byte to the end of the frame.
func (c *Codec) fillMetadata(msg *protocol.Message, h *msgHeader, f format, m []byte) error {
	md := &msg.Metadata
	md.Add(KeyMessageType, messageTypeNames[h.typ])
	md.Add(KeyTransport, f.transport.String())
	md.Add(KeyProtocol, f.proto.String())
	switch h.typ {
	case typeReply:
		// A result struct holds the return value as field 0 (none for a void method) or
		// a declared exception under its own id.
		id, ok, err := firstFieldID(m, h.body, f.proto)
		if err != nil {
			return err
		}
		if ok && id != 0 {
			msg.Type, msg.Status = protocol.Error, protocol.StatusError
		}
	case typeException:
		text, ok, typ := readException(m, h.body, f.proto)
		if ok {
			md.Add(KeyErrorMessage, protocol.AliasString(text))
		}
		msg.Code = typ
	}
	return nil
}

// firstFieldID returns the id of the first field of the struct at m[p:], and false for an
// empty struct.
func firstFieldID(m []byte, p int, pr proto) (int16, bool, error) {
	if p >= len(m) {
		return 0, false, malformedf("message ends before its result struct")
	}
	t := m[p]
	if t == tStop {
		return 0, false, nil
	}
	if pr == binaryProto {
		id, err := be16(m, p+1)
		if err != nil {
			return 0, false, malformedf("message ends inside a field header")
		}
		return int16(id), true, nil
	}
	if delta := t >> cDeltaShift; delta != 0 {
		return int16(delta), true, nil
	}
	v, _, err := uvarint(m, p+1, varint16Max)
	if err != nil {
		return 0, false, malformedf("message ends inside a field header")
	}
	return int16(uint16(v>>1) ^ -uint16(v&1)), true, nil // zigzag
}

// readException reads the TApplicationException at m[p:]: its message field, if it has a
// readable one, and its type (0 UNKNOWN when absent or unreadable), the response's Code.
// The fields are read in any order; reading stops at the first one it cannot step over.
func readException(m []byte, p int, pr proto) (text []byte, hasText bool, typ int32) {
	var id int16
	for p < len(m) {
		t := m[p]
		p++
		if t == tStop {
			return text, hasText, typ
		}
		if pr == binaryProto {
			v, err := be16(m, p)
			if err != nil {
				return text, hasText, typ
			}
			id, p = int16(v), p+2
		} else {
			ct := t & cTypeBits
			if delta := int16(t >> cDeltaShift); delta != 0 {
				id += delta
			} else {
				v, next, err := uvarint(m, p, varint16Max)
				if err != nil {
					return text, hasText, typ
				}
				id, p = int16(uint16(v>>1)^-uint16(v&1)), next
			}
			if ct == cBoolTrue || ct == cBoolFalse {
				continue
			}
			if ct >= cTypeCount || compactTypes[ct] == 0 {
				return text, hasText, typ
			}
			t = compactTypes[ct]
		}
		switch {
		case id == exceptionFieldMessage && t == tString && !hasText:
			var s skipper
			s.proto = pr
			n, start, err := s.length(m, p)
			if err != nil || int64(start)+n > int64(len(m)) {
				return text, hasText, typ
			}
			text, hasText = m[start:start+int(n)], true
			p = start + int(n)
			continue
		case id == exceptionFieldType && t == tI32:
			if pr == binaryProto {
				v, err := be32(m, p)
				if err != nil {
					return text, hasText, typ
				}
				typ, p = int32(v), p+4
			} else {
				v, next, err := uvarint(m, p, varint32Max)
				if err != nil {
					return text, hasText, typ
				}
				typ, p = int32(uint32(v>>1)^-uint32(v&1)), next // zigzag
			}
			continue
		}
		next, err := skipValue(m, p, pr, t)
		if err != nil {
			return text, hasText, typ
		}
		p = next
	}
	return text, hasText, typ
}

// addInfoHeaders adds a THeader's or TTHeader's info key/values to md. A header named like
// a key the codec sets is left out; a header that appears twice is refused, as servers keep
// the last value while Metadata.Get returns the first.
func addInfoHeaders(md *protocol.Metadata, frame []byte, env envelope) error {
	r := newInfoReader(frame, env)
	first := md.Len()
	var seen map[string]struct{} // for frames with many headers, to keep the check linear
	for {
		k, v, intKey, ok, err := r.next()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		var key string
		switch {
		case intKey >= len(intKeyNames):
			continue // an integer key without a name here
		case intKey >= 0:
			key = intKeyNames[intKey]
		default:
			key = protocol.AliasString(k)
		}
		if reserved(key) {
			continue
		}
		if seen == nil && md.Len()-first >= 16 {
			seen = make(map[string]struct{}, 2*(md.Len()-first))
			for _, kv := range md.All()[first:] {
				seen[kv.Key] = struct{}{}
			}
		}
		dup := false
		if seen != nil {
			_, dup = seen[key]
			seen[key] = struct{}{}
		} else {
			for _, kv := range md.All()[first:] {
				if kv.Key == key {
					dup = true
					break
				}
			}
		}
		if dup {
			return malformedf("%v header %q appears twice", env.transport, key)
		}
		md.Add(key, protocol.AliasString(v))
	}
}
