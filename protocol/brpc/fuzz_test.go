package brpc

import (
	"path/filepath"
	"testing"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/protocol/codectest"
)

// FuzzDecode checks the codec on arbitrary input (see codectest.CheckDecode). Its seeds are
// the conformance samples plus the frames in testdata/fuzz/FuzzDecode.
//
//	go test -run='^$' -fuzz=FuzzDecode -fuzztime=2m ./protocol/brpc
func FuzzDecode(f *testing.F) {
	codectest.Fuzz(f, suite(f))
}

// TestWriteFuzzSeeds keeps the committed seed corpus: real frames from the conformance
// samples, plus a mutated request, a request with a grown id and an error reply.
// BREEZE_WRITE_FUZZ_SEEDS=1 rewrites it.
func TestWriteFuzzSeeds(t *testing.T) {
	codectest.SeedCorpus(t, filepath.Join("testdata", "fuzz", "FuzzDecode"), func() map[string][]byte {
		s := suite(t)
		seeds := codectest.Seeds(s)
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
		return seeds
	})
}
