package codectest

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/breeze-mesh/breeze/protocol"
)

// Suite describes a codec and sample frames for [Run].
type Suite struct {
	// Codec is the codec's registered name; Run looks it up with protocol.Lookup. It is
	// ignored when New is set.
	Codec string
	// New builds the codec directly, for codecs that are not registered (or to test a
	// variant). Either Codec or New must be set.
	New func(protocol.Options) protocol.Codec
	// MaxFrameSize is the limit given to codecs the kit builds; 0 means
	// protocol.DefaultMaxFrameSize. It must stay well below 1 GiB.
	MaxFrameSize int

	// Requests are frames a client sends, decoded by a RequestSide codec. Heartbeat
	// requests belong here too (Type protocol.Heartbeat); they are used to check
	// HeartbeatReply. At least one sample of Type protocol.Request is required.
	Requests []Sample
	// Responses are frames a server sends, decoded by a ResponseSide codec.
	Responses []Sample

	// OversizedHeader returns the start of a request frame whose length field claims a
	// frame of size bytes. It needs to hold only as many bytes as the codec reads to find
	// the length; the kit passes 1 GiB and expects ErrFrameTooLarge before any allocation.
	OversizedHeader func(size int) []byte

	// Mutation is applied to every request sample of Type Request or Oneway by Encode, and
	// the result decoded again. Leave it empty for a protocol that cannot carry mutations
	// (Encode then must return the frame unchanged, which the kit checks with a
	// one-entry mutation).
	Mutation protocol.Mutation
	// CheckMutated replaces the default check of a mutated frame (that every mutation
	// key decodes with its value and the other metadata is kept). It gets the sample and
	// the decoded mutated frame.
	CheckMutated func(t *testing.T, original Sample, mutated *protocol.Message)

	// StatusCodes says the protocol has status codes (Message.Code): every error reply
	// must then decode with a non-zero Code, so metrics and retry policies can tell the
	// failures apart. Without it, every reply must decode with Code 0 or none may.
	StatusCodes bool

	// RetriableKinds are the error kinds whose replies the codec's [protocol.RetryAdvisor]
	// must call retriable once decoded (the proxy refused before the request ran anywhere,
	// so a retry policy may send it elsewhere); every other kind's reply must not be. It is
	// checked when the codec implements RetryAdvisor, and must be empty when it does not.
	RetriableKinds []protocol.ErrorKind
}

// Sample is one real frame and what decoding it must produce.
type Sample struct {
	// Name names the sample's subtests.
	Name string
	// Frame is exactly one complete frame.
	Frame []byte
	// Type, RequestID and Status are the expected decoded values.
	Type      protocol.MessageType
	RequestID uint64
	Status    protocol.Status
	// Metadata is the metadata the frame must decode to: exactly these keys, unless
	// MetadataSubset is set, in which case other keys may be present too.
	Metadata       map[string]string
	MetadataSubset bool
}

// Run runs the conformance checks on s as subtests of t.
func Run(t *testing.T, s Suite) {
	t.Helper()
	if err := s.validate(); err != nil {
		t.Fatalf("codectest: invalid Suite: %v", err)
	}
	t.Run("registration", s.testRegistration)
	t.Run("decode", s.testDecode)
	t.Run("split_reads", s.testSplitReads)
	t.Run("byte_by_byte", s.testByteByByte)
	t.Run("truncated", s.testTruncated)
	t.Run("pipelined", s.testPipelined)
	t.Run("garbage", s.testGarbage)
	t.Run("frame_too_large", s.testFrameTooLarge)
	t.Run("frame_size_limit", s.testFrameSizeLimit)
	t.Run("round_trip", s.testRoundTrip)
	t.Run("mutation", s.testMutation)
	t.Run("error_reply", s.testErrorReply)
	t.Run("rewrite_request_id", s.testRewriteRequestID)
	t.Run("heartbeat_reply", s.testHeartbeatReply)
	t.Run("sniff", s.testSniff)
}

func (s *Suite) validate() error {
	if s.New == nil {
		if s.Codec == "" {
			return errors.New("set Codec or New")
		}
		if _, err := protocol.Lookup(s.Codec); err != nil {
			return err
		}
	}
	if s.MaxFrameSize < 0 || s.MaxFrameSize >= 1<<30 {
		return fmt.Errorf("MaxFrameSize %d must be in [0, 1 GiB)", s.MaxFrameSize)
	}
	if s.OversizedHeader == nil {
		return errors.New("OversizedHeader is required: every codec must refuse a huge length field")
	}
	if _, advises := s.newCodec(protocol.ResponseSide).(protocol.RetryAdvisor); !advises && len(s.RetriableKinds) > 0 {
		return errors.New("RetriableKinds is set but the codec does not implement protocol.RetryAdvisor")
	}
	hasRequest := false
	for _, sm := range s.samples() {
		if sm.Name == "" || len(sm.Frame) == 0 {
			return fmt.Errorf("every sample needs a Name and a Frame (got %q with %d bytes)", sm.Name, len(sm.Frame))
		}
		if sm.Type == 0 {
			return fmt.Errorf("sample %q: Type is not set", sm.Name)
		}
		if len(sm.Frame) > s.maxFrameSize() {
			return fmt.Errorf("sample %q is larger than MaxFrameSize", sm.Name)
		}
	}
	for _, sm := range s.Requests {
		hasRequest = hasRequest || sm.Type == protocol.Request
	}
	if !hasRequest {
		return errors.New("at least one request sample of Type protocol.Request is required")
	}
	return nil
}

