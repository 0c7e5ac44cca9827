// Package kvrpc is the codec of kvrpc, the small in-house protocol that
// docs/codec-tutorial.md brings into the mesh step by step. It is registered as "kvrpc".
//
// A kvrpc frame is a 14-byte header, then key/value headers, then an opaque body:
//
//	magic "KV" | version 1 | kind | request id (4) | headers length (2) | body length (4)
//	headers: repeated key length (1) | key | value length (2) | value
//
// All integers are big-endian. Kind 1 is a request, 2 a oneway request, 3 a response and 4
// an error response, whose body is the error text. Applications route on the "cmd" header.
package kvrpc

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/breeze-mesh/breeze/protocol"
)

// Name is the codec's registered name, as in a listener's `codec: {name: kvrpc}`.
const Name = "kvrpc"

func init() {
	protocol.Register(protocol.Registration{
		Name: Name,
		New:  func(o protocol.Options) protocol.Codec { return New(o) },
	})
}

// The header's size, the protocol version, and the frame kinds.
const (
	headerSize, version                              = 14, 1
	kindRequest, kindOneway, kindResponse, kindError = 1, 2, 3, 4
)

// Codec decodes and encodes kvrpc frames. It keeps no state between frames.
type Codec struct{ maxFrameSize int }

// New returns a codec configured by o.
func New(o protocol.Options) *Codec {
	return &Codec{maxFrameSize: cmp.Or(o.MaxFrameSize, protocol.DefaultMaxFrameSize)}
}

