package accesslog

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/structpb"
)

// DefaultTextFormat is the line written when the configuration names no format: Envoy's
// default access log line, with the RPC's service and method where Envoy has the HTTP
// method and path.
const DefaultTextFormat = `[%START_TIME%] "%RPC_SERVICE%/%RPC_METHOD% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% ` +
	`%RESPONSE_CODE_DETAILS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER% ` +
	`%ROUTE_NAME% %DOWNSTREAM_REMOTE_ADDRESS% "%REQ(traceparent)%"` + "\n"

// defaultJSONFields are the fields of a JSON line when the configuration gives an empty
// json_format.
var defaultJSONFields = map[string]string{
	"start_time":                "%START_TIME%",
	"duration":                  "%DURATION%",
	"listener":                  "%LISTENER_NAME%",
	"protocol":                  "%PROTOCOL%",
	"service":                   "%RPC_SERVICE%",
	"method":                    "%RPC_METHOD%",
	"response_code":             "%RESPONSE_CODE%",
	"response_flags":            "%RESPONSE_FLAGS%",
	"response_code_details":     "%RESPONSE_CODE_DETAILS%",
	"response_status":           "%RESPONSE_STATUS%",
	"bytes_received":            "%BYTES_RECEIVED%",
	"bytes_sent":                "%BYTES_SENT%",
	"upstream_host":             "%UPSTREAM_HOST%",
	"upstream_cluster":          "%UPSTREAM_CLUSTER%",
	"route_name":                "%ROUTE_NAME%",
	"downstream_remote_address": "%DOWNSTREAM_REMOTE_ADDRESS%",
	"traceparent":               "%REQ(traceparent)%",
}

// operator is one command operator.
type operator uint8

const (
	opLiteral operator = iota
	opStartTime
	opDuration
	opResponseCode
	opResponseFlags
	opResponseCodeDetails
	opResponseStatus
	opBytesReceived
	opBytesSent
	opUpstreamHost
	opUpstreamCluster
	opRouteName
	opDownstreamRemoteAddress
	opProtocol
	opListenerName
	opRPCService
	opRPCMethod
	opReq
	opResp
)

// operators are the plain command operators by name.
var operators = map[string]operator{
	"START_TIME":                opStartTime,
	"DURATION":                  opDuration,
	"RESPONSE_CODE":             opResponseCode,
	"RESPONSE_FLAGS":            opResponseFlags,
	"RESPONSE_CODE_DETAILS":     opResponseCodeDetails,
	"RESPONSE_STATUS":           opResponseStatus,
	"BYTES_RECEIVED":            opBytesReceived,
	"BYTES_SENT":                opBytesSent,
	"UPSTREAM_HOST":             opUpstreamHost,
	"UPSTREAM_CLUSTER":          opUpstreamCluster,
	"ROUTE_NAME":                opRouteName,
	"DOWNSTREAM_REMOTE_ADDRESS": opDownstreamRemoteAddress,
	"PROTOCOL":                  opProtocol,
	"LISTENER_NAME":             opListenerName,
	"RPC_SERVICE":               opRPCService,
	"RPC_METHOD":                opRPCMethod,
}

// numeric operators are written as JSON numbers when they are a field's whole value.
func (o operator) numeric() bool {
	switch o {
	case opDuration, opResponseCode, opResponseStatus, opBytesReceived, opBytesSent:
		return true
	}
	return false
}

// segment is a literal or an operator of a compiled format string.
type segment struct {
	op      operator
	literal string
	slot    int // index into entry.req or entry.resp for opReq / opResp
	maxLen  int // truncation of an opReq / opResp value, 0 for none
}

// field is one key of a JSON line.
type field struct {
	name     string
	key      []byte // `"name":`, encoded once
	segments []segment
}

// format is a compiled log format.
type format struct {
	json     bool
	text     []segment // text lines
	fields   []field   // JSON lines, sorted by name
	reqKeys  []string  // the metadata keys REQ(...) reads, by slot
	respKeys []string
}

