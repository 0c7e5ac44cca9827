package pbwire

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
	trpcpb "trpc.group/trpc/trpc-protocol/pb/go/trpc"

	"github.com/breeze-mesh/breeze/protocol"
)

// TestPutVarintIsReadByProtobuf: a padded varint is what protobuf-go's parser reads, for
// every width the value fits in.
func TestPutVarintIsReadByProtobuf(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 300, 1<<31 - 1, 1 << 32, 1<<63 + 5} {
		for width := protowire.SizeVarint(v); width <= maxVarintLen; width++ {
			field := make([]byte, width)
			if !PutVarint(field, v) {
				t.Fatalf("PutVarint(%d bytes, %d) = false", width, v)
			}
			msg := append(protowire.AppendTag(nil, 1, protowire.VarintType), field...)
			var got wrapperspb.UInt64Value
			if err := proto.Unmarshal(msg, &got); err != nil || got.GetValue() != v {
				t.Errorf("%d in %d bytes (%x): protobuf-go reads %d, %v", v, width, field, got.GetValue(), err)
			}
		}
		if width := protowire.SizeVarint(v) - 1; width > 0 && PutVarint(make([]byte, width), v) {
			t.Errorf("PutVarint fit %d in %d bytes", v, width)
		}
	}
	if PutVarint(nil, 0) || PutVarint(make([]byte, 11), 1) {
		t.Errorf("PutVarint accepted an empty or an 11-byte field")
	}
}

