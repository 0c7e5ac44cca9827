package hessiangreeter

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	hessian "github.com/apache/dubbo-go-hessian2"
)

// Interface is the Dubbo interface name the Greeter is exported as (the same as
// examples/dubbo/greeter's).
const Interface = "org.apache.dubbo.sample.Greeter"

// Wire method names.
const (
	MethodSayHello   = "sayHello"
	MethodSayHi      = "sayHi"
	MethodAttachment = "attachment"
)

// hessian2SerialID is Dubbo's serialization id for hessian2, the only one spoken here.
const hessian2SerialID = 2

// maxBody bounds a frame's body: Dubbo's default payload limit (8 MiB).
const maxBody = 8 << 20

// errBadMagic is returned for a frame that does not start with Dubbo's magic bytes; the
// connection cannot be resynchronised after it.
var errBadMagic = errors.New("not a Dubbo frame (bad magic)")

// readFrame reads one whole frame (header and the body it announces) into a new slice.
func readFrame(r *bufio.Reader) ([]byte, error) {
	header, err := r.Peek(hessian.HEADER_LENGTH)
	if err != nil {
		return nil, err
	}
	if header[0] != hessian.MAGIC_HIGH || header[1] != hessian.MAGIC_LOW {
		return nil, errBadMagic
	}
	bodyLen := binary.BigEndian.Uint32(header[12:])
	if bodyLen > maxBody {
		return nil, fmt.Errorf("frame body of %d bytes exceeds %d", bodyLen, maxBody)
	}
	frame := make([]byte, hessian.HEADER_LENGTH+int(bodyLen))
	if _, err := io.ReadFull(r, frame); err != nil {
		return nil, fmt.Errorf("truncated frame: %w", err)
	}
	return frame, nil
}

// Frame header flags, from byte 2 of the header.
func isRequest(frame []byte) bool   { return frame[2]&hessian.FLAG_REQUEST != 0 }
func isTwoWay(frame []byte) bool    { return frame[2]&hessian.FLAG_TWOWAY != 0 }
func isEvent(frame []byte) bool     { return frame[2]&hessian.FLAG_EVENT != 0 }
func serialID(frame []byte) byte    { return frame[2] & hessian.SERIAL_MASK }
func frameID(frame []byte) int64    { return int64(binary.BigEndian.Uint64(frame[4:])) }
func frameStatus(frame []byte) byte { return frame[3] }

// codecFor returns hessian2's codec positioned at the start of frame, a whole frame in
// memory (the codec insists that the body is buffered before it reads it).
func codecFor(frame []byte) (*hessian.HessianCodec, hessian.DubboHeader, error) {
	codec := hessian.NewHessianCodec(bufio.NewReaderSize(bytes.NewReader(frame), len(frame)+hessian.HEADER_LENGTH))
	var header hessian.DubboHeader
	if err := codec.ReadHeader(&header); err != nil {
		return nil, header, err
	}
	return codec, header, nil
}

// request is a decoded call.
type request struct {
	dubboVersion, path, version, method string
	args                                []any
	attachments                         map[string]string
}

// decodeRequest decodes the body of a (non-event) request frame.
func decodeRequest(frame []byte) (*request, error) {
	codec, _, err := codecFor(frame)
	if err != nil {
		return nil, err
	}
	// hessian2's layout: dubbo version, path, version, method, argument types, arguments,
	// attachments.
	parts := make([]any, 7)
	if err := codec.ReadBody(parts); err != nil {
		return nil, err
	}
	req := &request{}
	req.dubboVersion, _ = parts[0].(string)
	req.path, _ = parts[1].(string)
	req.version, _ = parts[2].(string)
	req.method, _ = parts[3].(string)
	req.args, _ = parts[5].([]any)
	req.attachments, _ = parts[6].(map[string]string)
	if req.path == "" || req.method == "" {
		return nil, errors.New("request without a service path or method")
	}
	return req, nil
}

// encodeHeartbeatResponse answers heartbeat request id.
func encodeHeartbeatResponse(id int64) ([]byte, error) {
	header := hessian.DubboHeader{SerialID: hessian2SerialID, Type: hessian.PackageHeartbeat, ID: id, ResponseStatus: hessian.Response_OK}
	return hessian.NewHessianCodec(nil).Write(hessian.Service{}, header, hessian.NewResponse(nil, nil, nil))
}

// encodeStatus is a response whose status is not OK: its body is only the error text.
func encodeStatus(id int64, status byte, msg string) ([]byte, error) {
	header := hessian.DubboHeader{SerialID: hessian2SerialID, Type: hessian.PackageResponse, ID: id, ResponseStatus: status}
	return hessian.NewHessianCodec(nil).Write(hessian.Service{}, header, hessian.NewResponse(nil, errors.New(msg), nil))
}

// encodeResult is a successful response carrying value, or exception when it is not nil
// (a method that failed: status OK, as Dubbo reports an application error).
// dubboVersion is the caller's; hessian2 adds response attachments only for callers that
// understand them (2.0.2 and later), as Dubbo does.
func encodeResult(id int64, dubboVersion string, value any, exception error) ([]byte, error) {
	header := hessian.DubboHeader{SerialID: hessian2SerialID, Type: hessian.PackageResponse, ID: id, ResponseStatus: hessian.Response_OK}
	atts := map[string]string{hessian.DUBBO_VERSION_KEY: dubboVersion}
	return hessian.NewHessianCodec(nil).Write(hessian.Service{}, header, hessian.NewResponse(value, exception, atts))
}
