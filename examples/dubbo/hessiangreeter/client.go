package hessiangreeter

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"sync"
	"sync/atomic"
	"time"

	hessian "github.com/apache/dubbo-go-hessian2"
)

// DefaultTimeout is a call's timeout when ClientConfig sets none.
const DefaultTimeout = 3 * time.Second

// ClientConfig says where a Client connects.
type ClientConfig struct {
	// Address is "host:port".
	Address string
	// Timeout bounds each call (and the dial). Default DefaultTimeout.
	Timeout time.Duration
}

// Request is one call. Unlike dubbo-go's clients, one Client calls any interface and
// version: they travel with each request.
type Request struct {
	// Interface is the service path. Default Interface.
	Interface string
	// Version and Group select the exported service ("" for none).
	Version, Group string
	// Method is the wire method name (MethodSayHello, ...).
	Method string
	// Args are the arguments (hessian2-encodable values).
	Args []any
	// Attachments are extra key/values the request carries (Breeze routes on them).
	Attachments map[string]string
}

// ErrClosed is returned by calls on a closed Client.
var ErrClosed = errors.New("hessiangreeter: client closed")

// Client calls the Greeter over one connection, many calls in flight at once, each matched
// to its reply by request id. After the connection fails, the calls in flight fail with its
// error and the next call dials again. It answers the heartbeats its peer sends. Safe for
// concurrent use; Close it when done.
type Client struct {
	addr    string
	timeout time.Duration
	// nextID numbers requests; it belongs to the Client, not the connection, so that ids
	// stay unique across reconnections.
	nextID atomic.Int64

	mu     sync.Mutex
	conn   *clientConn
	closed bool
}

// Dial connects to cfg.Address.
func Dial(cfg ClientConfig) (*Client, error) {
	if _, _, err := net.SplitHostPort(cfg.Address); err != nil {
		return nil, fmt.Errorf("hessiangreeter client: address %q: %w", cfg.Address, err)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	c := &Client{addr: cfg.Address, timeout: cfg.Timeout}
	if _, err := c.connection(); err != nil {
		return nil, err
	}
	return c, nil
}

// Close closes the connection; calls in flight fail.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.conn != nil {
		c.conn.fail(ErrClosed)
		c.conn = nil
	}
	return nil
}

// connection returns the live connection, dialing one if there is none.
func (c *Client) connection() (*clientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if c.conn != nil && !c.conn.failed() {
		return c.conn, nil
	}
	nc, err := net.DialTimeout("tcp", c.addr, c.timeout)
	if err != nil {
		return nil, fmt.Errorf("hessiangreeter client: %w", err)
	}
	cc := &clientConn{conn: nc, pending: map[int64]chan result{}}
	go cc.read()
	c.conn = cc
	return cc, nil
}

// Call sends req and returns the result (for the Greeter's methods, a string). A method
// that failed on the server (an exception) and a status other than OK are errors.
func (c *Client) Call(ctx context.Context, req Request) (any, error) {
	conn, err := c.connection()
	if err != nil {
		return nil, err
	}
	if req.Interface == "" {
		req.Interface = Interface
	}
	id := c.nextID.Add(1)
	service := hessian.Service{Path: req.Interface, Interface: req.Interface, Group: req.Group, Version: req.Version, Method: req.Method}
	args := req.Args
	if args == nil {
		args = []any{}
	}
	// hessian2's encoder adds path, interface, version and group to the map it is given.
	atts := make(map[string]string, len(req.Attachments)+4)
	maps.Copy(atts, req.Attachments)
	header := hessian.DubboHeader{SerialID: hessian2SerialID, Type: hessian.PackageRequest_TwoWay, ID: id}
	frame, err := hessian.NewHessianCodec(nil).Write(service, header, hessian.NewRequest(args, atts))
	if err != nil {
		return nil, fmt.Errorf("hessiangreeter client: encode %s: %w", req.Method, err)
	}

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	ch := make(chan result, 1)
	if err := conn.send(id, frame, ch); err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		return r.value, r.err
	case <-ctx.Done():
		conn.forget(id)
		return nil, fmt.Errorf("hessiangreeter client: %s: %w", req.Method, ctx.Err())
	}
}

