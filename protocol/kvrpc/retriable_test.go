package kvrpc

import (
	"testing"

	"github.com/breeze-mesh/breeze/protocol"
)

// TestRetriable: the proxy's own error replies are retriable when the request ran nowhere;
// an application's error response, and any success, never are.
func TestRetriable(t *testing.T) {
	c := New(protocol.Options{})
	decode := func(frame []byte) *protocol.Message {
		t.Helper()
		var msg protocol.Message
		if _, err := c.Decode(frame, &msg); err != nil {
			t.Fatal(err)
		}
		return &msg
	}
	for kind, want := range map[protocol.ErrorKind]bool{
		protocol.OverLimit: true, protocol.RouteNotFound: true, protocol.ClusterNotFound: true, protocol.NoHealthyUpstream: true,
		protocol.Timeout: false, protocol.UpstreamReset: false, protocol.BadRequest: false, protocol.BadResponse: false, protocol.Internal: false,
	} {
		reply, err := c.ErrorReply(&protocol.Message{Type: protocol.Request, RequestID: 7}, protocol.NewLocalError(kind, "refused"))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Retriable(decode(reply)); got != want {
			t.Errorf("%v: Retriable = %v, want %v", kind, got, want)
		}
	}
	app := []byte{'K', 'V', version, kindError, 0, 0, 0, 9, 0, 0, 0, 0, 0, 4, 'o', 'o', 'p', 's'}
	if c.Retriable(decode(app)) {
		t.Error("an application's error response is retriable")
	}
	ok := appendHeader(nil, "error", "over_limit")
	frame := append([]byte{'K', 'V', version, kindResponse, 0, 0, 0, 9, 0, byte(len(ok)), 0, 0, 0, 0}, ok...)
	if c.Retriable(decode(frame)) {
		t.Error("a successful response is retriable")
	}
}