// compileText compiles a text format; a missing trailing newline is added.
func compileText(s string) (*format, error) {
	if s == "" {
		s = DefaultTextFormat
	}
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	f := &format{}
	segs, err := f.compile(s)
	if err != nil {
		return nil, err
	}
	f.text = segs
	return f, nil
}

// compileJSON compiles a JSON format from its fields; an empty object selects the default.
func compileJSON(st *structpb.Struct) (*format, error) {
	values := defaultJSONFields
	if len(st.GetFields()) > 0 {
		values = map[string]string{}
		for k, v := range st.GetFields() {
			s, ok := v.GetKind().(*structpb.Value_StringValue)
			if !ok {
				return nil, fmt.Errorf("json_format.%s: must be a format string", k)
			}
			values[k] = s.StringValue
		}
	}
	f := &format{json: true}
	for name, v := range values {
		segs, err := f.compile(v)
		if err != nil {
			return nil, fmt.Errorf("json_format.%s: %w", name, err)
		}
		key := append(appendJSONString(nil, []byte(name)), ':')
		f.fields = append(f.fields, field{name: name, key: key, segments: segs})
	}
	sort.Slice(f.fields, func(i, j int) bool { return f.fields[i].name < f.fields[j].name })
	return f, nil
}

// compile splits s into literals and operators: %NAME%, %REQ(key)%, %RESP(key)%, the last
// two optionally with a length limit, %REQ(key):N%.
func (f *format) compile(s string) ([]segment, error) {
	var segs []segment
	for s != "" {
		i := strings.IndexByte(s, '%')
		if i < 0 {
			segs = append(segs, segment{literal: s})
			break
		}
		if i > 0 {
			segs = append(segs, segment{literal: s[:i]})
		}
		rest := s[i+1:]
		j := strings.IndexByte(rest, '%')
		if j < 0 {
			return nil, fmt.Errorf("unterminated command operator at %q", s[i:])
		}
		seg, err := f.operator(rest[:j])
		if err != nil {
			return nil, err
		}
		segs = append(segs, seg)
		s = rest[j+1:]
	}
	return segs, nil
}

func (f *format) operator(text string) (segment, error) {
	if op, ok := operators[text]; ok {
		return segment{op: op}, nil
	}
	for _, kind := range []struct {
		prefix string
		op     operator
		keys   *[]string
	}{{"REQ(", opReq, &f.reqKeys}, {"RESP(", opResp, &f.respKeys}} {
		body, ok := strings.CutPrefix(text, kind.prefix)
		if !ok {
			continue
		}
		key, limit, _ := strings.Cut(body, "):")
		if limit == "" {
			key, ok = strings.CutSuffix(body, ")")
			if !ok {
				return segment{}, fmt.Errorf("%%%s%%: want %s<key>)", text, kind.prefix)
			}
		}
		if key == "" {
			return segment{}, fmt.Errorf("%%%s%%: the metadata key is empty", text)
		}
		seg := segment{op: kind.op, slot: slot(kind.keys, key)}
		if limit != "" {
			n, err := strconv.Atoi(limit)
			if err != nil || n <= 0 {
				return segment{}, fmt.Errorf("%%%s%%: the length limit must be a positive number", text)
			}
			seg.maxLen = n
		}
		return seg, nil
	}
	return segment{}, fmt.Errorf("unknown command operator %%%s%% (supported: %s, REQ(key), RESP(key))", text, operatorNames())
}

// slot returns the index of key in keys, adding it if new.
func slot(keys *[]string, key string) int {
	for i, k := range *keys {
		if strings.EqualFold(k, key) {
			return i
		}
	}
	*keys = append(*keys, key)
	return len(*keys) - 1
}

