package dubbo

import (
	"fmt"
	"strconv"
	"strings"
	"unsafe"

	"github.com/breeze-mesh/breeze/protocol"
)

// Metadata keys the codec sets. Every attachment with a string (or simple scalar) value is
// added under its own key as well; see the README.
const (
	// KeyInterface is the service path the server dispatches on: the "path" attachment
	// when the request has one (as Dubbo's server lets it override the body), else the
	// body's service path.
	KeyInterface = "interface"
	// KeyMethod is the method name from the body.
	KeyMethod = "method"
	// KeyVersion is the service version: the "version" attachment when present, else the
	// body's; absent when empty.
	KeyVersion = "version"
	// KeyGroup is the service group, from the "group" attachment.
	KeyGroup = "group"
	// KeyDubboVersion is the Dubbo protocol version the client speaks ("2.0.2").
	KeyDubboVersion = "dubbo"
	// KeyErrorMessage is the message of a response with a non-OK status.
	KeyErrorMessage = "error_message"
)

// sizeHintMin is the frame size above which an incomplete frame is reported with its size
// (protocol.NeedMoreError): smaller frames fit the proxy's read buffers anyway, and the
// sized error costs an allocation.
const sizeHintMin = 4 << 10

// Decode implements protocol.Codec.
func (c *Codec) Decode(buf []byte, msg *protocol.Message) (int, error) {
	if len(buf) >= 1 && buf[0] != magicHigh || len(buf) >= 2 && buf[1] != magicLow {
		return 0, malformedf("bad magic %#x, want 0xdabb", buf[:min(2, len(buf))])
	}
	if len(buf) < headerSize {
		return 0, protocol.ErrNeedMore
	}
	h := parseHeader(buf)
	msg.CodecState = nil
	msg.RequestID = h.id
	msg.Type, msg.Status = h.messageType()
	if h.bodyLen < 0 || h.frameLen() > int64(c.maxFrameSize) {
		return 0, fmt.Errorf("dubbo: body length %d exceeds the %d-byte frame limit: %w", h.bodyLen, c.maxFrameSize, protocol.ErrFrameTooLarge)
	}
	if h.serialization() != serializationHessian2 {
		return 0, malformedf("serialization id %d is not supported, only hessian2 (%d)", h.serialization(), serializationHessian2)
	}
	frameLen := int(h.frameLen())
	if len(buf) < frameLen {
		if frameLen > sizeHintMin {
			// The size lets the proxy read a large body into one buffer.
			return 0, protocol.NeedMoreError{FrameSize: frameLen}
		}
		return 0, protocol.ErrNeedMore
	}
	// Cap the frame so that appending to it can never write over the next frame.
	msg.Frame = buf[:frameLen:frameLen]
	msg.HeaderSize, msg.BodySize = headerSize, frameLen-headerSize
	body := msg.Frame[headerSize:]

	var err error
	switch {
	case h.isEvent():
		// A heartbeat (or another event): its body, usually a hessian2 null, carries nothing
		// the proxy needs.
	case h.isRequest():
		err = c.decodeRequest(body, msg)
	default:
		err = c.decodeResponse(h, body, msg)
	}
	if err != nil {
		return 0, err
	}
	return frameLen, nil
}

// requestBody locates the parts of a request body.
type requestBody struct {
	dubboVersion, path, version, method hstring
	// attachments is the body offset of the attachments map (or of the null written
	// instead); len(body) when the body ends after the arguments.
	attachments int
}

