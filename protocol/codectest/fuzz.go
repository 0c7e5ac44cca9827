package codectest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/breeze-mesh/breeze/protocol"
)

// maxSeedSize bounds the samples Fuzz seeds the corpus with: mutating and minimising large
// inputs is slow and finds little that small ones do not.
const maxSeedSize = 4096

// Fuzz adds the sample frames of s (those up to 4 KiB) to f's seed corpus and fuzzes Decode
// on both sides with [CheckDecode]. A codec's fuzz target is then one line:
//
//	func FuzzDecode(f *testing.F) { codectest.Fuzz(f, suite()) }
func Fuzz(f *testing.F, s Suite) {
	f.Helper()
	if err := s.validate(); err != nil {
		f.Fatalf("codectest: invalid Suite: %v", err)
	}
	for _, sm := range s.samples() {
		if len(sm.Frame) <= maxSeedSize {
			f.Add(sm.Frame)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		CheckDecode(t, s, protocol.RequestSide, data)
		CheckDecode(t, s, protocol.ResponseSide, data)
	})
}

// CheckDecode decodes data with a fresh codec for side and checks what must hold for any
// input:
//
//   - Decode does not modify its input, returns 0 <= n <= len(data), and an error that is
//     nil or wraps ErrNeedMore (then n == 0), ErrMalformed or ErrFrameTooLarge;
//   - a decoded message has a type and its Frame is data[:n] itself;
//   - Encode with an empty mutation returns that very Frame;
//   - no metadata key appears twice;
//   - the Frame alone decodes again, by a fresh codec, to the same type, id and metadata;
//   - for requests, Encode with the suite's mutation either fails or yields a frame that
//     decodes; an error reply decodes on the response side; a rewritten id decodes.
//
// A panic fails the test (the fuzzing engine records the input).
func CheckDecode(t testing.TB, s Suite, side protocol.Side, data []byte) {
	t.Helper()
	in := frameCopy(data)
	var msg protocol.Message
	n, err := s.newCodec(side).Decode(in, &msg)
	if !bytes.Equal(in, data) {
		t.Errorf("Decode modified its input")
	}
	if n < 0 || n > len(data) {
		t.Fatalf("Decode(%d bytes) consumed %d", len(data), n)
	}
	if err != nil {
		if !isDecodeError(err) {
			t.Errorf("Decode error %q wraps none of ErrNeedMore, ErrMalformed, ErrFrameTooLarge", err)
		}
		if errors.Is(err, protocol.ErrNeedMore) && n != 0 {
			t.Errorf("Decode returned ErrNeedMore after consuming %d bytes", n)
		}
		return
	}
	if n == 0 || msg.Type == 0 {
		t.Fatalf("Decode succeeded with n = %d, type %v", n, msg.Type)
	}
	if !sameMemory(msg.Frame, in[:n]) {
		t.Errorf("Message.Frame is not the decoded bytes (len %d, n %d)", len(msg.Frame), n)
	}
	if out, err := s.newCodec(side).Encode(&msg, nil); err != nil || !sameMemory(out, msg.Frame) {
		t.Errorf("Encode(empty mutation) did not return Message.Frame (err %v)", err)
	}

	// The frame on its own, in its own memory, must decode the same way.
	var again protocol.Message
	frame := frameCopy(in[:n])
	c := s.newCodec(side)
	n2, err := c.Decode(frame, &again)
	if err != nil || n2 != n {
		t.Fatalf("the decoded frame alone does not decode again: %d, %v", n2, err)
	}
	if again.Type != msg.Type || again.RequestID != msg.RequestID || again.Status != msg.Status {
		t.Errorf("decoding the frame again gives %v id %#x status %v, first time %v id %#x status %v",
			again.Type, again.RequestID, again.Status, msg.Type, msg.RequestID, msg.Status)
	}
	if !slices.Equal(again.Metadata.All(), msg.Metadata.All()) {
		t.Errorf("decoding the frame again gives metadata %v, first time %v", again.Metadata.All(), msg.Metadata.All())
	}
	checkUniqueKeys(t, &msg.Metadata)

	if again.Type == protocol.Request {
		checkErrorReplyDecodes(t, s, &again)
	}
	if again.Type.IsResponse() || again.Type == protocol.Request || again.Type == protocol.Oneway {
		checkRewriteDecodes(t, s, side, frame)
	}
	if (again.Type == protocol.Request || again.Type == protocol.Oneway) && len(s.Mutation) > 0 {
		out, err := c.Encode(&again, s.Mutation)
		if err != nil {
			return // refusing to mutate a strange frame is allowed; crashing is not
		}
		var mutated protocol.Message
		if n, err := s.newCodec(side).Decode(frameCopy(out), &mutated); err != nil || n != len(out) {
			t.Errorf("mutated frame does not decode: %d of %d bytes, %v", n, len(out), err)
		} else if mutated.Type != again.Type || mutated.RequestID != again.RequestID {
			t.Errorf("mutated frame decodes as %v id %#x, want %v id %#x", mutated.Type, mutated.RequestID, again.Type, again.RequestID)
		}
	}
}

