package dubbo

import (
	"testing"

	"github.com/breeze-mesh/breeze/protocol"
)

// TestRetriableCodes: the protocol's codes, as a server sends them; only an error response
// is ever retriable.
func TestRetriableCodes(t *testing.T) {
	c := New(protocol.Options{Side: protocol.ResponseSide, MaxFrameSize: 1 << 20})
	for code, want := range map[int32]bool{100: true, 60: true, 20: false, 30: false, 31: false, 35: false, 40: false, 50: false, 70: false, 80: false, 90: false} {
		msg := protocol.Message{Type: protocol.Error, Status: protocol.StatusError, Code: code}
		if got := c.Retriable(&msg); got != want {
			t.Errorf("code %d: Retriable = %v, want %v", code, got, want)
		}
		msg.Type, msg.Status = protocol.Response, protocol.StatusOK
		if c.Retriable(&msg) {
			t.Errorf("code %d on a successful response: retriable", code)
		}
	}
}
