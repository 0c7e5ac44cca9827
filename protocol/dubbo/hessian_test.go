package dubbo

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
	"unsafe"

	hessian "github.com/apache/dubbo-go-hessian2"

	"github.com/breeze-mesh/breeze/protocol"
)

// peerEncode encodes values in one hessian2 stream with dubbo-go-hessian2.
func peerEncode(t testing.TB, values ...any) []byte {
	t.Helper()
	e := hessian.NewEncoder()
	for _, v := range values {
		if err := e.Encode(v); err != nil {
			t.Fatalf("dubbo-go-hessian2 Encode(%T): %v", v, err)
		}
	}
	return e.Buffer()
}

// TestSkipPeerValues steps over every kind of value dubbo-go-hessian2 writes and checks the
// reader lands exactly on the next value.
func TestSkipPeerValues(t *testing.T) {
	values := append(peerArgs(),
		"", strings.Repeat("x", 31), strings.Repeat("x", 32), strings.Repeat("x", 1023), strings.Repeat("x", 1024),
		strings.Repeat("é", 70000), strings.Repeat("😀", 5000),
		int32(-16), int32(47), int32(48), int32(-2048), int32(2047), int32(-262144), int32(262143), int32(-1<<31),
		int64(-8), int64(15), int64(-2048), int64(2047), int64(-262144), int64(262143), int64(1<<31-1), int64(-1<<63),
		-128.0, 127.0, -32768.0, 32767.0, 0.001, 1e300,
		false,
		[]byte{}, bytes.Repeat([]byte{1}, 15), bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{1}, 1023), bytes.Repeat([]byte{1}, 1024),
		time.Unix(0, 0), time.Date(2020, 1, 1, 0, 1, 0, 0, time.UTC),
		[]any{}, []any{1, 2, 3, 4, 5, 6, 7, 8, 9},
		map[any]any{}, map[string]int32{"a": 1},
		[]*User{{Name: "a"}, {Name: "b"}},
		&Address{City: "Zürich"},
	)
	for i, v := range values {
		t.Run(fmt.Sprintf("%d_%T", i, v), func(t *testing.T) {
			enc := peerEncode(t, v)
			body := append(bytes.Clone(enc), 'Z') // a sentinel the skip must stop before
			var r hessianReader
			r.reset(body)
			if err := r.skip(); err != nil {
				t.Fatalf("skip(%x): %v", enc, err)
			}
			if r.pos != len(enc) {
				t.Fatalf("skip stopped at %d of %d bytes (%x)", r.pos, len(enc), enc)
			}
		})
	}
	// All of them in one stream: class definitions and references carry across values.
	all := peerEncode(t, values...)
	var r hessianReader
	r.reset(all)
	if err := r.skipN(len(values), 0); err != nil || !r.atEnd() {
		t.Fatalf("skipping the whole stream: %v at %d of %d", err, r.pos, len(all))
	}
}

