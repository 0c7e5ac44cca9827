// Package peers holds the minimal protocol peers the benchmarks drive: servers that answer
// with a prebuilt response, and request templates, so that the load generator and the
// server cost as little as possible and the proxy is what gets measured.
package peers

import (
	"encoding/binary"
	"fmt"
	"strings"

	hessian "github.com/apache/dubbo-go-hessian2"
)

// Dubbo is the Dubbo framing; a response is OK when its status is 20.
var Dubbo = Framing{Len: DubboFrameLen, ID: DubboID, SetID: SetDubboID, OK: dubboOK}

func dubboOK(frame []byte) bool { return len(frame) > 3 && frame[3] == 20 }

// DubboHeaderLen is the fixed Dubbo header size.
const DubboHeaderLen = 16

// DubboRequest builds a hessian2 Dubbo request for interface.method(String) carrying a
// string argument of payload bytes and a few attachments, as a real client sends.
func DubboRequest(iface, method, version string, payload int) []byte {
	e := hessian.NewEncoder()
	for _, v := range []any{"2.0.2", iface, version, method, "Ljava/lang/String;", strings.Repeat("x", payload)} {
		must(e.Encode(v))
	}
	must(e.Encode(map[any]any{
		"path": iface, "interface": iface, "version": version, "timeout": "3000", "tag": "bench",
	}))
	return dubboFrame(0x80|0x40|0x02, 0, 1, e.Buffer())
}

// DubboResponse builds a hessian2 Dubbo response (status OK, a string value of payload bytes).
func DubboResponse(payload int) []byte {
	e := hessian.NewEncoder()
	must(e.Encode(int32(1))) // RESPONSE_VALUE
	must(e.Encode(strings.Repeat("y", payload)))
	return dubboFrame(0x02, 20, 1, e.Buffer())
}

func dubboFrame(flag, status byte, id uint64, body []byte) []byte {
	h := make([]byte, DubboHeaderLen, DubboHeaderLen+len(body))
	h[0], h[1], h[2], h[3] = 0xda, 0xbb, flag, status
	binary.BigEndian.PutUint64(h[4:], id)
	binary.BigEndian.PutUint32(h[12:], uint32(len(body)))
	return append(h, body...)
}

// SetDubboID writes id into a Dubbo frame.
func SetDubboID(frame []byte, id uint64) { binary.BigEndian.PutUint64(frame[4:], id) }

// DubboID reads a Dubbo frame's id.
func DubboID(frame []byte) uint64 { return binary.BigEndian.Uint64(frame[4:]) }

// DubboFrameLen returns the length of the Dubbo frame at the start of b, or 0 if b holds
// no complete header yet.
func DubboFrameLen(b []byte) (int, error) {
	if len(b) < DubboHeaderLen {
		return 0, nil
	}
	if b[0] != 0xda || b[1] != 0xbb {
		return 0, fmt.Errorf("bad dubbo magic %x", b[:2])
	}
	return DubboHeaderLen + int(binary.BigEndian.Uint32(b[12:])), nil
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}
