package load

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/breeze-mesh/breeze/bench/peers"
)

func newReader(c net.Conn) *bufio.Reader { return newReaderSize(c, 64<<10) }

func newReaderSize(c net.Conn, n int) *bufio.Reader { return bufio.NewReaderSize(c, n) }

// runClosed runs one closed-loop connection per goroutine: each goroutine both sends and
// reads, so a request is replaced without a goroutine hand-off, and the replacements for
// all the responses that arrived together go out in one write.
func runClosed(cfg Config, conns []net.Conn) (*Result, error) {
	timed := cfg.Requests <= 0
	w := window{base: time.Now()}
	if timed {
		w.start = int64(cfg.Warmup)
		w.end = w.start + int64(cfg.Duration)
	} else {
		w.end = 1<<63 - 1
		if cfg.OnWindow != nil {
			cfg.OnWindow(true)
		}
	}
	var waitWindow func()
	if timed {
		waitWindow = scheduleWindow(cfg, w)
	}

	results := make([]Result, len(conns))
	errs := make([]error, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		quota := -1 // unlimited: timed
		if !timed {
			quota = cfg.Requests / len(conns)
			if i < cfg.Requests%len(conns) {
				quota++
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = closedConn(cfg, c, w, quota, &results[i])
		}()
	}
	wg.Wait()
	res := &Result{}
	for i := range results {
		res.merge(&results[i])
	}
	if timed {
		waitWindow()
		res.Elapsed = time.Duration(w.end - w.start)
	} else {
		res.Elapsed = time.Since(w.base)
		if cfg.OnWindow != nil {
			cfg.OnWindow(false)
		}
	}
	return res, errors.Join(errs...)
}

// closedConn keeps cfg.InFlight requests outstanding on c until the window ends (timed) or
// quota requests were sent, then collects the outstanding responses.
func closedConn(cfg Config, c net.Conn, w window, quota int, res *Result) error {
	f := cfg.Framing
	req := append([]byte(nil), cfg.Request...)
	ring := make([]slot, ringSize(cfg.InFlight))
	mask := uint64(len(ring) - 1)
	r := newReader(c)
	bw := bufio.NewWriterSize(c, 32<<10)
	buf := make([]byte, 0, 64<<10)

	var nextID uint64
	outstanding, sent := 0, 0
	stopped := false
	for {
		// Top up to InFlight outstanding, unless the run is over.
		now := w.since(time.Now())
		if !stopped && (now >= w.end || quota >= 0 && sent >= quota) {
			stopped = true
			_ = c.SetReadDeadline(time.Now().Add(cfg.DrainTimeout))
		}
		if !stopped {
			for outstanding < cfg.InFlight && (quota < 0 || sent < quota) {
				nextID++
				f.SetID(req, nextID)
				ring[nextID&mask] = slot{id: nextID, sent: now}
				if _, err := bw.Write(req); err != nil {
					res.Lost += outstanding
					return err
				}
				outstanding++
				sent++
			}
			if err := bw.Flush(); err != nil {
				res.Lost += outstanding
				return err
			}
		}
		if outstanding == 0 {
			return nil
		}
		// Read one response, then every other one already buffered, before sending
		// their replacements together.
		for {
			n, err := peers.ReadFrame(r, f, &buf)
			if err != nil {
				res.Lost += outstanding
				if stopped && errors.Is(err, os.ErrDeadlineExceeded) {
					return fmt.Errorf("%d responses missing %v after the run ended", outstanding, cfg.DrainTimeout)
				}
				if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
					return fmt.Errorf("connection closed with %d requests outstanding", outstanding)
				}
				return err
			}
			frame := buf[:n]
			id := f.ID(frame)
			s := ring[id&mask]
			if s.id != id || id == 0 {
				return fmt.Errorf("response with id %d, which is not outstanding", id)
			}
			ring[id&mask].id = 0
			outstanding--
			at := w.since(time.Now())
			if w.in(at) {
				res.Requests++
				res.Latency.Record(time.Duration(at - s.sent))
				if f.OK != nil && !f.OK(frame) {
					res.Failed++
				}
			}
			if !peers.FrameBuffered(r, f) {
				break
			}
		}
	}
}
