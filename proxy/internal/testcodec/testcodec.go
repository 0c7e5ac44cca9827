// Package testcodec is a deliberately small protocol for the proxy's own tests: it lets
// them produce any frame, including the faults real peers cannot be made to send.
//
// Frame: 4-byte big-endian length of what follows, 1 byte type, 8-byte request id, then
// text lines "key=value\n" (metadata) and the rest after an empty line (payload).
// A response's "code" metadata is its Message.Code.
// Type bytes: 'Q' request, 'O' oneway, 'R' response, 'E' error, 'H' heartbeat request,
// 'h' heartbeat reply.
package testcodec

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/breeze-mesh/breeze/protocol"
)

// Name is the registered name of the multiplexing variant; PingPongName registers a
// variant without request-id rewriting.
const (
	Name         = "testproto"
	PingPongName = "testproto-pingpong"
)

func init() {
	protocol.Register(protocol.Registration{Name: Name, New: func(o protocol.Options) protocol.Codec { return &Codec{max: o.MaxFrameSize} }})
	protocol.Register(protocol.Registration{Name: PingPongName, New: func(o protocol.Options) protocol.Codec { return pingPong{&Codec{max: o.MaxFrameSize}} }})
}

// Codec implements protocol.Codec, IDRewriter, HeartbeatResponder, HeartbeatRequester and
// RetryAdvisor.
type Codec struct{ max int }

const headerLen = 4 + 1 + 8

// Frame builds a frame.
func Frame(typ byte, id uint64, md map[string]string, payload string) []byte {
	var body bytes.Buffer
	body.WriteByte(typ)
	var idb [8]byte
	binary.BigEndian.PutUint64(idb[:], id)
	body.Write(idb[:])
	for k, v := range md {
		fmt.Fprintf(&body, "%s=%s\n", k, v)
	}
	body.WriteString("\n")
	body.WriteString(payload)
	out := binary.BigEndian.AppendUint32(nil, uint32(body.Len()))
	return append(out, body.Bytes()...)
}

// Decode implements protocol.Codec.
func (c *Codec) Decode(buf []byte, msg *protocol.Message) (int, error) {
	if len(buf) < 4 {
		return 0, protocol.ErrNeedMore
	}
	n := int(binary.BigEndian.Uint32(buf))
	if n > c.max {
		return 0, fmt.Errorf("%w: %d bytes", protocol.ErrFrameTooLarge, n)
	}
	if n < 9 {
		return 0, fmt.Errorf("%w: length %d below header", protocol.ErrMalformed, n)
	}
	if len(buf) < 5 {
		return 0, protocol.ErrNeedMore
	}
	switch buf[4] {
	case 'Q':
		msg.Type = protocol.Request
	case 'O':
		msg.Type = protocol.Oneway
	case 'R':
		msg.Type = protocol.Response
	case 'E':
		msg.Type, msg.Status = protocol.Error, protocol.StatusError
	case 'H', 'h':
		msg.Type = protocol.Heartbeat
	default:
		return 0, fmt.Errorf("%w: type byte %q", protocol.ErrMalformed, buf[4])
	}
	if len(buf) < headerLen {
		return 0, protocol.ErrNeedMore
	}
	msg.RequestID = binary.BigEndian.Uint64(buf[5:])
	if len(buf) < 4+n {
		return 0, protocol.ErrNeedMore
	}
	frame := buf[:4+n]
	rest := frame[headerLen:]
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			return 0, fmt.Errorf("%w: metadata not terminated", protocol.ErrMalformed)
		}
		line := rest[:i]
		rest = rest[i+1:]
		if len(line) == 0 {
			break
		}
		k, v, ok := bytes.Cut(line, []byte("="))
		if !ok {
			return 0, fmt.Errorf("%w: metadata line without '='", protocol.ErrMalformed)
		}
		msg.Metadata.Add(protocol.AliasString(k), protocol.AliasString(v))
	}
	if v, ok := msg.Metadata.Get("code"); ok && msg.Type.IsResponse() {
		code, _ := strconv.ParseInt(v, 10, 32)
		msg.Code = int32(code)
	}
	msg.Frame = frame
	msg.HeaderSize = headerLen
	msg.BodySize = len(frame) - headerLen
	msg.CodecState = rest // payload
	return len(frame), nil
}

// Payload returns a decoded message's payload.
func Payload(msg *protocol.Message) string {
	b, _ := msg.CodecState.([]byte)
	return string(b)
}

// Encode implements protocol.Codec.
func (c *Codec) Encode(msg *protocol.Message, mut protocol.Mutation) ([]byte, error) {
	if len(mut) == 0 {
		return msg.Frame, nil
	}
	md := map[string]string{}
	for _, kv := range msg.Metadata.All() {
		md[kv.Key] = kv.Value
	}
	for _, kv := range mut {
		md[kv.Key] = kv.Value
	}
	f := Frame(msg.Frame[4], msg.RequestID, md, Payload(msg))
	return f, nil
}

// ErrorReply implements protocol.Codec.
func (c *Codec) ErrorReply(req *protocol.Message, e *protocol.LocalError) ([]byte, error) {
	return Frame('E', req.RequestID, map[string]string{"error-kind": e.Kind.String()}, e.Message), nil
}

// Retriable implements protocol.RetryAdvisor: an error response whose "error-kind" is
// over_limit (the proxy's own refusal, or a server's that sends the same) was refused
// without running.
func (c *Codec) Retriable(resp *protocol.Message) bool {
	return resp.Type == protocol.Error && resp.Metadata.Value("error-kind") == protocol.OverLimit.String()
}

// RewriteRequestID implements protocol.IDRewriter.
func (c *Codec) RewriteRequestID(frame []byte, id uint64) error {
	if len(frame) < headerLen {
		return fmt.Errorf("short frame")
	}
	binary.BigEndian.PutUint64(frame[5:], id)
	return nil
}

// HeartbeatReply implements protocol.HeartbeatResponder.
func (c *Codec) HeartbeatReply(req *protocol.Message) ([]byte, error) {
	if req.Frame[4] != 'H' {
		return nil, nil
	}
	return Frame('h', req.RequestID, nil, ""), nil
}

// HeartbeatRequest implements protocol.HeartbeatRequester.
func (c *Codec) HeartbeatRequest(id uint64) []byte { return Frame('H', id, nil, "") }

// pingPong hides the IDRewriter so the proxy uses ping-pong pooling.
type pingPong struct{ c *Codec }

func (p pingPong) Decode(b []byte, m *protocol.Message) (int, error) { return p.c.Decode(b, m) }
func (p pingPong) Encode(m *protocol.Message, mut protocol.Mutation) ([]byte, error) {
	return p.c.Encode(m, mut)
}
func (p pingPong) ErrorReply(r *protocol.Message, e *protocol.LocalError) ([]byte, error) {
	return p.c.ErrorReply(r, e)
}
