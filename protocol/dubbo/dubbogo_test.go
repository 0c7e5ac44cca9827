package dubbo

import (
	"bytes"
	"strings"
	"testing"

	"dubbo.apache.org/dubbo-go/v3/protocol/dubbo/impl"

	"github.com/breeze-mesh/breeze/protocol"
)

// TestErrorReplyReadByDubboGoClient reads error replies with dubbo-go v3.3.2's package
// decoder, the one its client's DubboCodec.decodeResponse runs on every response: a
// non-OK status must come out as an exception carrying the proxy's message.
func TestErrorReplyReadByDubboGoClient(t *testing.T) {
	req := &protocol.Message{Type: protocol.Request, RequestID: 41}
	for _, kind := range protocol.ErrorKinds() {
		t.Run(kind.String(), func(t *testing.T) {
			reply, err := New(protocol.Options{}).ErrorReply(req, protocol.NewLocalError(kind, "no route for org.example.HelloService"))
			if err != nil {
				t.Fatal(err)
			}
			pkg := impl.NewDubboPackage(bytes.NewBuffer(reply))
			if err := pkg.Unmarshal(); err != nil {
				t.Fatalf("dubbo-go Unmarshal: %v", err)
			}
			if pkg.Header.ID != int64(req.RequestID) || pkg.Header.ResponseStatus != statusFor(kind) || !pkg.IsResponseWithException() {
				t.Errorf("dubbo-go reads header %+v", pkg.Header)
			}
			payload, ok := pkg.Body.(*impl.ResponsePayload)
			if !ok || payload.Exception == nil || !strings.Contains(payload.Exception.Error(), "breeze: no route for org.example.HelloService") {
				t.Errorf("dubbo-go reads body %#v, want an exception with the message", pkg.Body)
			}
		})
	}
}

// TestHeartbeatReplyReadByDubboGoClient reads the heartbeat reply with dubbo-go v3.3.2.
func TestHeartbeatReplyReadByDubboGoClient(t *testing.T) {
	reply, err := New(protocol.Options{}).HeartbeatReply(&protocol.Message{Type: protocol.Heartbeat, RequestID: 42})
	if err != nil {
		t.Fatal(err)
	}
	pkg := impl.NewDubboPackage(bytes.NewBuffer(reply))
	if err := pkg.Unmarshal(); err != nil {
		t.Fatalf("dubbo-go Unmarshal: %v", err)
	}
	if !pkg.IsHeartBeat() || pkg.IsRequest() || pkg.Header.ID != 42 || pkg.Header.ResponseStatus != statusOK {
		t.Errorf("dubbo-go reads header %+v", pkg.Header)
	}
}