func operatorNames() string {
	names := make([]string, 0, len(operators))
	for n := range operators {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// optional is a value that may be missing.
type optional struct {
	value string
	ok    bool
}

// appendValue appends a segment's value in e, unescaped, and says whether it has one (a
// missing value appends nothing). Numbers and times are formatted straight into b, so a
// line costs no allocation.
func (e *entry) appendValue(b []byte, seg segment) ([]byte, bool) {
	str := func(v string) ([]byte, bool) { return append(b, v...), v != "" }
	switch seg.op {
	case opLiteral:
		return append(b, seg.literal...), true
	case opStartTime:
		return e.start.UTC().AppendFormat(b, startTimeLayout), true
	case opDuration:
		return strconv.AppendInt(b, e.duration.Milliseconds(), 10), true
	case opResponseCode:
		return strconv.AppendInt(b, int64(e.responseCode), 10), true
	case opResponseStatus:
		if !e.hasStatus {
			return b, false
		}
		return strconv.AppendInt(b, int64(e.status), 10), true
	case opResponseFlags:
		return append(b, e.responseFlags...), true
	case opResponseCodeDetails:
		return append(b, e.details...), true
	case opBytesReceived:
		return strconv.AppendInt(b, int64(e.bytesReceived), 10), true
	case opBytesSent:
		return strconv.AppendInt(b, int64(e.bytesSent), 10), true
	case opUpstreamHost:
		return str(e.upstreamHost)
	case opUpstreamCluster:
		return str(e.upstreamCluster)
	case opRouteName:
		return str(e.route)
	case opDownstreamRemoteAddress:
		return str(e.downstream)
	case opProtocol:
		return append(b, e.protocol...), true
	case opListenerName:
		return append(b, e.listener...), true
	case opRPCService:
		return str(e.service)
	case opRPCMethod:
		return str(e.method)
	case opReq, opResp:
		vals := e.req
		if seg.op == opResp {
			vals = e.resp
		}
		if seg.slot >= len(vals) || !vals[seg.slot].ok {
			return b, false
		}
		v := vals[seg.slot].value
		if seg.maxLen > 0 && len(v) > seg.maxLen {
			v = v[:seg.maxLen]
		}
		return append(b, v...), true
	}
	return b, false
}

// startTimeLayout is Envoy's default %START_TIME% format, in UTC.
const startTimeLayout = "2006-01-02T15:04:05.000Z"

// appendLine appends e's line in format f. scratch is reused between lines to hold a
// value before it is escaped; the grown buffer is returned.
func (f *format) appendLine(b, scratch []byte, e *entry) (line, scratchOut []byte) {
	if !f.json {
		for _, seg := range f.text {
			if seg.op == opLiteral {
				b = append(b, seg.literal...)
				continue
			}
			var ok bool
			if scratch, ok = e.appendValue(scratch[:0], seg); !ok {
				b = append(b, '-')
				continue
			}
			b = appendText(b, scratch)
		}
		return b, scratch
	}
	b = append(b, '{')
	for i, fd := range f.fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, fd.key...)
		if len(fd.segments) == 1 && fd.segments[0].op != opLiteral {
			seg := fd.segments[0]
			var ok bool
			scratch, ok = e.appendValue(scratch[:0], seg)
			switch {
			case !ok:
				b = append(b, "null"...)
			case seg.op.numeric():
				b = append(b, scratch...)
			default:
				b = appendJSONString(b, scratch)
			}
			continue
		}
		scratch = scratch[:0]
		for _, seg := range fd.segments {
			n := len(scratch)
			var ok bool
			if scratch, ok = e.appendValue(scratch, seg); !ok {
				scratch = append(scratch[:n], '-')
			}
		}
		b = appendJSONString(b, scratch)
	}
	return append(b, '}', '\n'), scratch
}

// appendText appends a value to a text line with control characters escaped, so that a
// value from a request cannot start a forged line.
func appendText(b, v []byte) []byte {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x20 || c == 0x7f {
			b = append(b, '\\', 'x', hex[c>>4], hex[c&0xf])
			continue
		}
		b = append(b, c)
	}
	return b
}

const hex = "0123456789abcdef"

// appendJSONString appends v as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendJSONString(b, v []byte) []byte {
	b = append(b, '"')
	for i := 0; i < len(v); {
		c := v[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(v[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, v[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
