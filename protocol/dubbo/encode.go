package dubbo

import (
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/breeze-mesh/breeze/protocol"
)

// Encode implements protocol.Codec. A mutation becomes attachments: on a request, and on an
// OK response whose body already carries attachments (types *_WITH_ATTACHMENTS). Other
// frames, and every frame with an empty mutation, are returned as they are.
func (c *Codec) Encode(msg *protocol.Message, mut protocol.Mutation) ([]byte, error) {
	frame := msg.Frame
	if len(mut) == 0 || len(frame) < headerSize {
		return frame, nil
	}
	h := parseHeader(frame)
	if h.isEvent() {
		return frame, nil
	}
	// A reader of its own: Encode may run while the connection's read loop decodes the
	// next frame with c.reader.
	r := &hessianReader{}
	if h.isRequest() {
		if off := attachmentsHint(msg); off >= 0 {
			r.reset(frame[headerSize:])
			r.pos = off - headerSize
			out, err := rewriteAttachments(frame, r, mut)
			if !isUndefinedClass(err) {
				return out, err
			}
			// An attachment holds an object whose class the arguments define: walk the
			// body from the start so the reader knows it.
		}
		rb, err := r.readRequestBody(frame[headerSize:])
		if err != nil {
			return nil, err
		}
		r.pos = rb.attachments
		return rewriteAttachments(frame, r, mut)
	}
	// An OK response: the attachments, if any, follow the value or exception.
	if !h.hasOKStatus() {
		return frame, nil
	}
	r.reset(frame[headerSize:])
	kind, err := r.readInt()
	if err != nil {
		return nil, err
	}
	switch kind {
	case responseWithExceptionWithAttachments, responseValueWithAttachments:
		if err := r.skip(); err != nil {
			return nil, err
		}
	case responseNullValueWithAttachments:
	default:
		// Adding attachments would mean changing the response type, which clients of
		// Dubbo versions 2.0.10 to 2.6.2 do not understand; leave the response alone.
		return frame, nil
	}
	if r.atEnd() {
		return nil, malformed("response type says attachments follow but the body ends")
	}
	return rewriteAttachments(frame, r, mut)
}

// rewriteAttachments returns a copy of frame whose attachments map, at the reader's
// position, carries mut: entries for other keys are copied as they are (whatever their
// type), entries for mutated keys are replaced, and the body length is patched. A null or
// missing map becomes an untyped map.
func rewriteAttachments(frame []byte, r *hessianReader, mut protocol.Mutation) ([]byte, error) {
	body := r.buf
	start := headerSize + r.pos
	out := make([]byte, 0, len(frame)+mutationSize(mut)+2)
	out = append(out, frame[:start]...)
	switch {
	case r.atEnd() || body[r.pos] == 'N':
		out = append(out, 'H')
		if !r.atEnd() {
			r.pos++
		}
	case body[r.pos] == 'H' || body[r.pos] == 'M':
		// Keep the map's own header (a typed map's type may be referenced later).
		mapStart := r.pos
		r.pos++
		if body[mapStart] == 'M' {
			if err := r.skipType(); err != nil {
				return nil, err
			}
		}
		out = append(out, body[mapStart:r.pos]...)
		var err error
		if out, err = copyEntriesExcept(out, r, mut); err != nil {
			return nil, err
		}
	default:
		return nil, malformedf("attachments: expected a hessian2 map, got tag %#x", body[r.pos])
	}
	for i, kv := range mut {
		if mutationHasKey(mut[i+1:], kv.Key) {
			continue // a later entry for the same key wins
		}
		out = appendString(out, kv.Key)
		out = appendString(out, kv.Value)
	}
	out = append(out, 'Z')
	// Whatever followed the map (dubbo-go ends responses with an extra null) stays.
	out = append(out, body[r.pos:]...)
	if len(out)-headerSize > math.MaxInt32 {
		return nil, fmt.Errorf("dubbo: mutated body of %d bytes does not fit the length field", len(out)-headerSize)
	}
	putBodyLen(out)
	return out, nil
}

