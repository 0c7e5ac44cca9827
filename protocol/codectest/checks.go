package codectest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/breeze-mesh/breeze/protocol"
)

// Bounds that keep the kit fast on large samples and repeatable everywhere.
const (
	// everySplitUpTo: frames up to this size are split at every byte; larger ones at the
	// first and last splitEdge bytes and about splitMiddle points in between.
	everySplitUpTo = 4096
	splitEdge      = 256
	splitMiddle    = 512

	// garbageRandom random inputs per side, garbageMutants corrupted copies per sample.
	garbageRandom  = 1000
	garbageMutants = 300
	garbageMaxLen  = 512

	// oversizedClaim is the length the oversized header claims, and allocLimit what one
	// Decode of it may allocate at most.
	oversizedClaim = 1 << 30
	allocLimit     = 1 << 20
)

// splitPoints returns the prefix lengths 1..size-1 to try (all of them for small frames),
// plus 0 when withEmpty is set.
func splitPoints(size int, withEmpty bool) []int {
	var pts []int
	if withEmpty {
		pts = append(pts, 0)
	}
	if size <= everySplitUpTo {
		for k := 1; k < size; k++ {
			pts = append(pts, k)
		}
		return pts
	}
	for k := 1; k <= splitEdge; k++ {
		pts = append(pts, k)
	}
	step := (size - 2*splitEdge) / splitMiddle
	for k := splitEdge + step; k < size-splitEdge; k += step {
		pts = append(pts, k)
	}
	for k := size - splitEdge; k < size; k++ {
		pts = append(pts, k)
	}
	return pts
}

func sampleName(sm sideSample) string { return sm.side.String() + "/" + sm.Name }

func (s *Suite) testRegistration(t *testing.T) {
	if s.New != nil {
		t.Skip("Suite.New is set: the codec is not looked up by name")
	}
	for _, name := range []string{s.Codec, protocol.AerakiCodecPrefix + s.Codec} {
		r, err := protocol.Lookup(name)
		if err != nil {
			t.Errorf("Lookup(%q): %v", name, err)
			continue
		}
		if r.Name != s.Codec {
			t.Errorf("Lookup(%q).Name = %q, want %q", name, r.Name, s.Codec)
		}
	}
	for _, side := range []protocol.Side{protocol.RequestSide, protocol.ResponseSide} {
		if s.newCodec(side) == nil {
			t.Errorf("New returned nil for the %v side", side)
		}
	}
}

func (s *Suite) testDecode(t *testing.T) {
	for _, sm := range s.samples() {
		t.Run(sampleName(sm), func(t *testing.T) {
			decodeExpect(t, s.newCodec(sm.side), frameCopy(sm.Frame), sm.Sample)
		})
	}
}

// testSplitReads feeds one codec a prefix, then the whole frame, for every split point: a
// stateful codec must not keep anything from the prefix that spoils the whole.
func (s *Suite) testSplitReads(t *testing.T) {
	for _, sm := range s.samples() {
		t.Run(sampleName(sm), func(t *testing.T) {
			c := s.newCodec(sm.side)
			buf := frameCopy(sm.Frame)
			for _, k := range splitPoints(len(buf), false) {
				var msg protocol.Message
				if n, err := c.Decode(buf[:k:k], &msg); n != 0 || !errors.Is(err, protocol.ErrNeedMore) {
					t.Fatalf("Decode(first %d of %d bytes) = %d, %v; want 0, ErrNeedMore", k, len(buf), n, err)
				}
				if decodeExpect(t, c, buf, sm.Sample) == nil {
					t.Fatalf("whole frame failed after a %d-byte prefix", k)
				}
			}
		})
	}
}

// testByteByByte grows the input the way the proxy does, re-calling Decode as bytes arrive.
func (s *Suite) testByteByByte(t *testing.T) {
	for _, sm := range s.samples() {
		t.Run(sampleName(sm), func(t *testing.T) {
			c := s.newCodec(sm.side)
			buf := frameCopy(sm.Frame)
			for _, k := range splitPoints(len(buf), true) {
				var msg protocol.Message
				if n, err := c.Decode(buf[:k:k], &msg); n != 0 || !errors.Is(err, protocol.ErrNeedMore) {
					t.Fatalf("Decode(first %d of %d bytes) = %d, %v; want 0, ErrNeedMore", k, len(buf), n, err)
				}
			}
			decodeExpect(t, c, buf, sm.Sample)
		})
	}
}