// TestMapEntryMatchesProtobuf compares MapEntry with protobuf-go reading the same entries
// as a map<string, bytes> field (tRPC's trans_info), including entries with repeated,
// missing and unknown fields.
func TestMapEntryMatchesProtobuf(t *testing.T) {
	str := func(num protowire.Number, s string) []byte {
		return protowire.AppendString(protowire.AppendTag(nil, num, protowire.BytesType), s)
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	unknown := protowire.AppendVarint(protowire.AppendTag(nil, 7, protowire.VarintType), 9)
	entries := [][]byte{
		cat(str(1, "k"), str(2, "v")),
		cat(str(2, "v"), str(1, "k")),
		cat(str(1, "k")),
		cat(str(2, "v")),
		nil,
		cat(str(1, "a"), str(1, "b"), str(2, "x"), str(2, "y")),
		cat(unknown, str(1, "k"), unknown, str(2, "v")),
	}
	for _, e := range entries {
		key, value, err := MapEntry(e)
		if err != nil {
			t.Fatalf("MapEntry(%x): %v", e, err)
		}
		var head trpcpb.RequestProtocol
		if err := proto.Unmarshal(protowire.AppendBytes(protowire.AppendTag(nil, 9, protowire.BytesType), e), &head); err != nil {
			t.Fatal(err)
		}
		v, ok := head.TransInfo[string(key)]
		if !ok || len(head.TransInfo) != 1 || string(v) != string(value) {
			t.Errorf("MapEntry(%x) = %q: %q, protobuf-go reads %q", e, key, value, head.TransInfo)
		}
	}
	if _, _, err := MapEntry([]byte{0x0a, 0x05, 'x'}); err == nil {
		t.Errorf("MapEntry accepted a truncated key")
	}
}

func TestFieldsReportsMalformedInput(t *testing.T) {
	for _, in := range [][]byte{
		{0x08},             // varint without value
		{0x0a, 0x02, 0x00}, // bytes shorter than their length
		{0x00},             // field number 0
		{0x0c},             // end group without a start
		{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, // varint overflowing 64 bits
	} {
		f := NewFields(in)
		for f.Next() {
		}
		if f.Err() == nil {
			t.Errorf("Fields(%x) found no error", in)
		}
	}
}

func TestAppendMutated(t *testing.T) {
	var msg []byte
	msg = protowire.AppendVarint(protowire.AppendTag(msg, 1, protowire.VarintType), 5)
	msg = AppendMapEntry(msg, 9, "keep", "1")
	msg = AppendMapEntry(msg, 9, "Override", "old")
	msg = AppendMapEntry(msg, 9, "override", "old")
	msg = protowire.AppendString(protowire.AppendTag(msg, 3, protowire.BytesType), "other")
	mut := protocol.Mutation{{Key: "override", Value: "a"}, {Key: "new", Value: "b"}, {Key: "override", Value: "c"}}
	out, err := AppendMutated([]byte("prefix"), msg, 9, mut)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(out, []byte("prefix")) || len(out)-len("prefix") > MutatedSizeBound(msg, 9, mut) {
		t.Fatalf("AppendMutated wrote %d bytes, bound %d", len(out)-6, MutatedSizeBound(msg, 9, mut))
	}
	got := map[string]string{}
	var order []string
	for f := NewFields(out[6:]); f.Next(); {
		if f.Num == 9 {
			k, v, err := MapEntry(f.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if _, dup := got[string(k)]; dup {
				t.Errorf("key %q written twice", k)
			}
			got[string(k)] = string(v)
			order = append(order, string(k))
		}
	}
	want := map[string]string{"keep": "1", "Override": "old", "new": "b", "override": "c"}
	if len(got) != len(want) {
		t.Fatalf("entries %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("entry %q = %q, want %q (all: %v, order %v)", k, got[k], v, got, order)
		}
	}
	if _, err := AppendMutated(nil, []byte{0x4a, 0x02, 0x0a, 0x05}, 9, mut); err == nil {
		t.Errorf("AppendMutated accepted a malformed map entry")
	}
}

func TestSetVarint(t *testing.T) {
	field := func(v uint64) []byte {
		return protowire.AppendVarint(protowire.AppendTag(nil, 4, protowire.VarintType), v)
	}
	other := protowire.AppendString(protowire.AppendTag(nil, 2, protowire.BytesType), "x")
	cases := []struct {
		name    string
		msg     []byte
		v       uint64
		inPlace bool
	}{
		{"fits", append(field(1<<20), other...), 7, true},
		{"grows", append(field(1), other...), 1 << 20, false},
		{"absent", other, 3, false},
		{"last_occurrence", append(append(field(1), other...), field(1<<20)...), 1 << 19, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := bytes.Clone(tc.msg)
			done, err := SetVarint(msg, 4, tc.v)
			if err != nil || done != tc.inPlace {
				t.Fatalf("SetVarint = %v, %v; want %v", done, err, tc.inPlace)
			}
			if !done {
				if !bytes.Equal(msg, tc.msg) {
					t.Errorf("SetVarint changed a message it did not set")
				}
				if msg, err = AppendSetVarint(nil, msg, 4, tc.v); err != nil {
					t.Fatal(err)
				}
			}
			if v, _, _, found, err := LastVarint(msg, 4); err != nil || !found || v != tc.v {
				t.Errorf("field 4 reads %d (found %v, %v), want %d", v, found, err, tc.v)
			}
			if s := lastString(msg, 2); s != "x" {
				t.Errorf("field 2 = %q after setting field 4", s)
			}
		})
	}
	if _, err := SetVarint([]byte{0x20}, 4, 1); err == nil {
		t.Errorf("SetVarint accepted a truncated message")
	}
	if _, err := AppendSetVarint(nil, []byte{0x20}, 4, 1); err == nil {
		t.Errorf("AppendSetVarint accepted a truncated message")
	}
}

// TestTextsNeverOverwrites checks that strings handed out stay intact as blocks fill up.
func TestTextsNeverOverwrites(t *testing.T) {
	var texts Texts
	var got []string
	for i := int64(-1000); i < 1000; i++ {
		got = append(got, texts.Int(i*7919))
	}
	for i, s := range got {
		if want := (int64(i) - 1000) * 7919; s != formatInt(want) {
			t.Fatalf("string %d = %q, want %d", i, s, want)
		}
	}
	allocs := testing.AllocsPerRun(1000, func() { _ = texts.Int(1234567) })
	if allocs >= 1 {
		t.Errorf("Texts.Int allocates %.2f times per call", allocs)
	}
}

func formatInt(v int64) string { return string(decimal(v)) }

// decimal formats v without strconv, to check Texts against an independent result.
func decimal(v int64) []byte {
	if v == 0 {
		return []byte("0")
	}
	neg := v < 0
	u := uint64(v)
	if neg {
		u = uint64(-v)
	}
	var b []byte
	for ; u > 0; u /= 10 {
		b = append([]byte{byte('0' + u%10)}, b...)
	}
	if neg {
		b = append([]byte{'-'}, b...)
	}
	return b
}

// lastString is the last value of string field num in msg.
func lastString(msg []byte, num protowire.Number) string {
	s := ""
	for f := NewFields(msg); f.Next(); {
		if f.Num == num && f.Type == protowire.BytesType {
			s = string(f.Bytes)
		}
	}
	return s
}
