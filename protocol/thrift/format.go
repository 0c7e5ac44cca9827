package thrift

import (
	"encoding/binary"
	"errors"
)

// transport is how a connection delimits messages.
type transport uint8

const (
	// unframed messages follow each other with nothing around them (Apache's
	// TBufferedTransport, kitex's PurePayload): only parsing a message finds its end.
	unframed transport = iota
	// framed messages have a 4-byte big-endian length prefix (TFramedTransport).
	framed
	// header is Apache's THeader: a length prefix, then magic 0x0fff, flags, a sequence id
	// and a header of varints (protocol id, transforms, info key/values) before the message.
	header
	// ttheader is kitex's TTHeader: THeader's layout with magic 0x1000 and fixed-width
	// integers in the header, which also carries integer-keyed info.
	ttheader
)

var transportNames = [...]string{unframed: "unframed", framed: "framed", header: "header", ttheader: "ttheader"}

func (t transport) String() string { return transportNames[t] }

// proto is how a message is serialized.
type proto uint8

const (
	binaryProto proto = iota
	compactProto
)

var protoNames = [...]string{binaryProto: "binary", compactProto: "compact"}

func (p proto) String() string { return protoNames[p] }

// format is how one frame is written: transport and protocol, and for TTHeader whether the
// payload carries its own length prefix (kitex's TTHeaderFramed).
type format struct {
	transport   transport
	proto       proto
	innerFramed bool
}

func (f format) String() string {
	s := f.transport.String() + "/" + f.proto.String()
	if f.innerFramed {
		s += "+framed"
	}
	return s
}

// pack and unpackFormat store a format in an integer (for an atomic).
func (f format) pack() uint32 {
	p := uint32(f.transport) | uint32(f.proto)<<8
	if f.innerFramed {
		p |= 1 << 16
	}
	return p
}

func unpackFormat(p uint32) format {
	return format{transport: transport(p & 0xff), proto: proto(p >> 8 & 0xff), innerFramed: p>>16&1 == 1}
}

// defaultFormat is assumed for an error reply when nothing was decoded yet: the most common
// deployment.
var defaultFormat = format{transport: framed, proto: binaryProto}

// Magic numbers of the header transports (bytes 4-5 of the frame).
const (
	headerMagic   = 0x0fff
	ttheaderMagic = 0x1000
)

// Offsets in the header transports: length (4), magic (2), flags (2), sequence id (4),
// header length in 4-byte words (2), then the header info.
const (
	lengthSize     = 4
	flagsOffset    = 6
	headerSeqID    = 8
	headerWords    = 12
	headerInfoBase = 14
)

// detect says how buf's first frame is written, from its first (at most 6) bytes. The
// innerFramed bit of a TTHeader frame is found later, by parseEnvelope.
func detect(buf []byte) (format, error) {
	if len(buf) == 0 {
		return format{}, errShort
	}
	switch buf[0] {
	case binaryVersionHigh:
		if len(buf) < 2 {
			return format{}, errShort
		}
		if buf[1] != binaryVersionLow {
			return format{}, malformedf("binary protocol version %#x%02x, want 0x8001", buf[0], buf[1])
		}
		return format{transport: unframed, proto: binaryProto}, nil
	case compactID:
		if len(buf) < 2 {
			return format{}, errShort
		}
		if buf[1]&compactVersionBit != compactVersion {
			return format{}, malformedf("compact protocol version %d, want %d", buf[1]&compactVersionBit, compactVersion)
		}
		return format{transport: unframed, proto: compactProto}, nil
	}
	if buf[0]&0x80 != 0 {
		return format{}, malformedf("first byte %#x is no Thrift message and no frame length", buf[0])
	}
	if len(buf) < 6 {
		return format{}, errShort
	}
	switch {
	case buf[4] == binaryVersionHigh && buf[5] == binaryVersionLow:
		return format{transport: framed, proto: binaryProto}, nil
	case buf[4] == compactID && buf[5]&compactVersionBit == compactVersion:
		return format{transport: framed, proto: compactProto}, nil
	case binary.BigEndian.Uint16(buf[4:]) == headerMagic:
		return format{transport: header}, nil
	case binary.BigEndian.Uint16(buf[4:]) == ttheaderMagic:
		return format{transport: ttheader}, nil
	}
	return format{}, malformedf("frame of %d bytes holds %#x, which starts no Thrift message, THeader or TTHeader",
		binary.BigEndian.Uint32(buf), buf[4:6])
}

// envelope is what surrounds the Thrift message in a framed frame.
type envelope struct {
	format
	// size is the whole frame, length prefix included.
	size int
	// info is the header info of THeader and TTHeader, [headerInfoBase, msg); infoKV is
	// where its key/value sections start, after the protocol id and transforms.
	infoKV, infoEnd int
	// msg is where the Thrift message starts.
	msg int
}

// Header protocol ids (the same in THeader and TTHeader).
const (
	headerProtoBinary  = 0
	headerProtoCompact = 2
)

// parseEnvelope reads the transport header of a framed frame of size bytes (from its length
// prefix) whose first bytes are buf. It returns errShort when buf is too short to tell.
func parseEnvelope(buf []byte, f format, size int) (envelope, error) {
	env := envelope{format: f, size: size, msg: lengthSize}
	if f.transport == framed {
		return env, nil
	}
	words, err := be16(buf, headerWords)
	if err != nil {
		return env, err
	}
	env.infoEnd = headerInfoBase + 4*int(words)
	if words == 0 {
		return env, malformedf("%s with an empty header", f.transport)
	}
	if env.infoEnd > size {
		return env, malformedf("%s header of %d bytes does not fit a %d-byte frame", f.transport, 4*int(words), size)
	}
	if len(buf) < env.infoEnd {
		return env, errShort
	}
	info := buf[:env.infoEnd]
	var id, transforms uint64
	p := headerInfoBase
	if f.transport == header {
		if id, p, err = uvarint(info, p, varint32Max); err == nil {
			transforms, p, err = uvarint(info, p, varint32Max)
		}
		if errors.Is(err, errShort) {
			err = malformedf("THeader info ends inside its protocol id or transforms")
		}
		if err != nil {
			return env, err
		}
	} else {
		// words > 0, so both bytes are there.
		id, transforms, p = uint64(info[p]), uint64(info[p+1]), p+2
	}
	switch id {
	case headerProtoBinary:
		env.proto = binaryProto
	case headerProtoCompact:
		env.proto = compactProto
	default:
		return env, malformedf("%s protocol id %d is not supported (binary 0, compact 2)", f.transport, id)
	}
	if transforms != 0 {
		// zlib and friends would hide the message: the method cannot be read.
		return env, malformedf("%s transforms (%d) are not supported", f.transport, transforms)
	}
	env.infoKV = p
	env.msg = env.infoEnd
	if f.transport == ttheader {
		// kitex's TTHeaderFramed puts a framed message in the payload.
		first := byte(binaryVersionHigh)
		if env.proto == compactProto {
			first = compactID
		}
		if len(buf) <= env.msg {
			if env.msg >= size {
				return env, malformedf("TTHeader frame without a payload")
			}
			return env, errShort
		}
		if buf[env.msg] != first {
			inner, err := be32(buf, env.msg)
			if err != nil {
				return env, err
			}
			if int64(inner) != int64(size-env.msg-lengthSize) {
				return env, malformedf("TTHeader payload starts with %#x: neither a %v message nor a frame of the payload's length", buf[env.msg], env.proto)
			}
			env.innerFramed = true
			env.msg += lengthSize
		}
	}
	return env, nil
}