func (s *Suite) maxFrameSize() int {
	if s.MaxFrameSize > 0 {
		return s.MaxFrameSize
	}
	return protocol.DefaultMaxFrameSize
}

// newCodec builds a fresh codec for side with the suite's frame limit.
func (s *Suite) newCodec(side protocol.Side) protocol.Codec {
	return s.newCodecLimit(side, s.maxFrameSize())
}

func (s *Suite) newCodecLimit(side protocol.Side, maxFrameSize int) protocol.Codec {
	o := protocol.Options{Side: side, MaxFrameSize: maxFrameSize}
	if s.New != nil {
		return s.New(o)
	}
	r, err := protocol.Lookup(s.Codec)
	if err != nil {
		panic(err) // validate has looked it up already
	}
	return r.New(o)
}

// sideSample is a sample with the side that decodes it.
type sideSample struct {
	Sample
	side protocol.Side
}

func (s *Suite) samples() []sideSample {
	all := make([]sideSample, 0, len(s.Requests)+len(s.Responses))
	for _, sm := range s.Requests {
		all = append(all, sideSample{sm, protocol.RequestSide})
	}
	for _, sm := range s.Responses {
		all = append(all, sideSample{sm, protocol.ResponseSide})
	}
	return all
}

// frameCopy returns a private copy of the sample's frame with no spare capacity, so a codec
// that reads or writes past the frame panics or shows up instead of touching the suite.
func frameCopy(frame []byte) []byte {
	return append(make([]byte, 0, len(frame)), frame...)
}

// decodeExpect decodes one complete frame and checks it against the sample. It reports
// through t and returns the message (nil when decoding failed).
func decodeExpect(t testing.TB, c protocol.Codec, buf []byte, want Sample) *protocol.Message {
	t.Helper()
	before := frameCopy(buf)
	var msg protocol.Message
	n, err := c.Decode(buf, &msg)
	if !bytes.Equal(buf, before) {
		t.Errorf("Decode modified its input")
	}
	if err != nil {
		t.Errorf("Decode(%d bytes) = %d, %v; want the whole frame", len(buf), n, err)
		return nil
	}
	if n != len(want.Frame) {
		t.Errorf("Decode consumed %d bytes, want %d", n, len(want.Frame))
		return nil
	}
	checkMessage(t, &msg, buf[:n], want)
	return &msg
}

// checkMessage compares a decoded message with the sample it came from.
func checkMessage(t testing.TB, msg *protocol.Message, frame []byte, want Sample) {
	t.Helper()
	if msg.Type != want.Type {
		t.Errorf("Type = %v, want %v", msg.Type, want.Type)
	}
	if msg.RequestID != want.RequestID {
		t.Errorf("RequestID = %#x, want %#x", msg.RequestID, want.RequestID)
	}
	if msg.Type.IsResponse() && msg.Status != want.Status {
		t.Errorf("Status = %v, want %v", msg.Status, want.Status)
	}
	if !sameMemory(msg.Frame, frame) {
		t.Errorf("Message.Frame must be the decoded bytes themselves (len %d, want %d, same start: %v)",
			len(msg.Frame), len(frame), len(msg.Frame) > 0 && len(frame) > 0 && &msg.Frame[0] == &frame[0])
	}
	checkMetadata(t, &msg.Metadata, want.Metadata, want.MetadataSubset)
}

func checkMetadata(t testing.TB, md *protocol.Metadata, want map[string]string, subset bool) {
	t.Helper()
	for k, v := range want {
		got, ok := md.Get(k)
		switch {
		case !ok:
			t.Errorf("metadata %q missing, want %q", k, v)
		case got != v:
			t.Errorf("metadata %q = %q, want %q", k, got, v)
		}
	}
	if subset || md.Len() == len(want) {
		return
	}
	var extra []string
	for _, kv := range md.All() {
		if v, ok := want[kv.Key]; !ok || v != kv.Value {
			extra = append(extra, fmt.Sprintf("%s=%q", kv.Key, kv.Value))
		}
	}
	if len(extra) == 0 {
		extra = append(extra, "(duplicate keys)")
	}
	t.Errorf("metadata has %d entries, want %d; unexpected: %s", md.Len(), len(want), strings.Join(extra, ", "))
}

// sameMemory reports whether a and b are the same bytes in memory (same start and length).
func sameMemory(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	return len(a) == 0 || &a[0] == &b[0]
}

// metadataMap flattens metadata for comparisons; a duplicated key keeps its first value,
// as Metadata.Get does.
func metadataMap(md *protocol.Metadata) map[string]string {
	m := make(map[string]string, md.Len())
	for _, kv := range md.All() {
		if _, dup := m[kv.Key]; !dup {
			m[kv.Key] = kv.Value
		}
	}
	return m
}

// effectiveMutation resolves repeated keys (a later entry wins) into a map.
func effectiveMutation(mut protocol.Mutation) map[string]string {
	m := make(map[string]string, len(mut))
	for _, kv := range mut {
		m[kv.Key] = kv.Value
	}
	return m
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// isDecodeError reports whether err is one of the errors Decode may return.
func isDecodeError(err error) bool {
	return errors.Is(err, protocol.ErrNeedMore) || errors.Is(err, protocol.ErrMalformed) ||
		errors.Is(err, protocol.ErrFrameTooLarge)
}
