package dubbo

import (
	"encoding/binary"
	"errors"

	"github.com/breeze-mesh/breeze/protocol"
)

// Name is the codec's registered name; Aeraki's "aeraki.meta_protocol.codec.dubbo" finds it
// too.
const Name = "dubbo"

func init() {
	protocol.Register(protocol.Registration{
		Name: Name,
		New:  func(o protocol.Options) protocol.Codec { return New(o) },
	})
}

// Codec decodes and encodes Dubbo frames for one connection direction. Dubbo frames say
// themselves whether they are requests or responses, so both sides decode both.
type Codec struct {
	maxFrameSize int
	// reader is scratch space reused for every frame.
	reader hessianReader
}

// New returns a codec configured by o.
func New(o protocol.Options) *Codec {
	c := &Codec{maxFrameSize: o.MaxFrameSize}
	if c.maxFrameSize <= 0 {
		c.maxFrameSize = protocol.DefaultMaxFrameSize
	}
	return c
}

// ErrorReply implements protocol.Codec: a response carrying req's id, a status chosen by the
// error kind (see statusFor), and the message as a hessian2 string body, which Dubbo
// clients raise as an exception.
func (c *Codec) ErrorReply(req *protocol.Message, e *protocol.LocalError) ([]byte, error) {
	text := "breeze: internal error"
	status := byte(statusServerError)
	if e != nil {
		text = "breeze: " + e.Message
		if e.Message == "" {
			text = "breeze: " + e.Kind.String()
		}
		status = statusFor(e.Kind)
	}
	out := make([]byte, 0, headerSize+stringSizeBound(text))
	out = appendHeader(out, serializationHessian2, status, req.RequestID)
	out = appendString(out, text)
	putBodyLen(out)
	return out, nil
}

// RewriteRequestID implements protocol.IDRewriter: the id is bytes 4-11 of the header.
func (c *Codec) RewriteRequestID(frame []byte, id uint64) error {
	if len(frame) < headerSize || frame[0] != magicHigh || frame[1] != magicLow {
		return errors.New("dubbo: RewriteRequestID needs a whole Dubbo header")
	}
	binary.BigEndian.PutUint64(frame[4:12], id)
	return nil
}

// HeartbeatReply implements protocol.HeartbeatResponder: an OK event response with the
// heartbeat's id and a hessian2 null body, as Java Dubbo answers.
func (c *Codec) HeartbeatReply(req *protocol.Message) ([]byte, error) {
	return heartbeat(serializationHessian2|flagEvent, statusOK, req.RequestID), nil
}

// HeartbeatRequest implements protocol.HeartbeatRequester: the proxy's health checks send
// it to Dubbo endpoints.
func (c *Codec) HeartbeatRequest(id uint64) []byte { return HeartbeatRequest(id) }

// HeartbeatRequest returns a heartbeat request frame with the given id, for health checks.
func HeartbeatRequest(id uint64) []byte {
	return heartbeat(flagRequest|flagTwoWay|flagEvent|serializationHessian2, 0, id)
}

func heartbeat(flag, status byte, id uint64) []byte {
	out := make([]byte, 0, headerSize+1)
	out = appendHeader(out, flag, status, id)
	out = append(out, 'N')
	putBodyLen(out)
	return out
}

// Sniff implements protocol.Sniffer: Dubbo frames start with 0xdabb.
func (c *Codec) Sniff(prefix []byte) protocol.SniffResult {
	switch {
	case len(prefix) >= 1 && prefix[0] != magicHigh, len(prefix) >= 2 && prefix[1] != magicLow:
		return protocol.SniffNo
	case len(prefix) < 2:
		return protocol.SniffNeedMore
	}
	return protocol.SniffYes
}

// Interface guards.
var (
	_ protocol.Codec              = (*Codec)(nil)
	_ protocol.IDRewriter         = (*Codec)(nil)
	_ protocol.HeartbeatResponder = (*Codec)(nil)
	_ protocol.HeartbeatRequester = (*Codec)(nil)
	_ protocol.Sniffer            = (*Codec)(nil)
)
