// Package dubboraw is a minimal Dubbo client for tests, built directly on the frame codec of
// dubbo-go-hessian2 over a net.Conn. Unlike dubbo-go's client it lets a test choose every
// byte: request ids, oneway and heartbeat frames, several requests in flight on one
// connection, and frames that are not valid at all.
package dubboraw

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	hessian "github.com/apache/dubbo-go-hessian2"
)

// HeaderLength is the size of a Dubbo frame header.
const HeaderLength = hessian.HEADER_LENGTH

// hessian2SerialID is Dubbo's serialization id for hessian2.
const hessian2SerialID = 2

// maxBody bounds the body of a frame ReadFrame accepts: Dubbo's default payload limit.
const maxBody = 8 << 20

// Status codes of Dubbo responses.
const (
	StatusOK              = hessian.Response_OK
	StatusBadRequest      = hessian.Response_BAD_REQUEST
	StatusBadResponse     = hessian.Response_BAD_RESPONSE
	StatusServiceNotFound = hessian.Response_SERVICE_NOT_FOUND
	StatusServiceError    = hessian.Response_SERVICE_ERROR
	StatusServerError     = hessian.Response_SERVER_ERROR
)

// Request is one call.
type Request struct {
	// Interface is the service path (the interface name).
	Interface, Version, Group, Method string
	// Args are the method arguments (hessian2-encodable values).
	Args []any
	// Attachments are extra key/values; the codec adds path, interface, version, group.
	Attachments map[string]string
}

// EncodeRequest returns the frame for req with request id id. A oneway request (twoWay
// false) tells the server not to answer.
func EncodeRequest(id int64, req Request, twoWay bool) ([]byte, error) {
	header := hessian.DubboHeader{SerialID: hessian2SerialID, Type: hessian.PackageRequest, ID: id}
	if twoWay {
		header.Type = hessian.PackageRequest_TwoWay
	}
	service := hessian.Service{Path: req.Interface, Interface: req.Interface, Group: req.Group, Version: req.Version, Method: req.Method}
	args := req.Args
	if args == nil {
		args = []any{}
	}
	atts := make(map[string]string, len(req.Attachments)+4)
	for k, v := range req.Attachments {
		atts[k] = v
	}
	return hessian.NewHessianCodec(nil).Write(service, header, hessian.NewRequest(args, atts))
}

// EncodeHeartbeat returns a heartbeat request frame (an event that expects an answer).
func EncodeHeartbeat(id int64) ([]byte, error) {
	header := hessian.DubboHeader{SerialID: hessian2SerialID, Type: hessian.PackageHeartbeat, ID: id}
	return hessian.NewHessianCodec(nil).Write(hessian.Service{}, header, hessian.NewRequest([]any{}, nil))
}

// Response is a decoded response frame.
type Response struct {
	ID int64
	// Status is the header's status byte (StatusOK, StatusServiceNotFound, ...).
	Status byte
	// Heartbeat is set for heartbeat (event) responses.
	Heartbeat bool
	// Result is the returned value of a successful call (nil for void methods).
	Result any
	// Err is the failure a non-OK status or an exception result carries.
	Err error
	// ErrorMessage is the text carried by a non-OK status (the whole body of such frames).
	ErrorMessage string
	// Attachments are the response attachments, if any.
	Attachments map[string]string
}

// ReadFrame reads one whole frame: the header, then the body it announces.
func ReadFrame(r io.Reader) ([]byte, error) {
	header := make([]byte, HeaderLength)
	if _, err := io.ReadFull(r, header); err != nil {
		return nil, err
	}
	if header[0] != hessian.MAGIC_HIGH || header[1] != hessian.MAGIC_LOW {
		return nil, fmt.Errorf("dubboraw: bad magic % x", header[:2])
	}
	bodyLen := binary.BigEndian.Uint32(header[12:])
	if bodyLen > maxBody {
		return nil, fmt.Errorf("dubboraw: body of %d bytes exceeds %d", bodyLen, maxBody)
	}
	frame := make([]byte, HeaderLength+int(bodyLen))
	copy(frame, header)
	if _, err := io.ReadFull(r, frame[HeaderLength:]); err != nil {
		return nil, fmt.Errorf("dubboraw: truncated body: %w", err)
	}
	return frame, nil
}