// readRequestBody reads a request body up to its attachments: five strings (Dubbo version,
// service path, service version, method, parameter descriptor), then one value per
// parameter, stepped over.
func (r *hessianReader) readRequestBody(body []byte) (requestBody, error) {
	var rb requestBody
	r.reset(body)
	fields := [...]*hstring{&rb.dubboVersion, &rb.path, &rb.version, &rb.method}
	for _, f := range fields {
		s, err := r.readString()
		if err != nil {
			return rb, err
		}
		*f = s
	}
	desc, err := r.readString()
	if err != nil {
		return rb, err
	}
	args, err := countParameters(r.stringValue(desc))
	if err != nil {
		return rb, err
	}
	if args > len(body)-r.pos {
		return rb, malformedf("descriptor declares %d arguments, more than the body can hold", args)
	}
	if err := r.skipN(args, 0); err != nil {
		return rb, err
	}
	rb.attachments = r.pos
	if !r.atEnd() {
		if tag := body[r.pos]; tag != 'H' && tag != 'M' && tag != 'N' {
			return rb, malformedf("attachments: expected a hessian2 map, got tag %#x", tag)
		}
	}
	return rb, nil
}

// countParameters counts the parameters in a JVM method descriptor such as
// "Ljava/lang/String;I[J". A class name missing its ';' runs to the end of the descriptor:
// dubbo-go writes "[Ljava/util/Date" for a []time.Time argument.
func countParameters(desc string) (int, error) {
	n := 0
	for i := 0; i < len(desc); n++ {
		for i < len(desc) && desc[i] == '[' {
			i++
		}
		if i == len(desc) {
			return 0, malformedf("parameter descriptor %q ends inside an array type", desc)
		}
		switch desc[i] {
		case 'L':
			end := strings.IndexByte(desc[i:], ';')
			if end < 0 {
				i = len(desc)
			} else {
				i += end + 1
			}
		case 'Z', 'B', 'C', 'S', 'I', 'J', 'F', 'D', 'V':
			i++
		default:
			return 0, malformedf("parameter descriptor %q: unexpected %q", desc, desc[i])
		}
	}
	return n, nil
}

// decodeRequest fills the request's metadata from its body.
func (c *Codec) decodeRequest(body []byte, msg *protocol.Message) error {
	r := &c.reader
	rb, err := r.readRequestBody(body)
	if err != nil {
		return err
	}
	md := &msg.Metadata
	md.Add(KeyInterface, r.stringValue(rb.path))
	md.Add(KeyMethod, r.stringValue(rb.method))
	if v := r.stringValue(rb.version); v != "" {
		md.Add(KeyVersion, v)
	}
	md.Add(KeyDubboVersion, r.stringValue(rb.dubboVersion))
	if rb.attachments < len(body) {
		// Point Encode at the attachments without allocating: a pointer fits in the
		// interface as is. Encode checks it still points into the frame.
		msg.CodecState = &body[rb.attachments]
		if body[rb.attachments] != 'N' {
			return c.readAttachments(md)
		}
	}
	return nil
}

// readAttachments adds the attachments map at the reader's position to md.
func (c *Codec) readAttachments(md *protocol.Metadata) error {
	r := &c.reader
	if r.buf[r.pos] == 'M' {
		r.pos++
		if err := r.skipType(); err != nil {
			return err
		}
	} else {
		r.pos++ // 'H'
	}
	for {
		tag, err := r.peek()
		if err != nil {
			return err
		}
		if tag == 'Z' {
			r.pos++
			return nil
		}
		if !isStringTag(tag) { // a non-string key cannot become metadata
			if err := r.skipN(2, 1); err != nil {
				return err
			}
			continue
		}
		ks, err := r.readString()
		if err != nil {
			return err
		}
		key := r.stringValue(ks)
		value, ok, err := r.readAttachmentValue()
		if err != nil {
			return err
		}
		if err := addAttachment(md, key, value, ok); err != nil {
			return err
		}
	}
}

// readAttachmentValue reads an attachment value as metadata text: strings as they are,
// null as "", booleans and integers in decimal. Other values (doubles, dates, binary,
// lists, maps, objects) are stepped over and reported with ok false.
func (r *hessianReader) readAttachmentValue() (value string, ok bool, err error) {
	tag, err := r.peek()
	if err != nil {
		return "", false, err
	}
	switch {
	case isStringTag(tag) || tag == 'N':
		s, err := r.readString()
		if err != nil {
			return "", false, err
		}
		return r.stringValue(s), true, nil
	case tag == 'T' || tag == 'F':
		r.pos++
		return strconv.FormatBool(tag == 'T'), true, nil
	case isIntTag(tag) || isLongTag(tag):
		v, err := r.readNumber()
		if err != nil {
			return "", false, err
		}
		return strconv.FormatInt(v, 10), true, nil
	}
	return "", false, r.skipValue(1)
}