// testTruncated gives every proper prefix to a fresh codec.
func (s *Suite) testTruncated(t *testing.T) {
	for _, sm := range s.samples() {
		t.Run(sampleName(sm), func(t *testing.T) {
			for _, k := range splitPoints(len(sm.Frame), true) {
				var msg protocol.Message
				prefix := frameCopy(sm.Frame[:k])
				if n, err := s.newCodec(sm.side).Decode(prefix, &msg); n != 0 || !errors.Is(err, protocol.ErrNeedMore) {
					t.Fatalf("Decode(first %d of %d bytes) = %d, %v; want 0, ErrNeedMore", k, len(sm.Frame), n, err)
				}
			}
		})
	}
}

// testPipelined decodes all of a side's samples, twice over, from one buffer, reusing one
// message as the proxy does, then checks that encoding a mutation of one frame leaves the
// frames after it untouched.
func (s *Suite) testPipelined(t *testing.T) {
	for _, side := range []protocol.Side{protocol.RequestSide, protocol.ResponseSide} {
		var frames []Sample
		for _, sm := range s.samples() {
			if sm.side == side {
				frames = append(frames, sm.Sample)
			}
		}
		if len(frames) == 0 {
			continue
		}
		frames = append(frames, frames...)
		t.Run(side.String(), func(t *testing.T) {
			var stream []byte
			for _, f := range frames {
				stream = append(stream, f.Frame...)
			}
			c := s.newCodec(side)
			var msg protocol.Message
			rest := stream
			for i, f := range frames {
				msg.Reset()
				n, err := c.Decode(rest, &msg)
				if err != nil || n != len(f.Frame) {
					t.Fatalf("frame %d (%s): Decode = %d, %v; want %d, nil", i, f.Name, n, err, len(f.Frame))
				}
				checkMessage(t, &msg, rest[:n], f)
				rest = rest[n:]
			}
			if n, err := c.Decode(rest, &msg); n != 0 || !errors.Is(err, protocol.ErrNeedMore) {
				t.Errorf("Decode(empty rest) = %d, %v; want 0, ErrNeedMore", n, err)
			}
			partial := append(frameCopy(frames[0].Frame), frames[1].Frame[:len(frames[1].Frame)-1]...)
			msg.Reset()
			if n, err := c.Decode(partial, &msg); n != len(frames[0].Frame) || err != nil {
				t.Errorf("Decode(frame + partial frame) = %d, %v; want %d, nil", n, err, len(frames[0].Frame))
			}
			msg.Reset()
			if n, err := c.Decode(partial[len(frames[0].Frame):], &msg); n != 0 || !errors.Is(err, protocol.ErrNeedMore) {
				t.Errorf("Decode(partial frame after a whole one) = %d, %v; want 0, ErrNeedMore", n, err)
			}
			s.checkEncodeKeepsNeighbours(t, c, stream, frames)
		})
	}
}

// checkEncodeKeepsNeighbours encodes each frame of stream with a mutation and checks that
// the bytes after it are unchanged: the proxy's read buffer still holds them.
func (s *Suite) checkEncodeKeepsNeighbours(t *testing.T, c protocol.Codec, stream []byte, frames []Sample) {
	t.Helper()
	mut := s.Mutation
	if len(mut) == 0 {
		mut = protocol.Mutation{{Key: "codectest-key", Value: "codectest-value"}}
	}
	before := frameCopy(stream)
	off := 0
	for _, f := range frames {
		var msg protocol.Message
		n, err := c.Decode(stream[off:], &msg)
		if err != nil {
			t.Fatalf("frame %s at offset %d: %v", f.Name, off, err)
		}
		if _, err := c.Encode(&msg, mut); err != nil {
			t.Errorf("frame %s: Encode with a mutation: %v", f.Name, err)
		}
		if !bytes.Equal(stream[off+n:], before[off+n:]) {
			t.Fatalf("Encode of frame %s overwrote the bytes after it in the read buffer", f.Name)
		}
		off += n
	}
}

