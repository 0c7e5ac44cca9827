// Package pbwire reads and patches protobuf-encoded protocol headers — bRPC's RpcMeta,
// tRPC's RequestProtocol and ResponseProtocol — where they lie in a frame, without
// unmarshalling them into generated structs: decoding a request walks its header once and
// allocates nothing.
//
// Parsing follows protobuf's rules, so the proxy reads a header as the peer's own parser
// does: fields may come in any order, a repeated scalar keeps its last value, a field whose
// wire type is not the declared one is an unknown field and skipped, and varints may carry
// redundant continuation bytes (which is what lets [PutVarint] rewrite an id in place).
package pbwire

import (
	"fmt"
	"strconv"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/breeze-mesh/breeze/protocol"
)

// Fields walks the fields of one message. Use it as
//
//	for f := pbwire.NewFields(msg); f.Next(); { ... f.Num, f.Type, f.Varint, f.Bytes ... }
//
// and check Err after the loop.
type Fields struct {
	msg []byte
	off int
	err error

	// Num and Type are the current field's number and wire type.
	Num  protowire.Number
	Type protowire.Type
	// Start is the offset of the field's tag in the message, ValueStart of its value (for
	// a length-delimited field, of the payload after the length), End just past the field.
	Start, ValueStart, End int
	// Varint is the value of a VarintType field.
	Varint uint64
	// Bytes is the payload of a BytesType field; it aliases the message.
	Bytes []byte
}

// NewFields returns a walker over msg.
func NewFields(msg []byte) Fields { return Fields{msg: msg} }

// Next advances to the next field. It returns false at the end of the message or on a
// malformed field (then Err says why).
func (f *Fields) Next() bool {
	if f.err != nil || f.off >= len(f.msg) {
		return false
	}
	b := f.msg[f.off:]
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 {
		f.err = fmt.Errorf("field at offset %d: %w", f.off, protowire.ParseError(n))
		return false
	}
	f.Num, f.Type, f.Start, f.ValueStart = num, typ, f.off, f.off+n
	f.Varint, f.Bytes = 0, nil
	var m int
	switch typ {
	case protowire.VarintType:
		f.Varint, m = protowire.ConsumeVarint(b[n:])
	case protowire.BytesType:
		f.Bytes, m = protowire.ConsumeBytes(b[n:])
		if m >= 0 {
			f.ValueStart += m - len(f.Bytes)
		}
	default:
		m = protowire.ConsumeFieldValue(num, typ, b[n:])
	}
	if m < 0 {
		f.err = fmt.Errorf("field %d at offset %d: %w", num, f.off, protowire.ParseError(m))
		return false
	}
	f.off += n + m
	f.End = f.off
	return true
}

// Err returns the error that stopped the walk, if any.
func (f *Fields) Err() error { return f.err }

// MapEntry returns the key (field 1) and value (field 2) of a map entry: absent ones are
// empty, a repeated one keeps its last value, other fields are ignored, as parsers do.
func MapEntry(entry []byte) (key, value []byte, err error) {
	for off := 0; off < len(entry); {
		num, typ, n := protowire.ConsumeTag(entry[off:])
		if n < 0 {
			return nil, nil, fmt.Errorf("map entry: %w", protowire.ParseError(n))
		}
		off += n
		if typ == protowire.BytesType && (num == 1 || num == 2) {
			v, m := protowire.ConsumeBytes(entry[off:])
			if m < 0 {
				return nil, nil, fmt.Errorf("map entry field %d: %w", num, protowire.ParseError(m))
			}
			if num == 1 {
				key = v
			} else {
				value = v
			}
			off += m
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, entry[off:])
		if m < 0 {
			return nil, nil, fmt.Errorf("map entry field %d: %w", num, protowire.ParseError(m))
		}
		off += m
	}
	return key, value, nil
}

// SizeMapEntry is how many bytes AppendMapEntry appends.
func SizeMapEntry(num protowire.Number, key, value string) int {
	inner := entryInnerSize(key, value)
	return protowire.SizeTag(num) + protowire.SizeBytes(inner)
}

func entryInnerSize(key, value string) int {
	return protowire.SizeTag(1) + protowire.SizeBytes(len(key)) + protowire.SizeTag(2) + protowire.SizeBytes(len(value))
}

// AppendMapEntry appends field num holding the map entry key → value, for maps of
// string or bytes values.
func AppendMapEntry(b []byte, num protowire.Number, key, value string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(entryInnerSize(key, value)))
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, key)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	return protowire.AppendString(b, value)
}

