package accesslog

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// writer owns one log destination: a goroutine that formats queued entries and writes them
// through a buffer, flushed on an interval. Every listener (and config version) logging to
// the same path shares it, so their lines never interleave mid-line.
type writer struct {
	path    string
	queue   chan *entry
	dropped prometheus.Counter
	errors  prometheus.Counter
	log     func(msg string, args ...any)

	out   *bufio.Writer
	file  io.Closer // nil for standard output and error
	flush time.Duration
	// reported is set once a write error has been logged (the writer goroutine's own).
	reported bool

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

// writerMetrics are the access log's own counters, registered once per proxy.
type writerMetrics struct {
	dropped *prometheus.CounterVec
	errors  *prometheus.CounterVec
}

func newWriterMetrics(reg prometheus.Registerer) (*writerMetrics, error) {
	m := &writerMetrics{
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "breeze_access_log_dropped_total",
			Help: "Access log lines dropped because the write queue was full.",
		}, []string{"path"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "breeze_access_log_write_errors_total",
			Help: "Failed writes to an access log.",
		}, []string{"path"}),
	}
	for _, c := range []prometheus.Collector{m.dropped, m.errors} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// openWriter opens path ("" or "/dev/stdout" for standard output, "/dev/stderr") and
// starts its goroutine.
func openWriter(path string, queue int, flush time.Duration, m *writerMetrics, log func(string, ...any)) (*writer, error) {
	w := &writer{
		path:    path,
		queue:   make(chan *entry, queue),
		dropped: m.dropped.WithLabelValues(path),
		errors:  m.errors.WithLabelValues(path),
		log:     log,
		flush:   flush,
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	switch path {
	case "", "/dev/stdout":
		w.out = bufio.NewWriterSize(os.Stdout, 64<<10)
	case "/dev/stderr":
		w.out = bufio.NewWriterSize(os.Stderr, 64<<10)
	default:
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("open access log: %w", err)
		}
		w.out, w.file = bufio.NewWriterSize(f, 64<<10), f
	}
	go w.run()
	return w, nil
}

// enqueue hands e to the writer, or drops it (counted) when the queue is full. It never
// blocks: a slow disk must not hold up requests.
func (w *writer) enqueue(e *entry) {
	select {
	case w.queue <- e:
	default:
		w.dropped.Inc()
		releaseEntry(e)
	}
}

func (w *writer) run() {
	defer close(w.done)
	ticker := time.NewTicker(w.flush)
	defer ticker.Stop()
	var line, scratch []byte
	write := func(e *entry) {
		line, scratch = e.format.appendLine(line[:0], scratch, e)
		releaseEntry(e)
		if _, err := w.out.Write(line); err != nil {
			w.failed(err)
		}
	}
	for {
		select {
		case e := <-w.queue:
			write(e)
		case <-ticker.C:
			if err := w.out.Flush(); err != nil {
				w.failed(err)
			}
		case <-w.stop:
			// What was queued before the stop is written; nothing is sent after it (the
			// proxy stops the writer once its listeners have drained).
			for {
				select {
				case e := <-w.queue:
					write(e)
				default:
					if err := w.out.Flush(); err != nil {
						w.failed(err)
					}
					return
				}
			}
		}
	}
}

// failed counts a write error; only the first is logged, so a full disk does not turn every
// request into a log line of its own.
func (w *writer) failed(err error) {
	w.errors.Inc()
	if !w.reported {
		w.reported = true
		w.log("access log write failed; later failures are only counted", "path", w.path, "error", err)
	}
}

// Shutdown writes what is queued, flushes, and closes the file, within ctx.
func (w *writer) Shutdown(ctx context.Context) error {
	w.stopOnce.Do(func() { close(w.stop) })
	select {
	case <-w.done:
	case <-ctx.Done():
		return fmt.Errorf("access log %s: %w", w.path, ctx.Err())
	}
	if w.file != nil {
		return w.file.Close()
	}
	return nil
}
