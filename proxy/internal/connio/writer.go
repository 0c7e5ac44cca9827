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
//
// The writing goroutine exists only while there is something to write: the first Write to
// an idle writer starts it, and it ends once the queue is empty. An idle connection then
// costs no goroutine (its stack was a third of an idle downstream connection's memory),
// and starting a goroutine costs about what waking a parked one did.
type Writer struct {
	conn net.Conn

	mu       sync.Mutex
	queue    net.Buffers
	spare    net.Buffers // the array the last batch was written from, reused for the next queue
	out      net.Buffers // the batch being written; only the flushing goroutine touches it
	queued   int
	flushing bool // a goroutine is writing; it takes whatever is queued before it ends
	closed   bool
	finished bool // done is closed
	err      error
	done     chan struct{} // closed when closed and nothing is left to write
	onError  func(error)
}

// NewWriter returns a writer on conn. onError, if set, is called once when a write fails.
func NewWriter(conn net.Conn, onError func(error)) *Writer {
	return &Writer{conn: conn, done: make(chan struct{}), onError: onError}
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
	start := !w.flushing && !over
	w.flushing = w.flushing || start
	w.mu.Unlock()
	if over {
		w.conn.Close()
		return false
	}
	if start {
		go w.flush()
	}
	return true
}

// Close stops the writer after the queued frames are written (or the write fails).
// It does not close the connection.
func (w *Writer) Close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		if !w.flushing {
			w.finish()
		}
	}
	w.mu.Unlock()
	<-w.done
}

// flush writes batches until the queue is empty. Writers append to one array while this
// goroutine writes the other.
func (w *Writer) flush() {
	for {
		w.mu.Lock()
		batch := w.queue
		if len(batch) == 0 {
			w.flushing = false
			if w.closed {
				w.finish()
			}
			w.mu.Unlock()
			return
		}
		w.queue, w.queued = w.spare[:0], 0
		w.mu.Unlock()
		// WriteTo consumes the slice it is called on; w.out keeps that slice header off
		// the heap, batch keeps the array for reuse.
		w.out = batch
		if _, err := w.out.WriteTo(w.conn); err != nil {
			w.fail(err)
			return
		}
		clear(batch)
		w.spare = batch[:0]
	}
}

// finish closes done once. Called with mu held.
func (w *Writer) finish() {
	if !w.finished {
		w.finished = true
		close(w.done)
	}
}

func (w *Writer) fail(err error) {
	w.mu.Lock()
	w.closed = true
	w.flushing = false
	w.queue = nil
	w.err = err
	w.finish()
	w.mu.Unlock()
	if w.onError != nil {
		w.onError(err)
	}
}
