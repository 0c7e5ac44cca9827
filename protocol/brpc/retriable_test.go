package brpc

import (
	"testing"

	"github.com/breeze-mesh/breeze/protocol"
)

// TestRetriableCodes: the protocol's codes, as a server sends them; only an error response
// is ever retriable.
func TestRetriableCodes(t *testing.T) {
	c := New(protocol.Options{Side: protocol.ResponseSide, MaxFrameSize: 1 << 20})
	for code, want := range map[int32]bool{2004: true, 2003: true, 1001: true, 1002: true, 1003: false, 1008: false, 1009: false, 1011: false, 1014: false, 2001: false, 2002: false, 1: false} {
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