// TestSkipHandWritten covers encodings dubbo-go-hessian2 does not write but Java may.
func TestSkipHandWritten(t *testing.T) {
	cases := []struct {
		name string
		enc  string
	}{
		{"chunked_string", "R\x00\x02ab" + "R\x00\x01c" + "\x02de"},
		{"chunked_string_short_final", "R\x00\x01a" + "\x30\x02bc"},
		{"binary_chunks", "A\x00\x02\x01\x02" + "B\x00\x01\x03"},
		{"binary_chunk_compact_final", "A\x00\x01\x01" + "\x22\x01\x02"},
		{"binary_short", "\x34\x03\x01\x02\x03"},
		{"minute_date", "K\x00\x00\x00\x01"},
		{"double_as_float", "\x5f\x00\x00\x00\x01"},
		{"long_as_int", "Y\x00\x00\x00\x01"},
		{"long_3_byte", "\x3c\x00\x01"},
		{"variable_typed_list", "U\x04[int\x91\x92Z"},
		{"variable_typed_list_type_ref", "U\x90\x91Z"},
		{"fixed_typed_list", "V\x04[int\x92\x91\x92"},
		{"variable_untyped_list", "W\x91\x92\x93Z"},
		{"fixed_untyped_list", "X\x92\x91\x92"},
		{"compact_typed_list", "\x72\x04[int\x91\x92"},
		{"compact_untyped_list", "\x7f\x90\x90\x90\x90\x90\x90\x90"},
		{"typed_map", "M\x08java.Map\x01a\x91Z"},
		{"typed_map_type_ref", "M\x91\x01a\x91Z"},
		{"untyped_map_non_string_keys", "H\x91\x01a\x92NZ"},
		{"object_long_form", "C\x01P\x91\x01xO\x90\x91"},
		{"object_compact", "C\x01P\x92\x01x\x01y\x60\x91\x02hi"},
		{"reference", "Q\x90"},
		{"nested_objects", "C\x04Node\x91\x04next\x60\x60\x60N"},
		{"class_def_in_list", "X\x92C\x01P\x91\x01x\x60\x91\x60\x92"},
		{"surrogate_pair", "\x02\xed\xa0\xbd\xed\xb8\x80"},
		{"four_byte_utf8", "\x02\xf0\x9f\x98\x80"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r hessianReader
			r.reset([]byte(tc.enc + "Z"))
			if err := r.skip(); err != nil {
				t.Fatalf("skip(%q): %v", tc.enc, err)
			}
			if r.pos != len(tc.enc) {
				t.Fatalf("skip stopped at %d of %d bytes", r.pos, len(tc.enc))
			}
		})
	}
}

func TestSkipMalformed(t *testing.T) {
	cases := []struct {
		name string
		enc  string
	}{
		{"empty", ""},
		{"reserved_tag", "\x40"},
		{"reserved_E", "E"},
		{"stray_end", "Z"},
		{"truncated_string", "\x05abc"},
		{"truncated_multibyte", "\x01\xe4\xb8"},
		{"bad_utf8_lead", "\x01\x80"},
		{"four_byte_straddles_end", "\x01\xf0\x9f\x98\x80"},
		{"truncated_int", "I\x00\x00"},
		{"truncated_double", "D\x00"},
		{"unterminated_map", "H\x01a\x91"},
		{"unterminated_list", "W\x91"},
		{"negative_length", "X\xd3\xff\xff"},
		{"length_beyond_body", "X\xd4\x10\x00\x91"},
		{"undefined_class", "\x61"},
		{"undefined_class_long_form", "O\x90"},
		{"class_without_name", "CN\x90\x60"},
		{"bad_type", "UT\x91Z"},
		{"bad_binary_chunk", "A\x00\x01\x01\x91"},
		{"chunk_then_null", "R\x00\x01aN"},
		{"too_deep", strings.Repeat("\x79", maxDepth+2) + "N"},
		{"too_deep_maps", strings.Repeat("H\x01a", maxDepth+2) + "N"},
		{"too_many_classes", strings.Repeat("C\x01P\x90", maxClassDefs+1) + "\x60"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r hessianReader
			r.reset([]byte(tc.enc))
			err := r.skip()
			if !errors.Is(err, protocol.ErrMalformed) {
				t.Fatalf("skip(%q) = %v, want ErrMalformed", tc.enc, err)
			}
		})
	}
}

// TestStrings reads strings dubbo-go-hessian2 writes and strings appendString writes, and
// has dubbo-go-hessian2 read the latter.
func TestStrings(t *testing.T) {
	texts := []string{
		"", "a", "hello world", strings.Repeat("x", 1023), strings.Repeat("y", 1024), strings.Repeat("z", maxChunkUnits+1),
		"héllo wörld", "中文字符", "emoji 😀 and 𝄞", strings.Repeat("😀", maxChunkUnits/2+3), longText,
		strings.Repeat("a", maxChunkUnits-1) + "😀", // the pair must not be split across chunks
	}
	for i, text := range texts {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			for _, enc := range [][]byte{peerEncode(t, text), appendString(nil, text)} {
				var r hessianReader
				r.reset(enc)
				s, err := r.readString()
				if err != nil || !r.atEnd() {
					t.Fatalf("readString: %v at %d of %d", err, r.pos, len(enc))
				}
				if got := r.stringValue(s); got != text {
					t.Errorf("stringValue = %.40q..., want %.40q...", got, text)
				}
			}
			got, err := hessian.NewDecoder(appendString(nil, text)).Decode()
			if err != nil || got != text {
				t.Errorf("dubbo-go-hessian2 reads appendString's output as %.40q, %v", got, err)
			}
		})
	}
}

