package peers

import (
	"bufio"
	"net"
	"sync"
	"sync/atomic"
)

// EchoServer answers every request with response, its id set to the request's. It runs
// until Close.
type EchoServer struct {
	served   atomic.Int64
	ln       net.Listener
	framing  Framing
	response []byte
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	wg       sync.WaitGroup
}

// StartEchoServer listens on 127.0.0.1:0.
func StartEchoServer(framing Framing, response []byte) (*EchoServer, error) {
	return StartEchoServerAt("127.0.0.1:0", framing, response)
}

// StartEchoServerAt listens on addr (a proxy configured outside the harness expects its
// upstream at a fixed address).
func StartEchoServerAt(addr string, framing Framing, response []byte) (*EchoServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &EchoServer{ln: ln, framing: framing, response: response, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Served is the number of requests answered so far.
func (s *EchoServer) Served() int64 { return s.served.Load() }

// Addr is the server's address.
func (s *EchoServer) Addr() string { return s.ln.Addr().String() }

// Close stops the server and closes its connections.
func (s *EchoServer) Close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *EchoServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(c)
	}
}

// serve answers in order; responses to pipelined requests are batched into one write when
// the reader has no more buffered input.
func (s *EchoServer) serve(c net.Conn) {
	defer s.wg.Done()
	defer c.Close()
	r := bufio.NewReaderSize(c, 64<<10)
	w := bufio.NewWriterSize(c, 64<<10)
	resp := append([]byte(nil), s.response...)
	head := make([]byte, 0, 64<<10)
	for {
		n, err := ReadFrame(r, s.framing, &head)
		if err != nil {
			return
		}
		s.framing.SetID(resp, s.framing.ID(head[:n]))
		s.served.Add(1)
		if _, err := w.Write(resp); err != nil {
			return
		}
		if r.Buffered() == 0 {
			if w.Flush() != nil {
				return
			}
		}
	}
}
