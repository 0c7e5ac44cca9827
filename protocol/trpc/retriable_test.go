package trpc

import (
	"testing"

	"github.com/breeze-mesh/breeze/protocol"
)

// TestRetriableCodes: the protocol's codes, as a server sends them; only an error response
// is ever retriable.
func TestRetriableCodes(t *testing.T) {
	c := New(protocol.Options{Side: protocol.ResponseSide, MaxFrameSize: 1 << 20})
	for code, want := range map[int32]bool{22: true, 23: true, 11: true, 12: true, 1: false, 2: false, 21: false, 24: false, 31: false, 41: false, 51: false, 101: false, 123: false, 124: false, 999: false} {
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
