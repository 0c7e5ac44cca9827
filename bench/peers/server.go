package peers

import (
	"bufio"
	"io"
	"net"
	"sync"
)

// Framing splits a byte stream into frames and reads/writes their request ids.
type Framing struct {
	// Len returns the length of the frame at the start of b, 0 if more bytes are needed.
	Len func(b []byte) (int, error)
	// ID reads a frame's request id; SetID writes it.
	ID    func(frame []byte) uint64
	SetID func(frame []byte, id uint64)
}

// Dubbo is the Dubbo framing.
var Dubbo = Framing{Len: DubboFrameLen, ID: DubboID, SetID: SetDubboID}

// EchoServer answers every request with response, its id set to the request's. It runs
// until Close.
type EchoServer struct {
	ln       net.Listener
	framing  Framing
	response []byte
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	wg       sync.WaitGroup
}

// StartEchoServer listens on 127.0.0.1:0.
func StartEchoServer(framing Framing, response []byte) (*EchoServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &EchoServer{ln: ln, framing: framing, response: response, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

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

// ReadFrame reads one whole frame into *buf and returns its length.
func ReadFrame(r *bufio.Reader, f Framing, buf *[]byte) (int, error) {
	b := (*buf)[:0]
	for {
		n, err := f.Len(b)
		if err != nil {
			return 0, err
		}
		if n > 0 && len(b) >= n {
			*buf = b
			return n, nil
		}
		need := 16
		if n > 0 {
			need = n - len(b)
		}
		if cap(b)-len(b) < need {
			nb := make([]byte, len(b), len(b)+need+4096)
			copy(nb, b)
			b = nb
		}
		m, err := io.ReadAtLeast(r, b[len(b):len(b)+need], need)
		b = b[:len(b)+m]
		if err != nil {
			return 0, err
		}
	}
}
