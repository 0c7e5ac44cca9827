package connio_test

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/internal/connio"
	"github.com/breeze-mesh/breeze/proxy/internal/testcodec"
)

// repeatReader serves the same stream forever, in reads of at most chunk bytes (a socket
// returns what has arrived, not what fits).
type repeatReader struct {
	data  []byte
	off   int
	chunk int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.off == len(r.data) {
		r.off = 0
	}
	n := copy(p[:min(len(p), r.chunk)], r.data[r.off:])
	r.off += n
	return n, nil
}

var _ io.Reader = (*repeatReader)(nil)

// BenchmarkFrameReader decodes frames of several sizes, with and without the codec telling
// the frame's size (protocol.NeedMoreError).
func BenchmarkFrameReader(b *testing.B) {
	for _, size := range []int{100, 1 << 10, 16 << 10} {
		frame := testcodec.Frame('Q', 1, map[string]string{"interface": "a.B"}, string(bytes.Repeat([]byte{'x'}, size)))
		stream := bytes.Repeat(frame, 64)
		for _, sized := range []bool{false, true} {
			b.Run(fmt.Sprintf("%dB/sized=%v", size, sized), func(b *testing.B) {
				c := codec(1 << 20)
				if sized {
					c = sizedCodec{c}
				}
				fr := connio.NewFrameReader(&repeatReader{data: stream, chunk: 64 << 10}, c, 1<<20)
				var msg protocol.Message
				b.SetBytes(int64(len(frame)))
				b.ReportAllocs()
				for b.Loop() {
					if err := fr.Next(&msg); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