// copyEntriesExcept appends the map entries at the reader's position to out, consuming the
// map's closing 'Z', except those whose key mut sets. An entry whose value holds a list,
// map or object is kept even then: removing it would renumber the hessian2 references after
// it. The new entry, written later, wins in every decoder (a map keeps the last value).
func copyEntriesExcept(out []byte, r *hessianReader, mut protocol.Mutation) ([]byte, error) {
	for {
		tag, err := r.peek()
		if err != nil {
			return nil, err
		}
		if tag == 'Z' {
			r.pos++
			return out, nil
		}
		entryStart := r.pos
		replaced := false
		if isStringTag(tag) {
			key, err := r.readString()
			if err != nil {
				return nil, err
			}
			if r.atEnd() {
				return nil, errTruncated
			}
			replaced = mutationHasKey(mut, r.stringValue(key)) && isScalarTag(r.buf[r.pos])
		} else if err := r.skipValue(1); err != nil {
			return nil, err
		}
		if err := r.skipValue(1); err != nil {
			return nil, err
		}
		if !replaced {
			out = append(out, r.buf[entryStart:r.pos]...)
		}
	}
}

// mutationHasKey reports whether mut sets key. Attachment keys are case-sensitive, as they
// are in Dubbo.
func mutationHasKey(mut protocol.Mutation, key string) bool {
	for _, kv := range mut {
		if kv.Key == key {
			return true
		}
	}
	return false
}

// mutationSize is an upper bound of the encoded size of mut's entries.
func mutationSize(mut protocol.Mutation) int {
	n := 0
	for _, kv := range mut {
		n += stringSizeBound(kv.Key) + stringSizeBound(kv.Value)
	}
	return n
}

// maxChunkUnits is the chunk size appendString uses, as Java's hessian does.
const maxChunkUnits = 0x8000

// stringSizeBound is an upper bound of appendString's output for s: at most 3 bytes per
// input byte (an invalid byte becomes U+FFFD) and 3 bytes of tag per chunk.
func stringSizeBound(s string) int { return 3*len(s) + 3*(len(s)/maxChunkUnits+1) }

// appendString appends s as a hessian2 string the way Java writes one: lengths count UTF-16
// units, characters outside the BMP are written as two 3-byte surrogates, long strings are
// split into chunks of at most maxChunkUnits, and invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	if len(s) <= 0x3ff && isASCII(s) { // the common case: a short ASCII string, as is
		return append(appendChunkTag(b, len(s), true), s...)
	}
	for {
		// Find how much of s fits the chunk without splitting a surrogate pair.
		units, end := 0, 0
		for end < len(s) {
			r, size := utf8.DecodeRuneInString(s[end:])
			u := 1
			if r > 0xffff {
				u = 2
			}
			if units+u > maxChunkUnits {
				break
			}
			units += u
			end += size
		}
		final := end == len(s)
		b = appendChunkTag(b, units, final)
		for _, r := range s[:end] {
			if r > 0xffff {
				r -= 0x10000
				b = appendUnit(b, 0xd800+(r>>10))
				b = appendUnit(b, 0xdc00+(r&0x3ff))
				continue
			}
			b = appendUnit(b, r)
		}
		if final {
			return b
		}
		s = s[end:]
	}
}

// appendChunkTag appends the tag and length of a string chunk of units UTF-16 units.
func appendChunkTag(b []byte, units int, final bool) []byte {
	switch {
	case !final:
		return append(b, 'R', byte(units>>8), byte(units))
	case units <= 0x1f:
		return append(b, byte(units))
	case units <= 0x3ff:
		return append(b, 0x30+byte(units>>8), byte(units))
	default:
		return append(b, 'S', byte(units>>8), byte(units))
	}
}

// appendUnit appends one UTF-16 unit (surrogates included) in UTF-8's 1-3 byte forms.
func appendUnit(b []byte, u rune) []byte {
	switch {
	case u < 0x80:
		return append(b, byte(u))
	case u < 0x800:
		return append(b, 0xc0|byte(u>>6), 0x80|byte(u&0x3f))
	default:
		return append(b, 0xe0|byte(u>>12), 0x80|byte(u>>6&0x3f), 0x80|byte(u&0x3f))
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