// CallString is Call for methods that return a string, such as sayHello.
func (c *Client) CallString(ctx context.Context, req Request) (string, error) {
	v, err := c.Call(ctx, req)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("hessiangreeter client: %s returned %T, want a string", req.Method, v)
	}
	return s, nil
}

// result is what a call's reply came to.
type result struct {
	value any
	err   error
}

// clientConn is one connection and its calls in flight.
type clientConn struct {
	conn net.Conn

	wmu sync.Mutex // one frame written at a time

	mu      sync.Mutex
	pending map[int64]chan result
	err     error // set once the connection failed
}

// send registers ch for id's reply and writes frame.
func (cc *clientConn) send(id int64, frame []byte, ch chan result) error {
	cc.mu.Lock()
	if cc.err != nil {
		err := cc.err
		cc.mu.Unlock()
		return err
	}
	cc.pending[id] = ch
	cc.mu.Unlock()
	if err := cc.write(frame); err != nil {
		cc.fail(fmt.Errorf("hessiangreeter client: write: %w", err))
		return err
	}
	return nil
}

func (cc *clientConn) write(frame []byte) error {
	cc.wmu.Lock()
	defer cc.wmu.Unlock()
	_, err := cc.conn.Write(frame)
	return err
}

// forget drops a call that gave up waiting; a late reply is then ignored.
func (cc *clientConn) forget(id int64) {
	cc.mu.Lock()
	delete(cc.pending, id)
	cc.mu.Unlock()
}

func (cc *clientConn) failed() bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.err != nil
}

// fail closes the connection and fails every call in flight with err (the first error
// wins).
func (cc *clientConn) fail(err error) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.err != nil {
		return
	}
	cc.err = err
	cc.conn.Close()
	for id, ch := range cc.pending {
		ch <- result{err: err}
		delete(cc.pending, id)
	}
}

// read delivers replies to their calls until the connection fails.
func (cc *clientConn) read() {
	r := bufio.NewReaderSize(cc.conn, 16<<10)
	for {
		frame, err := readFrame(r)
		if err != nil {
			cc.fail(fmt.Errorf("hessiangreeter client: read: %w", err))
			return
		}
		if isRequest(frame) {
			// The peer's heartbeat (a proxy or dubbo-go server checking on us): answer it.
			// Any other request to a client is nonsense; ignore it.
			if isEvent(frame) && isTwoWay(frame) {
				reply, err := encodeHeartbeatResponse(frameID(frame))
				if err == nil {
					err = cc.write(reply)
				}
				if err != nil {
					cc.fail(fmt.Errorf("hessiangreeter client: heartbeat reply: %w", err))
					return
				}
			}
			continue
		}
		if isEvent(frame) {
			continue // an answer to a heartbeat; this client sends none but tolerates them
		}
		id := frameID(frame)
		cc.mu.Lock()
		ch, ok := cc.pending[id]
		delete(cc.pending, id)
		cc.mu.Unlock()
		if ok {
			ch <- decodeResult(frame)
		}
	}
}

// decodeResult turns a response frame into a call's result.
func decodeResult(frame []byte) result {
	if status := frameStatus(frame); status != hessian.Response_OK {
		// A failed status carries the error text as the whole body, a hessian2 string.
		msg, err := hessian.NewDecoder(frame[hessian.HEADER_LENGTH:]).Decode()
		if err != nil {
			return result{err: fmt.Errorf("hessiangreeter client: status %d with an undecodable body: %w", status, err)}
		}
		return result{err: fmt.Errorf("hessiangreeter client: dubbo status %d: %v", status, msg)}
	}
	codec, _, err := codecFor(frame)
	if err != nil {
		return result{err: fmt.Errorf("hessiangreeter client: response header: %w", err)}
	}
	body := &hessian.Response{}
	if err := codec.ReadBody(body); err != nil {
		return result{err: fmt.Errorf("hessiangreeter client: response body: %w", err)}
	}
	if body.Exception != nil {
		return result{err: body.Exception}
	}
	return result{value: body.RspObj}
}
