package dubbo

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/breeze-mesh/breeze/protocol"
)

// This file walks hessian2 values (http://hessian.caucho.com/doc/hessian-serialization.html)
// without materialising them: the codec only needs a request's leading strings and its
// attachments, and must step over the arguments in between without allocating.

const (
	// maxDepth bounds how deeply lists, maps and objects may nest.
	maxDepth = 64
	// maxClassDefs bounds the class definitions one body may hold; the reader remembers
	// each one's field count to step over its instances.
	maxClassDefs = 4096
	// keepClassDefs is how many class-definition slots a codec keeps between frames.
	keepClassDefs = 64
)

var (
	errTruncated      = malformed("hessian2 value runs past the end of the body")
	errTooDeep        = malformed(fmt.Sprintf("hessian2 values nested more than %d deep", maxDepth))
	errTooManyClasses = malformed(fmt.Sprintf("more than %d hessian2 class definitions", maxClassDefs))
	errUndefinedClass = malformed("hessian2 object refers to an undefined class")
)

// malformed returns an error wrapping protocol.ErrMalformed.
func malformed(what string) error {
	return fmt.Errorf("dubbo: %s: %w", what, protocol.ErrMalformed)
}

func malformedf(format string, args ...any) error {
	return malformed(fmt.Sprintf(format, args...))
}

// fixedSize holds the encoded size of every hessian2 value whose size the tag alone
// determines (0 for the others).
var fixedSize = func() (t [256]uint8) {
	for tag := 0x20; tag <= 0x2f; tag++ { // binary of 0-15 bytes
		t[tag] = uint8(1 + tag - 0x20)
	}
	for tag := 0x38; tag <= 0x3f; tag++ { // 3-byte long
		t[tag] = 3
	}
	for _, tag := range []byte{'F', 'T', 'N', 0x5b, 0x5c} { // booleans, null, double 0.0 and 1.0
		t[tag] = 1
	}
	t[0x5d], t[0x5e] = 2, 3 // double as byte, as short

	for _, tag := range []byte{'I', 'K', 'Y', 0x5f} { // int, minute date, long as int, double as float
		t[tag] = 5
	}
	for _, tag := range []byte{'D', 'J', 'L'} { // double, millisecond date, long
		t[tag] = 9
	}
	for tag := 0x80; tag <= 0xbf; tag++ { // 1-byte int
		t[tag] = 1
	}
	for tag := 0xc0; tag <= 0xcf; tag++ { // 2-byte int
		t[tag] = 2
	}
	for tag := 0xd0; tag <= 0xd7; tag++ { // 3-byte int
		t[tag] = 3
	}
	for tag := 0xd8; tag <= 0xef; tag++ { // 1-byte long
		t[tag] = 1
	}
	for tag := 0xf0; tag <= 0xff; tag++ { // 2-byte long
		t[tag] = 2
	}
	return t
}()

func isStringTag(tag byte) bool {
	return tag <= 0x1f || (tag >= 0x30 && tag <= 0x33) || tag == 'R' || tag == 'S'
}

func isIntTag(tag byte) bool { return tag >= 0x80 && tag <= 0xd7 || tag == 'I' }

func isLongTag(tag byte) bool {
	return tag >= 0xd8 || (tag >= 0x38 && tag <= 0x3f) || tag == 'Y' || tag == 'L'
}

// isScalarTag reports whether a value starting with tag holds no list, map, object or class
// definition, so removing it from a body does not renumber the references and class
// indices of the values after it.
func isScalarTag(tag byte) bool {
	return fixedSize[tag] != 0 || isStringTag(tag) || (tag >= 0x34 && tag <= 0x37) || tag == 'A' || tag == 'B' || tag == 'Q'
}

// hessianReader walks the hessian2 values of one Dubbo body. A codec keeps one and resets
// it per frame, so walking allocates nothing once the class table has grown.
type hessianReader struct {
	buf []byte
	pos int
	// classes holds the field count of each class definition met so far, in order: an
	// object instance names its class by that index.
	classes []int32
}

