package kvrpc

import (
	"testing"

	"github.com/breeze-mesh/breeze/protocol"
)

// TestRetriable: an application's error response, and any success, are never retriable
// (the proxy's own replies are checked by the conformance suite's RetriableKinds).
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