// testGarbage feeds random bytes and corrupted samples; the invariants are those of
// CheckDecode. Seeds are fixed so failures repeat.
func (s *Suite) testGarbage(t *testing.T) {
	for _, side := range []protocol.Side{protocol.RequestSide, protocol.ResponseSide} {
		t.Run(side.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(side)))
			samples := s.samples()
			for i := 0; i < garbageRandom && !t.Failed(); i++ {
				data := make([]byte, rng.IntN(garbageMaxLen))
				for j := range data {
					data[j] = byte(rng.Uint32())
				}
				// Half the inputs start like a real frame, to get past magic numbers.
				if i%2 == 1 {
					real := samples[rng.IntN(len(samples))].Frame
					copy(data, real[:min(len(real), 1+rng.IntN(16))])
				}
				s.checkGarbage(t, side, data)
			}
			for _, sm := range samples {
				for i := 0; i < garbageMutants && !t.Failed(); i++ {
					s.checkGarbage(t, side, mutate(rng, sm.Frame))
				}
			}
		})
	}
}

// mutate returns a corrupted copy of frame: flipped bytes, a cut, or appended junk.
func mutate(rng *rand.Rand, frame []byte) []byte {
	data := frameCopy(frame)
	switch rng.IntN(4) {
	case 0: // cut
		data = data[:rng.IntN(len(data)+1)]
	case 1: // append junk
		for n := 1 + rng.IntN(32); n > 0; n-- {
			data = append(data, byte(rng.Uint32()))
		}
	}
	for n := 1 + rng.IntN(4); n > 0 && len(data) > 0; n-- {
		i := rng.IntN(len(data))
		switch rng.IntN(3) {
		case 0:
			data[i] ^= byte(1 << rng.IntN(8))
		case 1:
			data[i] = byte(rng.Uint32())
		default:
			data[i] = []byte{0x00, 0x7f, 0x80, 0xff}[rng.IntN(4)]
		}
	}
	return data
}

func (s *Suite) checkGarbage(t *testing.T, side protocol.Side, data []byte) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("panic on %s-side input %s: %v\n%s", side, describeInput(data), r, debug.Stack())
		}
	}()
	CheckDecode(t, *s, side, data)
	if t.Failed() {
		t.Logf("failing %s-side input: %s", side, describeInput(data))
	}
}

// describeInput shows a failing input in hex, shortened when long: the seeds are fixed, so
// the whole input comes back on the next run.
func describeInput(data []byte) string {
	const show = 256
	if len(data) <= show {
		return fmt.Sprintf("%x", data)
	}
	return fmt.Sprintf("%x... (%d bytes)", data[:show], len(data))
}

// testFrameTooLarge checks that a length field claiming 1 GiB (and one byte over the limit)
// is refused with ErrFrameTooLarge, and that refusing it allocates almost nothing.
func (s *Suite) testFrameTooLarge(t *testing.T) {
	for _, claim := range []int{oversizedClaim, s.maxFrameSize() + 1} {
		hdr := s.OversizedHeader(claim)
		c := s.newCodec(protocol.RequestSide)
		var msg protocol.Message
		if n, err := c.Decode(frameCopy(hdr), &msg); !errors.Is(err, protocol.ErrFrameTooLarge) || n < 0 || n > len(hdr) {
			t.Errorf("Decode(header claiming %d bytes, limit %d) = %d, %v; want ErrFrameTooLarge", claim, s.maxFrameSize(), n, err)
		}
	}

	hdr := frameCopy(s.OversizedHeader(oversizedClaim))
	c := s.newCodec(protocol.RequestSide)
	var msg protocol.Message
	_, _ = c.Decode(hdr, &msg) // warm up lazily built codec state
	const runs = 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < runs; i++ {
		msg.Reset()
		_, _ = c.Decode(hdr, &msg)
	}
	runtime.ReadMemStats(&after)
	if perCall := (after.TotalAlloc - before.TotalAlloc) / runs; perCall >= allocLimit {
		t.Errorf("refusing a 1 GiB length field allocated %d bytes per Decode; the length must be checked before allocating", perCall)
	}
}

// testFrameSizeLimit checks that MaxFrameSize bounds the whole frame exactly: a frame of the
// limit's size decodes, one byte more is refused.
func (s *Suite) testFrameSizeLimit(t *testing.T) {
	for _, sm := range s.samples() {
		if len(sm.Frame) < 2 {
			continue
		}
		t.Run(sampleName(sm), func(t *testing.T) {
			var msg protocol.Message
			c := s.newCodecLimit(sm.side, len(sm.Frame)-1)
			if n, err := c.Decode(frameCopy(sm.Frame), &msg); !errors.Is(err, protocol.ErrFrameTooLarge) {
				t.Errorf("with MaxFrameSize %d, Decode(%d-byte frame) = %d, %v; want ErrFrameTooLarge",
					len(sm.Frame)-1, len(sm.Frame), n, err)
			}
			decodeExpect(t, s.newCodecLimit(sm.side, len(sm.Frame)), frameCopy(sm.Frame), sm.Sample)
		})
	}
}