func (r *hessianReader) reset(buf []byte) {
	r.buf, r.pos = buf, 0
	if cap(r.classes) > keepClassDefs {
		r.classes = nil // do not keep a table a hostile frame blew up
	}
	r.classes = r.classes[:0]
}

func (r *hessianReader) atEnd() bool { return r.pos >= len(r.buf) }

// peek returns the next tag.
func (r *hessianReader) peek() (byte, error) {
	if r.pos >= len(r.buf) {
		return 0, errTruncated
	}
	return r.buf[r.pos], nil
}

func (r *hessianReader) advance(n int) error {
	if n > len(r.buf)-r.pos {
		return errTruncated
	}
	r.pos += n
	return nil
}

// readInt reads a value in one of the int encodings.
func (r *hessianReader) readInt() (int64, error) {
	tag, err := r.peek()
	if err != nil {
		return 0, err
	}
	if !isIntTag(tag) {
		return 0, malformedf("expected a hessian2 int, got tag %#x", tag)
	}
	return r.readNumber()
}

// readNumber reads a value in one of the int or long encodings.
func (r *hessianReader) readNumber() (int64, error) {
	tag, err := r.peek()
	if err != nil {
		return 0, err
	}
	size := int(fixedSize[tag])
	if size == 0 {
		return 0, malformedf("expected a hessian2 number, got tag %#x", tag)
	}
	if size > len(r.buf)-r.pos {
		return 0, errTruncated
	}
	b := r.buf[r.pos : r.pos+size]
	var v int64
	switch {
	case tag >= 0x80 && tag <= 0xbf:
		v = int64(tag) - 0x90
	case tag >= 0xc0 && tag <= 0xcf:
		v = (int64(tag)-0xc8)<<8 | int64(b[1])
	case tag >= 0xd0 && tag <= 0xd7:
		v = (int64(tag)-0xd4)<<16 | int64(b[1])<<8 | int64(b[2])
	case tag >= 0xd8 && tag <= 0xef:
		v = int64(tag) - 0xe0
	case tag >= 0xf0:
		v = (int64(tag)-0xf8)<<8 | int64(b[1])
	case tag >= 0x38 && tag <= 0x3f:
		v = (int64(tag)-0x3c)<<16 | int64(b[1])<<8 | int64(b[2])
	case tag == 'I' || tag == 'Y':
		v = int64(int32(binary.BigEndian.Uint32(b[1:])))
	case tag == 'L':
		v = int64(binary.BigEndian.Uint64(b[1:]))
	default:
		return 0, malformedf("expected a hessian2 number, got tag %#x", tag)
	}
	r.pos += size
	return v, nil
}

// readCount reads an int that counts values still to come: each takes at least one byte, so
// a count beyond the bytes left is malformed (and cannot make the reader loop for long).
func (r *hessianReader) readCount() (int, error) {
	n, err := r.readInt()
	if err != nil {
		return 0, err
	}
	if n < 0 || n > int64(len(r.buf)-r.pos) {
		return 0, malformedf("hessian2 length %d does not fit the %d bytes left", n, len(r.buf)-r.pos)
	}
	return int(n), nil
}

// hstring is a hessian2 string located in the reader's buffer.
type hstring struct {
	// start and end delimit the whole encoding, chunk tags included.
	start, end int
	// text is where the UTF-8 text starts when the string is a single chunk (it runs to
	// end).
	text int
	// chunked: the string is split into chunks (text is unset).
	chunked bool
	// surrogates: the text holds UTF-16 surrogates encoded one by one, as Java writes
	// characters outside the BMP; it needs converting to UTF-8.
	surrogates bool
	null       bool
}

