package thrift

import (
	"encoding/binary"
	"math"
)

// maxDepth bounds the nesting of structs and containers, as Apache Thrift's default
// recursion limit does.
const maxDepth = 64

// A skipper steps over Thrift values without decoding them, to find where a struct ends.
//
// It works one token at a time (a field header with a scalar value, a container header, a
// stop byte) and keeps its position and open containers between calls: when the input ends
// inside a token, run returns errShort with the state of the last whole token, and the next
// run, given the same bytes and more, carries on from there. An unframed message arriving in
// many small reads is so parsed once, not once per read.
type skipper struct {
	proto proto
	// pos is the offset of the next token.
	pos   int
	depth int
	stack [maxDepth]level
	// tokens counts the tokens stepped over, for tests that check no token is read twice.
	tokens int
}

// level is an open struct or container.
type level struct {
	kind levelKind
	// elem is a list's or set's element type, a map's key type; val is a map's value type.
	elem, val byte
	// left is how many elements a list has left, or keys and values a map has left (keys
	// when even).
	left int64
}

type levelKind uint8

const (
	// levelNone is what value returns for a scalar: nothing to open.
	levelNone levelKind = iota
	levelStruct
	levelList
	levelMap
)

// startStruct makes the skipper step over the struct starting at pos.
func (s *skipper) startStruct(p proto, pos int) {
	s.proto, s.pos, s.depth, s.tokens = p, pos, 1, 0
	s.stack[0] = level{kind: levelStruct}
}

// run advances over b until the outermost open struct or container ends; s.pos is then its
// end. It returns errShort when b ends first, and an ErrFrameTooLarge error when the value
// would take more than limit bytes of b.
func (s *skipper) run(b []byte, limit int) error {
	for s.depth > 0 {
		top := &s.stack[s.depth-1]
		p := s.pos
		var typ byte
		switch top.kind {
		case levelStruct:
			if p >= len(b) {
				return errShort
			}
			fieldType := b[p]
			p++
			if fieldType == tStop { // cStop is 0 as well
				s.pos, s.tokens = p, s.tokens+1
				s.depth--
				continue
			}
			if s.proto == binaryProto {
				if p+2 > len(b) {
					return errShort
				}
				p += 2 // field id
				typ = fieldType
			} else {
				if fieldType>>cDeltaShift == 0 { // the field id follows as a zigzag varint
					var err error
					if _, p, err = uvarint(b, p, varint16Max); err != nil {
						return err
					}
				}
				ct := fieldType & cTypeBits
				if ct == cBoolTrue || ct == cBoolFalse { // a bool field's value is its type
					s.pos, s.tokens = p, s.tokens+1
					continue
				}
				if ct >= cTypeCount || compactTypes[ct] == 0 {
					return malformedf("compact field type %d", ct)
				}
				typ = compactTypes[ct]
			}
		case levelList:
			if top.left == 0 {
				s.depth--
				continue
			}
			typ = top.elem
		case levelMap:
			if top.left == 0 {
				s.depth--
				continue
			}
			typ = top.elem
			if top.left%2 == 1 {
				typ = top.val
			}
		}
		next, child, err := s.value(b, p, typ, limit)
		if err != nil {
			return err
		}
		// The token is whole: commit it.
		s.tokens++
		if top.kind != levelStruct {
			top.left--
		}
		s.pos = next
		if s.pos > limit {
			return tooLargef("message runs past the %d-byte limit", limit)
		}
		if child.kind != levelNone {
			if s.depth == maxDepth {
				return malformedf("values nested deeper than %d", maxDepth)
			}
			s.stack[s.depth] = child
			s.depth++
		}
	}
	return nil
}

// value steps over a scalar of type typ at b[p:] or reads a container's header. It returns
// the offset after what it read and, for a struct or container, the level to open.
func (s *skipper) value(b []byte, p int, typ byte, limit int) (int, level, error) {
	var size int
	switch typ {
	case tBool, tByte:
		size = 1
	case tDouble:
		size = 8
	case tUUID:
		size = 16
	case tI16, tI32, tI64:
		if s.proto == compactProto {
			maxLen := varint64Max
			switch typ {
			case tI16:
				maxLen = varint16Max
			case tI32:
				maxLen = varint32Max
			}
			_, next, err := uvarint(b, p, maxLen)
			return next, level{}, err
		}
		size = 8
		switch typ {
		case tI16:
			size = 2
		case tI32:
			size = 4
		}
	case tString:
		n, next, err := s.length(b, p)
		if err != nil {
			return 0, level{}, err
		}
		if int64(next)+n > int64(limit) {
			return 0, level{}, tooLargef("a %d-byte string at offset %d runs past the %d-byte limit", n, next, limit)
		}
		p, size = next, int(n)
	case tStruct:
		return p, level{kind: levelStruct}, nil
	case tList, tSet:
		return s.listHeader(b, p, limit)
	case tMap:
		return s.mapHeader(b, p, limit)
	default:
		return 0, level{}, malformedf("field type %d", typ)
	}
	if p+size > len(b) {
		return 0, level{}, errShort
	}
	return p + size, level{}, nil
}

