package connio_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"
	"testing/iotest"
	"time"

	"github.com/breeze-mesh/breeze/protocol"
	"github.com/breeze-mesh/breeze/proxy/internal/connio"
	"github.com/breeze-mesh/breeze/proxy/internal/testcodec"
)

func codec(max int) protocol.Codec {
	reg, _ := protocol.Lookup(testcodec.Name)
	return reg.New(protocol.Options{MaxFrameSize: max})
}

// TestDecodedFramesAreNeverOverwritten reads many frames one byte at a time (so the reader
// refills and moves to new chunks constantly) and checks that every frame and metadata value
// decoded earlier still holds its bytes at the end.
func TestDecodedFramesAreNeverOverwritten(t *testing.T) {
	var stream bytes.Buffer
	var want [][]byte
	for i := range 500 {
		f := testcodec.Frame('Q', uint64(i), map[string]string{"k": fmt.Sprint(i)}, string(bytes.Repeat([]byte{'p'}, i*7%3000)))
		want = append(want, f)
		stream.Write(f)
	}
	fr := connio.NewFrameReader(iotest.OneByteReader(&stream), codec(1<<20), 1<<20)
	var got []*protocol.Message
	for {
		msg := new(protocol.Message)
		err := fr.Next(msg)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, msg)
	}
	if len(got) != len(want) {
		t.Fatalf("decoded %d frames, want %d", len(got), len(want))
	}
	for i, msg := range got {
		if !bytes.Equal(msg.Frame, want[i]) || msg.Metadata.Value("k") != fmt.Sprint(i) {
			t.Fatalf("frame %d changed after later reads", i)
		}
	}
}

func TestTruncatedStreamIsUnexpectedEOF(t *testing.T) {
	f := testcodec.Frame('Q', 1, nil, "payload")
	fr := connio.NewFrameReader(bytes.NewReader(f[:len(f)-2]), codec(1<<20), 1<<20)
	if err := fr.Next(new(protocol.Message)); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestOversizedFrameRejected(t *testing.T) {
	f := testcodec.Frame('Q', 1, nil, string(make([]byte, 2000)))
	fr := connio.NewFrameReader(bytes.NewReader(f), codec(1000), 1000)
	if err := fr.Next(new(protocol.Message)); !errors.Is(err, protocol.ErrFrameTooLarge) {
		t.Fatalf("got %v, want ErrFrameTooLarge", err)
	}
}

// TestWriterDeliversEveryFrameInOrder writes from one goroutine (order is only defined per
// writer goroutine) and reads everything back.
func TestWriterDeliversEveryFrameInOrder(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	w := connio.NewWriter(a, nil)
	var want bytes.Buffer
	done := make(chan []byte)
	go func() {
		got, _ := io.ReadAll(b)
		done <- got
	}()
	for i := range 1000 {
		f := []byte(fmt.Sprintf("frame-%d;", i))
		want.Write(f)
		if !w.Write(f) {
			t.Fatal("Write refused on an open writer")
		}
	}
	w.Close()
	a.Close()
	if got := <-done; !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("peer got %d bytes, want %d in order", len(got), want.Len())
	}
	if w.Write([]byte("late")) {
		t.Fatal("Write accepted after Close")
	}
}

// TestWriterOverTCP exercises the inline write path (a real socket) with a reader that
// lags, so frames also take the queued path, from several goroutines at once.
func TestWriterOverTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan int)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- -1
			return
		}
		n, _ := io.Copy(io.Discard, c)
		got <- int(n)
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	w := connio.NewWriter(c, nil)
	frame := bytes.Repeat([]byte{'x'}, 64<<10)
	done := make(chan struct{})
	for range 4 {
		go func() {
			for range 100 {
				w.Write(frame)
			}
			done <- struct{}{}
		}()
	}
	for range 4 {
		<-done
	}
	w.Close()
	c.Close()
	if n := <-got; n != 4*100*len(frame) {
		t.Fatalf("peer received %d bytes, want %d", n, 4*100*len(frame))
	}
}

