package trpc

import (
	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/protocol/internal/pbwire"
)

// Name is the codec's registered name; Aeraki's "aeraki.meta_protocol.codec.trpc" finds it
// too.
const Name = "trpc"

func init() {
	protocol.Register(protocol.Registration{
		Name: Name,
		New:  func(o protocol.Options) protocol.Codec { return New(o) },
	})
}

// Metadata keys the codec sets, as Aeraki's tRPC codec names them. Every trans_info entry is
// copied too, under its own name, except entries named like the keys below.
const (
	// KeyCaller is the request's caller (the calling service's name), when not empty.
	KeyCaller = "caller"
	// KeyCallee is the request's callee (the called service's name), when not empty.
	KeyCallee = "callee"
	// KeyFunc is the request's func (the called method, "/package.Service/Method"), when
	// not empty.
	KeyFunc = "func"
	// KeyRet is a failed response's framework error code (ret), in decimal.
	KeyRet = "ret"
	// KeyFuncRet is a failed response's business error code (func_ret), in decimal.
	KeyFuncRet = "func_ret"
	// KeyErrorMsg is a failed response's error_msg.
	KeyErrorMsg = "error_msg"
)

// Codec decodes and encodes tRPC frames for one connection direction.
type Codec struct {
	side         protocol.Side
	maxFrameSize int
	// texts holds the decimal strings of numeric metadata (ret, func_ret).
	texts pbwire.Texts
}

// New returns a codec configured by o.
func New(o protocol.Options) *Codec {
	c := &Codec{side: o.Side, maxFrameSize: o.MaxFrameSize}
	if c.maxFrameSize <= 0 {
		c.maxFrameSize = protocol.DefaultMaxFrameSize
	}
	return c
}

// Sniff implements protocol.Sniffer: frames start with the magic 0x0930.
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
	_ protocol.Codec      = (*Codec)(nil)
	_ protocol.IDReplacer = (*Codec)(nil)
	_ protocol.Sniffer    = (*Codec)(nil)
)
