package codectest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/breeze-mesh/breeze/protocol"
)

// toy is a minimal protocol for testing the kit itself:
//
//	'T' | type (1 byte) | request id (uint32) | body length (uint32) | body
//
// where the body is "key=value\n" lines. A toy codec can be built with one deliberate bug, so
// the kit's own tests can check that each check catches what it is meant to catch.
type toy struct {
	opts protocol.Options
	bug  string
}

const toyHeader = 10

// Toy frame types.
const (
	toyRequest byte = iota + 1
	toyResponse
	toyError
	toyOneway
	toyPing
	toyPong
)

// Bugs a toy codec can be built with; each names the check that must catch it.
var toyBugs = map[string]string{
	"consume-partial":    "truncated",
	"alloc-before-limit": "frame_too_large",
	"limit-off-by-one":   "frame_size_limit",
	"copy-on-encode":     "round_trip",
	"drop-mutation":      "mutation",
	"panic-on-garbage":   "garbage",
	"encode-clobbers":    "pipelined",
	"error-reply-id":     "error_reply",
	"rewrite-offset":     "rewrite_request_id",
	"pong-as-response":   "heartbeat_reply",
	"sniff-strict":       "sniff",
	"keeps-prefix-state": "split_reads",
	// The toyReplacer variant (an IDReplacer that always returns a new frame).
	"replace-clobbers-old": "rewrite_request_id",
}

// sink keeps the buggy allocation alive so the compiler cannot drop it.
var sink []byte

func newToy(bug string) func(protocol.Options) protocol.Codec {
	if strings.HasPrefix(bug, "replace-") {
		return func(o protocol.Options) protocol.Codec { return toyReplacer{&toy{opts: o, bug: bug}} }
	}
	return func(o protocol.Options) protocol.Codec { return &toy{opts: o, bug: bug} }
}

// toyReplacer sets ids as an IDReplacer that returns a new frame every time.
type toyReplacer struct{ *toy }

func (c toyReplacer) ReplaceRequestID(frame []byte, id uint64) ([]byte, error) {
	out := bytes.Clone(frame)
	if c.bug == "replace-clobbers-old" {
		out = frame
	}
	if err := c.RewriteRequestID(out, id); err != nil {
		return nil, err
	}
	return bytes.Clone(out), nil
}

func (c *toy) Decode(buf []byte, msg *protocol.Message) (int, error) {
	if len(buf) >= 1 && buf[0] != 'T' {
		return 0, fmt.Errorf("%w: bad magic %#x", protocol.ErrMalformed, buf[0])
	}
	if len(buf) < toyHeader {
		return c.needMore(buf)
	}
	typ := buf[1]
	msg.RequestID = uint64(binary.BigEndian.Uint32(buf[2:]))
	switch typ {
	case toyRequest:
		msg.Type = protocol.Request
	case toyResponse:
		msg.Type = protocol.Response
	case toyError:
		msg.Type, msg.Status = protocol.Error, protocol.StatusError
	case toyOneway:
		msg.Type = protocol.Oneway
	case toyPing, toyPong:
		msg.Type = protocol.Heartbeat
		if typ == toyPong && c.bug == "pong-as-response" {
			msg.Type = protocol.Response
		}
	default:
		return 0, fmt.Errorf("%w: unknown type %d", protocol.ErrMalformed, typ)
	}
	bodyLen := int(binary.BigEndian.Uint32(buf[6:]))
	if c.bug == "alloc-before-limit" {
		sink = make([]byte, min(bodyLen, 8<<20)) // capped: the point is allocating at all
	}
	size := toyHeader + bodyLen
	if c.bug == "limit-off-by-one" {
		size = bodyLen
	}
	if size > c.opts.MaxFrameSize {
		return 0, fmt.Errorf("%w: %d bytes", protocol.ErrFrameTooLarge, size)
	}
	if c.bug == "keeps-prefix-state" && len(buf) < toyHeader+bodyLen {
		c.bug = "stale" // remembers it saw a prefix and then misreads the whole frame
	}
	if c.bug == "stale" {
		msg.RequestID++
	}
	if len(buf) < toyHeader+bodyLen {
		return c.needMore(buf)
	}
	frameLen := toyHeader + bodyLen
	msg.Frame = buf[:frameLen:frameLen]
	if c.bug == "encode-clobbers" {
		msg.Frame = buf[:frameLen]
	}
	msg.HeaderSize, msg.BodySize = toyHeader, bodyLen
	for body := buf[toyHeader:frameLen]; len(body) > 0; {
		nl := bytes.IndexByte(body, '\n')
		eq := bytes.IndexByte(body, '=')
		if c.bug == "panic-on-garbage" {
			_ = body[eq] // panics on a line without '='
		}
		if nl < 0 || eq < 0 || eq > nl {
			return 0, fmt.Errorf("%w: body line without '=' or newline", protocol.ErrMalformed)
		}
		key := protocol.AliasString(body[:eq])
		for _, kv := range msg.Metadata.All() {
			if kv.Key == key {
				return 0, fmt.Errorf("%w: key %q repeated", protocol.ErrMalformed, key)
			}
		}
		msg.Metadata.Add(key, protocol.AliasString(body[eq+1:nl]))
		body = body[nl+1:]
	}
	return frameLen, nil
}

