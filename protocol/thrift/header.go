package thrift

import (
	"encoding/binary"
	"math"
)

// Info section ids. THeader (varint ids): 1 holds string key/values; Apache's reader stops
// at any other id, and 0 is padding. TTHeader (byte ids): 1 string key/values, 0x10
// integer-keyed values, 0x11 an ACL token; 0 is padding, skipped wherever it appears.
const (
	infoPadding     = 0x00
	infoKeyValue    = 0x01
	infoIntKeyValue = 0x10
	infoACLToken    = 0x11
)

// intKeyNames names the integer keys of TTHeader info (kitex's transmeta keys), in
// snake_case; they become metadata under these names. Index = key.
var intKeyNames = [...]string{
	"mesh_version", "transport_type", "log_id", "from_service", "from_cluster", "from_idc",
	"to_service", "to_cluster", "to_idc", "to_method", "env", "dest_address", "rpc_timeout",
	"read_timeout", "ring_hash_key", "ddp_tag", "with_mesh_header", "connect_timeout",
	"span_context", "short_connection", "from_method", "stress_tag", "msg_type",
	"http_content_type", "raw_ring_hash_key", "lb_type", "cluster_shard_id", "frame_type",
}

// intKeyOf returns the TTHeader integer key a metadata key names, if any.
func intKeyOf(name string) (uint16, bool) {
	for i, n := range intKeyNames {
		if n == name {
			return uint16(i), true
		}
	}
	return 0, false
}

// infoReader walks the key/value sections of a THeader or TTHeader info block.
type infoReader struct {
	info []byte // the info block, from the frame's start (offsets are frame offsets)
	pos  int
	tt   bool // TTHeader layout
	// left is how many pairs the current section has left, intKeys whether it is
	// TTHeader's integer-keyed one.
	left    int
	intKeys bool
	// tail is where a THeader section of another type starts (Apache stops reading
	// there; Encode keeps it as it is); acl the bounds of a TTHeader ACL token section.
	tail             int
	aclStart, aclEnd int
}

func newInfoReader(frame []byte, env envelope) infoReader {
	return infoReader{info: frame[:env.infoEnd], pos: env.infoKV, tt: env.transport == ttheader, tail: -1}
}

// next returns the next key/value pair; intKey is set (and key nil) for a TTHeader integer
// key. ok is false at the end of the info.
func (r *infoReader) next() (key, value []byte, intKey int, ok bool, err error) {
	for r.left == 0 {
		if ok, err := r.section(); !ok || err != nil {
			return nil, nil, 0, false, err
		}
	}
	r.left--
	intKey = -1
	if r.intKeys {
		k, err := be16(r.info, r.pos)
		if err != nil {
			return nil, nil, 0, false, malformedf("TTHeader integer key runs past the header")
		}
		intKey, r.pos = int(k), r.pos+2
	} else if key, err = r.str(); err != nil {
		return nil, nil, 0, false, err
	}
	if value, err = r.str(); err != nil {
		return nil, nil, 0, false, err
	}
	return key, value, intKey, true, nil
}

// section reads the next section header, skipping padding and ACL tokens. It returns false
// at the end of the key/value sections.
func (r *infoReader) section() (bool, error) {
	for r.pos < len(r.info) {
		start := r.pos
		var id uint64
		var count int
		if r.tt {
			id = uint64(r.info[r.pos])
			r.pos++
		} else {
			v, next, err := uvarint(r.info, r.pos, varint32Max)
			if err != nil {
				return false, malformedf("THeader info section id runs past the header")
			}
			id, r.pos = v, next
		}
		switch {
		case id == infoPadding && r.tt:
			continue
		case id == infoKeyValue || (r.tt && id == infoIntKeyValue):
			if r.tt {
				n, err := be16(r.info, r.pos)
				if err != nil {
					return false, malformedf("TTHeader info count runs past the header")
				}
				count, r.pos = int(n), r.pos+2
			} else {
				n, next, err := uvarint(r.info, r.pos, varint32Max)
				if err != nil {
					return false, malformedf("THeader info count runs past the header")
				}
				if n > uint64(len(r.info)) { // every pair takes at least two bytes
					return false, malformedf("THeader info claims %d headers in %d bytes", n, len(r.info))
				}
				count, r.pos = int(n), next
			}
			r.left, r.intKeys = count, id == infoIntKeyValue
			if count > 0 {
				return true, nil
			}
		case r.tt && id == infoACLToken:
			r.aclStart = start
			if _, err := r.str(); err != nil {
				return false, err
			}
			r.aclEnd = r.pos
		case r.tt:
			return false, malformedf("TTHeader info section id %#x", id)
		default:
			// Padding or a section Apache's reader does not know: it stops here.
			if id != infoPadding {
				r.tail = start
			}
			r.pos = len(r.info)
			return false, nil
		}
	}
	return false, nil
}

// str reads a length-prefixed string: a varint length in THeader, 16 bits in TTHeader.
func (r *infoReader) str() ([]byte, error) {
	var n, p int
	if r.tt {
		v, err := be16(r.info, r.pos)
		if err != nil {
			return nil, malformedf("TTHeader string length runs past the header")
		}
		n, p = int(v), r.pos+2
	} else {
		v, next, err := uvarint(r.info, r.pos, varint32Max)
		if err != nil || v > math.MaxInt32 {
			return nil, malformedf("THeader string length runs past the header")
		}
		n, p = int(v), next
	}
	if p+n > len(r.info) {
		return nil, malformedf("a %d-byte header string runs past the header", n)
	}
	r.pos = p + n
	return r.info[p:r.pos], nil
}

// infoWriter builds a header info block.
type infoWriter struct {
	b  []byte
	tt bool
}

// section opens a key/value section of count pairs.
func (w *infoWriter) section(id byte, count int) {
	if w.tt {
		w.b = append(w.b, id)
		w.b = binary.BigEndian.AppendUint16(w.b, uint16(count))
		return
	}
	w.b = appendUvarint(w.b, uint64(id))
	w.b = appendUvarint(w.b, uint64(count))
}

func (w *infoWriter) str(s string) {
	if w.tt {
		w.b = binary.BigEndian.AppendUint16(w.b, uint16(len(s)))
	} else {
		w.b = appendUvarint(w.b, uint64(len(s)))
	}
	w.b = append(w.b, s...)
}

// maxTTHeaderString is the longest string a TTHeader can carry (16-bit lengths).
const maxTTHeaderString = math.MaxUint16

// maxHeaderBytes is the largest header info (a 16-bit count of 4-byte words).
const maxHeaderBytes = 4 * math.MaxUint16
