package thrift

import (
	"testing"

	"github.com/breeze-mesh/breeze/protocol"
)

// TestRetriableCodes: the protocol's codes, as a server sends them; only an error response
// is ever retriable.
func TestRetriableCodes(t *testing.T) {
	c := New(protocol.Options{Side: protocol.ResponseSide, MaxFrameSize: 1 << 20})
	for code, want := range map[int32]bool{1: true, 20: true, 0: false, 2: false, 3: false, 4: false, 5: false, 6: false, 7: false, 21: false} {
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
