package kvrpc

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/breeze-mesh/breeze/examples/kvrpc/kvwire"
	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/protocol/codectest"
)

// Frames in these tests are written by kvwire (examples/kvrpc/kvwire), the application
// library of the protocol, which shares no code with the codec.

// wire encodes a frame with kvwire.
func wire(t testing.TB, kind byte, id uint32, body string, headers ...string) []byte {
	t.Helper()
	f := &kvwire.Frame{Kind: kind, ID: id, Body: []byte(body)}
	for i := 0; i+1 < len(headers); i += 2 {
		f.Headers = append(f.Headers, kvwire.Header{Key: headers[i], Value: headers[i+1]})
	}
	b, err := kvwire.Append(nil, f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// read decodes a frame with kvwire.
func read(t testing.TB, frame []byte) *kvwire.Frame {
	t.Helper()
	f, err := kvwire.Read(bytes.NewReader(frame))
	if err != nil {
		t.Fatalf("kvwire cannot read the frame: %v", err)
	}
	return f
}

func suite(t testing.TB) codectest.Suite {
	return codectest.Suite{
		Codec: Name,
		Requests: []codectest.Sample{
			{Name: "user_get", Frame: wire(t, kvwire.Request, 7, "alice", "cmd", "user.get", "x-user", "ann"),
				Type: protocol.Request, RequestID: 7, Metadata: map[string]string{"cmd": "user.get", "x-user": "ann"}},
			{Name: "no_headers_big_id", Frame: wire(t, kvwire.Request, 1<<31+5, strings.Repeat("b", 300)),
				Type: protocol.Request, RequestID: 1<<31 + 5, Metadata: map[string]string{}},
			{Name: "oneway", Frame: wire(t, kvwire.Oneway, 0, "", "cmd", "audit.log", "empty", ""),
				Type: protocol.Oneway, Metadata: map[string]string{"cmd": "audit.log", "empty": ""}},
		},
		Responses: []codectest.Sample{
			{Name: "response", Frame: wire(t, kvwire.Response, 7, "users handled user.get(alice)", "server", "users"),
				Type: protocol.Response, RequestID: 7, Metadata: map[string]string{"server": "users"}},
			{Name: "error", Frame: wire(t, kvwire.Error, 8, "no such user"),
				Type: protocol.Error, RequestID: 8, Status: protocol.StatusError, Metadata: map[string]string{}},
		},
		OversizedHeader: func(size int) []byte {
			h := wire(t, kvwire.Request, 1, "")
			binary.BigEndian.PutUint32(h[10:], uint32(size-headerSize))
			return h
		},
		Mutation: protocol.Mutation{{Key: "x-routed-by", Value: "breeze"}, {Key: "x-user", Value: "bob"}},
		// The proxy's refusals that ran nowhere (retriable.go).
		RetriableKinds: []protocol.ErrorKind{protocol.OverLimit, protocol.RouteNotFound, protocol.ClusterNotFound, protocol.NoHealthyUpstream},
	}
}

func TestConformance(t *testing.T) {
	codectest.Run(t, suite(t))
}

// FuzzDecode checks the codec on arbitrary input (see codectest.CheckDecode).
//
//	go test -run='^$' -fuzz=FuzzDecode -fuzztime=2m ./protocol/kvrpc
func FuzzDecode(f *testing.F) {
	codectest.Fuzz(f, suite(f))
}

// TestServerAnswers sends frames the codec wrote (mutated, id rewritten) to a kvwire
// server, and decodes its answers.
func TestServerAnswers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = kvwire.Serve(ln, func(req *kvwire.Frame) ([]kvwire.Header, []byte, error) {
			return req.Headers, req.Body, nil // echo
		})
	}()
	t.Cleanup(func() { ln.Close() })
	nc, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(nc)

	c := New(protocol.Options{})
	req := wire(t, kvwire.Request, 7, "alice", "cmd", "user.get", "x-user", "ann")
	var msg protocol.Message
	if _, err := c.Decode(req, &msg); err != nil {
		t.Fatal(err)
	}
	mutated, err := c.Encode(&msg, protocol.Mutation{{Key: "x-user", Value: "bob"}, {Key: "x-routed-by", Value: "breeze"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RewriteRequestID(mutated, 99); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(mutated); err != nil {
		t.Fatal(err)
	}
	resp, err := kvwire.Read(r)
	if err != nil {
		t.Fatal(err)
	}
	want := []kvwire.Header{{Key: "cmd", Value: "user.get"}, {Key: "x-user", Value: "bob"}, {Key: "x-routed-by", Value: "breeze"}}
	if resp.ID != 99 || !reflect.DeepEqual(resp.Headers, want) || string(resp.Body) != "alice" {
		t.Errorf("server answered id %d headers %v body %q", resp.ID, resp.Headers, resp.Body)
	}
}

// TestErrorReplyReadByClient: kvwire's client turns an error reply into a RemoteError with
// the kind and the text.
func TestErrorReplyReadByClient(t *testing.T) {
	c := New(protocol.Options{})
	for _, tc := range []struct {
		err        *protocol.LocalError
		kind, text string
	}{
		{nil, "internal", "breeze: internal error"},
		{protocol.NewLocalError(protocol.RouteNotFound, "no route for cmd=audit.read"), "route_not_found", "breeze: no route for cmd=audit.read"},
		{&protocol.LocalError{Kind: protocol.OverLimit}, "over_limit", "breeze: over_limit"},
	} {
		reply, err := c.ErrorReply(&protocol.Message{Type: protocol.Request, RequestID: 1<<32 - 1}, tc.err)
		if err != nil {
			t.Fatal(err)
		}
		f := read(t, reply)
		if f.Kind != kvwire.Error || f.ID != 1<<32-1 || f.Get("error") != tc.kind || string(f.Body) != tc.text {
			t.Errorf("kvwire reads kind %d id %d error %q body %q", f.Kind, f.ID, f.Get("error"), f.Body)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	good := wire(t, kvwire.Request, 3, "x", "cmd", "a")
	with := func(i int, b byte) []byte { f := bytes.Clone(good); f[i] = b; return f }
	cases := []struct {
		name  string
		frame []byte
		want  error
		typ   protocol.MessageType
	}{
		{"bad_magic", []byte("KX"), protocol.ErrMalformed, 0},
		{"http", []byte("GET / HTTP/1.1\r\n"), protocol.ErrMalformed, 0},
		{"version_2", with(2, 2), protocol.ErrMalformed, 0},
		{"unknown_kind", with(3, 9), protocol.ErrMalformed, 0},
		{"header_past_block", with(14, 200), protocol.ErrMalformed, protocol.Request},
		{"repeated_header", wire(t, kvwire.Request, 3, "", "cmd", "a", "cmd", "b"), protocol.ErrMalformed, protocol.Request},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var msg protocol.Message
			if n, err := New(protocol.Options{}).Decode(tc.frame, &msg); !errors.Is(err, tc.want) || n != 0 || msg.Type != tc.typ {
				t.Errorf("Decode = %d, %v, type %v; want 0, %v, %v", n, err, msg.Type, tc.want, tc.typ)
			}
		})
	}
}

func TestDecodeAllocatesNothing(t *testing.T) {
	frame := wire(t, kvwire.Request, 7, "alice", "cmd", "user.get", "x-user", "ann", "trace-id", "4bf92f3577b34da6")
	c := New(protocol.Options{})
	var msg protocol.Message
	if allocs := testing.AllocsPerRun(1000, func() {
		msg.Reset()
		if _, err := c.Decode(frame, &msg); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Errorf("Decode allocates %.2f times per request", allocs)
	}
}

func BenchmarkDecodeRequest(b *testing.B) {
	frame := wire(b, kvwire.Request, 7, "alice", "cmd", "user.get", "x-user", "ann", "trace-id", "4bf92f3577b34da6")
	c := New(protocol.Options{})
	var msg protocol.Message
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		msg.Reset()
		if _, err := c.Decode(frame, &msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeMutation(b *testing.B) {
	frame := wire(b, kvwire.Request, 7, "alice", "cmd", "user.get", "x-user", "ann", "trace-id", "4bf92f3577b34da6")
	c := New(protocol.Options{})
	var msg protocol.Message
	if _, err := c.Decode(frame, &msg); err != nil {
		b.Fatal(err)
	}
	mut := protocol.Mutation{{Key: "x-routed-by", Value: "breeze"}, {Key: "x-user", Value: "bob"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Encode(&msg, mut); err != nil {
			b.Fatal(err)
		}
	}
}

// TestWriteFuzzSeeds rewrites the committed seed corpus (testdata/fuzz/FuzzDecode) from the
// suite's frames when BREEZE_WRITE_FUZZ_SEEDS is set; otherwise it checks it is there.
func TestWriteFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if os.Getenv("BREEZE_WRITE_FUZZ_SEEDS") == "" {
		if files, err := filepath.Glob(filepath.Join(dir, "*")); err != nil || len(files) == 0 {
			t.Fatalf("no seed corpus in %s (%v)", dir, err)
		}
		return
	}
	s := suite(t)
	seeds := map[string][]byte{}
	for _, sm := range append(s.Requests, s.Responses...) {
		seeds[sm.Name] = sm.Frame
	}
	reply, err := New(protocol.Options{}).ErrorReply(&protocol.Message{RequestID: 9}, protocol.NewLocalError(protocol.RouteNotFound, "no route"))
	if err != nil {
		t.Fatal(err)
	}
	seeds["error_reply"] = reply
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, frame := range seeds {
		if err := os.WriteFile(filepath.Join(dir, name), fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", frame), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