// testRoundTrip checks that an empty mutation forwards the frame as the original bytes.
func (s *Suite) testRoundTrip(t *testing.T) {
	for _, sm := range s.samples() {
		t.Run(sampleName(sm), func(t *testing.T) {
			c := s.newCodec(sm.side)
			msg := decodeExpect(t, c, frameCopy(sm.Frame), sm.Sample)
			if msg == nil {
				return
			}
			for _, mut := range []protocol.Mutation{nil, {}} {
				out, err := c.Encode(msg, mut)
				if err != nil {
					t.Fatalf("Encode(empty mutation): %v", err)
				}
				if !sameMemory(out, msg.Frame) {
					t.Errorf("Encode(empty mutation) must return Message.Frame itself, not a copy (len %d, want %d)", len(out), len(msg.Frame))
				}
			}
		})
	}
}

// testMutation encodes every request with the suite's mutation and decodes the result.
func (s *Suite) testMutation(t *testing.T) {
	for _, sm := range s.Requests {
		if sm.Type != protocol.Request && sm.Type != protocol.Oneway {
			continue
		}
		t.Run(sm.Name, func(t *testing.T) {
			c := s.newCodec(protocol.RequestSide)
			msg := decodeExpect(t, c, frameCopy(sm.Frame), sm)
			if msg == nil {
				return
			}
			if len(s.Mutation) == 0 {
				out, err := c.Encode(msg, protocol.Mutation{{Key: "codectest-key", Value: "codectest-value"}})
				if err != nil || !sameMemory(out, msg.Frame) {
					t.Errorf("Suite.Mutation is empty, so the codec cannot carry mutations and Encode must return Message.Frame unchanged (err %v)", err)
				}
				return
			}
			// Metadata may alias the frame, which Encode may reuse: keep a private copy.
			original := metadataMap(&msg.Metadata)
			for k, v := range original {
				original[k] = strings.Clone(v)
			}
			out, err := c.Encode(msg, s.Mutation)
			if err != nil {
				t.Fatalf("Encode(%v): %v", s.Mutation, err)
			}
			var got protocol.Message
			n, err := s.newCodec(protocol.RequestSide).Decode(frameCopy(out), &got)
			if err != nil || n != len(out) {
				t.Fatalf("Decode(mutated frame of %d bytes) = %d, %v", len(out), n, err)
			}
			if got.Type != sm.Type || got.RequestID != sm.RequestID {
				t.Errorf("mutated frame decodes as %v id %#x, want %v id %#x", got.Type, got.RequestID, sm.Type, sm.RequestID)
			}
			if s.CheckMutated != nil {
				s.CheckMutated(t, sm, &got)
				return
			}
			want := effectiveMutation(s.Mutation)
			for _, k := range sortedKeys(want) {
				if v, ok := got.Metadata.Get(k); !ok || v != want[k] {
					t.Errorf("mutated metadata %q = %q (present %v), want %q", k, v, ok, want[k])
				}
			}
			for _, k := range sortedKeys(original) {
				if _, mutated := want[k]; mutated {
					continue
				}
				if v, ok := got.Metadata.Get(k); !ok || v != original[k] {
					t.Errorf("metadata %q = %q (present %v) after mutation, want it kept as %q", k, v, ok, original[k])
				}
			}
		})
	}
}

