package dubbo

import (
	"encoding/binary"

	"github.com/breeze-mesh/breeze/protocol"
)

// The 16-byte Dubbo header:
//
//	0-1   magic 0xdabb
//	2     flag: 0x80 request, 0x40 two-way, 0x20 event, low 5 bits serialization id
//	3     status (responses)
//	4-11  request id, big endian
//	12-15 body length, big endian (a Java int: negative values are invalid)
const (
	headerSize = 16

	magicHigh = 0xda
	magicLow  = 0xbb

	flagRequest       = 0x80
	flagTwoWay        = 0x40
	flagEvent         = 0x20
	serializationMask = 0x1f

	// serializationHessian2 is the only serialization the codec reads.
	serializationHessian2 = 2
)

// Response status codes (header byte 3), as Apache Dubbo defines them.
const (
	statusOK                  = 20
	statusClientTimeout       = 30
	statusServerTimeout       = 31
	statusBadRequest          = 40
	statusBadResponse         = 50
	statusServiceNotFound     = 60
	statusServiceError        = 70
	statusServerError         = 80
	statusClientError         = 90
	statusThreadpoolExhausted = 100
)

// Response body types: the hessian2 int that starts the body of an OK response.
const (
	responseWithException                = 0
	responseValue                        = 1
	responseNullValue                    = 2
	responseWithExceptionWithAttachments = 3
	responseValueWithAttachments         = 4
	responseNullValueWithAttachments     = 5
)

// header is a parsed Dubbo header.
type header struct {
	flag, status byte
	id           uint64
	// bodyLen is the body length field read as the Java int it is; it may be negative.
	bodyLen int64
}

// parseHeader reads a header from the first headerSize bytes of b.
func parseHeader(b []byte) header {
	return header{
		flag:    b[2],
		status:  b[3],
		id:      binary.BigEndian.Uint64(b[4:12]),
		bodyLen: int64(int32(binary.BigEndian.Uint32(b[12:16]))),
	}
}

func (h header) isRequest() bool     { return h.flag&flagRequest != 0 }
func (h header) isEvent() bool       { return h.flag&flagEvent != 0 }
func (h header) serialization() byte { return h.flag & serializationMask }
func (h header) frameLen() int64     { return headerSize + h.bodyLen }
func (h header) hasOKStatus() bool   { return h.status == statusOK }
func (h header) isTwoWay() bool      { return h.flag&flagTwoWay != 0 }

// messageType is what the header alone says the frame is. An OK response may still turn out
// to carry an exception; the body decides.
func (h header) messageType() (protocol.MessageType, protocol.Status) {
	switch {
	case h.isEvent():
		return protocol.Heartbeat, protocol.StatusOK
	case h.isRequest() && h.isTwoWay():
		return protocol.Request, protocol.StatusOK
	case h.isRequest():
		return protocol.Oneway, protocol.StatusOK
	case !h.hasOKStatus():
		return protocol.Error, protocol.StatusError
	default:
		return protocol.Response, protocol.StatusOK
	}
}

// appendHeader appends a header with a zero body length; putBodyLen sets it once the body
// is written.
func appendHeader(b []byte, flag, status byte, id uint64) []byte {
	b = append(b, magicHigh, magicLow, flag, status)
	b = binary.BigEndian.AppendUint64(b, id)
	return append(b, 0, 0, 0, 0)
}

// putBodyLen sets the body length of frame from its size.
func putBodyLen(frame []byte) {
	binary.BigEndian.PutUint32(frame[12:16], uint32(len(frame)-headerSize))
}

// statusFor maps why the proxy answers a request itself to the Dubbo status of its reply.
// Java clients raise a TimeoutException for 30/31 and a RemotingException carrying the
// message for every other status; dubbo-go returns an error with the message for any
// status but 20. The code is what logs and metrics on the client side show, so it names the
// failure as closely as Dubbo's vocabulary allows.
func statusFor(kind protocol.ErrorKind) byte {
	switch kind {
	case protocol.RouteNotFound, protocol.ClusterNotFound:
		return statusServiceNotFound
	case protocol.Timeout:
		return statusServerTimeout
	case protocol.BadRequest:
		return statusBadRequest
	case protocol.BadResponse:
		return statusBadResponse
	case protocol.OverLimit:
		return statusThreadpoolExhausted
	default: // Internal, NoHealthyUpstream, UpstreamReset
		return statusServerError
	}
}
