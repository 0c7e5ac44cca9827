package thrift

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apache/thrift/lib/go/thrift"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/protocol/codectest"
)

// FuzzDecode checks the codec on arbitrary input (see codectest.CheckDecode). Its seeds are
// the conformance samples plus the frames in testdata/fuzz/FuzzDecode.
//
//	go test -run='^$' -fuzz='^FuzzDecode$' -fuzztime=2m ./protocol/thrift
func FuzzDecode(f *testing.F) {
	codectest.Fuzz(f, suite(f))
}

// FuzzDecodeResumed checks that progress kept across calls never changes the outcome: a
// codec given a prefix of data (which it may partly step over) and then all of data decodes
// it exactly as a fresh codec does.
//
//	go test -run='^$' -fuzz='^FuzzDecodeResumed$' -fuzztime=1m ./protocol/thrift
func FuzzDecodeResumed(f *testing.F) {
	for _, sm := range suite(f).Requests {
		if len(sm.Frame) <= 4096 {
			f.Add(sm.Frame, uint16(len(sm.Frame)/2))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		want, wantN, wantErr := decodeWith(New(protocol.Options{MaxFrameSize: 1 << 16}), data)
		c := New(protocol.Options{MaxFrameSize: 1 << 16})
		buf := slices.Clone(data)
		if k := int(cut) % (len(buf) + 1); k < len(buf) {
			if n, err := c.Decode(buf[:k], &protocol.Message{}); err == nil && n > 0 {
				return // the prefix holds a whole frame: nothing is carried over
			}
		}
		got, gotN, gotErr := decodeWith(c, buf)
		if gotN != wantN || (gotErr == nil) != (wantErr == nil) || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			t.Fatalf("after a prefix: %d, %v; fresh codec: %d, %v", gotN, gotErr, wantN, wantErr)
		}
		if wantErr == nil && (got.Type != want.Type || got.RequestID != want.RequestID || !slices.Equal(got.Metadata.All(), want.Metadata.All())) {
			t.Fatalf("after a prefix: %v %d %v; fresh codec: %v %d %v", got.Type, got.RequestID, got.Metadata.All(),
				want.Type, want.RequestID, want.Metadata.All())
		}
	})
}

func decodeWith(c *Codec, data []byte) (*protocol.Message, int, error) {
	var msg protocol.Message
	n, err := c.Decode(data, &msg)
	if err != nil && !errors.Is(err, protocol.ErrNeedMore) && !errors.Is(err, protocol.ErrMalformed) && !errors.Is(err, protocol.ErrFrameTooLarge) {
		panic(fmt.Sprintf("Decode error %v wraps no codec error", err))
	}
	return &msg, n, err
}

// TestWriteFuzzSeeds rewrites the committed seed corpus from real frames when
// BREEZE_WRITE_FUZZ_SEEDS is set; otherwise it only checks the corpus is there.
func TestWriteFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if os.Getenv("BREEZE_WRITE_FUZZ_SEEDS") == "" {
		files, err := filepath.Glob(filepath.Join(dir, "*"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no seed corpus in %s (%v)", dir, err)
		}
		return
	}
	seeds := map[string][]byte{}
	for _, tc := range append(peerRequestCases(t), peerResponseCases(t)...) {
		if len(tc.frame) < 4096 {
			seeds[seedName(tc.name)] = tc.frame
		}
	}
	for _, w := range allWires {
		w = headersFor(w)
		c := New(protocol.Options{})
		msg := decodeOne(t, c, peerFrame(t, w, "sayHello", thrift.CALL, 3, greetArgs("alice")))
		reply, err := c.ErrorReply(msg, protocol.NewLocalError(protocol.RouteNotFound, "no route for request (method=sayHello)"))
		check(t, err)
		seeds[seedName("error_reply_"+w.name())] = reply
		if w.transport == header || w.transport == ttheader {
			out, err := c.Encode(msg, protocol.Mutation{{Key: "x-route", Value: "canary"}, {Key: "to_method", Value: "sayHi"}})
			check(t, err)
			seeds[seedName("mutated_"+w.name())] = out
		}
	}
	seeds["nested_deep"] = nested(maxDepth - 1)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, frame := range seeds {
		data := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", frame)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// seedName turns a sample name ("header/binary/call") into a file name.
func seedName(name string) string {
	b := []byte(name)
	for i, c := range b {
		if c == '/' || c == '+' {
			b[i] = '_'
		}
	}
	return string(b)
}