// TestIdleWriterHoldsNoGoroutine: the writing goroutine exists only while frames are
// queued, so an idle connection costs none; a writer that went idle writes again when
// asked, and Close on an idle writer returns at once.
func TestIdleWriterHoldsNoGoroutine(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	acceptDone := make(chan struct{})
	go func() {
		defer close(acceptDone)
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	<-acceptDone
	peer := <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	defer peer.Close()

	w := connio.NewWriter(c, nil)
	buf := make([]byte, 5)
	for round := range 3 {
		if !w.Write([]byte("hello")) {
			t.Fatal("Write refused")
		}
		if _, err := io.ReadFull(peer, buf); err != nil || string(buf) != "hello" {
			t.Fatalf("round %d: peer read %q, %v", round, buf, err)
		}
		// The flushing goroutine ends once the queue is empty.
		for deadline := time.Now().Add(5 * time.Second); writerGoroutines() > 0; {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the writer still has a goroutine while idle", round)
			}
			runtime.Gosched()
		}
	}
	w.Close()
	if w.Write([]byte("late")) {
		t.Fatal("Write accepted after Close")
	}
}

// sizedCodec is the test codec telling the reader each frame's size as soon as the length
// prefix is in, as protocol.NeedMoreError lets codecs do.
type sizedCodec struct{ protocol.Codec }

func (c sizedCodec) Decode(b []byte, m *protocol.Message) (int, error) {
	n, err := c.Codec.Decode(b, m)
	if errors.Is(err, protocol.ErrNeedMore) && len(b) >= 4 {
		return 0, protocol.NeedMoreError{FrameSize: 4 + int(binary.BigEndian.Uint32(b))}
	}
	return n, err
}

// TestSizedFramesReadIntoOneBuffer: with the size known, a frame larger than a chunk is
// read into one buffer of its size rather than a buffer doubled step by step, and frames
// of every size still come out intact however the bytes arrive.
func TestSizedFramesReadIntoOneBuffer(t *testing.T) {
	var stream bytes.Buffer
	var want [][]byte
	for i := range 200 {
		f := testcodec.Frame('Q', uint64(i), map[string]string{"k": fmt.Sprint(i)}, string(bytes.Repeat([]byte{'p'}, i*997%40000)))
		want = append(want, f)
		stream.Write(f)
	}
	for _, tc := range []struct {
		name string
		r    func() io.Reader
	}{
		{"one byte at a time", func() io.Reader { return iotest.OneByteReader(bytes.NewReader(stream.Bytes())) }},
		{"as much as fits", func() io.Reader { return bytes.NewReader(stream.Bytes()) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fr := connio.NewFrameReader(tc.r(), sizedCodec{codec(1 << 20)}, 1<<20)
			var got []*protocol.Message
			for {
				msg := new(protocol.Message)
				err := fr.Next(msg)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, msg)
			}
			if len(got) != len(want) {
				t.Fatalf("decoded %d frames, want %d", len(got), len(want))
			}
			for i, msg := range got {
				if !bytes.Equal(msg.Frame, want[i]) || msg.Metadata.Value("k") != fmt.Sprint(i) {
					t.Fatalf("frame %d changed after later reads", i)
				}
			}
		})
	}

	// One 30 KiB frame: a 4 KiB chunk, then one buffer of exactly the frame's size (the
	// doubling path allocates 4+8+16+32 KiB and copies 28 KiB on the way).
	big := testcodec.Frame('Q', 1, nil, string(make([]byte, 30<<10)))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fr := connio.NewFrameReader(bytes.NewReader(big), sizedCodec{codec(1 << 20)}, 1<<20)
	var msg protocol.Message
	if err := fr.Next(&msg); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if !bytes.Equal(msg.Frame, big) {
		t.Fatal("frame corrupted")
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(len(big))+8<<10 {
		t.Fatalf("reading a %d-byte frame allocated %d bytes", len(big), alloc)
	}
}

// writerGoroutines counts the goroutines running a Writer method.
func writerGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte("connio.(*Writer).")) {
			n++
		}
	}
	return n
}
