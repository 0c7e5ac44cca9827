package peers

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/breeze-mesh/breeze/examples/kvrpc/kvwire"
)

// KVRPC is the framing of kvrpc, the private protocol of the codec tutorial: a 14-byte
// header ("KV", version, kind, request id uint32, headers length uint16, body length
// uint32), the headers, then the body. A response is OK unless its kind is an error.
var KVRPC = Framing{Len: kvFrameLen, ID: kvID, SetID: setKVID, OK: kvOK}

const kvHeaderLen = 14

// KVRequest returns a request for cmd with a body of payload bytes and two more headers,
// encoded by kvwire (the protocol's application library).
func KVRequest(cmd string, payload int) []byte {
	return kvFrame(&kvwire.Frame{Kind: kvwire.Request, ID: 1, Headers: []kvwire.Header{
		{Key: "cmd", Value: cmd}, {Key: "x-user", Value: "bench"}, {Key: "trace-id", Value: "0af7651916cd43dd"},
	}, Body: []byte(strings.Repeat("x", payload))})
}

// KVResponse returns a response with a body of payload bytes.
func KVResponse(payload int) []byte {
	return kvFrame(&kvwire.Frame{Kind: kvwire.Response, ID: 1, Body: []byte(strings.Repeat("y", payload))})
}

func kvFrame(f *kvwire.Frame) []byte {
	b, err := kvwire.Append(nil, f)
	must(err)
	return b
}

func kvFrameLen(b []byte) (int, error) {
	if len(b) < kvHeaderLen {
		return 0, nil
	}
	if b[0] != 'K' || b[1] != 'V' {
		return 0, fmt.Errorf("bad kvrpc magic %q", b[:2])
	}
	n := kvHeaderLen + int(binary.BigEndian.Uint16(b[8:])) + int(binary.BigEndian.Uint32(b[10:]))
	if n > thriftMaxFrame {
		return 0, fmt.Errorf("kvrpc frame of %d bytes is over the limit", n)
	}
	return n, nil
}

func kvID(frame []byte) uint64 { return uint64(binary.BigEndian.Uint32(frame[4:])) }

func setKVID(frame []byte, id uint64) { binary.BigEndian.PutUint32(frame[4:], uint32(id)) }

func kvOK(frame []byte) bool { return len(frame) > 3 && frame[3] == kvwire.Response }
