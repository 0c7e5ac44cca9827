package testbackend_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/internal/testbackend"
	"github.com/breeze-mesh/breeze/proxy/internal/testcodec"
)

// TestModes: each mode, chosen by the payload and by SetMode, gives its documented answer.
func TestModes(t *testing.T) {
	b := testbackend.Start(t, "b")
	c := testbackend.Dial(t, b.Addr())
	for payload, want := range map[string]string{"x": "b:x", "fail-1": "error:app", "refuse": "error:over_limit"} {
		if got := c.Call(nil, payload); got != want {
			t.Errorf("payload %q: got %q, want %q", payload, got, want)
		}
	}
	c.Send('Q', 100, map[string]string{"k": "v"}, "echo")
	if resp := c.Recv(); resp.Metadata.Value("seen-k") != "v" {
		t.Errorf("OK answer does not echo the request's metadata: %v", resp.Metadata.All())
	}
	c.Send('Q', 101, nil, "refuse")
	if resp := c.Recv(); resp.Code != testbackend.RefuseCode || !(&testcodec.Codec{}).Retriable(resp) {
		t.Errorf("refusal has code %d and is not retriable by testcodec", resp.Code)
	}
	b.SetMode(testbackend.Fail)
	c.Send('Q', 102, nil, "x")
	if resp := c.Recv(); resp.Type != protocol.Error || resp.Code != testbackend.FailCode || testcodec.Payload(resp) != "b:failed" {
		t.Errorf("Fail mode: %v code %d %q", resp.Type, resp.Code, testcodec.Payload(resp))
	}
	if n := b.Requests(); n != 6 {
		t.Errorf("%d requests counted, want 6", n)
	}
	b.SetMode(testbackend.Close)
	c.Send('Q', 103, nil, "x")
	msg := new(protocol.Message)
	if err := c.Next(msg); err == nil {
		t.Fatalf("Close mode answered %v", msg.Type)
	}
	testbackend.Poll(t, "the closed connection to be gone", func() bool { return b.Open() == 0 })
	if n := b.Accepted(); n != 1 {
		t.Errorf("%d connections accepted, want 1", n)
	}
}

// TestHoldAndRelease: held requests wait without blocking others on the connection, and
// are answered once released.
func TestHoldAndRelease(t *testing.T) {
	b := testbackend.Start(t, "b")
	c := testbackend.Dial(t, b.Addr())
	held := []uint64{c.Request(nil, "hold-1"), c.Request(nil, "hold-2")}
	testbackend.Poll(t, "two requests held", func() bool { return b.Held() == 2 })
	if got := c.Call(nil, "quick"); got != "b:quick" {
		t.Fatalf("request after held ones: %q", got)
	}
	b.Release()
	got := map[uint64]bool{}
	for range held {
		got[c.Recv().RequestID] = true
	}
	if !got[held[0]] || !got[held[1]] || b.Held() != 0 {
		t.Fatalf("answers to %v, %d still held; want both answered", got, b.Held())
	}
}

// TestHeartbeats are answered while on, and silently dropped while off.
func TestHeartbeats(t *testing.T) {
	b := testbackend.Start(t, "b")
	c := testbackend.Dial(t, b.Addr())
	c.Send('H', 1, nil, "")
	if resp := c.Recv(); resp.Type != protocol.Heartbeat || resp.RequestID != 1 {
		t.Fatalf("heartbeat answered with %v id %d", resp.Type, resp.RequestID)
	}
	b.SetHeartbeats(false)
	c.Send('H', 2, nil, "")
	if got := c.Call(nil, "x"); got != "b:x" { // the heartbeat's answer would come first
		t.Fatalf("after an unanswered heartbeat: %q", got)
	}
}

// TestOneways are delivered and not answered.
func TestOneways(t *testing.T) {
	b := testbackend.Start(t, "b")
	c := testbackend.Dial(t, b.Addr())
	for i := range 3 {
		c.Send('O', uint64(i+1), nil, strconv.Itoa(i))
	}
	if got := c.Call(nil, "x"); got != "b:x" {
		t.Fatalf("after oneways: %q", got)
	}
	for i := range 3 {
		select {
		case p := <-b.Oneways():
			if p != strconv.Itoa(i) {
				t.Fatalf("oneway %d: %q", i, p)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("oneway %d not delivered", i)
		}
	}
}

// TestKillAndStartOn: Kill breaks live connections with held requests unanswered, and a
// new backend serves on the same address.
func TestKillAndStartOn(t *testing.T) {
	b := testbackend.Start(t, "old")
	c := testbackend.Dial(t, b.Addr())
	c.Request(nil, "hold")
	testbackend.Poll(t, "request held", func() bool { return b.Held() == 1 })
	b.Kill()
	msg := new(protocol.Message)
	if err := c.Next(msg); err == nil {
		t.Fatalf("killed backend answered %v", msg.Type)
	}
	testbackend.StartOn(t, "new", b.Addr())
	if got := testbackend.Dial(t, b.Addr()).Call(nil, "x"); got != "new:x" {
		t.Fatalf("restarted backend: %q", got)
	}
}
