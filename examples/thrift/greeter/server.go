package greeter

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/apache/thrift/lib/go/thrift"
)

// ServerConfig says what a Greeter server is called and how it listens.
type ServerConfig struct {
	// Name is echoed in replies ("hello alice from <Name>").
	Name string
	// Address is "host:port" to listen on; port 0 picks a free one.
	Address string
	// Transport is Buffered, Framed or THeader; Protocol is Binary or Compact (a THeader
	// server reads both, and also buffered and framed clients).
	Transport, Protocol string
}

// Server is a running Greeter server.
type Server struct {
	srv    *thrift.TSimpleServer
	socket *thrift.TServerSocket
	conns  *connTracker
	done   chan struct{}
}

// Start listens and serves in the background until Close.
func Start(cfg ServerConfig) (*Server, error) {
	conf, err := configFor(cfg.Protocol)
	if err != nil {
		return nil, err
	}
	tf, err := transportFactory(cfg.Transport, conf)
	if err != nil {
		return nil, err
	}
	pf, err := protocolFactory(cfg.Transport, cfg.Protocol, conf)
	if err != nil {
		return nil, err
	}
	socket, err := thrift.NewTServerSocket(cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("greeter server: %w", err)
	}
	conns := &connTracker{TServerTransport: socket, open: map[*trackedConn]struct{}{}}
	srv := thrift.NewTSimpleServer4(&processor{name: cfg.Name}, conns, tf, pf)
	// Serve would set it; AcceptLoop (used so that Start returns once listening) logs a
	// connection's error through it.
	srv.SetLogContext(context.Background())
	if err := srv.Listen(); err != nil {
		return nil, fmt.Errorf("greeter server: %w", err)
	}
	s := &Server{srv: srv, socket: socket, conns: conns, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		_ = srv.AcceptLoop()
	}()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.socket.Addr().String() }

// Port is the port the server listens on.
func (s *Server) Port() int { return s.socket.Addr().(*net.TCPAddr).Port }

// Close stops accepting, closes every connection and waits for the server to end.
func (s *Server) Close() error {
	// The library's Stop waits for every client to hang up (thrift.ServerStopTimeout, a
	// process-wide setting, is off by default), so the connections are closed here while
	// it waits: an idle client must not hold the server open.
	stopped := make(chan error, 1)
	go func() { stopped <- s.srv.Stop() }()
	s.conns.closeAll()
	err := <-stopped
	<-s.done
	return err
}

// connTracker is the server's listening socket, remembering the connections it accepted
// until they close, so that Close can close those still open.
type connTracker struct {
	thrift.TServerTransport
	mu     sync.Mutex
	open   map[*trackedConn]struct{}
	closed bool
}

func (t *connTracker) Accept() (thrift.TTransport, error) {
	c, err := t.TServerTransport.Accept()
	if err != nil {
		return c, err
	}
	tc := &trackedConn{TTransport: c, tracker: t}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		c.Close() // accepted while closing: the server will not serve it
		return tc, nil
	}
	t.open[tc] = struct{}{}
	return tc, nil
}

// closeAll closes the open connections and every one accepted from now on.
func (t *connTracker) closeAll() {
	t.mu.Lock()
	t.closed = true
	open := t.open
	t.open = nil
	t.mu.Unlock()
	for c := range open {
		c.TTransport.Close()
	}
}

// trackedConn is an accepted connection, forgotten by its tracker once closed.
type trackedConn struct {
	thrift.TTransport
	tracker *connTracker
}

func (c *trackedConn) Close() error {
	c.tracker.mu.Lock()
	delete(c.tracker.open, c)
	c.tracker.mu.Unlock()
	return c.TTransport.Close()
}

// processor answers the Greeter's methods. It reads every request itself (the library's
// TProcessor is that low-level), so it also sees what message type a call came as.
type processor struct {
	name string
	mu   sync.Mutex
	seen map[string]bool
}

func (p *processor) ProcessorMap() map[string]thrift.TProcessorFunction  { return nil }
func (p *processor) AddToProcessorMap(string, thrift.TProcessorFunction) {}

func (p *processor) Process(ctx context.Context, in, out thrift.TProtocol) (bool, thrift.TException) {
	method, typ, seq, err := in.ReadMessageBegin(ctx)
	if err != nil {
		return false, thrift.WrapTException(err)
	}
	var arg stringArg
	if err := arg.Read(ctx, in); err != nil {
		return false, thrift.WrapTException(err)
	}
	if err := in.ReadMessageEnd(ctx); err != nil {
		return false, thrift.WrapTException(err)
	}
	reply, greeting := Greeting(p.name, method, arg.value)
	switch {
	case greeting:
	case method == Header:
		reply, _ = thrift.GetHeader(ctx, arg.value)
	case method == Notify:
		p.mu.Lock()
		if p.seen == nil {
			p.seen = map[string]bool{}
		}
		p.seen[arg.value] = true
		p.mu.Unlock()
	case method == Seen:
		p.mu.Lock()
		reply = fmt.Sprint(p.seen[arg.value])
		p.mu.Unlock()
	default:
		e := thrift.NewTApplicationException(thrift.UNKNOWN_METHOD, "Unknown function "+method)
		if err := writeMessage(ctx, out, method, thrift.EXCEPTION, seq, e); err != nil {
			return false, thrift.WrapTException(err)
		}
		return true, e
	}
	if typ == thrift.ONEWAY {
		return true, nil // a oneway call of a two-way method: nothing goes back
	}
	if err := writeMessage(ctx, out, method, thrift.REPLY, seq, &stringResult{value: reply}); err != nil {
		return false, thrift.WrapTException(err)
	}
	return true, nil
}

// Greeting is what a server called server answers to sayHello(arg) and sayHi(arg); ok is
// false for the other methods.
func Greeting(server, method, arg string) (reply string, ok bool) {
	switch method {
	case SayHello:
		return fmt.Sprintf("hello %s from %s", arg, server), true
	case SayHi:
		return fmt.Sprintf("hi %s from %s", arg, server), true
	}
	return "", false
}

// writeMessage writes one whole message and flushes it.
func writeMessage(ctx context.Context, out thrift.TProtocol, method string, typ thrift.TMessageType, seq int32, body thrift.TStruct) error {
	if err := out.WriteMessageBegin(ctx, method, typ, seq); err != nil {
		return err
	}
	if err := body.Write(ctx, out); err != nil {
		return err
	}
	if err := out.WriteMessageEnd(ctx); err != nil {
		return err
	}
	return out.Flush(ctx)
}

// ErrClosed is returned by a Client used after Close.
var ErrClosed = errors.New("greeter client: closed")