// addAttachment adds one attachment to the metadata; value is set only when ok (the value
// is metadata text).
//
// The "path" and "version" attachments override the body's service path and version, as they
// do in Dubbo's server; "interface", "method" and "dubbo" attachments are dropped so that those
// keys keep meaning what the server dispatches on. A key that comes twice is refused: Dubbo
// keeps the last value while Metadata.Get returns the first, so routing and authorization
// would see another value than the server. (Clients serialise a map and never repeat a key.)
func addAttachment(md *protocol.Metadata, key, value string, ok bool) error {
	switch key {
	case KeyInterface, KeyMethod, KeyDubboVersion:
		return nil
	case KeyVersion: // replaces the body's, so a repeat simply wins as it does in Dubbo
		switch {
		case !ok:
		case value == "":
			md.Delete(KeyVersion)
		default:
			md.Set(KeyVersion, value)
		}
		return nil
	}
	for _, kv := range md.All() { // the body's keys are handled above: only attachments match
		if kv.Key == key {
			return malformedf("attachment %q appears twice", key)
		}
	}
	if !ok {
		return nil
	}
	if key == "path" {
		md.Set(KeyInterface, value)
	}
	md.Add(key, value)
	return nil
}

// decodeResponse sets the type, status and code (the status byte) of a response from its
// body, and adds the attachments of a response that carries them to the metadata.
func (c *Codec) decodeResponse(h header, body []byte, msg *protocol.Message) error {
	r := &c.reader
	r.reset(body)
	msg.Code = int32(h.status)
	if !h.hasOKStatus() {
		// The body is the error message as a hessian2 string; keep it if it is one.
		if !r.atEnd() && isStringTag(body[0]) {
			if s, err := r.readString(); err == nil {
				msg.Metadata.Add(KeyErrorMessage, r.stringValue(s))
			}
		}
		return nil
	}
	kind, err := r.readInt()
	if err != nil {
		return fmt.Errorf("dubbo: response type: %w", err)
	}
	switch kind {
	case responseWithException, responseWithExceptionWithAttachments:
		msg.Type, msg.Status = protocol.Error, protocol.StatusError
	case responseValue, responseNullValue, responseValueWithAttachments, responseNullValueWithAttachments:
		msg.Type, msg.Status = protocol.Response, protocol.StatusOK
	default:
		return malformedf("unknown response type %d", kind)
	}
	switch kind {
	case responseWithExceptionWithAttachments, responseValueWithAttachments:
		if r.skip() != nil {
			return nil
		}
	case responseNullValueWithAttachments:
	default:
		return nil
	}
	// The attachments are read for what they tell (a peer's metadata, say); the response
	// is forwarded whether or not they can be, so a map the reader refuses is left out
	// rather than failing the response.
	if !r.atEnd() && (body[r.pos] == 'H' || body[r.pos] == 'M') && c.readAttachments(&msg.Metadata) != nil {
		msg.Metadata.Reset()
	}
	return nil
}

// attachmentsHint returns the frame offset of the attachments that Decode recorded in
// msg.CodecState, or -1 when there is none or it no longer points into msg.Frame (the
// message was copied, say).
func attachmentsHint(msg *protocol.Message) int {
	p, ok := msg.CodecState.(*byte)
	if !ok || p == nil || len(msg.Frame) <= headerSize {
		return -1
	}
	off := int(uintptr(unsafe.Pointer(p)) - uintptr(unsafe.Pointer(&msg.Frame[0])))
	if off < headerSize || off >= len(msg.Frame) {
		return -1
	}
	switch msg.Frame[off] {
	case 'H', 'M', 'N':
		return off
	}
	return -1
}
