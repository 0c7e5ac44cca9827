package dubboraw

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	hessian "github.com/apache/dubbo-go-hessian2"
	"github.com/breeze-mesh/breeze/examples/dubbo/greeter"
)

// TestAgainstDubboGo checks the raw client against a real dubbo-go server (one per test
// process, as dubbo-go requires).
func TestAgainstDubboGo(t *testing.T) {
	if err := greeter.SetLogging(io.Discard, "error"); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	srv, err := greeter.Start(greeter.ServerConfig{Name: "raw", Port: port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("stop server: %v", err)
		}
	})
	c, err := Dial(srv.Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))

	call := func(method, version string, args []any, atts map[string]string) *Response {
		t.Helper()
		resp, err := c.Call(Request{Interface: greeter.Interface, Version: version, Method: method, Args: args, Attachments: atts})
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		return resp
	}

	resp := call(greeter.MethodSayHello, "2.0.0", []any{"alice"}, nil)
	if resp.Status != StatusOK || resp.Err != nil || resp.Result != "hello alice from raw" {
		t.Fatalf("sayHello = %+v", resp)
	}

	resp = call(greeter.MethodAttachment, "1.0.0", []any{"x-test"}, map[string]string{"x-test": "yes"})
	if resp.Result != "yes" {
		t.Fatalf("attachment echo = %+v", resp)
	}

	resp = call(greeter.MethodSayHello, "7.7.7", []any{"alice"}, nil)
	if resp.Err == nil {
		t.Fatalf("call to an unexported version succeeded: %+v", resp)
	}

	// Oneway: no answer comes (each following answer is the call's own, which Call checks
	// by id), and the server records it. The server handles requests concurrently, so the
	// record may come after the next call: poll.
	if _, err := c.Send(Request{Interface: greeter.Interface, Version: "1.0.0", Method: greeter.MethodNotify, Args: []any{"tok"}}, false); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for call(greeter.MethodSeen, "1.0.0", []any{"tok"}, nil).Result != true {
		if time.Now().After(deadline) {
			t.Fatal("the server never saw the oneway notify")
		}
		time.Sleep(10 * time.Millisecond)
	}

	hb, err := c.Heartbeat()
	if err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	if hb.Status != StatusOK {
		t.Fatalf("heartbeat status %d", hb.Status)
	}

	// Pipelined requests are answered by id.
	ids := map[int64]string{}
	for _, name := range []string{"a", "b", "c"} {
		id, err := c.Send(Request{Interface: greeter.Interface, Version: "1.0.0", Method: greeter.MethodSayHi, Args: []any{name}}, true)
		if err != nil {
			t.Fatal(err)
		}
		ids[id] = "hi " + name + " from raw"
	}
	for range ids {
		resp, err := c.Read()
		if err != nil {
			t.Fatal(err)
		}
		if want, ok := ids[resp.ID]; !ok || resp.Result != want {
			t.Fatalf("pipelined response %+v, want one of %v", resp, ids)
		}
		delete(ids, resp.ID)
	}
}

func TestDecodeErrorStatus(t *testing.T) {
	header := hessian.DubboHeader{SerialID: 2, Type: hessian.PackageResponse, ID: 42, ResponseStatus: StatusServiceNotFound}
	frame, err := hessian.NewHessianCodec(nil).Write(hessian.Service{}, header, hessian.NewResponse(nil, errors.New("breeze: no route"), nil))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := DecodeResponse(frame)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ID != 42 || resp.Status != StatusServiceNotFound || resp.ErrorMessage != "breeze: no route" {
		t.Fatalf("decoded %+v", resp)
	}
}

func TestReadFrameRejects(t *testing.T) {
	good, err := EncodeRequest(1, Request{Interface: "i", Method: "m", Args: []any{"x"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFrame(bytes.NewReader(good[:len(good)-1])); err == nil {
		t.Error("truncated frame accepted")
	}
	bad := append([]byte{0x12, 0x34}, good[2:]...)
	if _, err := ReadFrame(bytes.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "magic") {
		t.Errorf("bad magic: %v", err)
	}
	huge := append([]byte(nil), good...)
	huge[12], huge[13], huge[14], huge[15] = 0x7f, 0xff, 0xff, 0xff
	if _, err := ReadFrame(bytes.NewReader(huge)); err == nil {
		t.Error("oversized frame accepted")
	}
	if _, err := DecodeResponse(good); err == nil {
		t.Error("a request frame decoded as a response")
	}
}