// AppendMutated appends msg to dst with its map field num changed by mut: entries whose key
// mut sets (compared exactly, as map keys are) are left out, then mut's entries are
// appended, a later entry for the same key winning. Every other field is copied as it is.
func AppendMutated(dst, msg []byte, num protowire.Number, mut protocol.Mutation) ([]byte, error) {
	f := NewFields(msg)
	for f.Next() {
		if f.Num == num && f.Type == protowire.BytesType {
			key, _, err := MapEntry(f.Bytes)
			if err != nil {
				return nil, fmt.Errorf("map field %d: %w", num, err)
			}
			if mutates(mut, string(key)) {
				continue
			}
		}
		dst = append(dst, msg[f.Start:f.End]...)
	}
	if err := f.Err(); err != nil {
		return nil, err
	}
	for i, kv := range mut {
		if !mutates(mut[i+1:], kv.Key) {
			dst = AppendMapEntry(dst, num, kv.Key, kv.Value)
		}
	}
	return dst, nil
}

// MutatedSizeBound is an upper bound of what AppendMutated appends.
func MutatedSizeBound(msg []byte, num protowire.Number, mut protocol.Mutation) int {
	n := len(msg)
	for _, kv := range mut {
		n += SizeMapEntry(num, kv.Key, kv.Value)
	}
	return n
}

func mutates(mut protocol.Mutation, key string) bool {
	for _, kv := range mut {
		if kv.Key == key {
			return true
		}
	}
	return false
}

// LastVarint finds the last varint-typed occurrence of field num in msg — the one a parser
// keeps — and returns its value and the offsets of the value's bytes.
func LastVarint(msg []byte, num protowire.Number) (v uint64, start, end int, found bool, err error) {
	f := NewFields(msg)
	for f.Next() {
		if f.Num == num && f.Type == protowire.VarintType {
			v, start, end, found = f.Varint, f.ValueStart, f.End, true
		}
	}
	return v, start, end, found, f.Err()
}

// maxVarintLen is the longest varint parsers accept: 10 bytes of 7 bits hold 64.
const maxVarintLen = 10

// PutVarint writes v into dst as a varint of exactly len(dst) bytes, padding it with
// redundant continuation bytes (which every protobuf parser accepts), and reports whether v
// fits.
func PutVarint(dst []byte, v uint64) bool {
	if len(dst) == 0 || len(dst) > maxVarintLen || protowire.SizeVarint(v) > len(dst) {
		return false
	}
	last := len(dst) - 1
	for i := 0; i < last; i++ {
		dst[i] = byte(v&0x7f) | 0x80
		v >>= 7
	}
	dst[last] = byte(v)
	return true
}

// SetVarint sets field num of msg to v in place, writing it over the value of the field's
// last occurrence (the one parsers keep), and reports whether that occurrence exists and is
// wide enough. Otherwise msg is unchanged and AppendSetVarint builds the new message.
func SetVarint(msg []byte, num protowire.Number, v uint64) (bool, error) {
	_, start, end, found, err := LastVarint(msg, num)
	if err != nil || !found {
		return false, err
	}
	return PutVarint(msg[start:end], v), nil
}

// AppendSetVarint appends to dst a copy of msg with field num set to v: the value of its
// last occurrence re-encoded, or the field added at the end when msg lacks it.
func AppendSetVarint(dst, msg []byte, num protowire.Number, v uint64) ([]byte, error) {
	_, start, end, found, err := LastVarint(msg, num)
	if err != nil {
		return nil, err
	}
	if !found {
		dst = append(dst, msg...)
		dst = protowire.AppendTag(dst, num, protowire.VarintType)
		return protowire.AppendVarint(dst, v), nil
	}
	dst = append(dst, msg[:start]...)
	dst = protowire.AppendVarint(dst, v)
	return append(dst, msg[end:]...), nil
}

// Texts formats numbers as metadata values without allocating for each one: it carves the
// strings from a block it only ever appends to, so a string it returned is never
// overwritten, and starts a new block when one is full (the old one lives on as long as its
// strings do). Only Decode may use it: it is not safe for concurrent use.
type Texts struct{ block []byte }

const textsBlock = 1024

// Int returns v in decimal.
func (t *Texts) Int(v int64) string {
	if cap(t.block)-len(t.block) < 20 {
		t.block = make([]byte, 0, textsBlock)
	}
	start := len(t.block)
	t.block = strconv.AppendInt(t.block, v, 10)
	return unsafe.String(&t.block[start], len(t.block)-start)
}
