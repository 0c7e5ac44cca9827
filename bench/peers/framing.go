package peers

import (
	"bufio"
	"io"
)

// Framing splits a byte stream into frames and reads/writes their request ids.
type Framing struct {
	// Len returns the length of the frame at the start of b, 0 if more bytes are needed.
	Len func(b []byte) (int, error)
	// ID reads a frame's request id; SetID writes it.
	ID    func(frame []byte) uint64
	SetID func(frame []byte, id uint64)
	// OK reports whether a response frame is a success; nil means every response is.
	// The load generator counts the others, so a target answering errors quickly cannot
	// pass for a fast one.
	OK func(frame []byte) bool
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

// FrameBuffered reports whether r already holds a whole frame, so it can be read without
// waiting for the network.
func FrameBuffered(r *bufio.Reader, f Framing) bool {
	b, _ := r.Peek(r.Buffered())
	n, err := f.Len(b)
	return err == nil && n > 0 && n <= len(b)
}