func (c *toy) needMore(buf []byte) (int, error) {
	if c.bug == "consume-partial" {
		return len(buf), protocol.ErrNeedMore
	}
	return 0, protocol.ErrNeedMore
}

func (c *toy) Encode(msg *protocol.Message, mut protocol.Mutation) ([]byte, error) {
	if len(mut) == 0 {
		if c.bug == "copy-on-encode" {
			return append([]byte(nil), msg.Frame...), nil
		}
		return msg.Frame, nil
	}
	if c.bug == "drop-mutation" {
		return append([]byte(nil), msg.Frame...), nil
	}
	override := effectiveMutation(mut)
	var out []byte
	if c.bug == "encode-clobbers" {
		out = msg.Frame[:toyHeader] // appends into the caller's read buffer
	} else {
		out = append(make([]byte, 0, len(msg.Frame)+64), msg.Frame[:toyHeader]...)
	}
	for _, kv := range msg.Metadata.All() {
		if _, replaced := override[kv.Key]; !replaced {
			out = append(out, kv.Key+"="+kv.Value+"\n"...)
		}
	}
	for _, k := range sortedKeys(override) {
		out = append(out, k+"="+override[k]+"\n"...)
	}
	binary.BigEndian.PutUint32(out[6:], uint32(len(out)-toyHeader))
	return out, nil
}

func (c *toy) ErrorReply(req *protocol.Message, e *protocol.LocalError) ([]byte, error) {
	id := uint32(req.RequestID)
	if c.bug == "error-reply-id" {
		id++
	}
	body := "error=" + strings.ReplaceAll(e.Error(), "\n", " ") + "\n"
	return toyFrame(toyError, id, body), nil
}

func (c *toy) RewriteRequestID(frame []byte, id uint64) error {
	if len(frame) < toyHeader || frame[0] != 'T' {
		return errors.New("toy: not a toy frame")
	}
	off := 2
	if c.bug == "rewrite-offset" {
		off = 3
	}
	binary.BigEndian.PutUint32(frame[off:], uint32(id))
	return nil
}

func (c *toy) HeartbeatReply(req *protocol.Message) ([]byte, error) {
	return toyFrame(toyPong, uint32(req.RequestID), ""), nil
}

func (c *toy) Sniff(prefix []byte) protocol.SniffResult {
	switch {
	case len(prefix) == 0:
		return protocol.SniffNeedMore
	case prefix[0] != 'T':
		return protocol.SniffNo
	case c.bug == "sniff-strict" && len(prefix) < toyHeader:
		return protocol.SniffNo
	}
	return protocol.SniffYes
}

func toyFrame(typ byte, id uint32, body string) []byte {
	f := []byte{'T', typ}
	f = binary.BigEndian.AppendUint32(f, id)
	f = binary.BigEndian.AppendUint32(f, uint32(len(body)))
	return append(f, body...)
}

func toyOversized(size int) []byte {
	return binary.BigEndian.AppendUint32([]byte{'T', toyRequest, 0, 0, 0, 1}, uint32(size-toyHeader))
}

func init() {
	protocol.Register(protocol.Registration{Name: "codectest-toy", New: newToy("")})
}

// toySuite is the suite of the toy codec, built with bug (or none).
func toySuite(bug string) Suite {
	s := Suite{
		Requests: []Sample{
			{Name: "request", Frame: toyFrame(toyRequest, 7, "method=hello\nuser=ann\n"), Type: protocol.Request, RequestID: 7,
				Metadata: map[string]string{"method": "hello", "user": "ann"}},
			{Name: "empty_request", Frame: toyFrame(toyRequest, 0x10000, ""), Type: protocol.Request, RequestID: 0x10000,
				Metadata: map[string]string{}},
			{Name: "oneway", Frame: toyFrame(toyOneway, 8, "method=fire\n"), Type: protocol.Oneway, RequestID: 8,
				Metadata: map[string]string{"method": "fire"}},
			{Name: "ping", Frame: toyFrame(toyPing, 9, ""), Type: protocol.Heartbeat, RequestID: 9},
		},
		Responses: []Sample{
			{Name: "response", Frame: toyFrame(toyResponse, 7, "result=ok\n"), Type: protocol.Response, RequestID: 7,
				MetadataSubset: true},
			{Name: "error", Frame: toyFrame(toyError, 8, "error=boom\n"), Type: protocol.Error, RequestID: 8,
				Status: protocol.StatusError, Metadata: map[string]string{"error": "boom"}},
		},
		OversizedHeader: toyOversized,
		Mutation:        protocol.Mutation{{Key: "user", Value: "bob"}, {Key: "x-route", Value: "canary"}},
	}
	if bug == "" {
		s.Codec = "codectest-toy"
	} else {
		s.New = newToy(bug)
	}
	return s
}