func TestStringValueAliasesPlainText(t *testing.T) {
	enc := appendString(nil, "org.example.HelloService")
	var r hessianReader
	r.reset(enc)
	s, err := r.readString()
	if err != nil {
		t.Fatal(err)
	}
	if v := r.stringValue(s); v != "org.example.HelloService" || unsafe.StringData(v) != &enc[1] {
		t.Errorf("stringValue = %q, not the frame's own bytes", v)
	}
	if testing.AllocsPerRun(100, func() { _ = r.stringValue(s) }) != 0 {
		t.Errorf("stringValue of a one-chunk ASCII string allocates")
	}
}

func TestAppendStringInvalidUTF8(t *testing.T) {
	enc := appendString(nil, "a\xffb")
	var r hessianReader
	r.reset(enc)
	s, err := r.readString()
	if err != nil {
		t.Fatal(err)
	}
	if got := r.stringValue(s); got != "a\uFFFDb" || !utf8.ValidString(got) {
		t.Errorf("invalid UTF-8 reads back as %q, want %q", got, "a\uFFFDb")
	}
}

func TestSurrogatesToUTF8(t *testing.T) {
	cases := map[string]string{
		"\xed\xa0\xbd\xed\xb8\x80": "😀",
		"a\xed\xa0\xbdb":           "a\uFFFDb", // lone high surrogate
		"\xed\xb8\x80":             "\uFFFD",   // lone low surrogate
		"plain 中":                  "plain 中",
	}
	for in, want := range cases {
		if got := string(surrogatesToUTF8([]byte(in))); got != want {
			t.Errorf("surrogatesToUTF8(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReadNumber(t *testing.T) {
	for _, v := range []int64{0, -16, 47, -2048, 2047, -262144, 262143, 1<<31 - 1, -1 << 31, 1 << 40, -1 << 63, -8, 15} {
		encs := [][]byte{peerEncode(t, v)}
		if int64(int32(v)) == v {
			encs = append(encs, peerEncode(t, int32(v)))
		}
		for _, enc := range encs {
			var r hessianReader
			r.reset(enc)
			if got, err := r.readNumber(); err != nil || got != v || !r.atEnd() {
				t.Errorf("readNumber(%x) = %d, %v; want %d", enc, got, err, v)
			}
		}
	}
}

func TestCountParameters(t *testing.T) {
	cases := []struct {
		desc string
		want int
	}{
		{"", 0},
		{"I", 1},
		{"Ljava/lang/String;", 1},
		{"Ljava/lang/String;I[J", 3},
		{"[[Ljava/lang/Object;ZBCSIJFDV", 10},
		{"Ljava/lang/String;[Ljava/lang/String;[Ljava/lang/Object;", 3}, // generic $invoke
		{"I[Ljava/util/Date", 2}, // dubbo-go's []time.Time descriptor has no ';'
	}
	for _, tc := range cases {
		if got, err := countParameters(tc.desc); err != nil || got != tc.want {
			t.Errorf("countParameters(%q) = %d, %v; want %d", tc.desc, got, err, tc.want)
		}
	}
	for _, bad := range []string{"[", "Q", "java.lang.String"} {
		if _, err := countParameters(bad); !errors.Is(err, protocol.ErrMalformed) {
			t.Errorf("countParameters(%q) = %v, want ErrMalformed", bad, err)
		}
	}
}
