// Package connio holds the byte-level plumbing shared by downstream and upstream
// connections: a frame reader that decodes without copying, and a queued writer that batches
// frames from many goroutines into few system calls.
package connio

import (
	"errors"
	"fmt"
	"io"

	"github.com/breeze-mesh/breeze/protocol"
)

// chunkSize is the size of a fresh read buffer. Small enough that an idle connection costs
// little, large enough that a burst of small frames needs few reads.
const chunkSize = 4 << 10

// FrameReader reads frames from a connection and decodes them with a codec.
//
// Decoded messages alias the read buffer (the codec SDK lets codecs expose metadata without
// copying), so bytes handed to a successful Decode are never overwritten: when the buffer
// fills, the unread tail moves to a fresh buffer and the old one is left to the messages
// that still point into it. A connection that is idle between frames drops its buffer.
type FrameReader struct {
	r     io.Reader
	codec protocol.Codec
	max   int

	buf        []byte // current chunk; buf[start:end] is read but not yet decoded
	start, end int
	// frameSize is the size of the frame at buf[start:] when the codec said it
	// (protocol.NeedMoreError), else 0.
	frameSize int
}

// NewFrameReader returns a reader decoding frames of at most maxFrame bytes from r.
func NewFrameReader(r io.Reader, codec protocol.Codec, maxFrame int) *FrameReader {
	return &FrameReader{r: r, codec: codec, max: maxFrame}
}

// Next decodes the next message into msg, reading from the connection as needed. It
// returns io.EOF at a clean end of stream (no partial frame pending), io.ErrUnexpectedEOF
// when the stream ends inside a frame, and the codec's error for a bad frame.
func (fr *FrameReader) Next(msg *protocol.Message) error {
	for {
		if fr.end > fr.start {
			msg.Reset()
			n, err := fr.codec.Decode(fr.buf[fr.start:fr.end], msg)
			switch {
			case err == nil:
				if n <= 0 || n > fr.end-fr.start {
					return fmt.Errorf("%w: codec consumed %d of %d bytes", protocol.ErrMalformed, n, fr.end-fr.start)
				}
				fr.start += n
				fr.frameSize = 0
				return nil
			case !errors.Is(err, protocol.ErrNeedMore):
				return err
			}
			fr.frameSize = 0
			sized, ok := err.(protocol.NeedMoreError) //nolint:errorlint // runs on every partial frame: errors.As would allocate; the SDK documents that only the value itself counts
			if ok && sized.FrameSize > fr.end-fr.start && sized.FrameSize <= fr.max+64<<10 {
				fr.frameSize = sized.FrameSize
			}
			if fr.end-fr.start > fr.max+64<<10 {
				// A codec that keeps asking for more past the frame limit would grow
				// the buffer without bound; the 64 KiB slack covers headers.
				return fmt.Errorf("%w: no frame within %d bytes", protocol.ErrFrameTooLarge, fr.end-fr.start)
			}
		}
		if err := fr.fill(); err != nil {
			return err
		}
	}
}

// Buffered reports whether undecoded bytes are waiting.
func (fr *FrameReader) Buffered() bool { return fr.end > fr.start }

// fill reads more bytes, first making room: a fresh chunk when the current one is full (the
// decoded part stays with the messages that alias it); for a frame whose size the codec
// said, a buffer that holds it exactly as soon as what is left of the chunk cannot; for one
// larger than a chunk whose size is unknown, twice the pending size.
func (fr *FrameReader) fill() error {
	pending := fr.end - fr.start
	if pending == 0 && fr.buf != nil && len(fr.buf)-fr.end < 512 {
		fr.buf, fr.start, fr.end = nil, 0, 0
	}
	switch {
	case fr.frameSize > 0 && fr.start+fr.frameSize > len(fr.buf):
		fr.move(max(fr.frameSize, chunkSize))
	case fr.buf == nil || fr.end == len(fr.buf):
		fr.move(max(chunkSize, pending*2))
	}
	n, err := fr.r.Read(fr.buf[fr.end:])
	fr.end += n
	if n > 0 {
		return nil
	}
	if err == io.EOF && pending > 0 {
		return io.ErrUnexpectedEOF
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// move continues in a fresh buffer of size bytes, taking the undecoded bytes along.
func (fr *FrameReader) move(size int) {
	next := make([]byte, size)
	pending := copy(next, fr.buf[fr.start:fr.end])
	fr.buf, fr.start, fr.end = next, 0, pending
}
