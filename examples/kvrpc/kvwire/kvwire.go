// Package kvwire is the application side of kvrpc, the in-house protocol of the codec
// tutorial (docs/codec-tutorial.md): what a company's services link to speak it, written
// without Breeze. It frames messages, serves requests and calls servers. The codec in
// protocol/kvrpc reads the same bytes independently.
//
// A frame is a 14-byte header, then key/value headers, then an opaque body:
//
//	magic "KV" | version 1 | kind | request id (4) | headers length (2) | body length (4)
//	headers: repeated key length (1) | key | value length (2) | value
//
// with big-endian integers. Requests name their command in the "cmd" header.
package kvwire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"time"
)

// Kinds of frame.
const (
	Request  byte = 1
	Oneway   byte = 2
	Response byte = 3
	Error    byte = 4 // a response whose body is the error text
)

const (
	headerSize = 14
	version    = 1
	// maxBody bounds what Read accepts, so a bad length cannot exhaust memory.
	maxBody = 16 << 20
)

// Header is one key/value of a frame.
type Header struct{ Key, Value string }

// Frame is one kvrpc message.
type Frame struct {
	Kind    byte
	ID      uint32
	Headers []Header
	Body    []byte
}

// Get returns the value of header key ("" if absent).
func (f *Frame) Get(key string) string {
	for _, h := range f.Headers {
		if h.Key == key {
			return h.Value
		}
	}
	return ""
}

// Append encodes f after b.
func Append(b []byte, f *Frame) ([]byte, error) {
	var headers []byte
	for _, h := range f.Headers {
		if len(h.Key) > math.MaxUint8 || len(h.Value) > math.MaxUint16 {
			return nil, fmt.Errorf("kvwire: header %q too long", h.Key)
		}
		headers = append(append(headers, byte(len(h.Key))), h.Key...)
		headers = append(binary.BigEndian.AppendUint16(headers, uint16(len(h.Value))), h.Value...)
	}
	if len(headers) > math.MaxUint16 || len(f.Body) > maxBody {
		return nil, errors.New("kvwire: frame too large")
	}
	b = append(b, 'K', 'V', version, f.Kind)
	b = binary.BigEndian.AppendUint32(b, f.ID)
	b = binary.BigEndian.AppendUint16(b, uint16(len(headers)))
	b = binary.BigEndian.AppendUint32(b, uint32(len(f.Body)))
	return append(append(b, headers...), f.Body...), nil
}

// Read reads one frame.
func Read(r io.Reader) (*Frame, error) {
	var h [headerSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	if h[0] != 'K' || h[1] != 'V' || h[2] != version {
		return nil, fmt.Errorf("kvwire: not a kvrpc frame (%x)", h[:3])
	}
	headersLen, bodyLen := int(binary.BigEndian.Uint16(h[8:])), binary.BigEndian.Uint32(h[10:])
	if bodyLen > maxBody {
		return nil, fmt.Errorf("kvwire: %d-byte body", bodyLen)
	}
	rest := make([]byte, headersLen+int(bodyLen))
	if _, err := io.ReadFull(r, rest); err != nil {
		return nil, err
	}
	f := &Frame{Kind: h[3], ID: binary.BigEndian.Uint32(h[4:]), Body: rest[headersLen:]}
	for b := rest[:headersLen]; len(b) > 0; {
		keyEnd := 1 + int(b[0])
		if len(b) < keyEnd+2 {
			return nil, errors.New("kvwire: truncated header")
		}
		valueEnd := keyEnd + 2 + int(binary.BigEndian.Uint16(b[keyEnd:]))
		if len(b) < valueEnd {
			return nil, errors.New("kvwire: truncated header")
		}
		f.Headers = append(f.Headers, Header{string(b[1:keyEnd]), string(b[keyEnd+2 : valueEnd])})
		b = b[valueEnd:]
	}
	return f, nil
}

// Handler answers a request. It returns the response's headers and body, or an error that
// becomes an Error frame.
type Handler func(req *Frame) ([]Header, []byte, error)

// Serve answers the requests of every connection ln accepts, one at a time per
// connection, until ln is closed.
func Serve(ln net.Listener, h Handler) error {
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go serveConn(nc, h)
	}
}

