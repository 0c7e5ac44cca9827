package greeter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
)

// DefaultTimeout bounds connecting and each call when ClientConfig sets none.
const DefaultTimeout = 3 * time.Second

// ClientConfig says where and how a Client calls the Greeter.
type ClientConfig struct {
	// Address is "host:port".
	Address string
	// Transport is Buffered, Framed or THeader; Protocol is Binary or Compact.
	Transport, Protocol string
	// Timeout bounds connecting and each call (socket reads and writes). Default
	// DefaultTimeout.
	Timeout time.Duration
}

// Client calls the Greeter over one connection, one call at a time (calls from several
// goroutines take turns).
type Client struct {
	mu     sync.Mutex
	trans  thrift.TTransport
	proto  thrift.TProtocol
	seq    int32
	closed bool
}

// Dial connects to the server.
func Dial(cfg ClientConfig) (*Client, error) {
	conf, err := configFor(cfg.Protocol)
	if err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	conf.ConnectTimeout, conf.SocketTimeout = cfg.Timeout, cfg.Timeout
	tf, err := transportFactory(cfg.Transport, conf)
	if err != nil {
		return nil, err
	}
	pf, err := protocolFactory(cfg.Transport, cfg.Protocol, conf)
	if err != nil {
		return nil, err
	}
	socket := thrift.NewTSocketConf(cfg.Address, conf)
	if err := socket.Open(); err != nil {
		return nil, fmt.Errorf("greeter client: %w", err)
	}
	trans, err := tf.GetTransport(socket)
	if err != nil {
		socket.Close()
		return nil, fmt.Errorf("greeter client: %w", err)
	}
	return &Client{trans: trans, proto: pf.GetProtocol(trans)}, nil
}

// Call calls method with arg and returns the reply. Headers are sent as THeader headers
// (other transports have nowhere to put them). A server's exception is returned as a
// thrift.TApplicationException.
func (c *Client) Call(ctx context.Context, method, arg string, headers map[string]string) (string, error) {
	var result stringResult
	if err := c.do(ctx, method, thrift.CALL, arg, headers, &result); err != nil {
		return "", err
	}
	if !result.set {
		return "", thrift.NewTApplicationException(thrift.MISSING_RESULT, method+" failed: unknown result")
	}
	return result.value, nil
}

// SayHello calls sayHello(name).
func (c *Client) SayHello(ctx context.Context, name string) (string, error) {
	return c.Call(ctx, SayHello, name, nil)
}

// SayHi calls sayHi(name).
func (c *Client) SayHi(ctx context.Context, name string) (string, error) {
	return c.Call(ctx, SayHi, name, nil)
}

// Oneway sends method(arg) as a oneway call: message type ONEWAY, and no reply is read.
// (The library's own client sends oneway calls with type CALL, which a proxy cannot tell
// from a call that expects a reply; this writes what other Thrift implementations write.)
func (c *Client) Oneway(ctx context.Context, method, arg string) error {
	return c.do(ctx, method, thrift.ONEWAY, arg, nil, nil)
}

func (c *Client) do(ctx context.Context, method string, typ thrift.TMessageType, arg string, headers map[string]string, result *stringResult) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if hp, ok := c.proto.(*thrift.THeaderProtocol); ok {
		hp.ClearWriteHeaders()
		for k, v := range headers {
			hp.SetWriteHeader(k, v)
		}
	}
	c.seq++
	seq := c.seq
	if err := writeMessage(ctx, c.proto, method, typ, seq, &stringArg{value: arg}); err != nil {
		return c.fail(err)
	}
	if result == nil {
		return nil
	}
	// thrift.TStandardClient's Recv checks the name, id and type of the reply.
	if err := thrift.NewTStandardClient(c.proto, c.proto).Recv(ctx, c.proto, seq, method, result); err != nil {
		var ae thrift.TApplicationException
		if errors.As(err, &ae) && !desynced(ae) {
			return err // the call failed; the connection is fine
		}
		return c.fail(err)
	}
	return nil
}

// desynced reports whether an exception says the reply read was not this call's.
func desynced(ae thrift.TApplicationException) bool {
	switch ae.TypeId() {
	case thrift.WRONG_METHOD_NAME, thrift.BAD_SEQUENCE_ID, thrift.INVALID_MESSAGE_TYPE_EXCEPTION:
		return true
	}
	return false
}

// fail closes the connection after a transport or protocol error: what is left in the
// stream cannot be trusted.
func (c *Client) fail(err error) error {
	c.closed = true
	c.trans.Close()
	return err
}

// Close closes the connection.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	return c.trans.Close()
}