// Decode reads one frame: its kind, its request id, and its headers as metadata. The
// header is checked before anything else, and the frame's size against the limit before
// waiting for the rest of it.
func (c *Codec) Decode(buf []byte, msg *protocol.Message) (int, error) {
	switch {
	case c.Sniff(buf) == protocol.SniffNo:
		return 0, fmt.Errorf("%w: kvrpc: bad magic", protocol.ErrMalformed)
	case len(buf) < headerSize:
		return 0, protocol.ErrNeedMore
	case buf[2] != version:
		return 0, fmt.Errorf("%w: kvrpc: version %d", protocol.ErrMalformed, buf[2])
	}
	headersLen := int(binary.BigEndian.Uint16(buf[8:]))
	size := uint64(headerSize) + uint64(headersLen) + uint64(binary.BigEndian.Uint32(buf[10:]))
	if size > uint64(c.maxFrameSize) {
		return 0, fmt.Errorf("%w: kvrpc: %d-byte frame", protocol.ErrFrameTooLarge, size)
	}
	switch msg.RequestID = uint64(binary.BigEndian.Uint32(buf[4:])); buf[3] {
	case kindRequest:
		msg.Type = protocol.Request
	case kindOneway:
		msg.Type = protocol.Oneway
	case kindResponse:
		msg.Type = protocol.Response
	case kindError:
		msg.Type, msg.Status = protocol.Error, protocol.StatusError
	default:
		return 0, fmt.Errorf("%w: kvrpc: kind %d", protocol.ErrMalformed, buf[3])
	}
	if uint64(len(buf)) < size {
		return 0, protocol.ErrNeedMore
	}
	frame := buf[:size:size]
	err := eachHeader(frame[headerSize:headerSize+headersLen], func(key, value []byte) error {
		k := protocol.AliasString(key) // the proxy never overwrites a decoded frame
		if slices.ContainsFunc(msg.Metadata.All(), sameKey(k)) {
			return fmt.Errorf("header %q repeated", k) // a server may keep the last value, Get the first
		}
		msg.Metadata.Add(k, protocol.AliasString(value))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("%w: kvrpc: %w", protocol.ErrMalformed, err)
	}
	msg.Frame = frame
	msg.HeaderSize, msg.BodySize = headerSize+headersLen, int(size)-headerSize-headersLen
	return int(size), nil
}

var errTruncated = errors.New("header entry runs past the headers")

// eachHeader calls fn with every key/value of an encoded header block.
func eachHeader(b []byte, fn func(key, value []byte) error) error {
	for len(b) > 0 {
		keyEnd := 1 + int(b[0])
		if len(b) < keyEnd+2 {
			return errTruncated
		}
		valueEnd := keyEnd + 2 + int(binary.BigEndian.Uint16(b[keyEnd:]))
		if len(b) < valueEnd {
			return errTruncated
		}
		if err := fn(b[1:keyEnd], b[keyEnd+2:valueEnd]); err != nil {
			return err
		}
		b = b[valueEnd:]
	}
	return nil
}

// Encode returns the frame with the mutation's headers set: a header the mutation names is
// replaced, the others are kept, and the body is copied as it is. An empty mutation sends
// the original bytes.
func (c *Codec) Encode(msg *protocol.Message, mut protocol.Mutation) ([]byte, error) {
	if len(mut) == 0 {
		return msg.Frame, nil
	}
	if len(msg.Frame) < headerSize {
		return nil, errors.New("kvrpc: not a frame")
	}
	headersEnd := min(headerSize+int(binary.BigEndian.Uint16(msg.Frame[8:])), len(msg.Frame))
	out := append(make([]byte, 0, len(msg.Frame)+64*len(mut)), msg.Frame[:headerSize]...)
	err := eachHeader(msg.Frame[headerSize:headersEnd], func(key, value []byte) error {
		if !mutates(mut, string(key)) {
			out = appendHeader(out, string(key), string(value))
		}
		return nil
	})
	for i, kv := range mut {
		if len(kv.Key) > math.MaxUint8 || len(kv.Value) > math.MaxUint16 {
			return nil, fmt.Errorf("kvrpc: header %q too long", kv.Key)
		}
		if !mutates(mut[i+1:], kv.Key) { // a later entry for the same key wins
			out = appendHeader(out, kv.Key, kv.Value)
		}
	}
	if err != nil || len(out)-headerSize > math.MaxUint16 {
		return nil, errors.Join(errors.New("kvrpc: cannot mutate the headers"), err)
	}
	binary.BigEndian.PutUint16(out[8:], uint16(len(out)-headerSize))
	return append(out, msg.Frame[headersEnd:]...), nil
}

func mutates(mut protocol.Mutation, key string) bool { return slices.ContainsFunc(mut, sameKey(key)) }

func sameKey(key string) func(protocol.KeyValue) bool {
	return func(kv protocol.KeyValue) bool { return kv.Key == key }
}

func appendHeader(b []byte, key, value string) []byte {
	b = append(append(b, byte(len(key))), key...)
	return append(binary.BigEndian.AppendUint16(b, uint16(len(value))), value...)
}

// ErrorReply answers req with an error response: the header "error" names the kind of
// failure, the body says what happened.
func (c *Codec) ErrorReply(req *protocol.Message, e *protocol.LocalError) ([]byte, error) {
	kind, text := protocol.Internal.String(), "breeze: internal error"
	if e != nil {
		kind, text = e.Kind.String(), "breeze: "+e.Message
		if e.Message == "" {
			text = "breeze: " + kind
		}
	}
	out := []byte{'K', 'V', version, kindError}
	out = binary.BigEndian.AppendUint32(out, uint32(req.RequestID))
	headers := appendHeader(nil, "error", kind)
	out = binary.BigEndian.AppendUint16(out, uint16(len(headers)))
	out = binary.BigEndian.AppendUint32(out, uint32(len(text)))
	return append(append(out, headers...), text...), nil
}

// RewriteRequestID sets the 4-byte request id in place, which lets the proxy share one
// upstream connection between many clients.
func (c *Codec) RewriteRequestID(frame []byte, id uint64) error {
	if len(frame) < headerSize || c.Sniff(frame) != protocol.SniffYes || id > math.MaxUint32 {
		return errors.New("kvrpc: not a frame, or an id wider than 32 bits")
	}
	binary.BigEndian.PutUint32(frame[4:], uint32(id))
	return nil
}

// Sniff says whether a connection's first bytes are kvrpc: frames start with "KV".
func (c *Codec) Sniff(prefix []byte) protocol.SniffResult {
	switch {
	case len(prefix) >= 1 && prefix[0] != 'K', len(prefix) >= 2 && prefix[1] != 'V':
		return protocol.SniffNo
	case len(prefix) < 2:
		return protocol.SniffNeedMore
	}
	return protocol.SniffYes
}