func serveConn(nc net.Conn, h Handler) {
	defer nc.Close()
	r := bufio.NewReader(nc)
	for {
		req, err := Read(r)
		if err != nil {
			return
		}
		if req.Kind != Request && req.Kind != Oneway {
			return
		}
		headers, body, err := h(req)
		if req.Kind == Oneway {
			continue
		}
		resp := &Frame{Kind: Response, ID: req.ID, Headers: headers, Body: body}
		if err != nil {
			resp = &Frame{Kind: Error, ID: req.ID, Body: []byte(err.Error())}
		}
		out, err := Append(nil, resp)
		if err != nil {
			out, _ = Append(nil, &Frame{Kind: Error, ID: req.ID, Body: []byte(err.Error())})
		}
		if _, err := nc.Write(out); err != nil {
			return
		}
	}
}

// Client calls one server over one connection. Calls may run concurrently; responses are
// matched to them by request id.
type Client struct {
	nc      net.Conn
	wmu     sync.Mutex // one frame at a time on the connection
	mu      sync.Mutex // guards the fields below
	nextID  uint32
	pending map[uint32]chan *Frame
	err     error
}

// Dial connects to addr.
func Dial(addr string, timeout time.Duration) (*Client, error) {
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	c := &Client{nc: nc, pending: map[uint32]chan *Frame{}}
	go c.readLoop()
	return c, nil
}

// Close closes the connection; calls in flight fail.
func (c *Client) Close() error { return c.nc.Close() }

// RemoteError is an Error frame's text.
type RemoteError struct {
	// Kind is the frame's "error" header, if any (the Breeze proxy sets it).
	Kind, Text string
}

func (e *RemoteError) Error() string {
	if e.Kind != "" {
		return e.Kind + ": " + e.Text
	}
	return e.Text
}

// Call sends a request with cmd and headers and waits for its response (at most timeout).
// An Error response is returned as a *RemoteError.
func (c *Client) Call(cmd string, headers []Header, body []byte, timeout time.Duration) (*Frame, error) {
	ch := make(chan *Frame, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, c.err
	}
	c.nextID++
	id := c.nextID
	c.pending[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()
	if err := c.send(Request, id, cmd, headers, body); err != nil {
		return nil, err
	}
	select {
	case resp := <-ch:
		if resp == nil { // closed: the connection is gone
			c.mu.Lock()
			defer c.mu.Unlock()
			return nil, c.err
		}
		if resp.Kind == Error {
			return resp, &RemoteError{Kind: resp.Get("error"), Text: string(resp.Body)}
		}
		return resp, nil
	case <-time.After(timeout):
		return nil, fmt.Errorf("kvwire: no response to %s within %v", cmd, timeout)
	}
}

// Send sends a oneway request: no response comes back.
func (c *Client) Send(cmd string, headers []Header, body []byte) error {
	return c.send(Oneway, 0, cmd, headers, body)
}

func (c *Client) send(kind byte, id uint32, cmd string, headers []Header, body []byte) error {
	out, err := Append(nil, &Frame{Kind: kind, ID: id, Headers: append([]Header{{"cmd", cmd}}, headers...), Body: body})
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err = c.nc.Write(out)
	return err
}

func (c *Client) readLoop() {
	r := bufio.NewReader(c.nc)
	for {
		f, err := Read(r)
		if err != nil {
			c.mu.Lock()
			c.err = fmt.Errorf("kvwire: connection lost: %w", err)
			for id, ch := range c.pending {
				close(ch)
				delete(c.pending, id)
			}
			c.mu.Unlock()
			return
		}
		c.mu.Lock()
		ch := c.pending[f.ID]
		delete(c.pending, f.ID)
		c.mu.Unlock()
		if ch != nil {
			ch <- f
		}
	}
}
