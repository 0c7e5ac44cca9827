package hessiangreeter

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"

	hessian "github.com/apache/dubbo-go-hessian2"
)

// DefaultVersions are the service versions a server exports when its config names none,
// as in examples/dubbo/greeter.
var DefaultVersions = []string{"1.0.0", "2.0.0"}

// ServerConfig says how to run a Greeter server.
type ServerConfig struct {
	// Name identifies the server in replies ("hello alice from <Name>"). Default "greeter".
	Name string
	// Address to listen on. Default "127.0.0.1:0" (a free port; see Server.Addr).
	Address string
	// Versions are the service versions exported. A call for another version (or another
	// interface) is answered with status SERVICE_NOT_FOUND. Default DefaultVersions.
	Versions []string
}

// Server is a running Greeter server. Unlike dubbo-go's, any number run in one process.
type Server struct {
	name     string
	versions []string
	ln       net.Listener

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// Start listens on cfg.Address and serves until Close.
func Start(cfg ServerConfig) (*Server, error) {
	if cfg.Name == "" {
		cfg.Name = "greeter"
	}
	if cfg.Address == "" {
		cfg.Address = "127.0.0.1:0"
	}
	if len(cfg.Versions) == 0 {
		cfg.Versions = DefaultVersions
	}
	ln, err := net.Listen("tcp", cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("hessiangreeter: %w", err)
	}
	s := &Server{name: cfg.Name, versions: slices.Clone(cfg.Versions), ln: ln, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the host:port the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops listening, closes every connection and waits for their goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	err := s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return // closed (Close), or the listener is broken: either way, done
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(c)
	}
}

// serve answers the requests of one connection in order. The Greeter's methods return at
// once, so one goroutine per connection, reading and writing, is enough.
func (s *Server) serve(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	r := bufio.NewReaderSize(c, 16<<10)
	for {
		frame, err := readFrame(r)
		if err != nil {
			return // EOF, a closed connection, or bytes that are not Dubbo: hang up
		}
		reply, err := s.handle(frame)
		if err != nil {
			return // a reply that cannot be encoded: nothing sensible left to say
		}
		if reply != nil {
			if _, err := c.Write(reply); err != nil {
				return
			}
		}
	}
}

// handle returns the reply to one frame, or nil when it needs none (oneway calls,
// responses to our nothing).
func (s *Server) handle(frame []byte) ([]byte, error) {
	id := frameID(frame)
	switch {
	case !isRequest(frame):
		return nil, nil // a response (say, to a heartbeat the peer thinks we sent): ignore
	case isEvent(frame):
		if !isTwoWay(frame) {
			return nil, nil
		}
		return encodeHeartbeatResponse(id)
	case serialID(frame) != hessian2SerialID:
		return encodeStatus(id, hessian.Response_BAD_REQUEST, fmt.Sprintf("unsupported serialization id %d, want hessian2 (2)", serialID(frame)))
	}
	req, err := decodeRequest(frame)
	if err != nil {
		if !isTwoWay(frame) {
			return nil, nil
		}
		return encodeStatus(id, hessian.Response_BAD_REQUEST, "cannot decode request: "+err.Error())
	}
	var value any
	var callErr error
	if req.path != Interface || !slices.Contains(s.versions, req.version) {
		// What dubbo-go answers (an exception with status OK, and this text), so that a
		// caller cannot tell the two servers apart.
		callErr = fmt.Errorf("don't have this exporter, key: %s", serviceKey(req))
	} else {
		value, callErr = s.invoke(req)
	}
	if !isTwoWay(frame) {
		return nil, nil
	}
	return encodeResult(id, req.dubboVersion, value, callErr)
}

// serviceKey is dubbo-go's name for an exported service: [group/]interface[:version].
func serviceKey(req *request) string {
	key := req.path
	if g := req.attachments["group"]; g != "" {
		key = g + "/" + key
	}
	if req.version != "" {
		key += ":" + req.version
	}
	return key
}

// errArgs is the exception for a call with the wrong arguments.
var errArgs = errors.New("want one string argument")

// invoke runs one Greeter method.
func (s *Server) invoke(req *request) (any, error) {
	if len(req.args) != 1 {
		return nil, fmt.Errorf("%s: %w, got %d arguments", req.method, errArgs, len(req.args))
	}
	arg, ok := req.args[0].(string)
	if !ok {
		return nil, fmt.Errorf("%s: %w, got %T", req.method, errArgs, req.args[0])
	}
	switch req.method {
	case MethodSayHello:
		return "hello " + arg + " from " + s.name, nil
	case MethodSayHi:
		return "hi " + arg + " from " + s.name, nil
	case MethodAttachment:
		return req.attachments[arg], nil
	}
	return nil, fmt.Errorf("greeter %s has no method %q", s.name, req.method)
}
