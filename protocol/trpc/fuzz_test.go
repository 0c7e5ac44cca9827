package trpc

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/protocol/codectest"
)

// FuzzDecode checks the codec on arbitrary input (see codectest.CheckDecode). Its seeds are
// the conformance samples plus the frames in testdata/fuzz/FuzzDecode.
//
//	go test -run='^$' -fuzz=FuzzDecode -fuzztime=2m ./protocol/trpc
func FuzzDecode(f *testing.F) {
	codectest.Fuzz(f, suite(f))
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
	s := suite(t)
	for _, sm := range s.Requests {
		seeds["request_"+sm.Name] = sm.Frame
	}
	for _, sm := range s.Responses {
		seeds["response_"+sm.Name] = sm.Frame
	}
	c := New(protocol.Options{})
	req := decodeOK(t, protocol.RequestSide, s.Requests[2].Frame)
	mutated, err := c.Encode(req, s.Mutation)
	if err != nil {
		t.Fatal(err)
	}
	seeds["request_mutated"] = mutated
	grown, err := c.ReplaceRequestID(s.Requests[0].Frame, protocol.MaxSharedRequestID)
	if err != nil {
		t.Fatal(err)
	}
	seeds["request_grown_id"] = grown
	reply, err := c.ErrorReply(req, protocol.NewLocalError(protocol.RouteNotFound, "no route"))
	if err != nil {
		t.Fatal(err)
	}
	seeds["error_reply"] = reply
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