// length reads a string or container length: a big-endian int32, or a varint.
func (s *skipper) length(b []byte, p int) (int64, int, error) {
	if s.proto == binaryProto {
		if p+4 > len(b) {
			return 0, 0, errShort
		}
		n := int32(binary.BigEndian.Uint32(b[p:]))
		if n < 0 {
			return 0, 0, malformedf("negative length %d", n)
		}
		return int64(n), p + 4, nil
	}
	n, next, err := uvarint(b, p, varint32Max)
	if err != nil {
		return 0, 0, err
	}
	if n > math.MaxInt32 {
		return 0, 0, malformedf("length %d", n)
	}
	return int64(n), next, nil
}

// elemType checks a container's element type and returns it as a binary type.
func (s *skipper) elemType(t byte) (byte, error) {
	if s.proto == compactProto {
		if t >= cTypeCount || compactTypes[t] == 0 {
			return 0, malformedf("compact element type %d", t)
		}
		return compactTypes[t], nil
	}
	switch t {
	case tBool, tByte, tDouble, tI16, tI32, tI64, tString, tStruct, tMap, tSet, tList, tUUID:
		return t, nil
	}
	return 0, malformedf("element type %d", t)
}

// checkCount refuses a container whose elements (each at least one byte) cannot fit in
// what is left of the limit, before anything waits for them to arrive.
func checkCount(count int64, perElem int64, p, limit int) error {
	if count*perElem > int64(limit-p) {
		return tooLargef("a container of %d elements at offset %d cannot fit the %d-byte limit", count, p, limit)
	}
	return nil
}

func (s *skipper) listHeader(b []byte, p, limit int) (int, level, error) {
	var et byte
	var count int64
	if s.proto == binaryProto {
		if p+5 > len(b) {
			return 0, level{}, errShort
		}
		et = b[p]
		n := int32(binary.BigEndian.Uint32(b[p+1:]))
		if n < 0 {
			return 0, level{}, malformedf("negative list size %d", n)
		}
		count, p = int64(n), p+5
	} else {
		if p >= len(b) {
			return 0, level{}, errShort
		}
		et, count = b[p]&cTypeBits, int64(b[p]>>cDeltaShift)
		p++
		if count == 15 { // the size follows as a varint
			n, next, err := s.length(b, p)
			if err != nil {
				return 0, level{}, err
			}
			count, p = n, next
		}
	}
	t, err := s.elemType(et)
	if err != nil {
		return 0, level{}, err
	}
	if err := checkCount(count, 1, p, limit); err != nil {
		return 0, level{}, err
	}
	return p, level{kind: levelList, elem: t, left: count}, nil
}

func (s *skipper) mapHeader(b []byte, p, limit int) (int, level, error) {
	var kt, vt byte
	var count int64
	if s.proto == binaryProto {
		if p+6 > len(b) {
			return 0, level{}, errShort
		}
		kt, vt = b[p], b[p+1]
		n := int32(binary.BigEndian.Uint32(b[p+2:]))
		if n < 0 {
			return 0, level{}, malformedf("negative map size %d", n)
		}
		count, p = int64(n), p+6
	} else {
		n, next, err := s.length(b, p)
		if err != nil {
			return 0, level{}, err
		}
		count, p = n, next
		if count == 0 { // an empty map has no type byte
			return p, level{kind: levelMap}, nil
		}
		if p >= len(b) {
			return 0, level{}, errShort
		}
		kt, vt = b[p]>>cDeltaShift, b[p]&cTypeBits
		p++
	}
	k, err := s.elemType(kt)
	if err != nil {
		return 0, level{}, err
	}
	v, err := s.elemType(vt)
	if err != nil {
		return 0, level{}, err
	}
	if err := checkCount(count, 2, p, limit); err != nil {
		return 0, level{}, err
	}
	return p, level{kind: levelMap, elem: k, val: v, left: 2 * count}, nil
}

// skipValue steps over one value of type typ at b[p:], all of which is in b, and returns
// the offset after it.
func skipValue(b []byte, p int, pr proto, typ byte) (int, error) {
	var s skipper
	s.proto = pr
	next, child, err := s.value(b, p, typ, len(b))
	if err != nil || child.kind == levelNone {
		return next, err
	}
	s.pos, s.depth = next, 1
	s.stack[0] = child
	if err := s.run(b, len(b)); err != nil {
		return 0, err
	}
	return s.pos, nil
}
