package dubbo

import (
	"testing"

	"github.com/breeze-mesh/breeze/protocol"
)

// TestRetriableErrorReplies: the proxy's own refusals, as this codec writes them and
// decodes them again on the response side, are retriable exactly when they mean the
// request ran nowhere.
func TestRetriableErrorReplies(t *testing.T) {
	for kind, want := range map[protocol.ErrorKind]bool{protocol.OverLimit: true, protocol.RouteNotFound: true, protocol.ClusterNotFound: true, protocol.NoHealthyUpstream: false, protocol.Timeout: false, protocol.UpstreamReset: false, protocol.BadRequest: false, protocol.BadResponse: false, protocol.Internal: false} {
		req := New(protocol.Options{Side: protocol.RequestSide, MaxFrameSize: 1 << 20})
		reply, err := req.ErrorReply(&protocol.Message{Type: protocol.Request, RequestID: 7}, protocol.NewLocalError(kind, "refused"))
		if err != nil {
			t.Fatalf("%v: ErrorReply: %v", kind, err)
		}
		resp := New(protocol.Options{Side: protocol.ResponseSide, MaxFrameSize: 1 << 20})
		var msg protocol.Message
		if _, err := resp.Decode(reply, &msg); err != nil {
			t.Fatalf("%v: decode the reply: %v", kind, err)
		}
		if got := resp.Retriable(&msg); got != want {
			t.Errorf("%v (code %d): Retriable = %v, want %v", kind, msg.Code, got, want)
		}
	}
}

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