// DecodeResponse decodes a whole response frame.
func DecodeResponse(frame []byte) (*Response, error) {
	if len(frame) < HeaderLength {
		return nil, errors.New("dubboraw: frame shorter than a header")
	}
	flags := frame[2]
	if flags&hessian.FLAG_REQUEST != 0 {
		return nil, fmt.Errorf("dubboraw: got a request frame (flags %#x), want a response", flags)
	}
	resp := &Response{
		ID:        int64(binary.BigEndian.Uint64(frame[4:])),
		Status:    frame[3],
		Heartbeat: flags&hessian.FLAG_EVENT != 0,
	}
	body := frame[HeaderLength:]
	if resp.Status != StatusOK {
		// A failed status carries the error text as the whole body, a hessian2 string.
		v, err := hessian.NewDecoder(body).Decode()
		if err != nil {
			return nil, fmt.Errorf("dubboraw: status %d body: %w", resp.Status, err)
		}
		msg, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("dubboraw: status %d body is %T, want a string", resp.Status, v)
		}
		resp.ErrorMessage = msg
		resp.Err = fmt.Errorf("dubbo status %d: %s", resp.Status, msg)
		return resp, nil
	}
	if resp.Heartbeat {
		return resp, nil
	}
	codec := hessian.NewHessianCodec(bufio.NewReaderSize(bytes.NewReader(frame), len(frame)+HeaderLength))
	var header hessian.DubboHeader
	if err := codec.ReadHeader(&header); err != nil {
		return nil, fmt.Errorf("dubboraw: header: %w", err)
	}
	body2 := &hessian.Response{}
	if err := codec.ReadBody(body2); err != nil {
		return nil, fmt.Errorf("dubboraw: body: %w", err)
	}
	resp.Result = body2.RspObj
	resp.Err = body2.Exception
	resp.Attachments = body2.Attachments
	return resp, nil
}

// Conn is a client connection. Writes may come from several goroutines; reads belong to one.
type Conn struct {
	conn net.Conn
	r    *bufio.Reader
	wmu  sync.Mutex
	// nextID is the id of the next request sent with Call or Go.
	nextID int64
	idMu   sync.Mutex
}

// Dial connects to addr.
func Dial(addr string, timeout time.Duration) (*Conn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	return &Conn{conn: c, r: bufio.NewReaderSize(c, 64<<10), nextID: 1}, nil
}

// Close closes the connection.
func (c *Conn) Close() error { return c.conn.Close() }

// SetDeadline bounds the following reads and writes.
func (c *Conn) SetDeadline(t time.Time) error { return c.conn.SetDeadline(t) }

// NewID returns a fresh request id.
func (c *Conn) NewID() int64 {
	c.idMu.Lock()
	defer c.idMu.Unlock()
	id := c.nextID
	c.nextID++
	return id
}

// Write sends bytes as they are: a frame, part of one, or garbage.
func (c *Conn) Write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.conn.Write(b)
	return err
}

// Send encodes and sends req with a fresh id, and returns the id.
func (c *Conn) Send(req Request, twoWay bool) (int64, error) {
	id := c.NewID()
	frame, err := EncodeRequest(id, req, twoWay)
	if err != nil {
		return 0, err
	}
	return id, c.Write(frame)
}

// Read reads and decodes the next response frame.
func (c *Conn) Read() (*Response, error) {
	frame, err := ReadFrame(c.r)
	if err != nil {
		return nil, err
	}
	return DecodeResponse(frame)
}

// Call sends req and reads its response; it expects no other response to arrive first.
func (c *Conn) Call(req Request) (*Response, error) {
	id, err := c.Send(req, true)
	if err != nil {
		return nil, err
	}
	resp, err := c.Read()
	if err != nil {
		return nil, err
	}
	if resp.ID != id {
		return nil, fmt.Errorf("dubboraw: response id %d, want %d", resp.ID, id)
	}
	return resp, nil
}

// Heartbeat sends a heartbeat and reads its answer.
func (c *Conn) Heartbeat() (*Response, error) {
	id := c.NewID()
	frame, err := EncodeHeartbeat(id)
	if err != nil {
		return nil, err
	}
	if err := c.Write(frame); err != nil {
		return nil, err
	}
	resp, err := c.Read()
	if err != nil {
		return nil, err
	}
	if resp.ID != id || !resp.Heartbeat {
		return nil, fmt.Errorf("dubboraw: heartbeat %d answered by id %d (heartbeat %v)", id, resp.ID, resp.Heartbeat)
	}
	return resp, nil
}