// testErrorReply builds an error reply of every kind for every request and decodes it on the
// response side. The replies' Codes must be consistent: one kind always decodes to the same
// Code, and either every reply has a Code (the protocol's status of the failure, which
// metrics show) or none has (a protocol without status codes). A codec that advises on
// retries must call exactly the RetriableKinds' replies retriable.
func (s *Suite) testErrorReply(t *testing.T) {
	codes := map[protocol.ErrorKind]int32{}
	zero, nonZero := 0, 0
	defer func() {
		if s.StatusCodes && zero > 0 {
			t.Errorf("error replies decode with Code 0 %d times (kind → code: %v): the suite says the protocol has status codes", zero, codes)
		}
		if zero > 0 && nonZero > 0 {
			t.Errorf("error replies decode with Code 0 %d times and with a non-zero Code %d times (kind → code: %v): a protocol with status codes should give every reply one", zero, nonZero, codes)
		}
	}()
	for _, sm := range s.Requests {
		if sm.Type != protocol.Request {
			continue
		}
		t.Run(sm.Name, func(t *testing.T) {
			c := s.newCodec(protocol.RequestSide)
			decoded := decodeExpect(t, c, frameCopy(sm.Frame), sm)
			if decoded == nil {
				return
			}
			// The proxy also answers requests that failed to decode past the header.
			bare := &protocol.Message{Type: sm.Type, RequestID: sm.RequestID}
			for _, req := range []*protocol.Message{decoded, bare} {
				for _, kind := range protocol.ErrorKinds() {
					e := protocol.NewLocalError(kind, "codectest: %s for %s", kind, sm.Name)
					reply, err := c.ErrorReply(req, e)
					if err != nil {
						t.Errorf("ErrorReply(%v): %v", kind, err)
						continue
					}
					rc := s.newCodec(protocol.ResponseSide)
					checkReply(t, rc, reply, sm.RequestID, fmt.Sprintf("error reply (%v)", kind),
						func(m *protocol.Message) error {
							if !m.Type.IsResponse() || m.Status != protocol.StatusError {
								return fmt.Errorf("decodes as %v with status %v, want a response or error with StatusError", m.Type, m.Status)
							}
							if advisor, ok := rc.(protocol.RetryAdvisor); ok {
								if got, want := advisor.Retriable(m), slices.Contains(s.RetriableKinds, kind); got != want {
									return fmt.Errorf("(Code %d) is retriable: %v, want %v (Suite.RetriableKinds: %v)", m.Code, got, want, s.RetriableKinds)
								}
							}
							if m.Code == 0 {
								zero++
							} else {
								nonZero++
							}
							if c, seen := codes[kind]; seen && c != m.Code {
								return fmt.Errorf("decodes with Code %d, another %v reply with %d", m.Code, kind, c)
							}
							codes[kind] = m.Code
							return nil
						})
				}
			}
		})
	}
}

// checkReply decodes a locally built reply with a response-side codec and checks its id and
// whatever want checks.
func checkReply(t testing.TB, c protocol.Codec, reply []byte, id uint64, what string, want func(*protocol.Message) error) {
	t.Helper()
	var m protocol.Message
	n, err := c.Decode(frameCopy(reply), &m)
	switch {
	case err != nil:
		t.Errorf("%s does not decode: %v", what, err)
	case n != len(reply):
		t.Errorf("%s: Decode consumed %d of %d bytes", what, n, len(reply))
	case m.RequestID != id:
		t.Errorf("%s carries id %#x, want %#x", what, m.RequestID, id)
	default:
		if err := want(&m); err != nil {
			t.Errorf("%s %v", what, err)
		}
	}
}

// rewriteIDs are the ids the rewrite check sets: small, byte boundaries, the largest the
// proxy uses.
var rewriteIDs = []uint64{1, 2, 0xff, 0x100, 0x12345, protocol.MaxSharedRequestID}

