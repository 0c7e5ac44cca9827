package brpc

import (
	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/protocol/internal/pbwire"
)

// Name is the codec's registered name; Aeraki's "aeraki.meta_protocol.codec.brpc" finds it
// too.
const Name = "brpc"

func init() {
	protocol.Register(protocol.Registration{
		Name: Name,
		New:  func(o protocol.Options) protocol.Codec { return New(o) },
	})
}

// Metadata keys the codec sets. Request user_fields and response user_fields are copied too,
// under their own names, except those named like the keys below.
const (
	// KeyService is the request's service_name (the full protobuf service name).
	KeyService = "service"
	// KeyMethod is the request's method_name.
	KeyMethod = "method"
	// KeyLogID is the request's log_id, in decimal, when the request carries one.
	KeyLogID = "log_id"
	// KeyErrorCode is a failed response's error_code, in decimal.
	KeyErrorCode = "error_code"
	// KeyErrorText is a failed response's error_text.
	KeyErrorText = "error_text"
)

// Codec decodes and encodes baidu_std frames for one connection direction.
type Codec struct {
	side         protocol.Side
	maxFrameSize int
	// texts holds the decimal strings of numeric metadata (log_id, error_code).
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

// Sniff implements protocol.Sniffer: frames start with "PRPC".
func (c *Codec) Sniff(prefix []byte) protocol.SniffResult {
	for i := 0; i < len(prefix) && i < len(magic); i++ {
		if prefix[i] != magic[i] {
			return protocol.SniffNo
		}
	}
	if len(prefix) < len(magic) {
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
