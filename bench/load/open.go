package load

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/breeze-mesh/breeze/bench/peers"
)

// openConn is one connection of an open-loop run: the pacer writes, a reader goroutine
// reads, and the ring of send times is shared between them.
type openConn struct {
	c       net.Conn
	req     []byte
	ring    []openSlot
	nextID  uint64
	pending []byte // requests due in the current pacer pass
	// outstanding counts requests sent and not yet answered.
	outstanding atomic.Int64
	res         Result
	err         error
}

type openSlot struct {
	id       atomic.Uint64
	intended atomic.Int64 // nanoseconds since the run's base
}

// maxOutstanding bounds what one connection may have unanswered before the run is
// abandoned: a target that far behind its schedule is overloaded, and the figures would
// only measure the queue.
const maxOutstanding = 1 << 14

// runOpen sends request j (over all connections, round robin) at base + j/Rate and records
// each response's latency from that intended time, for requests intended within the
// window.
func runOpen(cfg Config, conns []net.Conn) (*Result, error) {
	timer, err := newPreciseTimer()
	if err != nil {
		return nil, err
	}
	defer timer.Close()
	w := window{base: time.Now()}
	w.start = int64(cfg.Warmup)
	w.end = w.start + int64(cfg.Duration)
	waitWindow := scheduleWindow(cfg, w)

	ocs := make([]*openConn, len(conns))
	for i, c := range conns {
		ocs[i] = &openConn{c: c, req: append([]byte(nil), cfg.Request...), ring: make([]openSlot, maxOutstanding)}
	}
	var readers sync.WaitGroup
	paced := make(chan struct{}) // closed when the pacer sent its last request
	for _, oc := range ocs {
		readers.Add(1)
		go func() {
			defer readers.Done()
			oc.err = oc.read(cfg, w, paced)
		}()
	}
	pacerErr := pace(cfg, w, ocs, timer)
	close(paced)
	finishReaders(cfg, ocs)
	readers.Wait()
	waitWindow()

	res := &Result{Elapsed: time.Duration(w.end - w.start)}
	errs := []error{pacerErr}
	for _, oc := range ocs {
		res.merge(&oc.res)
		errs = append(errs, oc.err)
	}
	return res, errors.Join(errs...)
}

// pace sends every request of the schedule up to the window's end.
func pace(cfg Config, w window, ocs []*openConn, timer *preciseTimer) error {
	interval := float64(time.Second) / cfg.Rate
	mask := uint64(maxOutstanding - 1)
	f := cfg.Framing
	var j int64 // next request in the schedule
	for {
		now := w.since(time.Now())
		// Queue every request that is due, per connection, then write each connection once.
		for {
			intended := int64(float64(j) * interval)
			if intended > now || intended >= w.end {
				break
			}
			oc := ocs[j%int64(len(ocs))]
			if oc.outstanding.Add(1) > maxOutstanding/2 {
				return fmt.Errorf("%s fell more than %d requests behind %.0f req/s: overloaded", cfg.Addr, maxOutstanding/2, cfg.Rate)
			}
			oc.nextID++
			s := &oc.ring[oc.nextID&mask]
			s.intended.Store(intended)
			s.id.Store(oc.nextID)
			f.SetID(oc.req, oc.nextID)
			oc.pending = append(oc.pending, oc.req...)
			if w.in(intended) {
				oc.res.SendLag.Record(time.Duration(now - intended))
			}
			j++
		}
		for _, oc := range ocs {
			if len(oc.pending) == 0 {
				continue
			}
			if _, err := oc.c.Write(oc.pending); err != nil {
				return fmt.Errorf("write: %w", err)
			}
			oc.pending = oc.pending[:0]
		}
		next := int64(float64(j) * interval)
		if next >= w.end {
			return nil
		}
		if wait := next - w.since(time.Now()); wait > 0 {
			if err := timer.Sleep(time.Duration(wait)); err != nil {
				return err
			}
		}
	}
}

// read times every response on the connection until the pacer is done and nothing is
// outstanding. The pacer's side wakes it with a read deadline once pacing ended (see
// finishReaders), so it never sits in a read that no response will end.
func (oc *openConn) read(cfg Config, w window, paced <-chan struct{}) error {
	f := cfg.Framing
	mask := uint64(maxOutstanding - 1)
	r := newReader(oc.c)
	buf := make([]byte, 0, 64<<10)
	for {
		select {
		case <-paced:
			if oc.outstanding.Load() == 0 {
				return nil
			}
		default:
		}
		n, err := peers.ReadFrame(r, f, &buf)
		if err != nil {
			lost := int(oc.outstanding.Load())
			select {
			case <-paced:
				if lost == 0 {
					return nil // woken by finishReaders: nothing left to read
				}
			default:
			}
			oc.res.Lost += lost
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return fmt.Errorf("%d responses missing %v after the run ended", lost, cfg.DrainTimeout)
			}
			return fmt.Errorf("read: %w", err)
		}
		frame := buf[:n]
		id := f.ID(frame)
		s := &oc.ring[id&mask]
		if id == 0 || s.id.Load() != id {
			return fmt.Errorf("response with id %d, which is not outstanding", id)
		}
		intended := s.intended.Load()
		s.id.Store(0)
		oc.outstanding.Add(-1)
		if w.in(intended) {
			oc.res.Requests++
			oc.res.Latency.Record(time.Duration(w.since(time.Now()) - intended))
			if f.OK != nil && !f.OK(frame) {
				oc.res.Failed++
			}
		}
	}
}

// finishReaders runs once the pacer is done: a reader with nothing outstanding is blocked
// between frames and is woken at once; the others get DrainTimeout for their last
// responses.
func finishReaders(cfg Config, ocs []*openConn) {
	for _, oc := range ocs {
		if oc.outstanding.Load() == 0 {
			_ = oc.c.SetReadDeadline(time.Now())
		} else {
			_ = oc.c.SetReadDeadline(time.Now().Add(cfg.DrainTimeout))
		}
	}
}