// readString reads a string or null.
func (r *hessianReader) readString() (hstring, error) {
	s := hstring{start: r.pos}
	tag, err := r.peek()
	if err != nil {
		return s, err
	}
	if tag <= 0x1f { // the common case: a short string; if ASCII, bytes are characters
		text, end := r.pos+1, r.pos+1+int(tag)
		if end <= len(r.buf) && isASCIIBytes(r.buf[text:end]) {
			r.pos = end
			return hstring{start: s.start, end: end, text: text}, nil
		}
	}
	if tag == 'N' {
		r.pos++
		s.null, s.end = true, r.pos
		return s, nil
	}
	for {
		data, final, surrogates, err := r.readChunk()
		if err != nil {
			return s, err
		}
		s.surrogates = s.surrogates || surrogates
		if final {
			if !s.chunked {
				s.text = r.pos - len(data)
			}
			s.end = r.pos
			return s, nil
		}
		s.chunked = true
	}
}

func isASCIIBytes(b []byte) bool {
	for len(b) >= 8 { // eight bytes at a time: no byte has its top bit set
		if binary.LittleEndian.Uint64(b)&0x8080808080808080 != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// readChunk reads one string chunk: its tag, length and text.
func (r *hessianReader) readChunk() (data []byte, final, surrogates bool, err error) {
	tag, err := r.peek()
	if err != nil {
		return nil, false, false, err
	}
	var units int
	switch {
	case tag <= 0x1f:
		units = int(tag)
		r.pos++
	case tag >= 0x30 && tag <= 0x33:
		if err := r.advance(2); err != nil {
			return nil, false, false, err
		}
		units = int(tag-0x30)<<8 | int(r.buf[r.pos-1])
	case tag == 'S' || tag == 'R':
		if err := r.advance(3); err != nil {
			return nil, false, false, err
		}
		units = int(binary.BigEndian.Uint16(r.buf[r.pos-2:]))
	default:
		return nil, false, false, malformedf("expected a hessian2 string, got tag %#x", tag)
	}
	start := r.pos
	surrogates, err = r.skipUTF16Units(units)
	return r.buf[start:r.pos], tag != 'R', surrogates, err
}

// skipUTF16Units steps over text holding the given number of UTF-16 code units: hessian2
// counts string lengths in Java chars, not bytes. A 1-, 2- or 3-byte UTF-8 sequence is one
// unit; a 4-byte one (which Go encoders may write) is a surrogate pair, two units.
func (r *hessianReader) skipUTF16Units(units int) (surrogates bool, err error) {
	p, buf := r.pos, r.buf
	if units <= len(buf)-p && isASCIIBytes(buf[p:p+units]) {
		r.pos += units
		return false, nil
	}
	for units > 0 {
		if p >= len(buf) {
			return false, errTruncated
		}
		c := buf[p]
		switch {
		case c < 0x80:
			p++
			units--
		case c&0xe0 == 0xc0:
			p += 2
			units--
		case c&0xf0 == 0xe0:
			if c == 0xed && p+1 < len(buf) && buf[p+1] >= 0xa0 {
				surrogates = true // U+D800-U+DFFF, encoded alone
			}
			p += 3
			units--
		case c&0xf8 == 0xf0:
			p += 4
			units -= 2
		default:
			return false, malformedf("invalid UTF-8 lead byte %#x in a hessian2 string", c)
		}
	}
	if p > len(buf) {
		return false, errTruncated
	}
	if units < 0 {
		return false, malformed("a 4-byte character straddles the end of a hessian2 string")
	}
	r.pos = p
	return surrogates, nil
}

// stringValue returns the text of s: the frame's own bytes when the string is one chunk of
// plain UTF-8 (the common case, no copy), else a converted copy.
func (r *hessianReader) stringValue(s hstring) string {
	switch {
	case s.null:
		return ""
	case !s.chunked && !s.surrogates:
		return protocol.AliasString(r.buf[s.text:s.end])
	}
	text := make([]byte, 0, s.end-s.start)
	sub := hessianReader{buf: r.buf, pos: s.start}
	for {
		data, final, _, err := sub.readChunk()
		if err != nil {
			break // cannot happen: readString has walked these bytes already
		}
		text = append(text, data...)
		if final {
			break
		}
	}
	if s.surrogates {
		text = surrogatesToUTF8(text)
	}
	return string(text)
}

// surrogatesToUTF8 rewrites UTF-16 surrogate pairs encoded as two 3-byte sequences (CESU-8,
// as Java's hessian writes characters outside the BMP) into 4-byte UTF-8. A lone surrogate
// becomes U+FFFD.
func surrogatesToUTF8(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		hi, ok := surrogateAt(b, i)
		if !ok {
			out = append(out, b[i])
			i++
			continue
		}
		lo, okLo := surrogateAt(b, i+3)
		if hi < 0xdc00 && okLo && lo >= 0xdc00 {
			out = utf8.AppendRune(out, 0x10000+(hi-0xd800)<<10+(lo-0xdc00))
			i += 6
			continue
		}
		out = utf8.AppendRune(out, utf8.RuneError)
		i += 3
	}
	return out
}

// surrogateAt decodes a 3-byte sequence at b[i] holding a UTF-16 surrogate.
func surrogateAt(b []byte, i int) (rune, bool) {
	if i+3 > len(b) || b[i] != 0xed || b[i+1] < 0xa0 || b[i+1] > 0xbf || b[i+2]&0xc0 != 0x80 {
		return 0, false
	}
	return 0xd000 | rune(b[i+1]&0x3f)<<6 | rune(b[i+2]&0x3f), true
}

// skip steps over one value.
func (r *hessianReader) skip() error { return r.skipValue(0) }

// skipValue steps over one value nested depth containers deep.
func (r *hessianReader) skipValue(depth int) error {
	if depth > maxDepth {
		return errTooDeep
	}
	for {
		tag, err := r.peek()
		if err != nil {
			return err
		}
		if size := fixedSize[tag]; size != 0 {
			return r.advance(int(size))
		}
		switch {
		case isStringTag(tag):
			_, err := r.readString()
			return err
		case tag >= 0x34 && tag <= 0x37: // binary of 0-1023 bytes
			if err := r.advance(2); err != nil {
				return err
			}
			return r.advance(int(tag-0x34)<<8 | int(r.buf[r.pos-1]))
		case tag == 'A' || tag == 'B':
			return r.skipBinaryChunks()
		case tag == 'C':
			// A class definition precedes the value that uses it; read it and go on.
			r.pos++
			if err := r.readClassDef(); err != nil {
				return err
			}
			continue
		case tag == 'H':
			r.pos++
			return r.skipMapEntries(depth + 1)
		case tag == 'M':
			r.pos++
			if err := r.skipType(); err != nil {
				return err
			}
			return r.skipMapEntries(depth + 1)
		case tag == 'O':
			r.pos++
			class, err := r.readInt()
			if err != nil {
				return err
			}
			return r.skipObject(class, depth+1)
		case tag >= 0x60 && tag <= 0x6f:
			r.pos++
			return r.skipObject(int64(tag-0x60), depth+1)
		case tag == 'Q': // reference to an earlier list, map or object
			r.pos++
			_, err := r.readInt()
			return err
		case tag == 'U': // variable-length typed list
			r.pos++
			if err := r.skipType(); err != nil {
				return err
			}
			return r.skipUntilEnd(depth + 1)
		case tag == 'V': // fixed-length typed list
			r.pos++
			if err := r.skipType(); err != nil {
				return err
			}
			return r.skipCounted(depth + 1)
		case tag == 'W': // variable-length untyped list
			r.pos++
			return r.skipUntilEnd(depth + 1)
		case tag == 'X': // fixed-length untyped list
			r.pos++
			return r.skipCounted(depth + 1)
		case tag >= 0x70 && tag <= 0x77: // typed list of 0-7 values
			r.pos++
			if err := r.skipType(); err != nil {
				return err
			}
			return r.skipN(int(tag-0x70), depth+1)
		case tag >= 0x78 && tag <= 0x7f: // untyped list of 0-7 values
			r.pos++
			return r.skipN(int(tag-0x78), depth+1)
		default: // 0x40, 'E', 'G', 'P' are reserved; 'Z' only ends a list or map
			return malformedf("unexpected hessian2 tag %#x", tag)
		}
	}
}

// skipBinaryChunks steps over binary data sent as 'A' (non-final) and 'B' (final) chunks.
func (r *hessianReader) skipBinaryChunks() error {
	for {
		tag, err := r.peek()
		if err != nil {
			return err
		}
		switch {
		case tag == 'A' || tag == 'B':
			if err := r.advance(3); err != nil {
				return err
			}
			if err := r.advance(int(binary.BigEndian.Uint16(r.buf[r.pos-2:]))); err != nil {
				return err
			}
			if tag == 'B' {
				return nil
			}
		case tag >= 0x20 && tag <= 0x2f, tag >= 0x34 && tag <= 0x37: // short final chunk
			return r.skipValue(0)
		default:
			return malformedf("expected a hessian2 binary chunk, got tag %#x", tag)
		}
	}
}

// skipType steps over the type of a typed list or map: a type name or a reference to an
// earlier one.
func (r *hessianReader) skipType() error {
	tag, err := r.peek()
	if err != nil {
		return err
	}
	switch {
	case isStringTag(tag):
		_, err = r.readString()
	case isIntTag(tag):
		_, err = r.readInt()
	default:
		err = malformedf("expected a hessian2 type, got tag %#x", tag)
	}
	return err
}

// readClassDef reads a class definition after its 'C': the class name, the field count and
// the field names, and remembers the field count.
func (r *hessianReader) readClassDef() error {
	if name, err := r.readString(); err != nil || name.null {
		if err == nil {
			err = malformed("hessian2 class definition without a name")
		}
		return err
	}
	fields, err := r.readCount()
	if err != nil {
		return err
	}
	for i := 0; i < fields; i++ {
		if name, err := r.readString(); err != nil || name.null {
			if err == nil {
				err = malformed("hessian2 class definition with a null field name")
			}
			return err
		}
	}
	if len(r.classes) >= maxClassDefs {
		return errTooManyClasses
	}
	r.classes = append(r.classes, int32(fields))
	return nil
}

func (r *hessianReader) skipObject(class int64, depth int) error {
	if class < 0 || class >= int64(len(r.classes)) {
		return errUndefinedClass
	}
	return r.skipN(int(r.classes[class]), depth)
}

func (r *hessianReader) skipN(n, depth int) error {
	for ; n > 0; n-- {
		if err := r.skipValue(depth); err != nil {
			return err
		}
	}
	return nil
}

func (r *hessianReader) skipCounted(depth int) error {
	n, err := r.readCount()
	if err != nil {
		return err
	}
	return r.skipN(n, depth)
}

// skipUntilEnd steps over values up to and including the 'Z' that ends a list.
func (r *hessianReader) skipUntilEnd(depth int) error {
	for {
		tag, err := r.peek()
		if err != nil {
			return err
		}
		if tag == 'Z' {
			r.pos++
			return nil
		}
		if err := r.skipValue(depth); err != nil {
			return err
		}
	}
}

// skipMapEntries steps over key/value pairs up to and including the 'Z' that ends a map.
func (r *hessianReader) skipMapEntries(depth int) error {
	for {
		tag, err := r.peek()
		if err != nil {
			return err
		}
		if tag == 'Z' {
			r.pos++
			return nil
		}
		if err := r.skipValue(depth); err != nil {
			return err
		}
		if err := r.skipValue(depth); err != nil {
			return err
		}
	}
}

// isUndefinedClass reports whether err comes from an object whose class definition the
// reader has not seen, which happens when it starts in the middle of a body.
func isUndefinedClass(err error) bool { return errors.Is(err, errUndefinedClass) }