// checkUniqueKeys reports a metadata key that appears twice. Metadata.Get returns the
// first, while the server behind the proxy may well use the last (a map keeps the last
// value): routing and authorization must not see a different value than the server.
func checkUniqueKeys(t testing.TB, md *protocol.Metadata) {
	t.Helper()
	kvs := md.All()
	for i := range kvs {
		for j := i + 1; j < len(kvs); j++ {
			if kvs[i].Key == kvs[j].Key {
				t.Errorf("metadata key %q appears twice (%q, %q); a frame that repeats a key must decode to one entry or be rejected",
					kvs[i].Key, kvs[i].Value, kvs[j].Value)
				return
			}
		}
	}
}

func checkErrorReplyDecodes(t testing.TB, s Suite, req *protocol.Message) {
	t.Helper()
	reply, err := s.newCodec(protocol.RequestSide).ErrorReply(req, protocol.NewLocalError(protocol.Internal, "codectest"))
	if err != nil {
		t.Errorf("ErrorReply: %v", err)
		return
	}
	var m protocol.Message
	n, err := s.newCodec(protocol.ResponseSide).Decode(frameCopy(reply), &m)
	if err != nil || n != len(reply) || m.RequestID != req.RequestID || m.Status != protocol.StatusError {
		t.Errorf("error reply decodes as %d bytes, %v, id %#x, status %v; want %d bytes, id %#x, StatusError",
			n, err, m.RequestID, m.Status, len(reply), req.RequestID)
	}
}

func checkRewriteDecodes(t testing.TB, s Suite, side protocol.Side, frame []byte) {
	t.Helper()
	setID := idSetterOf(s.newCodec(side))
	if setID == nil {
		return
	}
	out, err := setID(frameCopy(frame), protocol.MaxSharedRequestID)
	if err != nil {
		t.Errorf("setting the request id of a frame that decodes: %v", err)
		return
	}
	var m protocol.Message
	if n, err := s.newCodec(side).Decode(out, &m); err != nil || n != len(out) || m.RequestID != protocol.MaxSharedRequestID {
		t.Errorf("after setting the request id: Decode = %d, %v, id %#x", n, err, m.RequestID)
	}
}

// Seeds returns the suite's request and response samples as named fuzz seeds
// ("request_<name>", "response_<name>"), for codecs that write a seed corpus.
func Seeds(s Suite) map[string][]byte {
	seeds := map[string][]byte{}
	for _, sm := range s.Requests {
		seeds["request_"+sm.Name] = sm.Frame
	}
	for _, sm := range s.Responses {
		seeds["response_"+sm.Name] = sm.Frame
	}
	return seeds
}

// SeedCorpus keeps a codec's committed seed corpus in dir (testdata/fuzz/FuzzDecode): when
// the environment variable BREEZE_WRITE_FUZZ_SEEDS is set it writes seeds() there in the
// `go test fuzz v1` format; otherwise it only checks the corpus exists, so a codec cannot
// lose its seeds unnoticed.
func SeedCorpus(t *testing.T, dir string, seeds func() map[string][]byte) {
	t.Helper()
	if os.Getenv("BREEZE_WRITE_FUZZ_SEEDS") == "" {
		files, err := filepath.Glob(filepath.Join(dir, "*"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no seed corpus in %s (%v); write it with BREEZE_WRITE_FUZZ_SEEDS=1", dir, err)
		}
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, frame := range seeds() {
		data := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", frame)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