func (s *Suite) testRewriteRequestID(t *testing.T) {
	if idSetterOf(s.newCodec(protocol.RequestSide)) == nil {
		t.Skip("codec implements neither protocol.IDRewriter nor protocol.IDReplacer")
	}
	for _, sm := range s.samples() {
		switch sm.Type {
		case protocol.Request, protocol.Response, protocol.Error, protocol.Oneway:
		default:
			continue
		}
		t.Run(sampleName(sm), func(t *testing.T) {
			c := s.newCodec(sm.side)
			setID := idSetterOf(c)
			orig := decodeExpect(t, c, frameCopy(sm.Frame), sm.Sample)
			if orig == nil {
				return
			}
			wantMeta := metadataMap(&orig.Metadata)
			for _, id := range rewriteIDs {
				buf := frameCopy(sm.Frame)
				out, err := setID(buf, id)
				if err != nil {
					t.Fatalf("setting request id %#x: %v", id, err)
				}
				if !sameMemory(out, buf) && !bytes.Equal(buf, sm.Frame) {
					t.Errorf("setting request id %#x returned a new frame but modified the old one", id)
				}
				var m protocol.Message
				n, err := s.newCodec(sm.side).Decode(frameCopy(out), &m)
				if err != nil || n != len(out) {
					t.Fatalf("after setting request id %#x: Decode = %d, %v", id, n, err)
				}
				if m.RequestID != id || m.Type != sm.Type {
					t.Errorf("after setting request id %#x: decodes as %v id %#x", id, m.Type, m.RequestID)
				}
				checkMetadata(t, &m.Metadata, wantMeta, false)
				back, err := setID(out, sm.RequestID)
				if err != nil {
					t.Fatalf("setting request id back to %#x: %v", sm.RequestID, err)
				}
				// An IDReplacer may leave a wider id field than the original had; a frame of the
				// original length must be the original bytes.
				if len(back) == len(sm.Frame) && !bytes.Equal(back, sm.Frame) {
					t.Errorf("setting the id to %#x and back did not restore the original bytes", id)
				}
				if _, ok := c.(protocol.IDReplacer); !ok && !sameMemory(back, buf) {
					t.Errorf("RewriteRequestID did not rewrite in place")
				}
				var restored protocol.Message
				if n, err := s.newCodec(sm.side).Decode(frameCopy(back), &restored); err != nil || n != len(back) || restored.RequestID != sm.RequestID {
					t.Errorf("after setting request id %#x and back: Decode = %d, %v, id %#x", id, n, err, restored.RequestID)
				}
			}
			if _, err := setID(nil, 1); err == nil {
				t.Errorf("setting the request id of an empty frame returned no error")
			}
		})
	}
}

// idSetterOf returns how c sets a frame's request id, or nil if it cannot: an
// [protocol.IDReplacer] is preferred, an [protocol.IDRewriter] returns the frame it rewrote.
func idSetterOf(c protocol.Codec) func(frame []byte, id uint64) ([]byte, error) {
	switch rw := c.(type) {
	case protocol.IDReplacer:
		return rw.ReplaceRequestID
	case protocol.IDRewriter:
		return func(frame []byte, id uint64) ([]byte, error) { return frame, rw.RewriteRequestID(frame, id) }
	}
	return nil
}

func (s *Suite) testHeartbeatReply(t *testing.T) {
	if _, ok := s.newCodec(protocol.RequestSide).(protocol.HeartbeatResponder); !ok {
		t.Skip("codec does not implement protocol.HeartbeatResponder")
	}
	tested := false
	for _, sm := range s.Requests {
		if sm.Type != protocol.Heartbeat {
			continue
		}
		tested = true
		t.Run(sm.Name, func(t *testing.T) {
			c := s.newCodec(protocol.RequestSide)
			msg := decodeExpect(t, c, frameCopy(sm.Frame), sm)
			if msg == nil {
				return
			}
			reply, err := c.(protocol.HeartbeatResponder).HeartbeatReply(msg)
			if err != nil {
				t.Fatalf("HeartbeatReply: %v", err)
			}
			checkReply(t, s.newCodec(protocol.ResponseSide), reply, sm.RequestID, "heartbeat reply", func(m *protocol.Message) error {
				if m.Type != protocol.Heartbeat {
					return fmt.Errorf("decodes as %v, want heartbeat", m.Type)
				}
				return nil
			})
		})
	}
	if !tested {
		t.Skip("the codec answers heartbeats but the suite has no heartbeat request sample")
	}
}

func (s *Suite) testSniff(t *testing.T) {
	sn, ok := s.newCodec(protocol.RequestSide).(protocol.Sniffer)
	if !ok {
		t.Skip("codec does not implement protocol.Sniffer")
	}
	for _, sm := range s.samples() {
		t.Run(sampleName(sm), func(t *testing.T) {
			if got := sn.Sniff(frameCopy(sm.Frame)); got != protocol.SniffYes {
				t.Errorf("Sniff(whole frame) = %s, want yes", sniffName(got))
			}
			for _, k := range splitPoints(len(sm.Frame), true) {
				if got := sn.Sniff(frameCopy(sm.Frame[:k])); got == protocol.SniffNo {
					t.Fatalf("Sniff(first %d bytes) = SniffNo for a real frame", k)
				}
			}
		})
	}
}

func sniffName(r protocol.SniffResult) string {
	switch r {
	case protocol.SniffNo:
		return "no"
	case protocol.SniffYes:
		return "yes"
	case protocol.SniffNeedMore:
		return "need more"
	}
	return fmt.Sprintf("SniffResult(%d)", uint8(r))
}
