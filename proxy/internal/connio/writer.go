package connio

import (
	"net"
	"sync"
)

// maxQueuedBytes bounds what may wait for a slow peer before the connection is closed:
// a reader that stops reading must not make the proxy buffer without limit.
const maxQueuedBytes = 64 << 20

// Writer queues frames from any goroutine and writes them from one goroutine, so a slow peer
// never blocks the goroutine that produced the frame (an upstream connection's reader serves
// many downstream clients), and frames queued together go out in one writev.
type Writer struct {
	conn net.Conn

	mu      sync.Mutex
	queue   net.Buffers
	out     net.Buffers // the batch being written; only the loop goroutine touches it
	queued  int
	closed  bool
	err     error
	wake    chan struct{}
	done    chan struct{}
	onError func(error)
}

// NewWriter starts a writer on conn. onError, if set, is called once when a write fails.
func NewWriter(conn net.Conn, onError func(error)) *Writer {
	w := &Writer{conn: conn, wake: make(chan struct{}, 1), done: make(chan struct{}), onError: onError}
	go w.loop()
	return w
}

// Write queues frame. The bytes must not change until written. It reports false when the
// writer is closed or the queue is over its limit (the connection is then closed).
func (w *Writer) Write(frame []byte) bool {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return false
	}
	w.queue = append(w.queue, frame)
	w.queued += len(frame)
	over := w.queued > maxQueuedBytes
	w.mu.Unlock()
	if over {
		w.conn.Close()
		return false
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return true
}

// Close stops the writer after the queued frames are written (or the write fails).
// It does not close the connection.
func (w *Writer) Close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	w.mu.Unlock()
	<-w.done
}

func (w *Writer) loop() {
	defer close(w.done)
	// Two arrays alternate: writers append to one while this goroutine writes the other.
	var spare net.Buffers
	for range w.wake {
		for {
			w.mu.Lock()
			batch, closed := w.queue, w.closed
			w.queue, w.queued = spare[:0], 0
			w.mu.Unlock()
			if len(batch) == 0 {
				spare = batch
				if closed {
					return
				}
				break
			}
			// WriteTo consumes the slice it is called on; w.out keeps that slice
			// header off the heap, batch keeps the array for reuse.
			w.out = batch
			if _, err := w.out.WriteTo(w.conn); err != nil {
				w.fail(err)
				return
			}
			clear(batch)
			spare = batch[:0]
		}
	}
}

func (w *Writer) fail(err error) {
	w.mu.Lock()
	w.closed = true
	w.queue = nil
	w.err = err
	w.mu.Unlock()
	if w.onError != nil {
		w.onError(err)
	}
}
